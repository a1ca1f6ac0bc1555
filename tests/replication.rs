//! Replication through the library API: real nodes (the same `Node` the binary runs) in one
//! process on loopback TCP, with their own data directories. Writes go through every server;
//! a node is "killed" by aborting its task (its sockets close, its files stay) and restarted
//! from the same directories.

mod common;

use common::inproc::Server;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use zabd::api::{SubmitError, ZabClient};
use zabd::config::Config;
use zabd::node::Node;
use zabd::status::Serving;
use zabd::storage::RealDisk;
use zabd::tree::{Acl, CreateMode, Op};

const WAIT: Duration = Duration::from_secs(20);
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

struct Cluster {
    _dir: tempfile::TempDir,
    configs: BTreeMap<u64, Config>,
    servers: BTreeMap<u64, Server>,
}

fn configs(voters: u64, dir: &std::path::Path) -> BTreeMap<u64, Config> {
    zabd::config::loopback_ensemble(voters, &common::free_ports(3 * voters as usize), dir)
}

impl Cluster {
    async fn start(voters: u64) -> Cluster {
        Self::start_with(voters, |_| {}).await
    }

    async fn start_with(voters: u64, tweak: impl Fn(&mut Config)) -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut configs = configs(voters, dir.path());
        for cfg in configs.values_mut() {
            tweak(cfg);
        }
        let mut c = Cluster {
            _dir: dir,
            configs,
            servers: BTreeMap::new(),
        };
        for id in c.configs.keys().copied().collect::<Vec<_>>() {
            c.start_one(id).await;
        }
        c
    }

    async fn start_one(&mut self, id: u64) {
        let server = Server::start(self.configs[&id].clone()).await;
        self.servers.insert(id, server);
    }

    /// Crash: the task is aborted, its sockets close; its files stay.
    async fn kill(&mut self, id: u64) {
        if let Some(s) = self.servers.remove(&id) {
            s.kill().await;
        }
    }

    fn serving(&self) -> BTreeMap<u64, Serving> {
        self.servers
            .iter()
            .map(|(id, s)| (*id, s.board.snapshot().serving))
            .collect()
    }

    /// Wait until every running server serves under exactly one leader; returns it.
    async fn stable(&self) -> u64 {
        let deadline = Instant::now() + WAIT;
        loop {
            let serving = self.serving();
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

    fn client(&self, id: u64) -> &ZabClient {
        &self.servers[&id].client
    }

    /// Create `/path` through server `via`, retrying while the ensemble fails over.
    async fn create(&self, via: u64, path: &str) -> Result<(), SubmitError> {
        let op = Op::Create {
            path: path.into(),
            data: path.as_bytes().to_vec(),
            acl: Acl::open_unsafe(),
            mode: CreateMode::Persistent,
        };
        let result = self.client(via).submit(0, 0, op, WRITE_TIMEOUT).await?;
        assert!(result.err().is_ok(), "{path}: {:?}", result.err());
        Ok(())
    }

    async fn digests_agree(&self) -> u64 {
        let deadline = Instant::now() + WAIT;
        loop {
            let mut digests = BTreeMap::new();
            for (id, s) in &self.servers {
                s.client.sync(WRITE_TIMEOUT).await.expect("sync");
                digests.insert(*id, s.client.read(|t| (t.digest(), t.last_applied())));
            }
            let first = digests.values().next().copied();
            if digests.values().all(|d| Some(*d) == first) {
                return first.map(|d| d.0).unwrap_or(0);
            }
            assert!(Instant::now() < deadline, "replicas differ: {digests:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn has(&self, id: u64, path: &str) -> bool {
        self.client(id)
            .read(|t| t.get(path).map(|(d, _)| d.to_vec()))
            == Some(path.as_bytes().to_vec())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_through_every_server_replicate_in_order_with_equal_digests() {
    let c = Cluster::start(3).await;
    let leader = c.stable().await;
    for i in 0..30u64 {
        let via = 1 + i % 3;
        c.create(via, &format!("/w{i}")).await.expect("write");
    }
    // Read-your-writes on a follower: a write through one server, sync, read on another.
    let follower = if leader == 1 { 2 } else { 1 };
    let other = 6 - leader - follower;
    c.create(other, "/ryw").await.expect("write");
    c.client(follower).sync(WRITE_TIMEOUT).await.expect("sync");
    assert!(c.has(follower, "/ryw"));
    c.digests_agree().await;
    for id in [1, 2, 3] {
        for i in 0..30 {
            assert!(c.has(id, &format!("/w{i}")), "server {id} lacks /w{i}");
        }
    }
    // A failed op is a committed result too, the same everywhere.
    let dup = Op::Create {
        path: "/w0".into(),
        data: vec![],
        acl: Acl::open_unsafe(),
        mode: CreateMode::Persistent,
    };
    let r = c
        .client(follower)
        .submit(0, 0, dup, WRITE_TIMEOUT)
        .await
        .expect("committed");
    assert_eq!(r.err().name(), "NODEEXISTS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_a_leader_crash_mid_stream_and_the_old_leader_resyncs() {
    let mut c = Cluster::start(3).await;
    let old = c.stable().await;
    let mut acked = Vec::new();
    for i in 0..20u64 {
        let path = format!("/a{i}");
        if c.create(old, &path).await.is_ok() {
            acked.push(path);
        }
    }
    assert_eq!(acked.len(), 20);
    c.kill(old).await;
    let leader = c.stable().await;
    assert_ne!(leader, old);
    let survivor = c
        .servers
        .keys()
        .copied()
        .find(|id| *id != leader)
        .expect("a follower");
    for i in 20..40u64 {
        let path = format!("/a{i}");
        c.create(survivor, &path)
            .await
            .expect("write after failover");
        acked.push(path);
    }
    // The old leader comes back from its own files: it rejoins, catches up, loses nothing.
    c.start_one(old).await;
    assert_eq!(
        c.stable().await,
        leader,
        "the restart does not change the leader"
    );
    c.digests_agree().await;
    for id in [1, 2, 3] {
        for path in &acked {
            assert!(c.has(id, path), "server {id} lost acknowledged {path}");
        }
    }
}

/// A server that was a follower while the writes happened becomes leader and syncs a lagging
/// server by DIFF from the history it kept as it applied (not by reading its log back), and a
/// server further behind than `commitLogCount` by SNAP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_leader_syncs_by_diff_from_what_it_applied_as_a_follower_and_by_snap_beyond_it() {
    let mut c = Cluster::start_with(3, |cfg| cfg.commit_log_count = 40).await;
    let first = c.stable().await;
    let lagging = c
        .servers
        .keys()
        .copied()
        .find(|id| *id != first)
        .expect("a follower");
    c.kill(lagging).await;
    for i in 0..30u64 {
        c.create(first, &format!("/d{i}")).await.expect("write");
    }
    // The leader goes; the other follower (which only applied those writes) must lead, since
    // the lagging server's log is older.
    c.kill(first).await;
    c.start_one(lagging).await;
    let leader = c.stable().await;
    assert!(leader != first && leader != lagging);
    let counters = |c: &Cluster, id: u64| {
        let b = &c.servers[&id].board;
        (
            b.counters
                .diff_syncs
                .load(std::sync::atomic::Ordering::Relaxed),
            b.counters
                .snap_syncs
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    };
    assert_eq!(
        counters(&c, leader),
        (1, 0),
        "30 behind with a 40-txn window: DIFF"
    );
    for i in 0..30 {
        assert!(c.has(lagging, &format!("/d{i}")), "{lagging} lacks /d{i}");
    }
    // Now 50 more while the old leader is away: beyond the window, so SNAP.
    for i in 30..80u64 {
        c.create(leader, &format!("/d{i}")).await.expect("write");
    }
    c.start_one(first).await;
    assert_eq!(c.stable().await, leader);
    assert_eq!(
        counters(&c, leader),
        (1, 1),
        "50 behind with a 40-txn window: SNAP"
    );
    c.digests_agree().await;
    for i in 0..80 {
        assert!(c.has(first, &format!("/d{i}")), "{first} lacks /d{i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_restart_recovers_every_acknowledged_write_from_disk() {
    let mut c = Cluster::start(3).await;
    let leader = c.stable().await;
    for i in 0..15u64 {
        c.create(leader, &format!("/r{i}")).await.expect("write");
    }
    let digest = c.digests_agree().await;
    for id in [1, 2, 3] {
        c.kill(id).await;
    }
    for id in [1, 2, 3] {
        c.start_one(id).await;
    }
    c.stable().await;
    assert_eq!(c.digests_agree().await, digest);
    for id in [1, 2, 3] {
        assert!(c.has(id, "/r14"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_refused_clearly_without_a_quorum() {
    let mut c = Cluster::start(3).await;
    let leader = c.stable().await;
    let others: Vec<u64> = c.servers.keys().copied().filter(|i| *i != leader).collect();
    for id in others {
        c.kill(id).await;
    }
    // The leader steps down; a write now fails with a clear error instead of hanging.
    let deadline = Instant::now() + WAIT;
    loop {
        match c.create(leader, "/nope").await {
            Err(SubmitError::NotServing) => break,
            Err(SubmitError::LeaderLost) | Err(SubmitError::TimedOut(_)) => {}
            other => panic!("unexpected: {other:?}"),
        }
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Lay down a log holding one transaction of epoch 2 and the given epoch files.
fn interrupted_sync_dir(dir: &std::path::Path, accepted: u32, current: u32) {
    use zabd::ids::{Epoch, Zxid};
    use zabd::tree::{Txn, TxnHeader};
    let disk: Arc<dyn zabd::storage::Disk> = Arc::new(RealDisk);
    let mut replica = zabd::replica::Replica::open(dir, dir, disk).expect("replica");
    let zxid = Zxid::new(Epoch(2), 1);
    let txn = Txn {
        header: TxnHeader {
            session_id: 0,
            cxid: 0,
            zxid,
            time_ms: 0,
        },
        op: Op::Create {
            path: "/x".into(),
            data: vec![],
            acl: Acl::open_unsafe(),
            mode: CreateMode::Persistent,
        },
    };
    replica
        .append(zxid, &zabd::replica::encode(&txn).expect("encode"))
        .expect("append");
    replica.sync().expect("sync");
    let v2 = dir.join("version-2");
    std::fs::write(v2.join("acceptedEpoch"), accepted.to_string()).expect("accepted");
    std::fs::write(v2.join("currentEpoch"), current.to_string()).expect("current");
}

#[tokio::test]
async fn a_log_ahead_of_current_epoch_is_adopted_only_within_the_accepted_epoch() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut cfgs = configs(3, tmp.path());
    // Accepted epoch 2, current 1, log at (2,1): an interrupted sync; the server starts.
    let ok = cfgs.remove(&1).expect("config");
    interrupted_sync_dir(&ok.data_dir, 2, 1);
    let node = Node::bind(ok.clone(), Arc::new(RealDisk))
        .await
        .expect("starts");
    assert_eq!(node.board().snapshot().current_epoch.0, 2);
    drop(node);
    // Accepted epoch 1 only: no leader could have sent (2,1); refuse with a clear message.
    let bad = cfgs.remove(&2).expect("config");
    interrupted_sync_dir(&bad.data_dir, 1, 1);
    let err = Node::bind(bad, Arc::new(RealDisk))
        .await
        .err()
        .expect("refused");
    assert!(
        err.to_string().contains("later epoch than currentEpoch"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_behind_the_leaders_snapshots_catches_up_by_snap() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("zabd=info")
        .try_init();
    let mut c = Cluster::start_with(3, |cfg| {
        cfg.snapshots.snap_count = 10;
        cfg.snapshots.purge_interval = Some(Duration::ZERO);
        cfg.commit_log_count = 5;
    })
    .await;
    let leader = c.stable().await;
    let behind = c
        .servers
        .keys()
        .copied()
        .find(|id| *id != leader)
        .expect("follower");
    c.kill(behind).await;
    for i in 0..60u64 {
        c.create(leader, &format!("/s{i}")).await.expect("write");
    }
    // Snapshots were written, and autopurge removed old log segments' need.
    let snaps = std::fs::read_dir(c.configs[&leader].data_dir.join("version-2"))
        .expect("data dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("snapshot."))
        .count();
    assert!(snaps >= 1, "the leader wrote snapshots");
    c.start_one(behind).await;
    assert_eq!(c.stable().await, leader);
    c.digests_agree().await;
    for i in 0..60 {
        assert!(
            c.has(behind, &format!("/s{i}")),
            "server {behind} lacks /s{i}"
        );
    }
    // And it survives its own restart from what SNAP left on its disk.
    c.kill(behind).await;
    c.start_one(behind).await;
    c.stable().await;
    c.digests_agree().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_sessions_ephemerals_vanish_everywhere_while_a_touched_session_lives() {
    let c = Cluster::start(3).await;
    let leader = c.stable().await;
    let f = c
        .servers
        .keys()
        .copied()
        .find(|id| *id != leader)
        .expect("follower");
    let other = 6 - leader - f;
    let silent = c
        .client(f)
        .create_session(600, WRITE_TIMEOUT)
        .await
        .expect("session");
    let alive = c
        .client(f)
        .create_session(600, WRITE_TIMEOUT)
        .await
        .expect("session");
    for (session, path) in [(silent, "/e-silent"), (alive, "/e-alive")] {
        let op = Op::Create {
            path: path.into(),
            data: vec![],
            acl: Acl::open_unsafe(),
            mode: CreateMode::Ephemeral,
        };
        let r = c
            .client(f)
            .submit(session, 1, op, WRITE_TIMEOUT)
            .await
            .expect("create");
        assert!(r.err().is_ok(), "{path}: {:?}", r.err());
    }
    // Keep one session alive, touched through two servers (a client that moved); the other is
    // silent for more than its 600 ms timeout.
    for i in 0..20 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let via = if i % 2 == 0 { f } else { other };
        c.client(via).touch(alive);
    }
    c.digests_agree().await;
    for id in [1, 2, 3] {
        let (has_silent, has_alive) = c
            .client(id)
            .read(|t| (t.exists("/e-silent"), t.exists("/e-alive")));
        assert!(
            !has_silent,
            "server {id} kept an expired session's ephemeral"
        );
        assert!(has_alive, "server {id} lost a live session's ephemeral");
    }
    // Closing a session removes its ephemerals at once, everywhere.
    c.client(other)
        .close_session(alive, WRITE_TIMEOUT)
        .await
        .expect("close");
    c.digests_agree().await;
    for id in [1, 2, 3] {
        assert!(!c.client(id).read(|t| t.exists("/e-alive")));
    }
}
