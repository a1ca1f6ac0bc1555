use super::*;
use crate::config::ServerSpec;
use crate::ids::{Epoch, Sid, Zxid};
use crate::status::{LearnerCounts, ZabPhase};
use std::collections::BTreeMap;
use std::path::Path;

fn spec(id: u64, role: LearnerType) -> ServerSpec {
    ServerSpec {
        id: Sid(id),
        host: "127.0.0.1".to_string(),
        quorum_port: 21100 + id as u16,
        election_port: 21200 + id as u16,
        role,
        client_host: None,
        client_port: None,
    }
}

/// Three voters and, with `observer`, server 4 as observer; this server is `my_id`.
pub(crate) fn ensemble_config(my_id: u64, observer: bool) -> Config {
    let mut servers = BTreeMap::new();
    for id in 1..=3 {
        servers.insert(Sid(id), spec(id, LearnerType::Participant));
    }
    if observer {
        servers.insert(Sid(4), spec(4, LearnerType::Observer));
    }
    let peer_type = servers
        .get(&Sid(my_id))
        .map(|s| s.role)
        .unwrap_or(LearnerType::Participant);
    Config {
        source: PathBuf::from("/etc/zabd/zoo.cfg"),
        my_id: Sid(my_id),
        tick_time: Duration::from_millis(2000),
        init_limit: 10,
        sync_limit: 5,
        data_dir: PathBuf::from("/srv/zk/data"),
        data_log_dir: PathBuf::from("/srv/zk/log"),
        client_port: 2181,
        client_port_address: None,
        max_client_cnxns: 60,
        min_session_timeout: Duration::from_millis(4000),
        max_session_timeout: Duration::from_millis(40000),
        servers,
        peer_type,
        whitelist: Whitelist::All,
        finalize_wait: Duration::from_millis(200),
        standalone_enabled: true,
        snapshots: Default::default(),
        commit_log_count: 10_000,
        container_check: Duration::from_millis(60_000),
        containers_per_minute: 10_000,
        quorum_auth: crate::auth::Policy::off(),
        admin: Default::default(),
        metrics: None,
    }
}

pub(crate) fn standalone_config() -> Config {
    let mut cfg = ensemble_config(1, false);
    cfg.servers.clear();
    cfg
}

fn status(serving: Serving) -> NodeStatus {
    let mut s = NodeStatus::new(Zxid::new(Epoch(1), 6), Epoch(1), Epoch(1));
    s.serving = serving;
    let (peer_state, phase) = match serving {
        Serving::NotServing => ("looking", ZabPhase::Election),
        Serving::Leader => ("leading", ZabPhase::Broadcast),
        Serving::Follower => ("following", ZabPhase::Broadcast),
        Serving::Observer => ("observing", ZabPhase::Broadcast),
        Serving::Standalone => ("standalone", ZabPhase::Broadcast),
    };
    s.peer_state = peer_state;
    s.phase = phase;
    s.node_count = 7;
    s.approximate_data_size = 123;
    s.leader = Some(Sid(3));
    s.learners = LearnerCounts {
        learners: 2,
        synced_followers: 2,
        synced_observers: 0,
        pending_syncs: 0,
    };
    s
}

fn conn(port: u16, interest: u32, recved: u64, sent: u64, expires: u64) -> ConnInfo {
    ConnInfo {
        interest,
        recved,
        sent,
        ..ConnInfo::new(
            SocketAddr::from(([127, 0, 0, 1], port)),
            UNIX_EPOCH + Duration::from_secs(expires),
        )
    }
}

fn facts() -> Facts {
    Facts {
        open_fds: Some(47),
        max_fds: Some(20000),
        data_dir: Some(DirFacts {
            path: PathBuf::from("/srv/zk/data/version-2"),
            size: 1234,
        }),
        log_dir: Some(DirFacts {
            path: PathBuf::from("/srv/zk/log/version-2"),
            size: 5678,
        }),
        env: Some(EnvFacts {
            host_name: Some("box".into()),
            os_name: Some("Linux".into()),
            os_arch: Some("amd64".into()),
            os_version: Some("6.1.0".into()),
            user_name: Some("zk".into()),
            user_home: Some("/home/zk".into()),
            user_dir: Some("/srv/zk".into()),
            rss_bytes: Some(12 * 1024 * 1024 + 5),
            peak_rss_bytes: None,
        }),
    }
}

