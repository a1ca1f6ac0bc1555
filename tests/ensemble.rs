//! Process tests: real `zabd` processes from zoo.cfg files, killed, stopped and restarted, asked
//! over the four-letter-word port what they think.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

#[test]
fn three_voters_elect_exactly_one_leader() {
    let mut e = Ensemble::new(3, 0);
    e.start_all();
    let (leader, epoch) = e.wait_stable(&[1, 2, 3]);
    assert!(epoch >= 1, "a new epoch was established");
    assert!((1..=3).contains(&leader));
    // An idle ensemble shows one zxid everywhere: (epoch << 32).
    for id in [1, 2, 3] {
        assert_eq!(e.srvr(id).map(|v| v.zxid), Some(epoch << 32));
    }
    // The epoch is persisted where ZooKeeper keeps it.
    for id in [1, 2, 3] {
        let dir = e.data_dir(id).join("version-2");
        let current = std::fs::read_to_string(dir.join("currentEpoch")).expect("currentEpoch");
        let accepted = std::fs::read_to_string(dir.join("acceptedEpoch")).expect("acceptedEpoch");
        assert_eq!(current.trim(), epoch.to_string());
        assert_eq!(accepted.trim(), epoch.to_string());
    }
}

#[test]
fn five_voters_elect_exactly_one_leader() {
    let mut e = Ensemble::new(5, 0);
    e.start_all();
    let (leader, _) = e.wait_stable(&[1, 2, 3, 4, 5]);
    let mntr = e.ask(leader, "mntr").expect("mntr");
    assert!(mntr.contains("zk_synced_followers\t4"), "{mntr}");
}

#[test]
fn leader_kill_elects_a_new_leader_and_the_restarted_server_rejoins_as_follower() {
    let mut e = Ensemble::new(3, 0);
    e.start_all();
    let (old_leader, old_epoch) = e.wait_stable(&[1, 2, 3]);
    e.kill(old_leader);
    let survivors: Vec<u64> = e.ids().into_iter().filter(|i| *i != old_leader).collect();
    let (leader, epoch) = e.wait_stable(&survivors);
    assert_ne!(leader, old_leader);
    assert!(epoch > old_epoch, "a new epoch: {epoch} > {old_epoch}");

    // Restart the killed server: it joins as a follower; leader and epoch do not change.
    e.start(old_leader);
    e.wait_stable(&[1, 2, 3]);
    let view = e.srvr(old_leader).expect("serving");
    assert_eq!(view.mode, "follower");
    assert_eq!(e.srvr(leader).map(|v| v.mode), Some("leader".to_string()));
    assert_eq!(view.epoch(), epoch, "the epoch did not change");
    assert!(
        file_contains(&e.log_path(old_leader), "joined_established=true"),
        "joined without an election of its own:\n{}",
        e.logs()
    );

    // `elec` tells the same story: the new leader's start-up election, then the one the kill
    // caused; the restarted server's one election joined the running leader.
    let elections = |id: u64| -> Vec<BTreeMap<String, String>> {
        let text = e.ask(id, "elec").expect("elec");
        text.lines().map(elec_fields).collect()
    };
    let led = elections(leader);
    assert!(led.len() >= 2, "{led:?}");
    assert_eq!(led[0]["cause"], "\"start-up\"");
    assert_eq!(led[0]["epoch"], old_epoch.to_string());
    let last = led.last().expect("an election");
    assert_eq!(last["state"], "leading", "{last:?}");
    assert_eq!(last["leader"], leader.to_string());
    assert_eq!(last["epoch"], epoch.to_string());
    assert!(last["cause"].starts_with("\"leader lost"), "{last:?}");
    let rejoined = elections(old_leader);
    assert_eq!(rejoined.len(), 1, "{rejoined:?}");
    assert_eq!(rejoined[0]["sid"], old_leader.to_string());
    assert_eq!(rejoined[0]["state"], "following");
    assert_eq!(rejoined[0]["leader"], leader.to_string());
    assert_eq!(rejoined[0]["epoch"], epoch.to_string());
    assert_eq!(rejoined[0]["joined_established"], "true");
}

/// One `elec` line as key -> value (the cause keeps its quotes).
fn elec_fields(line: &str) -> BTreeMap<String, String> {
    let (pairs, cause) = line.split_once(" cause=").expect("cause last");
    let mut fields: BTreeMap<String, String> = pairs
        .split(' ')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    fields.insert("cause".into(), cause.to_string());
    fields
}

