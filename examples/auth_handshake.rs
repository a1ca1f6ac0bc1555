//! What quorum authentication costs per peer connection: sequential connection setups on
//! 127.0.0.1 (TCP connect + `zabd::auth::dial`/`accept` + one framed round trip), with
//! authentication off, the shared secret, mutual TLS, and both. Prints mean/p50/p99 per mode.
//!
//! `cargo run --release --example auth_handshake [connections]` (default 2000).

use futures_util::{SinkExt, StreamExt};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use zabd::auth::tls::QuorumTls;
use zabd::auth::{PeerAuth, Policy, PortKind, Secret};
use zabd::ids::Sid;

fn tls(dir: &std::path::Path) -> Arc<QuorumTls> {
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca.self_signed(&ca_key).expect("CA");
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["server".to_string()])
        .expect("params")
        .signed_by(&key, &ca, &ca_key)
        .expect("cert");
    let store = dir.join("server.pem");
    let trust = dir.join("ca.pem");
    std::fs::write(&store, format!("{}{}", cert.pem(), key.serialize_pem())).expect("write");
    std::fs::write(&trust, ca.pem()).expect("write");
    Arc::new(QuorumTls::load(&store, &trust).expect("TLS"))
}

fn peer(me: u64, policy: &Policy) -> PeerAuth {
    let members: BTreeSet<Sid> = [Sid(3 - me)].into();
    PeerAuth {
        policy: policy.clone(),
        me: Sid(me),
        members: Arc::new(members),
    }
}

async fn run(policy: &Policy, n: usize) -> Vec<Duration> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let acceptor = peer(1, policy);
    let server = tokio::spawn(async move {
        for _ in 0..n {
            let (io, _) = listener.accept().await.expect("accept");
            io.set_nodelay(true).expect("nodelay");
            let (s, _) = zabd::auth::accept(io, &acceptor, PortKind::Election)
                .await
                .expect("accepted");
            let mut s = zabd::net::codec::framed(s, 64);
            let ping = s.next().await.expect("frame").expect("ok");
            s.send(ping.freeze()).await.expect("pong");
        }
    });
    let dialler = peer(2, policy);
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let io = tokio::net::TcpStream::connect(addr).await.expect("connect");
        io.set_nodelay(true).expect("nodelay");
        let (s, _) = zabd::auth::dial(io, &dialler, PortKind::Election, Sid(1))
            .await
            .expect("dialled");
        let mut s = zabd::net::codec::framed(s, 64);
        s.send(bytes::Bytes::from_static(b"ping"))
            .await
            .expect("ping");
        s.next().await.expect("pong").expect("ok");
        times.push(t.elapsed());
    }
    server.await.expect("server");
    times
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let dir = tempfile::tempdir().expect("tempdir");
    let tls = tls(dir.path());
    let secret = Some(Arc::new(Secret::from_bytes(
        b"benchmark secret, 32 bytes long!",
    )));
    let modes = [
        ("off", Policy::off()),
        (
            "secret",
            Policy {
                secret: secret.clone(),
                require: true,
                tls: None,
            },
        ),
        (
            "tls",
            Policy {
                secret: None,
                require: false,
                tls: Some(tls.clone()),
            },
        ),
        (
            "tls+secret",
            Policy {
                secret,
                require: true,
                tls: Some(tls),
            },
        ),
    ];
    println!(
        "{n} sequential connection setups on 127.0.0.1 (connect, authenticate, one round trip)"
    );
    println!(
        "{:<12} {:>10} {:>10} {:>10}",
        "mode", "mean_us", "p50_us", "p99_us"
    );
    for (name, policy) in &modes {
        let _ = run(policy, n / 10 + 1).await; // warm-up
        let mut t = run(policy, n).await;
        t.sort();
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        let mean = t.iter().map(|d| us(*d)).sum::<f64>() / t.len() as f64;
        let pct = |p: f64| us(t[((t.len() as f64 * p) as usize).min(t.len() - 1)]);
        println!(
            "{name:<12} {mean:>10.0} {:>10.0} {:>10.0}",
            pct(0.5),
            pct(0.99)
        );
    }
}