fn counters() -> Counters {
    let c = Counters::default();
    Counters::add(&c.packets_received, 105);
    Counters::add(&c.packets_sent, 104);
    Counters::add(&c.alive_connections, 1);
    Counters::add(&c.bytes_received, 592);
    Counters::add(&c.elections_started, 2);
    Counters::add(&c.elections_won, 1);
    Counters::add(&c.notifications_sent, 9);
    Counters::add(&c.notifications_received, 8);
    Counters::add(&c.notifications_dropped, 3);
    Counters::add(&c.notification_bytes_sent, 410);
    Counters::add(&c.notification_bytes_received, 370);
    c
}

/// Everything one reply needs, owned, with `ctx()` to borrow it as a [`Context`].
struct Fixture {
    config: Config,
    status: NodeStatus,
    counters: Counters,
    started: Instant,
    now: Instant,
    connections: Vec<ConnInfo>,
    facts: Facts,
    clients: ClientFacts,
}

impl Fixture {
    fn new(config: Config, serving: Serving) -> Fixture {
        let started = Instant::now();
        Fixture {
            config,
            status: status(serving),
            counters: counters(),
            started,
            now: started + Duration::from_millis(4669),
            connections: vec![conn(42828, 0, 1, 0, 1_795_393_855)],
            facts: facts(),
            clients: ClientFacts::default(),
        }
    }

    fn leader() -> Fixture {
        let mut f = Fixture::new(ensemble_config(3, false), Serving::Leader);
        f.status.leading_since = Some(f.started + Duration::from_millis(189));
        f
    }

    fn ctx(&self) -> Context<'_> {
        Context {
            config: &self.config,
            status: &self.status,
            counters: &self.counters,
            started: self.started,
            now: self.now,
            trace_mask: 306,
            client_port: 21003,
            connections: &self.connections,
            facts: &self.facts,
            clients: &self.clients,
        }
    }

    fn text(&self, word: Word) -> String {
        let reply = answer(word, None, &self.ctx());
        String::from_utf8(reply.bytes).expect("utf-8 reply")
    }
}

fn keys(mntr: &str) -> Vec<String> {
    mntr.lines()
        .map(|l| l.split('\t').next().unwrap_or("").to_string())
        .collect()
}

fn sample(name: &str) -> Option<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/reference/zookeeper-4lw")
        .join(name);
    std::fs::read_to_string(path).ok()
}

#[test]
fn words_parse_exactly() {
    for w in Word::ALL {
        assert_eq!(Word::parse(w.as_str().as_bytes()), Some(w));
        assert_eq!(w.as_str().len(), 4);
    }
    assert_eq!(Word::parse(b"RUOK"), None);
    assert_eq!(Word::parse(b"ruo"), None);
    assert_eq!(Word::parse(b"elec"), Some(Word::Elec));
    for unknown in [b"ELEC", b"elex", b"lead", b"elct", b"\0lec"] {
        assert_eq!(Word::parse(unknown), None, "{unknown:?}");
    }
    assert_eq!(Word::parse(&[0, 0xff, 0x13, 0x37]), None);
    assert_eq!(Word::Stmk.argument_len(), 8);
    assert_eq!(Word::Srvr.argument_len(), 0);
}

#[test]
fn version_names_zookeeper_zabd_commit_and_build_date() {
    let v = version_string();
    let prefix = format!("3.8.0-zabd-{}-", env!("CARGO_PKG_VERSION"));
    assert!(v.starts_with(&prefix), "{v}");
    let (commit, date) = v[prefix.len()..]
        .split_once(", built on ")
        .expect("built on");
    assert!(
        commit == "unknown" || commit.bytes().all(|b| b.is_ascii_hexdigit()),
        "{commit}"
    );
    // `YYYY-MM-DD HH:MM UTC`
    assert_eq!(date.len(), 20, "{date}");
    assert!(date.ends_with(" UTC"));
    assert_eq!(&date[4..5], "-");
    assert_eq!(&date[13..14], ":");
}