#[test]
fn losing_a_majority_stops_service_and_one_restart_restores_it() {
    let mut e = Ensemble::new(3, 0);
    e.start_all();
    let (leader, _) = e.wait_stable(&[1, 2, 3]);
    let followers: Vec<u64> = e.ids().into_iter().filter(|i| *i != leader).collect();
    e.kill(followers[0]);
    e.kill(followers[1]);
    // The leader has no quorum: it steps down and stops serving (ruok still says imok).
    e.wait_until(&[leader], "leader stops serving", |v| {
        v.values().all(not_serving)
    });
    let srvr = e.ask(leader, "srvr").expect("answers");
    assert_eq!(
        srvr,
        "This ZooKeeper instance is not currently serving requests\n"
    );
    assert_eq!(e.ask(leader, "ruok").as_deref(), Some("imok"));
    // One server back: a quorum again.
    e.start(followers[0]);
    e.wait_stable(&[leader, followers[0]]);
}

#[test]
fn a_stopped_leader_is_replaced_after_sync_limit_and_steps_down_when_continued() {
    let mut e = Ensemble::new(3, 0);
    e.start_all();
    let (old_leader, old_epoch) = e.wait_stable(&[1, 2, 3]);
    let stopped_at = Instant::now();
    e.stop(old_leader);
    let survivors: Vec<u64> = e.ids().into_iter().filter(|i| *i != old_leader).collect();
    let (leader, epoch) = e.wait_stable(&survivors);
    let took = stopped_at.elapsed();
    assert_ne!(leader, old_leader);
    assert!(epoch > old_epoch);
    // Followers only give up on a leader after syncLimit ticks without a word from it. The
    // silence began with the leader's last message, which can precede the SIGSTOP by up to one
    // ping interval (half a tick): a replacement 495 ms after the stop with a 500 ms syncLimit
    // was seen, and is correct.
    let sync = Duration::from_millis(TICK_MS * SYNC_LIMIT);
    let ping_interval = Duration::from_millis(TICK_MS / 2);
    assert!(
        took >= sync - ping_interval,
        "replaced after {took:?}, before syncLimit {sync:?} less a ping interval"
    );
    e.cont(old_leader);
    // The old leader finds its followers gone, steps down and rejoins as a follower.
    e.wait_stable(&[1, 2, 3]);
    let view = e.srvr(old_leader).expect("serving");
    assert_eq!(view.mode, "follower");
    assert_eq!(view.epoch(), epoch);
}

#[test]
fn an_observer_follows_across_a_leader_kill_and_never_counts_toward_a_quorum() {
    let mut e = Ensemble::new(3, 1);
    e.start_all();
    let (leader, epoch) = e.wait_stable(&[1, 2, 3, 4]);
    assert_eq!(e.srvr(4).map(|v| v.mode), Some("observer".to_string()));
    let mntr = e.ask(leader, "mntr").expect("mntr");
    assert!(mntr.contains("zk_synced_observers\t1"), "{mntr}");
    assert!(mntr.contains("zk_synced_followers\t2"), "{mntr}");

    e.kill(leader);
    let rest: Vec<u64> = e.ids().into_iter().filter(|i| *i != leader).collect();
    let (new_leader, new_epoch) = e.wait_stable(&rest);
    assert!(new_epoch > epoch);
    assert_ne!(new_leader, 4, "an observer never leads");
    assert_eq!(e.srvr(4).map(|v| v.mode), Some("observer".to_string()));

    // Kill one more voter: one voter + one observer is no quorum, however the observer votes.
    let other = rest.iter().copied().find(|i| *i != new_leader && *i != 4);
    let Some(other) = other else {
        panic!("three voters minus the dead leader leave two");
    };
    e.kill(other);
    e.wait_until(&[new_leader, 4], "no quorum without a second voter", |v| {
        v.values().all(not_serving)
    });
    std::thread::sleep(Duration::from_millis(TICK_MS * INIT_LIMIT + 200));
    let views = e.views(&[new_leader, 4]);
    assert!(views.values().all(not_serving), "{views:?}");
}

#[test]
fn a_second_server_with_an_id_in_use_stops_with_a_clear_error() {
    let mut e = Ensemble::new(3, 0);
    e.start_all();
    let (leader, epoch) = e.wait_stable(&[1, 2, 3]);
    // Start a second process from server 2's configuration (same id, same ports).
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_zabd"))
        .arg("--config")
        .arg(e.config_path(2))
        .output()
        .expect("run zabd");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot bind"), "{stderr}");
    // The ensemble did not notice.
    assert_eq!(e.wait_stable(&[1, 2, 3]), (leader, epoch));
}

