//! Quorum authentication with real nodes (the `Node` the binary runs) in one process on
//! loopback TCP: an authenticated ensemble works, an intruder with a valid server id but no
//! or the wrong secret is refused and can neither vote nor sync, and the rolling switch from
//! open to required keeps a quorum throughout. The same for mutual TLS, with CAs and
//! certificates minted per test (rcgen; no key is committed), and the TLS configuration keys.

mod common;

use common::inproc::Server;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use zabd::auth::tls::QuorumTls;
use zabd::auth::{Policy, Secret};
use zabd::config::Config;
use zabd::status::{Counters, Serving};
use zabd::tree::{Acl, CreateMode, Op};

const WAIT: Duration = Duration::from_secs(20);
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
const SECRET: &[u8] = b"the ensemble's own shared secret";

fn policy(secret: Option<&[u8]>, require: bool) -> Policy {
    Policy {
        secret: secret.map(|s| Arc::new(Secret::from_bytes(s))),
        require,
        tls: None,
    }
}

struct Cluster {
    _dir: tempfile::TempDir,
    configs: BTreeMap<u64, Config>,
    servers: BTreeMap<u64, Server>,
}

impl Cluster {
    /// Three voters' configurations, all with `auth`; none started.
    fn new(auth: Policy) -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut configs = zabd::config::loopback_ensemble(3, &common::free_ports(9), dir.path());
        for cfg in configs.values_mut() {
            cfg.quorum_auth = auth.clone();
        }
        Cluster {
            _dir: dir,
            configs,
            servers: BTreeMap::new(),
        }
    }

    /// Start server `id` with its configuration, but authentication `auth`.
    async fn start_as(&mut self, id: u64, auth: Policy) {
        let mut config = self.configs[&id].clone();
        config.quorum_auth = auth;
        self.servers.insert(id, Server::start(config).await);
    }

    async fn start(&mut self, id: u64) {
        let auth = self.configs[&id].quorum_auth.clone();
        self.start_as(id, auth).await;
    }

    async fn kill(&mut self, id: u64) {
        if let Some(s) = self.servers.remove(&id) {
            s.kill().await;
        }
    }

    fn serving(&self, id: u64) -> Serving {
        self.servers[&id].board.snapshot().serving
    }

    fn refused(&self, id: u64) -> u64 {
        Counters::get(&self.servers[&id].board.counters.quorum_auth_refused)
    }

    /// Wait until `ids` all serve under exactly one leader among them; returns it.
    async fn stable(&self, ids: &[u64]) -> u64 {
        let deadline = Instant::now() + WAIT;
        loop {
            let serving: BTreeMap<u64, Serving> =
                ids.iter().map(|&i| (i, self.serving(i))).collect();
            let leaders: Vec<u64> = serving
                .iter()
                .filter(|(_, s)| **s == Serving::Leader)
                .map(|(id, _)| *id)
                .collect();
            if leaders.len() == 1 && serving.values().all(|s| *s != Serving::NotServing) {
                return leaders[0];
            }
            assert!(Instant::now() < deadline, "no stable leader: {serving:?}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn create(&self, via: u64, path: &str) {
        let op = Op::Create {
            path: path.into(),
            data: path.as_bytes().to_vec(),
            acl: Acl::open_unsafe(),
            mode: CreateMode::Persistent,
        };
        let deadline = Instant::now() + WAIT;
        loop {
            match self.servers[&via]
                .client
                .submit(0, 0, op.clone(), WRITE_TIMEOUT)
                .await
            {
                Ok(r) => {
                    assert!(r.err().is_ok(), "{path}: {:?}", r.err());
                    return;
                }
                Err(err) => {
                    assert!(Instant::now() < deadline, "{path} via {via}: {err:?}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }

    /// Wait until server `id` has `path` (after a sync).
    async fn has(&self, id: u64, path: &str) -> bool {
        let client = &self.servers[&id].client;
        if client.sync(WRITE_TIMEOUT).await.is_err() {
            return false;
        }
        client.read(|t| t.get(path).map(|(d, _)| d.to_vec())) == Some(path.as_bytes().to_vec())
    }

    /// For `during`, none of `ids` serves.
    async fn never_serves(&self, ids: &[u64], during: Duration) {
        let until = Instant::now() + during;
        while Instant::now() < until {
            for &id in ids {
                assert_eq!(self.serving(id), Serving::NotServing, "server {id} serves");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Wait until server `id` noticed it lost its quorum (a leader takes syncLimit).
    async fn stops_serving(&self, id: u64) {
        let deadline = Instant::now() + WAIT;
        while self.serving(id) != Serving::NotServing {
            assert!(Instant::now() < deadline, "server {id} still serves");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn wait_refusals(&self, ids: &[u64]) {
        let deadline = Instant::now() + WAIT;
        while ids.iter().map(|&i| self.refused(i)).sum::<u64>() == 0 {
            assert!(Instant::now() < deadline, "no refusal counted on {ids:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Servers 1 and 2 (authenticated, requiring it) run; an intruder starts as server 3 with
/// `intruder` authentication. It must be refused, never serve, never count for a quorum.
async fn intruder_is_kept_out(intruder: Policy) {
    let mut c = Cluster::new(policy(Some(SECRET), true));
    c.start(1).await;
    c.start(2).await;
    let leader = c.stable(&[1, 2]).await;
    c.create(1, "/before").await;

    c.start_as(3, intruder).await;
    c.wait_refusals(&[1, 2]).await;
    c.never_serves(&[3], Duration::from_millis(1500)).await;
    // It did not become a learner of the leader, and the ensemble kept working.
    let status = c.servers[&leader].board.snapshot();
    assert_eq!(status.learners.learners, 1, "{:?}", status.learners);
    assert_eq!(status.learners.synced_followers, 1, "{:?}", status.learners);
    c.create(2, "/during").await;
    assert!(
        c.servers[&3].client.read(|t| t.get("/before").is_none()),
        "the intruder synced"
    );

    // The decisive part: with server 2 gone, server 1 and the intruder would be two of
    // three — a quorum — if the intruder could vote. Nobody may serve.
    c.kill(2).await;
    c.stops_serving(1).await;
    c.never_serves(&[1, 3], Duration::from_millis(2000)).await;

    // The real server 3 (with the secret) restores the quorum.
    c.kill(3).await;
    let real = c.configs[&3].quorum_auth.clone();
    c.start_as(3, real).await;
    c.stable(&[1, 3]).await;
    c.create(3, "/after").await;
    for path in ["/before", "/during", "/after"] {
        assert!(c.has(1, path).await && c.has(3, path).await, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_intruder_without_credentials_is_refused_and_cannot_vote() {
    intruder_is_kept_out(policy(None, false)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_intruder_with_the_wrong_secret_is_refused_and_cannot_vote() {
    intruder_is_kept_out(policy(Some(b"a different secret, also long"), true)).await;
}

/// The control for the two tests above: without authentication the same intruder does join
/// (and makes a quorum with server 1), so what they observe is the authentication's doing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_authentication_the_intruder_joins() {
    let mut c = Cluster::new(Policy::off());
    c.start(1).await;
    c.start(2).await;
    c.stable(&[1, 2]).await;
    c.start(3).await;
    c.stable(&[1, 2, 3]).await;
    c.kill(2).await;
    c.stable(&[1, 3]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authenticated_ensemble_elects_replicates_and_fails_over() {
    let mut c = Cluster::new(policy(Some(SECRET), true));
    for id in [1, 2, 3] {
        c.start(id).await;
    }
    let leader = c.stable(&[1, 2, 3]).await;
    for i in 0..10u64 {
        c.create(1 + i % 3, &format!("/w{i}")).await;
    }
    c.kill(leader).await;
    let rest: Vec<u64> = [1, 2, 3].into_iter().filter(|&i| i != leader).collect();
    let next = c.stable(&rest).await;
    assert_ne!(next, leader);
    c.create(rest[0], "/after-failover").await;
    c.start(leader).await;
    c.stable(&[1, 2, 3]).await;
    for id in [1, 2, 3] {
        assert!(c.has(id, "/after-failover").await, "server {id}");
        assert!(c.has(id, "/w9").await, "server {id}");
    }
    for id in [1, 2, 3] {
        assert_eq!(c.refused(id), 0, "server {id} refused a member");
    }
}

/// The documented procedure: from open, restart each server with `enable` (not required),
/// then each with `require`; the ensemble keeps a quorum and takes writes after every
/// restart, and at the end a plain intruder is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rolling_switch_from_open_to_required_never_loses_the_ensemble() {
    let mut c = Cluster::new(Policy::off());
    for id in [1, 2, 3] {
        c.start(id).await;
    }
    c.stable(&[1, 2, 3]).await;
    let mut n = 0;
    for step in [policy(Some(SECRET), false), policy(Some(SECRET), true)] {
        for id in [1, 2, 3] {
            c.kill(id).await;
            c.configs.get_mut(&id).expect("config").quorum_auth = step.clone();
            c.start(id).await;
            c.stable(&[1, 2, 3]).await;
            n += 1;
            c.create(1 + n % 3, &format!("/step{n}")).await;
        }
    }
    for id in [1, 2, 3] {
        assert!(c.has(id, "/step6").await, "server {id}");
        assert_eq!(c.refused(id), 0, "server {id} refused a member");
    }
    c.kill(3).await;
    c.start_as(3, Policy::off()).await;
    c.wait_refusals(&[1, 2]).await;
    c.never_serves(&[3], Duration::from_millis(500)).await;
}

// ---- mutual TLS ----

/// A throwaway certificate authority.
struct Ca {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).expect("self-signed CA");
        Ca { cert, key }
    }

    /// The trust store file: this CA's certificate.
    fn trust_store(&self, dir: &std::path::Path) -> std::path::PathBuf {
        let path = dir.join(format!("ca-{}.pem", rand_name()));
        std::fs::write(&path, self.cert.pem()).expect("write CA");
        path
    }

    /// A key store file for `name`: its certificate (signed by this CA), then its key.
    fn key_store(&self, dir: &std::path::Path, name: &str) -> std::path::PathBuf {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(vec![name.to_string()]).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("signed");
        let path = dir.join(format!("{name}-{}.pem", rand_name()));
        std::fs::write(&path, format!("{}{}", cert.pem(), key.serialize_pem())).expect("write");
        path
    }
}

fn rand_name() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn tls_policy(key_store: &std::path::Path, trust_store: &std::path::Path) -> Policy {
    Policy {
        secret: None,
        require: false,
        tls: Some(Arc::new(
            QuorumTls::load(key_store, trust_store).expect("TLS loads"),
        )),
    }
}

/// One connection on 127.0.0.1 from server 2 to server 1 through `zabd::auth`; after the
/// exchange each side sends one frame and reads the other's.
async fn tls_exchange(
    dialler: Policy,
    acceptor: Policy,
) -> (Result<(), String>, Result<(), String>) {
    use futures_util::{SinkExt, StreamExt};
    use zabd::auth::{PeerAuth, PortKind};
    use zabd::ids::Sid;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let members = |me: u64| {
        Arc::new(
            [1u64, 2]
                .into_iter()
                .filter(|&s| s != me)
                .map(Sid)
                .collect(),
        )
    };
    let acc = PeerAuth {
        policy: acceptor,
        me: Sid(1),
        members: members(1),
    };
    let dial = PeerAuth {
        policy: dialler,
        me: Sid(2),
        members: members(2),
    };
    let accept_side = tokio::spawn(async move {
        let (io, _) = listener.accept().await.map_err(|e| e.to_string())?;
        let (s, _) = zabd::auth::accept(io, &acc, PortKind::Quorum)
            .await
            .map_err(|e| format!("refusal={} {e}", e.is_refusal()))?;
        let mut s = zabd::net::codec::framed(s, 64);
        let got = s.next().await.ok_or("closed")?.map_err(|e| e.to_string())?;
        assert_eq!(&got[..], b"ping");
        s.send(bytes::Bytes::from_static(b"pong"))
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    });
    let dial_side = tokio::spawn(async move {
        let io = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let (s, _) = zabd::auth::dial(io, &dial, PortKind::Quorum, Sid(1))
            .await
            .map_err(|e| format!("refusal={} {e}", e.is_refusal()))?;
        let mut s = zabd::net::codec::framed(s, 64);
        s.send(bytes::Bytes::from_static(b"ping"))
            .await
            .map_err(|e| e.to_string())?;
        let got = s.next().await.ok_or("closed")?.map_err(|e| e.to_string())?;
        assert_eq!(&got[..], b"pong");
        Ok(())
    });
    (
        dial_side.await.expect("dialler"),
        accept_side.await.expect("acceptor"),
    )
}

#[tokio::test]
async fn tls_peers_of_one_ca_connect_and_a_certificate_from_another_ca_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ours = Ca::new("ensemble CA");
    let theirs = Ca::new("some other CA");
    let trust = ours.trust_store(dir.path());
    let one = tls_policy(&ours.key_store(dir.path(), "server1"), &trust);
    let two = tls_policy(&ours.key_store(dir.path(), "server2"), &trust);
    assert_eq!(
        tls_exchange(two.clone(), one.clone()).await,
        (Ok(()), Ok(()))
    );

    // The intruder trusts our CA (it could get that public certificate) but its own
    // certificate comes from another CA: the acceptor refuses it.
    let intruder = tls_policy(&theirs.key_store(dir.path(), "server2"), &trust);
    let (d, a) = tls_exchange(intruder.clone(), one.clone()).await;
    assert!(
        a.as_ref().is_err_and(|e| e.starts_with("refusal=true TLS")),
        "{a:?}"
    );
    assert!(d.is_err(), "{d:?}");
    // As an acceptor, the intruder is refused by an honest dialler.
    let (d, a) = tls_exchange(two.clone(), intruder).await;
    assert!(
        d.as_ref().is_err_and(|e| e.starts_with("refusal=true TLS")),
        "{d:?}"
    );
    assert!(a.is_err(), "{a:?}");
    // A peer without TLS at all is refused too.
    let (_, a) = tls_exchange(Policy::off(), one).await;
    assert!(a.is_err(), "{a:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_ensemble_works_and_an_intruder_with_a_foreign_certificate_cannot_vote() {
    let certs = tempfile::tempdir().expect("tempdir");
    let ours = Ca::new("ensemble CA");
    let trust = ours.trust_store(certs.path());
    let mut c = Cluster::new(Policy::off());
    for id in [1u64, 2, 3] {
        let store = ours.key_store(certs.path(), &format!("server{id}"));
        c.configs.get_mut(&id).expect("config").quorum_auth = tls_policy(&store, &trust);
    }
    c.start(1).await;
    c.start(2).await;
    c.stable(&[1, 2]).await;
    c.create(1, "/tls-before").await;

    let foreign = Ca::new("intruder CA").key_store(certs.path(), "server3");
    c.start_as(3, tls_policy(&foreign, &trust)).await;
    c.wait_refusals(&[1, 2]).await;
    c.never_serves(&[3], Duration::from_millis(1000)).await;
    c.kill(2).await;
    c.stops_serving(1).await;
    c.never_serves(&[1, 3], Duration::from_millis(1500)).await;

    c.kill(3).await;
    c.start(3).await;
    c.stable(&[1, 3]).await;
    c.create(3, "/tls-after").await;
    for path in ["/tls-before", "/tls-after"] {
        assert!(c.has(1, path).await && c.has(3, path).await, "{path}");
    }
}

/// TLS and the shared secret together: TLS outside, the secret's id binding inside.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_the_shared_secret_together() {
    let certs = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new("ensemble CA");
    let trust = ca.trust_store(certs.path());
    let mut c = Cluster::new(Policy::off());
    for id in [1u64, 2, 3] {
        let store = ca.key_store(certs.path(), &format!("server{id}"));
        let mut p = tls_policy(&store, &trust);
        p.secret = Some(Arc::new(Secret::from_bytes(SECRET)));
        p.require = true;
        c.configs.get_mut(&id).expect("config").quorum_auth = p;
    }
    for id in [1, 2, 3] {
        c.start(id).await;
    }
    c.stable(&[1, 2, 3]).await;
    c.create(2, "/both").await;
    for id in [1, 2, 3] {
        assert!(c.has(id, "/both").await, "server {id}");
        assert_eq!(c.refused(id), 0);
    }
}

#[test]
fn tls_configuration_keys_and_their_mistakes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    std::fs::write(data.join("myid"), "1").expect("myid");
    let ca = Ca::new("ensemble CA");
    let trust = ca.trust_store(dir.path());
    let store = ca.key_store(dir.path(), "server1");
    let cfg = |extra: &str| {
        let path = dir.path().join(format!("zoo{}.cfg", rand_name()));
        std::fs::write(
            &path,
            format!(
                "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir={}\n\
                 server.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2889:3889\n\
                 server.3=127.0.0.1:2890:3890\n{extra}",
                data.display()
            ),
        )
        .expect("write cfg");
        zabd::config::load(&path).map_err(|e| e.to_string())
    };
    let good = format!(
        "sslQuorum=true\nssl.quorum.keyStore.location={}\nssl.quorum.trustStore.location={}\n\
         ssl.quorum.keyStore.type=PEM\nssl.quorum.trustStore.type=PEM\n\
         ssl.quorum.hostnameVerification=false\n",
        store.display(),
        trust.display()
    );
    let c = cfg(&good).expect("loads");
    assert!(c.quorum_auth.tls.is_some());
    assert_eq!(c.quorum_auth.describe(), "secret off, tls");

    let err = |extra: &str| cfg(extra).expect_err("refused");
    let e = err("sslQuorum=true\n");
    assert!(e.contains("ssl.quorum.keyStore.location: missing"), "{e}");
    let e = err(&format!(
        "sslQuorum=true\nssl.quorum.keyStore.location={}\n",
        store.display()
    ));
    assert!(e.contains("ssl.quorum.trustStore.location: missing"), "{e}");
    let e = err(&format!(
        "sslQuorum=true\nssl.quorum.keyStore.location={}/nope.pem\nssl.quorum.trustStore.location={}\n",
        dir.path().display(),
        trust.display()
    ));
    assert!(
        e.contains("ssl.quorum.keyStore.location: cannot read"),
        "{e}"
    );
    // A key store without a key: the CA file holds only a certificate.
    let e = err(&format!(
        "sslQuorum=true\nssl.quorum.keyStore.location={}\nssl.quorum.trustStore.location={}\n",
        trust.display(),
        trust.display()
    ));
    assert!(e.contains("no unencrypted PEM private key"), "{e}");
    // A trust store without a certificate.
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").expect("write");
    let e = err(&format!(
        "sslQuorum=true\nssl.quorum.keyStore.location={}\nssl.quorum.trustStore.location={}\n",
        store.display(),
        junk.display()
    ));
    assert!(
        e.contains("ssl.quorum.trustStore.location:") && e.contains("no PEM `CERTIFICATE`"),
        "{e}"
    );
    let e = err(&format!("{good}ssl.quorum.keyStore.password=secret\n"));
    assert!(e.contains("encrypted PEM keys are not supported"), "{e}");
    let e = err("ssl.quorum.keyStore.type=JKS\n");
    assert!(e.contains("JKS stores are not supported"), "{e}");
    let e = err("ssl.quorum.hostnameVerification=true\n");
    assert!(e.contains("host name verification is not supported"), "{e}");
}

// ---- the real binary, configured through zoo.cfg ----

/// `zabd` processes with `quorum.auth.*` in their zoo.cfg: servers 1 and 2 require the
/// secret; server 3 starts from a zoo.cfg without it. Its connections are refused, the refusal
/// is in the log (warn, with the peer's address and the reason) and in `mntr`, and it never
/// serves.
#[test]
fn processes_refuse_a_server_without_the_secret_and_say_so() {
    let secret_dir = tempfile::tempdir().expect("tempdir");
    let secret = secret_dir.path().join("quorum.secret");
    std::fs::write(&secret, "0123456789abcdef-process-test\n").expect("secret");
    let auth = format!(
        "quorum.auth.enable=true\nquorum.auth.require=true\nquorum.auth.secretFile={}\n",
        secret.display()
    );
    let mut e = common::Ensemble::with_extra(3, 0, &auth);
    e.start(1);
    e.start(2);
    e.wait_stable(&[1, 2]);
    let cfg3 = std::fs::read_to_string(e.config_path(3)).expect("zoo3.cfg");
    std::fs::write(e.config_path(3), cfg3.replace(&auth, "")).expect("rewrite zoo3.cfg");
    e.start(3);

    let refused = |id: u64| -> u64 {
        e.ask(id, "mntr")
            .and_then(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix("zk_quorum_auth_refused\t"))
                    .and_then(|v| v.trim().parse().ok())
            })
            .unwrap_or(0)
    };
    let deadline = Instant::now() + WAIT;
    while refused(1) + refused(2) == 0 {
        assert!(
            Instant::now() < deadline,
            "no refusal counted\n{}",
            e.logs()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let logged = [1, 2].iter().any(|&id| {
        let log = std::fs::read_to_string(e.log_path(id)).unwrap_or_default();
        log.lines().any(|l| {
            l.contains("WARN")
                && l.contains("refused by quorum authentication")
                && l.contains("(claiming to be server 3) did not authenticate")
                && l.contains("peer_addr=127.0.0.1:")
        })
    });
    assert!(logged, "no refusal in the logs\n{}", e.logs());
    assert!(e.srvr(3).is_none(), "server 3 serves");
    e.wait_stable(&[1, 2]);
}