#[test]
fn words_outside_the_whitelist_are_refused_but_srvr_never_is() {
    let mut f = Fixture::leader();
    f.config.whitelist = Whitelist::Only(vec!["ruok".to_string()]);
    for w in Word::ALL {
        let reply = answer(w, Some(7), &f.ctx());
        match w {
            Word::Srvr => assert!(reply.bytes.starts_with(b"Zookeeper version: ")),
            Word::Ruok => assert_eq!(reply.bytes, b"imok"),
            _ => {
                assert_eq!(
                    String::from_utf8(reply.bytes).expect("utf-8"),
                    format!(
                        "{} is not executed because it is not in the whitelist.\n",
                        w.as_str()
                    )
                );
                assert_eq!(reply.effect, None, "{w:?}");
            }
        }
    }
    // Refusal comes before the not-serving answer, as in ZooKeeper.
    f.status.serving = Serving::NotServing;
    assert_eq!(
        f.text(Word::Mntr),
        "mntr is not executed because it is not in the whitelist.\n"
    );
}

#[test]
fn not_serving_answers_for_every_word() {
    let f = Fixture::new(ensemble_config(1, false), Serving::NotServing);
    for w in Word::ALL {
        let reply = answer(w, Some(1), &f.ctx());
        let text = String::from_utf8(reply.bytes.clone()).expect("utf-8");
        match w {
            Word::Ruok => assert_eq!(text, "imok"),
            Word::Isro => assert_eq!(text, "null"),
            Word::Envi => assert!(text.starts_with("Environment:\nzookeeper.version=")),
            // No election recorded in this fixture: nothing to list, but no refusal either.
            Word::Elec => assert_eq!(text, ""),
            _ => {
                assert_eq!(text, NOT_SERVING, "{w:?}");
                assert_eq!(reply.effect, None, "{w:?} must change nothing");
            }
        }
    }
    if let Some(s) = sample("notserving_srvr.txt") {
        assert_eq!(s, NOT_SERVING);
    }
}

#[test]
fn ruok_and_isro_while_serving() {
    let f = Fixture::leader();
    assert_eq!(f.text(Word::Ruok), "imok");
    assert_eq!(f.text(Word::Isro), "rw");
}

#[test]
fn srvr_on_the_leader() {
    let mut f = Fixture::leader();
    f.status.proposals.record(48);
    f.status.proposals.record(109);
    f.status.proposals.record(100);
    let expected = format!(
        "Zookeeper version: {}\n\
         Latency min/avg/max: 0/0.0/0\n\
         Received: 105\n\
         Sent: 104\n\
         Connections: 1\n\
         Outstanding: 0\n\
         Zxid: 0x100000006\n\
         Mode: leader\n\
         Node count: 7\n\
         Proposal sizes last/min/max: 100/48/109\n",
        version_string()
    );
    assert_eq!(f.text(Word::Srvr), expected);
}

#[test]
fn srvr_before_any_proposal_and_with_latencies() {
    let f = Fixture::leader();
    assert!(f
        .text(Word::Srvr)
        .ends_with("Proposal sizes last/min/max: -1/-1/-1\n"));
    for ms in [0, 12, 4] {
        f.counters.request_latency.record(ms);
    }
    assert!(f
        .text(Word::Srvr)
        .contains("\nLatency min/avg/max: 0/5.3333/12\n"));
}

#[test]
fn srvr_on_followers_observers_and_standalone_has_no_proposal_line() {
    for (cfg, serving, mode) in [
        (ensemble_config(1, false), Serving::Follower, "follower"),
        (ensemble_config(4, true), Serving::Observer, "observer"),
        (standalone_config(), Serving::Standalone, "standalone"),
    ] {
        let f = Fixture::new(cfg, serving);
        let text = f.text(Word::Srvr);
        assert!(
            text.ends_with(&format!("Mode: {mode}\nNode count: 7\n")),
            "{text}"
        );
        assert!(!text.contains("Proposal"));
    }
}