#[test]
fn garbage_on_the_election_and_client_ports_harms_nothing() {
    let mut e = Ensemble::new(3, 0);
    e.start_all();
    let (leader, epoch) = e.wait_stable(&[1, 2, 3]);
    for id in [1, 2, 3] {
        let election = std::net::SocketAddr::from(([127, 0, 0, 1], e.ports[&id].election));
        let quorum = std::net::SocketAddr::from(([127, 0, 0, 1], e.ports[&id].quorum));
        for target in [election, quorum] {
            // Random bytes; an oversized length; a truncated frame; nothing at all.
            send_raw(target, &[0xde, 0xad, 0xbe, 0xef, 1, 2, 3]);
            send_raw(target, &[0x7f, 0xff, 0xff, 0xff]);
            send_raw(target, &[0, 0, 0, 40, 1, 2]);
            send_raw(target, &[]);
        }
        // A well-formed handshake claiming the server's own id, and an unknown id.
        for claimed in [id, 99] {
            let hs = zabd::net::election::Handshake {
                protocol: zabd::net::election::PROTOCOL_VERSION,
                sid: zabd::ids::Sid(claimed),
                election_addr: "127.0.0.1:1".into(),
                ensemble: 0,
            };
            let frame =
                zabd::net::codec::encode::<_, { zabd::net::codec::ELECTION_FRAME_LIMIT }>(&hs)
                    .expect("encode");
            let mut bytes = (frame.len() as u32).to_be_bytes().to_vec();
            bytes.extend_from_slice(&frame);
            send_raw(election, &bytes);
        }
        // The client port: garbage, a partial word, an unknown word.
        assert_eq!(
            ask(e.client_addr(id), &[0, 0xff, 0x13, 0x37]),
            Some(String::new())
        );
        assert_eq!(ask(e.client_addr(id), b"ru"), Some(String::new()));
        assert_eq!(ask(e.client_addr(id), b"xyzw"), Some(String::new()));
        assert_eq!(e.ask(id, "ruok").as_deref(), Some("imok"));
    }
    // Same leader, same epoch: the election never restarted.
    assert_eq!(e.wait_stable(&[1, 2, 3]), (leader, epoch));
    let log = std::fs::read_to_string(e.log_path(1)).unwrap_or_default();
    assert!(log.contains("connection refused"), "refusals are logged");
}

/// Connect, write `bytes`, and wait (bounded) for the server to close the connection.
fn send_raw(addr: std::net::SocketAddr, bytes: &[u8]) {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return;
    };
    let _ = s.write_all(bytes);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let _ = s.set_read_timeout(Some(Duration::from_secs(6)));
    let mut sink = Vec::new();
    let _ = s.read_to_end(&mut sink);
}

#[test]
fn four_letter_words_report_live_state() {
    let mut e = Ensemble::new(3, 0);
    e.start_all();
    let (leader, epoch) = e.wait_stable(&[1, 2, 3]);
    let follower = if leader == 1 { 2 } else { 1 };
    let received = |id: u64| -> u64 {
        let text = e.ask(id, "srvr").unwrap_or_default();
        text.lines()
            .find_map(|l| l.strip_prefix("Received: "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    let before = received(follower);
    let after = received(follower);
    assert!(after > before, "Received moves: {before} -> {after}");
    let mntr = e.ask(leader, "mntr").expect("mntr");
    let keys: Vec<&str> = mntr.lines().filter_map(|l| l.split('\t').next()).collect();
    assert_eq!(
        &keys[..3],
        &["zk_version", "zk_server_state", "zk_peer_state"]
    );
    assert!(mntr.contains("zk_server_state\tleader\n"));
    assert!(mntr.contains("zk_peer_state\tleading - broadcast\n"));
    let conf = e.ask(follower, "conf").expect("conf");
    assert!(conf.ends_with("version=0"), "no trailing newline: {conf:?}");
    assert!(conf.contains(&format!("serverId={follower}\n")));
    assert_eq!(e.ask(leader, "isro").as_deref(), Some("rw"));
    let stat = e.ask(follower, "stat").expect("stat");
    assert!(stat.contains("Mode: follower"));
    assert!(stat.contains(&format!("Zxid: 0x{:x}", epoch << 32)));
    assert!(e
        .ask(leader, "envi")
        .expect("envi")
        .starts_with("Environment:\n"));
}

#[test]
fn log_file_flag_appends_the_log_to_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_ports(1)[0];
    let cfg = dir.path().join("zoo.cfg");
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::write(
        &cfg,
        format!(
            "tickTime=100\ndataDir={}\nclientPort={port}\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let log = dir.path().join("zabd.log");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_zabd"))
        .arg("--config")
        .arg(&cfg)
        .arg("--log-file")
        .arg(&log)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + WAIT;
    while !file_contains(&log, "serving standalone") {
        assert!(
            Instant::now() < deadline,
            "no log line in {}",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(&child, libc::SIGTERM);
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status:?}");
    assert!(file_contains(&log, "shutting down"));
}
