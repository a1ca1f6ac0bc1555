//! The client protocol against real `zabd` processes: durability of acknowledged writes across
//! a leader kill, the watch-before-data guarantee, sessions moving between servers, and bad
//! input on the client port. (Conformance with a real client library is tests/kazoo.)

mod common;

use common::zk::{Client, ClientError, EPHEMERAL, PERSISTENT};
use common::*;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zabd::server::jute::{encode_connect_request, ConnectRequest};
use zabd::tree::ErrorCode;

const SESSION_MS: i32 = 2000;

/// Connect to the first server of `order` that takes a session.
fn connect_any(e: &Ensemble, order: &[u64]) -> Client {
    let deadline = Instant::now() + WAIT;
    loop {
        for id in order {
            if let Ok(c) = Client::connect(e.client_addr(*id), SESSION_MS, None) {
                return c;
            }
        }
        assert!(Instant::now() < deadline, "no server takes a session");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn acknowledged_writes_survive_a_leader_kill_and_reach_every_server() {
    writes_survive_minority_kills(3, 1, Fault::Kill);
}

#[test]
fn acknowledged_writes_survive_killing_two_of_five_including_the_leader() {
    writes_survive_minority_kills(5, 2, Fault::Kill);
}

#[test]
fn a_leader_stopped_with_sigterm_hands_off_and_loses_nothing() {
    writes_survive_minority_kills(3, 1, Fault::Term);
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Fault {
    Kill,
    Term,
}

/// A writer per server streams creates; `kills` servers (the leader first, then followers)
/// are killed -9 (or stopped with SIGTERM) mid-stream; after restarting them every server
/// holds every acknowledged write and the same tree digest.
fn writes_survive_minority_kills(voters: u64, kills: usize, fault: Fault) {
    let mut e = Ensemble::new(voters, 0);
    e.start_all();
    let ids: Vec<u64> = (1..=voters).collect();
    let (leader, _) = e.wait_stable(&ids);
    let mut admin = connect_any(&e, &[1]);
    admin.create("/d", b"", PERSISTENT).expect("create /d");

    // One writer per server; each records the paths the server acknowledged.
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for &id in &ids {
        // Its own server first, then the others.
        let addrs: Vec<SocketAddr> = (0..voters)
            .map(|k| e.client_addr((id - 1 + k) % voters + 1))
            .collect();
        let (acked, stop) = (acked.clone(), stop.clone());
        writers.push(std::thread::spawn(move || {
            let mut n = 0u64;
            let mut client: Option<Client> = None;
            while !stop.load(Ordering::Relaxed) {
                let c = match client.as_mut() {
                    Some(c) => c,
                    None => {
                        // Connection lost: any live server will do (a new session is fine,
                        // the nodes are persistent).
                        client = addrs
                            .iter()
                            .find_map(|a| Client::connect(*a, SESSION_MS, None).ok());
                        if client.is_none() {
                            std::thread::sleep(Duration::from_millis(10));
                        }
                        continue;
                    }
                };
                let path = format!("/d/w{id}-{n}");
                match c.create(&path, b"x", PERSISTENT) {
                    Ok(p) => {
                        acked.lock().unwrap().insert(p);
                        n += 1;
                    }
                    // Created by an attempt whose reply was lost: go on under a new name.
                    Err(ErrorCode::NodeExists) => n += 1,
                    Err(_) => {
                        client = None;
                        n += 1;
                    }
                }
            }
        }));
    }
    let count = || acked.lock().unwrap().len();
    wait_for(|| count() >= 60, "writes before the kills");
    let mut victims = vec![leader];
    victims.extend(ids.iter().copied().filter(|i| *i != leader).take(kills - 1));
    for &victim in &victims {
        match fault {
            Fault::Kill => e.kill(victim),
            Fault::Term => {
                let status = e.terminate(victim).expect("stops within the limit");
                assert!(status.success(), "SIGTERM exit: {status:?}\n{}", e.logs());
            }
        }
        let before = count();
        wait_for(|| count() >= before + 60, "writes after a kill");
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().expect("writer");
    }
    for &victim in &victims {
        e.start(victim);
    }
    e.wait_stable(&ids);

    let acked = acked.lock().unwrap().clone();
    let mut digests = BTreeSet::new();
    for &id in &ids {
        let mut c = connect_any(&e, &[id]);
        c.sync("/d").expect("sync");
        let children: BTreeSet<String> = c
            .children("/d")
            .expect("children")
            .into_iter()
            .map(|n| format!("/d/{n}"))
            .collect();
        let missing: Vec<&String> = acked.difference(&children).collect();
        assert!(
            missing.is_empty(),
            "server {id} lost {} acknowledged writes, e.g. {:?}\n{}",
            missing.len(),
            missing.first(),
            e.logs()
        );
        let mntr = e.ask(id, "mntr").unwrap_or_default();
        let digest = mntr
            .lines()
            .find_map(|l| l.strip_prefix("zk_digest\t"))
            .map(str::to_owned);
        digests.insert(digest.expect("mntr shows zk_digest"));
    }
    assert_eq!(digests.len(), 1, "replicas differ: {digests:?}");
    assert!(acked.len() >= 60 * (1 + kills));
    if fault == Fault::Term {
        assert!(file_contains(
            &e.log_path(leader),
            "handing off the leadership"
        ));
        // Followers either read LEAVING ("handed off") or, when their own next write to the
        // leaving leader failed first, saw the link close: both start the election at once.
    }
}

#[test]
fn a_watch_event_arrives_before_the_data_it_announces() {
    let mut e = Ensemble::new(3, 0);
    e.start_all();
    e.wait_stable(&[1, 2, 3]);
    let mut writer = connect_any(&e, &[1]);
    let mut watcher = connect_any(&e, &[2]);
    writer.create("/w", b"0", PERSISTENT).expect("create");
    watcher.sync("/w").expect("sync");
    for round in 1..=20u32 {
        assert_eq!(
            watcher.get("/w", true).expect("get"),
            (round - 1).to_string().into_bytes()
        );
        let events_before = watcher.events.len();
        writer.set("/w", round.to_string().as_bytes()).expect("set");
        // Poll until the new data shows; the event must already be there when it does.
        let deadline = Instant::now() + WAIT;
        loop {
            let data = watcher.get("/w", false).expect("get");
            if data == round.to_string().into_bytes() {
                assert_eq!(
                    watcher.events.len(),
                    events_before + 1,
                    "round {round}: new data seen before its watch event"
                );
                let (_, event) = watcher.events.last().unwrap();
                assert_eq!((event.event_type, event.path.as_str()), (3, "/w"));
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the change never reached server 2"
            );
        }
    }
}

#[test]
fn a_session_moves_between_servers_and_expires_when_silent() {
    let mut e = Ensemble::new(3, 0);
    e.start_all();
    e.wait_stable(&[1, 2, 3]);
    let mut first = connect_any(&e, &[1]);
    first.create("/eph", b"", EPHEMERAL).expect("ephemeral");
    let (id, passwd) = (first.session_id, first.passwd.clone());
    // Resume on server 3 without closing: the ephemeral is still the session's.
    let mut moved =
        Client::connect(e.client_addr(3), SESSION_MS, Some((id, passwd.clone()))).expect("resume");
    assert_eq!(moved.session_id, id);
    assert_eq!(moved.get("/eph", false), Ok(Vec::new()));
    // A wrong password is refused the way ZooKeeper refuses it: as an expired session.
    let mut wrong = passwd.clone();
    wrong[0] ^= 1;
    assert!(matches!(
        Client::connect(e.client_addr(2), SESSION_MS, Some((id, wrong))),
        Err(ClientError::Expired)
    ));
    // Silence both connections past the timeout: the leader expires the session everywhere.
    let mut observer = connect_any(&e, &[2]);
    drop(first);
    let silent_since = Instant::now();
    wait_for(
        || {
            let _ = observer.sync("/");
            observer.get("/eph", false) == Err(ErrorCode::NoNode)
        },
        "the ephemeral of a silent session goes away",
    );
    assert!(silent_since.elapsed() >= Duration::from_millis(SESSION_MS as u64 / 2));
    // Its connection was closed, and resuming it now says expired.
    let mut buf = [0u8; 64];
    moved
        .stream()
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let closed = matches!(moved.stream().read(&mut buf), Ok(0) | Err(_));
    assert!(closed, "the expired session's connection stays open");
    assert!(matches!(
        Client::connect(e.client_addr(1), SESSION_MS, Some((id, passwd))),
        Err(ClientError::Expired)
    ));
}

#[test]
fn bad_client_input_closes_only_that_connection() {
    let mut e = Ensemble::new(3, 0);
    e.start_all();
    e.wait_stable(&[1, 2, 3]);
    let addr = e.client_addr(1);
    let mut good = connect_any(&e, &[1]);
    good.create("/keep", b"v", PERSISTENT).expect("create");

    let connect = encode_connect_request(&ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        time_out: SESSION_MS,
        session_id: 0,
        passwd: vec![0; 16],
        read_only: Some(false),
    });
    let mut oversized = connect.clone();
    oversized.extend_from_slice(&(2u32 << 20).to_be_bytes());
    oversized.extend_from_slice(&[0; 1024]);
    let mut garbage_request = connect.clone();
    garbage_request.extend_from_slice(&[0, 0, 0, 6, 1, 2, 3, 4, 5, 6]);
    let mut negative = connect.clone();
    negative.extend_from_slice(&(-5i32).to_be_bytes());
    let truncated_connect = connect[..connect.len() - 3].to_vec();
    // The bad connections run beside the good session, which keeps working (and pinging: a
    // truncated connect takes the server's 5 s first-bytes timeout to close).
    let bad = std::thread::spawn(move || {
        for bytes in [oversized, garbage_request, negative, truncated_connect] {
            assert_closed(addr, &bytes);
        }
    });
    while !bad.is_finished() {
        assert_eq!(good.get("/keep", false), Ok(b"v".to_vec()));
        std::thread::sleep(Duration::from_millis(100));
    }
    bad.join().expect("bad input connections");
    // A request the server does not implement is answered, not fatal.
    let mut c = connect_any(&e, &[1]);
    let mut raw = Vec::new();
    raw.extend_from_slice(&12i32.to_be_bytes());
    raw.extend_from_slice(&7i32.to_be_bytes()); // xid
    raw.extend_from_slice(&999i32.to_be_bytes()); // op
    raw.extend_from_slice(&[0; 4]);
    c.stream().write_all(&raw).unwrap();
    let mut reply = [0u8; 20];
    c.stream().read_exact(&mut reply).expect("an answer");
    assert_eq!(i32::from_be_bytes(reply[4..8].try_into().unwrap()), 7);
    assert_eq!(
        i32::from_be_bytes(reply[16..20].try_into().unwrap()),
        ErrorCode::Unimplemented.code()
    );

    // The good session never noticed.
    assert_eq!(good.get("/keep", false), Ok(b"v".to_vec()));
    assert_eq!(e.ask(1, "ruok").as_deref(), Some("imok"));
}

/// Send `bytes` and expect the server to close the connection (bounded wait).
fn assert_closed(addr: SocketAddr, bytes: &[u8]) {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(bytes);
    let mut sink = Vec::new();
    // Whatever the server answered first (a connect response), it must then close.
    let result = s.read_to_end(&mut sink);
    assert!(
        result.is_ok()
            || result.as_ref().is_err_and(|e| !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            )),
        "the server kept a connection open after bad input: {result:?}"
    );
}

/// Create `path`, reconnecting and retrying on a connection loss (a loaded machine can make
/// a follower miss its heartbeats and the ensemble re-elect); a retry that finds the node
/// created by the lost attempt is fine.
fn create_retrying(e: &Ensemble, c: &mut Client, path: &str, data: &[u8]) {
    let deadline = Instant::now() + WAIT;
    loop {
        match c.create(path, data, PERSISTENT) {
            Ok(_) | Err(ErrorCode::NodeExists) => return,
            Err(err) => {
                assert!(
                    Instant::now() < deadline,
                    "create {path}: {err:?}\n{}",
                    e.logs()
                );
                *c = connect_any(e, &e.ids());
            }
        }
    }
}

fn wait_for(mut done: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_voter_with_a_corrupt_log_rejoins_without_voting_until_resynced() {
    let mut e = Ensemble::new(3, 0);
    e.start_all();
    let (leader, _) = e.wait_stable(&[1, 2, 3]);
    let victim = [1u64, 2, 3].into_iter().find(|i| *i != leader).unwrap();
    let third = 6 - leader - victim;
    let mut c = connect_any(&e, &[leader, victim, third]);
    create_retrying(&e, &mut c, "/q", b"");
    for n in 0..50 {
        create_retrying(&e, &mut c, &format!("/q/n{n}"), &[7; 200]);
    }
    drop(c);
    e.kill(victim);
    // Flip a byte inside a complete record in the middle of the victim's log: a record that
    // may have been acknowledged, not a torn tail.
    let log_dir = e.data_dir(victim).join("version-2");
    let segment = std::fs::read_dir(&log_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_str().unwrap().starts_with("log."))
        .expect("a log segment");
    let mut bytes = std::fs::read(&segment).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&segment, &bytes).unwrap();

    // With the leader's partner down too, the victim alone must not make a quorum.
    e.kill(third);
    wait_for(
        || not_serving(&e.srvr(leader)),
        "the leader to notice it lost its quorum",
    );
    e.start(victim);
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        let views = e.views(&[leader, victim]);
        assert!(
            views.values().all(not_serving),
            "a voter that lost log records helped form a quorum: {views:?}\n{}",
            e.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(file_contains(
        &e.log_path(victim),
        "corrupt transaction log"
    ));

    // Once the third voter is back, a leader is elected without the victim's vote, resyncs
    // it, and the victim rejoins as a voter holding everything.
    e.start(third);
    e.wait_stable(&[1, 2, 3]);
    wait_for(
        || file_contains(&e.log_path(victim), "rejoining as a voter"),
        "the victim's resync",
    );
    e.wait_stable(&[1, 2, 3]);
    assert_eq!(e.srvr(victim).map(|s| s.mode).as_deref(), Some("follower"));
    let mut v = connect_any(&e, &[victim]);
    v.sync("/q").expect("sync");
    assert_eq!(v.children("/q").expect("children").len(), 50);
    let set_aside = std::fs::read_dir(&log_dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_str()
                .unwrap()
                .ends_with(".corrupt")
        })
        .count();
    assert_eq!(set_aside, 1, "the corrupt segment is kept for diagnosis");
    assert!(!e
        .data_dir(victim)
        .join("version-2/zabd-resync-required")
        .exists());
}

/// A standalone server (one `server.1` line) through the client protocol: writes from several
/// connections at once (which share its group commits) are all acknowledged and all survive a
/// kill -9, and closing a session removes its ephemeral.
#[test]
fn a_standalone_server_keeps_every_acknowledged_write_of_concurrent_clients() {
    let mut e = Ensemble::new(1, 0);
    e.start(1);
    wait_for(
        || e.srvr(1).is_some_and(|s| s.mode == "standalone"),
        "a standalone server",
    );
    let addr = e.client_addr(1);
    let writers: Vec<_> = (0..8)
        .map(|t| {
            std::thread::spawn(move || {
                let mut c = Client::connect(addr, 10_000, None).expect("connect");
                for i in 0..25 {
                    c.create(&format!("/t{t}-{i}"), b"x", PERSISTENT)
                        .expect("create");
                }
                c.close();
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer");
    }
    let mut c = Client::connect(addr, 10_000, None).expect("connect");
    c.create("/gone", b"", EPHEMERAL).expect("ephemeral");
    c.close();

    e.kill(1);
    e.start(1);
    wait_for(
        || e.srvr(1).is_some_and(|s| s.mode == "standalone"),
        "the standalone server back",
    );
    let mut c = Client::connect(addr, 10_000, None).expect("connect");
    let children: BTreeSet<String> = c.children("/").expect("children").into_iter().collect();
    for t in 0..8 {
        for i in 0..25 {
            assert!(children.contains(&format!("t{t}-{i}")), "t{t}-{i} lost");
        }
    }
    assert!(
        !children.contains("gone"),
        "the closed session's ephemeral survived"
    );
}