#[test]
fn stat_lists_the_clients() {
    let mut f = Fixture::new(ensemble_config(1, false), Serving::Follower);
    f.connections.push(conn(47808, 1, 0, 0, 1_795_393_860));
    let expected = format!(
        "Zookeeper version: {}\n\
         Clients:\n \
         /127.0.0.1:42828[0](queued=0,recved=1,sent=0)\n \
         /127.0.0.1:47808[1](queued=0,recved=0,sent=0)\n\
         \n\
         Latency min/avg/max: 0/0.0/0\n\
         Received: 105\n\
         Sent: 104\n\
         Connections: 1\n\
         Outstanding: 0\n\
         Zxid: 0x100000006\n\
         Mode: follower\n\
         Node count: 7\n",
        version_string()
    );
    assert_eq!(f.text(Word::Stat), expected);
}

/// The text before the first ':' of each line (or the whole line).
fn line_shapes(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| {
            if l.starts_with(" /") {
                " /client".to_string()
            } else {
                l.split(':').next().unwrap_or("").to_string()
            }
        })
        .collect()
}

#[test]
fn srvr_and_stat_have_the_samples_line_shapes() {
    for (role, cfg, serving) in [
        ("leader", ensemble_config(3, false), Serving::Leader),
        ("follower", ensemble_config(1, false), Serving::Follower),
        ("observer", ensemble_config(4, true), Serving::Observer),
    ] {
        let f = Fixture::new(cfg, serving);
        for word in [Word::Srvr, Word::Stat] {
            let Some(s) = sample(&format!("{role}_{}.txt", word.as_str())) else {
                continue;
            };
            let ours = f.text(word);
            let (mut want, mut got) = (line_shapes(&s), line_shapes(&ours));
            // The samples' client lists have a different length; compare one client line.
            want.dedup();
            got.dedup();
            assert_eq!(got, want, "{role} {word:?}");
            assert_eq!(ours.ends_with('\n'), s.ends_with('\n'));
        }
    }
}

#[test]
fn mntr_on_the_leader() {
    let mut f = Fixture::leader();
    f.status.proposals.record(48);
    f.status.proposals.record(100);
    let text = f.text(Word::Mntr);
    for line in text.lines() {
        let parts: Vec<&str> = line.split('\t').collect();
        assert_eq!(parts.len(), 2, "{line:?}");
        assert!(parts[0].starts_with("zk_"));
    }
    assert!(text.ends_with('\n'));
    let expected_keys: Vec<&str> = MNTR_KEYS
        .iter()
        .copied()
        .filter(|k| *k != "zk_observer_master_id")
        .collect();
    assert_eq!(keys(&text), expected_keys);
    let value = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}\t")).map(str::to_string))
            .unwrap_or_else(|| panic!("no {k}"))
    };
    assert_eq!(value("zk_version"), version_string());
    assert_eq!(value("zk_server_state"), "leader");
    assert_eq!(value("zk_peer_state"), "leading - broadcast");
    assert_eq!(value("zk_num_alive_connections"), "1");
    assert_eq!(value("zk_avg_latency"), "0.0");
    assert_eq!(value("zk_min_proposal_size"), "48");
    assert_eq!(value("zk_max_proposal_size"), "100");
    assert_eq!(value("zk_last_proposal_size"), "100");
    assert_eq!(value("zk_proposal_count"), "2");
    assert_eq!(value("zk_packets_received"), "105");
    assert_eq!(value("zk_packets_sent"), "104");
    assert_eq!(value("zk_znode_count"), "7");
    assert_eq!(value("zk_approximate_data_size"), "123");
    assert_eq!(value("zk_open_file_descriptor_count"), "47");
    assert_eq!(value("zk_max_file_descriptor_count"), "20000");
    assert_eq!(value("zk_learners"), "2");
    assert_eq!(value("zk_synced_followers"), "2");
    assert_eq!(value("zk_synced_non_voting_followers"), "0");
    assert_eq!(value("zk_synced_observers"), "0");
    assert_eq!(value("zk_pending_syncs"), "0");
    assert_eq!(value("zk_uptime"), "4669");
    assert_eq!(value("zk_leader_uptime"), "4480");
    assert_eq!(value("zk_quorum_size"), "3");
    assert_eq!(value("zk_looking_count"), "2");
    assert_eq!(value("zk_bytes_received_count"), "592");
    assert_eq!(value("zk_last_client_response_size"), "-1");
    assert_eq!(value("zk_current_epoch"), "1");
    assert_eq!(value("zk_elections_started"), "2");
    assert_eq!(value("zk_elections_won"), "1");
    assert_eq!(value("zk_notifications_sent"), "9");
    assert_eq!(value("zk_notifications_received"), "8");
    assert_eq!(value("zk_notifications_dropped"), "3");
    assert_eq!(value("zk_notification_bytes_sent"), "410");
    assert_eq!(value("zk_notification_bytes_received"), "370");
    // Everything after the first three lines is numeric, as exporters expect.
    for line in text.lines().skip(3) {
        let v = line.split('\t').nth(1).unwrap_or("");
        assert!(v.parse::<f64>().is_ok(), "{line:?}");
    }
}

#[test]
fn mntr_on_learners_and_standalone() {
    let f = Fixture::new(ensemble_config(1, false), Serving::Follower);
    let text = f.text(Word::Mntr);
    let k = keys(&text);
    assert_eq!(
        &k[..4],
        &[
            "zk_version",
            "zk_server_state",
            "zk_peer_state",
            "zk_ephemerals_count"
        ]
    );
    for leader_only in LEADER_ONLY {
        assert!(!k.iter().any(|x| x == leader_only), "{leader_only}");
    }
    assert!(text.contains("zk_peer_state\tfollowing - broadcast\n"));
    assert!(text.contains("zk_proposal_count\t0\n"));

    let f = Fixture::new(ensemble_config(4, true), Serving::Observer);
    let text = f.text(Word::Mntr);
    assert_eq!(keys(&text)[3], "zk_observer_master_id");
    assert!(text.contains("zk_observer_master_id\t3\n"));
    assert!(
        text.contains("zk_quorum_size\t3\n"),
        "observers do not vote"
    );

    let f = Fixture::new(standalone_config(), Serving::Standalone);
    let text = f.text(Word::Mntr);
    assert!(text.starts_with(&format!(
        "zk_version\t{}\nzk_server_state\tstandalone\nzk_ephemerals_count\t0\n",
        version_string()
    )));
    assert!(text.contains("zk_quorum_size\t1\n"));
}

#[test]
fn mntr_without_fd_facts_omits_those_keys() {
    let mut f = Fixture::leader();
    f.facts = Facts::default();
    let k = keys(&f.text(Word::Mntr));
    assert!(!k.iter().any(|x| x.contains("file_descriptor")));
}

/// Our ZooKeeper keys appear in the sample of the same role, in the same order.
#[test]
fn mntr_keys_follow_the_samples_order() {
    for (role, cfg, serving) in [
        ("leader", ensemble_config(3, false), Serving::Leader),
        ("obsens_leader", ensemble_config(3, true), Serving::Leader),
        ("follower", ensemble_config(1, false), Serving::Follower),
        ("observer", ensemble_config(4, true), Serving::Observer),
    ] {
        let Some(s) = sample(&format!("{role}_mntr.txt")) else {
            continue;
        };
        let theirs = keys(&s);
        let f = Fixture::new(cfg, serving);
        let ours: Vec<String> = keys(&f.text(Word::Mntr))
            .into_iter()
            .take_while(|k| k != "zk_digest")
            .collect();
        let mut positions = Vec::new();
        for k in &ours {
            let pos = theirs
                .iter()
                .position(|t| t == k)
                .unwrap_or_else(|| panic!("{role}: {k} is not in the sample"));
            positions.push(pos);
        }
        assert!(
            positions.windows(2).all(|w| w[0] < w[1]),
            "{role}: {ours:?}"
        );
        // The first keys are the same lines as ZooKeeper's.
        assert_eq!(ours[..3], theirs[..3]);
    }
}

#[test]
fn conf_on_an_ensemble() {
    let f = Fixture::leader();
    let expected = "clientPort=21003\n\
        secureClientPort=-1\n\
        dataDir=/srv/zk/data/version-2\n\
        dataDirSize=1234\n\
        dataLogDir=/srv/zk/log/version-2\n\
        dataLogSize=5678\n\
        tickTime=2000\n\
        maxClientCnxns=60\n\
        minSessionTimeout=4000\n\
        maxSessionTimeout=40000\n\
        clientPortListenBacklog=-1\n\
        serverId=3\n\
        initLimit=10\n\
        syncLimit=5\n\
        electionAlg=3\n\
        electionPort=21203\n\
        quorumPort=21103\n\
        peerType=0\n\
        membership: \n\
        server.1=127.0.0.1:21101:21201:participant\n\
        server.2=127.0.0.1:21102:21202:participant\n\
        server.3=127.0.0.1:21103:21203:participant\n\
        version=0";
    assert_eq!(f.text(Word::Conf), expected);
}

#[test]
fn conf_on_an_observer_with_client_addresses() {
    let mut cfg = ensemble_config(4, true);
    if let Some(s) = cfg.servers.get_mut(&Sid(1)) {
        s.client_port = Some(2181);
    }
    if let Some(s) = cfg.servers.get_mut(&Sid(2)) {
        s.client_port = Some(2182);
        s.client_host = Some("::1".to_string());
    }
    let f = Fixture::new(cfg, Serving::Observer);
    let text = f.text(Word::Conf);
    assert!(text.contains("\nserverId=4\n"));
    assert!(text.contains("\npeerType=1\n"));
    assert!(text.contains("\nserver.1=127.0.0.1:21101:21201:participant;0.0.0.0:2181\n"));
    assert!(text.contains("\nserver.2=127.0.0.1:21102:21202:participant;[::1]:2182\n"));
    assert!(text.ends_with("\nserver.4=127.0.0.1:21104:21204:observer\nversion=0"));
}

#[test]
fn conf_standalone_stops_after_server_id() {
    let f = Fixture::new(standalone_config(), Serving::Standalone);
    let text = f.text(Word::Conf);
    assert!(text.starts_with("clientPort=21003\n"));
    assert!(
        text.ends_with("clientPortListenBacklog=-1\nserverId=0\n"),
        "{text}"
    );
    assert!(!text.contains("membership"));
}

#[test]
fn conf_has_the_samples_keys() {
    for (role, cfg, serving) in [
        ("leader", ensemble_config(3, false), Serving::Leader),
        ("observer", ensemble_config(4, true), Serving::Observer),
    ] {
        let Some(s) = sample(&format!("{role}_conf.txt")) else {
            continue;
        };
        let conf_keys = |t: &str| -> Vec<String> {
            t.lines()
                .map(|l| l.split(['=', ':']).next().unwrap_or("").to_string())
                .collect()
        };
        let f = Fixture::new(cfg, serving);
        let ours = f.text(Word::Conf);
        assert_eq!(conf_keys(&ours), conf_keys(&s), "{role}");
        assert!(!ours.ends_with('\n') && !s.ends_with('\n'));
    }
}

#[test]
fn envi_lists_the_process() {
    let f = Fixture::leader();
    let expected = format!(
        "Environment:\n\
         zookeeper.version={}\n\
         host.name=box\n\
         os.name=Linux\n\
         os.arch=amd64\n\
         os.version=6.1.0\n\
         user.name=zk\n\
         user.home=/home/zk\n\
         user.dir=/srv/zk\n\
         process.memory.rss=12MB\n\
         process.memory.peak=<NA>\n",
        version_string()
    );
    assert_eq!(f.text(Word::Envi), expected);
}

#[test]
fn cons_dirs_watches_hash() {
    let mut f = Fixture::leader();
    f.connections.push(conn(40000, 1, 0, 0, 1_795_393_860));
    assert_eq!(
        f.text(Word::Cons),
        " /127.0.0.1:42828[0](queued=0,recved=1,sent=0)\n \
         /127.0.0.1:40000[1](queued=0,recved=0,sent=0)\n\n"
    );
    assert_eq!(
        f.text(Word::Dirs),
        "datadir_size: 1234\nlogdir_size: 5678\n"
    );
    assert_eq!(
        f.text(Word::Wchs),
        "0 connections watching 0 paths\nTotal watches:0\n"
    );
    assert_eq!(f.text(Word::Wchc), "\n");
    assert_eq!(f.text(Word::Wchp), "\n");
    assert_eq!(f.text(Word::Hash), "");
    for (name, word) in [
        ("leader_wchs.txt", Word::Wchs),
        ("leader_wchc.txt", Word::Wchc),
        ("leader_wchp.txt", Word::Wchp),
        ("leader_hash.txt", Word::Hash),
    ] {
        if let Some(s) = sample(name) {
            assert_eq!(f.text(word), s, "{name}");
        }
    }
    if let Some(s) = sample("leader_cons.txt") {
        f.connections.truncate(1);
        assert_eq!(line_shapes(&f.text(Word::Cons)), line_shapes(&s));
    }
}

#[test]
fn dump_on_leader_and_follower() {
    let mut f = Fixture::leader();
    f.connections.push(conn(42910, 1, 0, 0, 1_795_393_865));
    f.connections[0].expires_at = UNIX_EPOCH + Duration::from_millis(1_795_393_854_500);
    assert_eq!(
        f.text(Word::Dump),
        "SessionTracker dump:\n\
         Session Sets (0)/(0):\n\
         ephemeral nodes dump:\n\
         Sessions with Ephemerals (0):\n\
         Connections dump:\n\
         Connections Sets (2)/(2):\n\
         1 expire at Mon Nov 23 00:30:55 UTC 2026:\n\
         \tip: /127.0.0.1:42828 sessionId: 0x0\n\
         1 expire at Mon Nov 23 00:31:05 UTC 2026:\n\
         \tip: /127.0.0.1:42910 sessionId: 0x0\n"
    );
    f.status.serving = Serving::Follower;
    assert!(f
        .text(Word::Dump)
        .starts_with("SessionTracker dump:\nGlobal Sessions(0):\nephemeral nodes dump:\n"));
}

#[test]
fn trace_mask_and_resets_are_effects() {
    let f = Fixture::leader();
    assert_eq!(f.text(Word::Gtmk), "306");
    let reply = answer(Word::Stmk, Some(-2), &f.ctx());
    assert_eq!(reply.bytes, b"-2");
    assert_eq!(reply.effect, Some(Effect::SetTraceMask(-2)));
    let reply = answer(Word::Srst, None, &f.ctx());
    assert_eq!(reply.bytes, b"Server stats reset.\n");
    assert_eq!(reply.effect, Some(Effect::ResetServerStats));
    let reply = answer(Word::Crst, None, &f.ctx());
    assert_eq!(reply.bytes, b"Connection stats reset.\n");
    assert_eq!(reply.effect, Some(Effect::ResetConnectionStats));
}

#[test]
fn needs_only_what_the_answer_uses() {
    assert_eq!(
        needs(Word::Mntr, Disposition::Answer),
        Needs {
            fds: true,
            dirs: false,
            env: false
        }
    );
    assert!(needs(Word::Conf, Disposition::Answer).dirs);
    assert!(needs(Word::Dirs, Disposition::Answer).dirs);
    assert!(needs(Word::Envi, Disposition::Answer).env);
    assert_eq!(needs(Word::Srvr, Disposition::Answer), Needs::default());
    assert_eq!(needs(Word::Mntr, Disposition::NotServing), Needs::default());
    assert_eq!(needs(Word::Conf, Disposition::Refused), Needs::default());
}

#[test]
fn java_number_and_date_formats() {
    assert_eq!(java_double(0.0), "0.0");
    assert_eq!(java_double(4.1), "4.1");
    assert_eq!(java_double(12.0), "12.0");
    assert_eq!(java_double(1.0 / 6.0), "0.1667");
    assert_eq!(java_double(0.0001), "1.0E-4");
    assert_eq!(java_double(0.00004), "0.0");
    assert_eq!(java_double(12_500_000.0), "1.25E7");
    assert_eq!(java_date_utc(0), "Thu Jan 01 00:00:00 UTC 1970");
    assert_eq!(java_date_utc(1_795_393_855), "Mon Nov 23 00:30:55 UTC 2026");
    assert_eq!(java_date_utc(951_782_400), "Tue Feb 29 00:00:00 UTC 2000");
}

#[test]
fn watches_sessions_and_ephemerals_are_reported() {
    let mut f = Fixture::leader();
    f.clients = ClientFacts {
        watch_summary: (2, 2, 3),
        watches_by_session: vec![
            (0x10, vec!["/a".into(), "/b".into()]),
            (0x20, vec!["/a".into()]),
        ],
        watches_by_path: vec![("/a".into(), vec![0x10, 0x20]), ("/b".into(), vec![0x10])],
        sessions: vec![(0x10, 4000), (0x20, 6000)],
        ephemerals: vec![(0x20, vec!["/e".into()])],
    };
    assert_eq!(
        f.text(Word::Wchs),
        "2 connections watching 2 paths\nTotal watches:3\n"
    );
    assert_eq!(f.text(Word::Wchc), "0x10\n\t/a\n\t/b\n0x20\n\t/a\n\n");
    assert_eq!(f.text(Word::Wchp), "/a\n\t0x10\n\t0x20\n/b\n\t0x10\n\n");
    let dump = f.text(Word::Dump);
    assert!(
        dump.starts_with(
            "SessionTracker dump:\nGlobal Sessions(2):\n0x10\t4000ms\n0x20\t6000ms\n\
             ephemeral nodes dump:\nSessions with Ephemerals (1):\n0x20:\n\t/e\n"
        ),
        "{dump}"
    );
    let mntr = f.text(Word::Mntr);
    assert!(mntr.contains("zk_watch_count\t3\n"), "{mntr}");
    assert!(mntr.contains("zk_global_sessions\t2\n"), "{mntr}");
}

#[test]
fn elec_lists_the_elections_oldest_first_and_answers_while_looking() {
    use crate::election::{Decision, Vote};
    use crate::ids::ServerState;
    use crate::status::history::{ElectionHistory, Stamp};
    use std::sync::Arc;
    let at = |ms: u64| Stamp {
        unix_ms: 1_700_000_000_000 + ms,
        uptime: Duration::from_millis(ms),
    };
    let mut h = ElectionHistory::default();
    h.begin(at(5), "start-up".into(), Epoch(0), 0);
    let decision = Decision {
        state: ServerState::Following,
        vote: Vote {
            epoch: Epoch(0),
            zxid: Zxid(0),
            leader: Sid(3),
        },
        round: 1,
        rounds: 1,
        notifications_received: 4,
        joined_established: false,
        distinct_votes: 3,
    };
    h.decided(at(40), &decision, 6);
    h.serving(Epoch(1), at(52));
    h.begin(at(9000), "leader lost: link closed".into(), Epoch(1), 6);

    let mut f = Fixture::new(ensemble_config(1, false), Serving::NotServing);
    f.status.elections = Arc::new(h);
    let text = f.text(Word::Elec);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(text.ends_with('\n'));
    assert!(lines[0].starts_with("sid=1 id=1 start_unix_ms=1700000000005 took_ms=35.000 state=following leader=3 epoch=1 "), "{}", lines[0]);
    assert!(lines[0].contains(" notifications_received=4 notifications_sent=6 distinct_votes=3 joined_established=false "), "{}", lines[0]);
    assert!(
        lines[0].ends_with(" serving_after_ms=12.000 cause=\"start-up\""),
        "{}",
        lines[0]
    );
    assert!(lines[1].starts_with("sid=1 id=2 start_unix_ms=1700000009000 took_ms=- state=looking leader=- epoch=- prior_epoch=1 "), "{}", lines[1]);
    assert!(
        lines[1].ends_with(" cause=\"leader lost: link closed\""),
        "{}",
        lines[1]
    );
    // Every pair is key=value (the cause is the one quoted value with spaces).
    for line in &lines {
        let (pairs, cause) = line.split_once(" cause=").expect("cause last");
        assert!(cause.starts_with('"') && cause.ends_with('"'));
        assert!(
            pairs.split(' ').all(|kv| kv
                .split_once('=')
                .is_some_and(|(k, v)| !k.is_empty() && !v.is_empty())),
            "{line}"
        );
    }

    // Like every word, it answers only when whitelisted.
    f.config.whitelist = Whitelist::Only(vec!["ruok".to_string()]);
    assert_eq!(
        f.text(Word::Elec),
        "elec is not executed because it is not in the whitelist.\n"
    );
    f.config.whitelist = Whitelist::Only(vec!["elec".to_string()]);
    assert_eq!(f.text(Word::Elec), text);
    assert_eq!(needs(Word::Elec, Disposition::Answer), Needs::default());
}
