//! The deterministic simulation harness: N real nodes (the `Node` the binary runs) on turmoil's
//! simulated network and clock, in one process, each on a [`MemDisk`] that keeps only fsynced
//! bytes when its host crashes. Disks can be slow ([`SyncLatency`]: each log fsync takes seeded
//! virtual time), so that crashes, and the majority power outages of [`Cluster::outage`], land
//! while logged proposals are not yet durable. After every step the invariants are checked on
//! each server's live status:
//! - at most one server serves as leader of any epoch;
//! - a serving leader has a quorum of synced voters behind it;
//! - no zxid is ever applied as two different transactions, on any two servers or on one
//!   server before and after a restart (applied means committed, so this is ZAB's agreement
//!   on the committed history, checked as it happens instead of only after healing).
//!
//! After faults heal, a stable leader must appear, and every acknowledged write must be on every
//! server with equal digests, within a bound. Everything is seeded — turmoil's network, the fault
//! schedule — and nothing depends on wall-clock time, so a seed replays exactly
//! (`scripts/sim.sh`, `tests/sim.rs`).

use crate::api::ZabClient;
use crate::config::{Config, ServerSpec, Whitelist};
use crate::ids::{LearnerType, Sid};
use crate::node::Node;
use crate::status::{Counters, Serving, StatusBoard};
use crate::storage::{MemDisk, SyncLatency};
use crate::tree::{Acl, CreateMode, Op};
use rand::SeedableRng;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use turmoil::{Builder, Sim};

pub const TICK: Duration = Duration::from_millis(100);
const CLIENT_PORT: u16 = 2181;
const QUORUM_PORT: u16 = 2888;
const ELECTION_PORT: u16 = 3888;

type Boards = Arc<Mutex<BTreeMap<u64, Arc<StatusBoard>>>>;
type Clients = Arc<Mutex<BTreeMap<u64, ZabClient>>>;

/// Every transaction applied anywhere in the running simulation: the hash of its bytes, by
/// zxid, and the first disagreement seen. Per thread: a simulation runs all its servers on one
/// thread (and the test harness runs simulations on several).
#[derive(Default)]
struct AppliedHistory {
    by_zxid: BTreeMap<u64, u64>,
    conflict: Option<String>,
}

thread_local! {
    static APPLIED: std::cell::RefCell<AppliedHistory> = std::cell::RefCell::default();
}

/// Called by [`crate::replica::Replica::apply`] for every transaction applied (recovery replay
/// included): the same zxid must always carry the same bytes.
pub(crate) fn record_applied(zxid: crate::ids::Zxid, txn: &[u8]) {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    txn.hash(&mut h);
    let hash = h.finish();
    APPLIED.with(|applied| {
        let mut applied = applied.borrow_mut();
        let seen = *applied.by_zxid.entry(zxid.0).or_insert(hash);
        if seen != hash && applied.conflict.is_none() {
            applied.conflict = Some(format!(
                "zxid {zxid} applied as two different transactions (hashes {seen:#x} and {hash:#x})"
            ));
        }
    });
}

pub fn host(id: u64) -> String {
    format!("server{id}")
}

pub struct Cluster {
    pub sim: Sim<'static>,
    boards: Boards,
    pub clients: Clients,
    /// Each server's disk: a crash keeps only what was fsynced.
    disks: BTreeMap<u64, MemDisk>,
    voters: u64,
    pub ids: Vec<u64>,
    pub crashed: BTreeSet<u64>,
}

fn config(id: u64, voters: u64, observers: u64, data: PathBuf) -> Config {
    let servers = (1..=voters + observers)
        .map(|i| {
            let spec = ServerSpec {
                id: Sid(i),
                host: host(i),
                quorum_port: QUORUM_PORT,
                election_port: ELECTION_PORT,
                role: if i <= voters {
                    LearnerType::Participant
                } else {
                    LearnerType::Observer
                },
                client_host: None,
                client_port: None,
            };
            (Sid(i), spec)
        })
        .collect::<BTreeMap<_, _>>();
    let peer_type = servers[&Sid(id)].role;
    Config {
        source: PathBuf::from(format!("sim/zoo{id}.cfg")),
        my_id: Sid(id),
        tick_time: TICK,
        init_limit: 10,
        sync_limit: 5,
        data_dir: data.clone(),
        data_log_dir: data,
        client_port: CLIENT_PORT,
        client_port_address: None,
        max_client_cnxns: 60,
        min_session_timeout: TICK * 2,
        max_session_timeout: TICK * 20,
        servers,
        peer_type,
        whitelist: Whitelist::All,
        finalize_wait: Duration::from_millis(50),
        standalone_enabled: true,
        // Small, so that snapshots, autopurge and SNAP syncs happen under faults too.
        snapshots: crate::config::SnapshotPolicy {
            snap_count: 40,
            retain: 3,
            purge_interval: Some(Duration::ZERO),
        },
        commit_log_count: 25,
        container_check: Duration::from_millis(60_000),
        containers_per_minute: 10_000,
        quorum_auth: crate::auth::Policy::off(),
        admin: Default::default(),
        metrics: None,
    }
}

/// `SIM_LOG=debug` (any filter) shows the nodes' logs, with simulated time.
pub fn init_logs() {
    if let Ok(filter) = std::env::var("SIM_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .with_timer(SimTime)
            .try_init();
    }
}

pub struct SimTime;

impl tracing_subscriber::fmt::time::FormatTime for SimTime {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        match turmoil::sim_elapsed() {
            Some(t) => write!(w, "{:>10.3}s", t.as_secs_f64()),
            None => write!(w, "{:>11}", "-"),
        }
    }
}

impl Cluster {
    pub fn new(seed: u64, voters: u64, observers: u64) -> Cluster {
        Cluster::with_auth(seed, voters, observers, crate::auth::Policy::off())
    }

    /// [`Cluster::new`] with quorum authentication `auth` on every server.
    pub fn with_auth(seed: u64, voters: u64, observers: u64, auth: crate::auth::Policy) -> Cluster {
        init_logs();
        APPLIED.with(|applied| *applied.borrow_mut() = AppliedHistory::default());
        let sim = Builder::new()
            .simulation_duration(Duration::from_secs(3600))
            .tick_duration(Duration::from_millis(1))
            .min_message_latency(Duration::from_micros(100))
            .max_message_latency(Duration::from_millis(3))
            // turmoil has no TCP flow control: a full receive buffer panics the simulation.
            .tcp_capacity(1 << 16)
            .build_with_rng(Box::new(rand::rngs::SmallRng::seed_from_u64(seed)));
        let boards: Boards = Arc::default();
        let mut cluster = Cluster {
            sim,
            boards,
            clients: Arc::default(),
            disks: BTreeMap::new(),
            voters,
            ids: (1..=voters + observers).collect(),
            crashed: BTreeSet::new(),
        };
        for id in cluster.ids.clone() {
            // Paths on the in-memory disk: fixed, so that nothing in a trace varies per run.
            let data = PathBuf::from(format!("/sim/data{id}"));
            let mut cfg = config(id, voters, observers, data);
            cfg.quorum_auth = auth.clone();
            let boards = cluster.boards.clone();
            let clients = cluster.clients.clone();
            let disk = MemDisk::new();
            cluster.disks.insert(id, disk.clone());
            cluster.sim.host(host(id), move || {
                let cfg = cfg.clone();
                let boards = boards.clone();
                let clients = clients.clone();
                let disk = disk.clone();
                async move {
                    let node = Node::bind(cfg, Arc::new(disk)).await?;
                    if let Ok(mut b) = boards.lock() {
                        b.insert(id, node.board());
                    }
                    if let Ok(mut c) = clients.lock() {
                        c.insert(id, node.client());
                    }
                    node.run().await;
                    Ok(())
                }
            });
        }
        cluster
    }

    /// The serving view of every running server: (id -> (serving, epoch, synced voters)).
    pub fn views(&self) -> BTreeMap<u64, (Serving, u32, u64)> {
        let boards = self.boards.lock().map(|b| b.clone()).unwrap_or_default();
        boards
            .into_iter()
            .filter(|(id, _)| !self.crashed.contains(id))
            .map(|(id, b)| {
                let s = b.snapshot();
                (
                    id,
                    (s.serving, s.current_epoch.0, s.learners.synced_followers),
                )
            })
            .collect()
    }

    /// Checked after every step.
    pub fn check_invariants(&self) {
        if let Some(conflict) = APPLIED.with(|applied| applied.borrow().conflict.clone()) {
            panic!("{conflict}");
        }
        let mut leaders: BTreeMap<u32, u64> = BTreeMap::new();
        let quorum = self.voters / 2 + 1;
        if let Ok(boards) = self.boards.lock() {
            for (id, board) in boards.iter() {
                let violations = Counters::get(&board.counters.commit_order_violations);
                assert!(
                    violations == 0,
                    "server {id} was sent {violations} commits out of zxid order"
                );
            }
        }
        for (id, (serving, epoch, synced)) in self.views() {
            if serving != Serving::Leader {
                continue;
            }
            if let Some(other) = leaders.insert(epoch, id) {
                panic!("servers {other} and {id} both lead epoch {epoch}");
            }
            assert!(
                synced + 1 >= quorum,
                "server {id} leads epoch {epoch} with {synced} synced followers, quorum {quorum}"
            );
        }
    }

    pub fn step(&mut self) {
        if let Err(err) = self.sim.step() {
            panic!("simulation failed: {err}");
        }
        self.check_invariants();
    }

    pub fn run_for(&mut self, d: Duration) {
        let end = self.sim.elapsed() + d;
        while self.sim.elapsed() < end {
            self.step();
        }
    }

    /// (leader, epoch) once every server in `ids` serves under one leader of one epoch.
    pub fn stable(&self, ids: &[u64]) -> Option<(u64, u32)> {
        let views = self.views();
        let mut leader = None;
        let mut epoch = None;
        for id in ids {
            let (serving, e, _) = views.get(id)?;
            match serving {
                Serving::Leader => {
                    if leader.replace(*id).is_some() {
                        return None;
                    }
                }
                Serving::Follower | Serving::Observer => {}
                _ => return None,
            }
            if *epoch.get_or_insert(*e) != *e {
                return None;
            }
        }
        Some((leader?, epoch?))
    }

    /// Step until `ids` are stable, at most `within` of simulated time.
    pub fn wait_stable(&mut self, ids: &[u64], within: Duration) -> (u64, u32) {
        let end = self.sim.elapsed() + within;
        loop {
            if let Some(found) = self.stable(ids) {
                return found;
            }
            assert!(
                self.sim.elapsed() < end,
                "no stable leader among {ids:?} within {within:?}: {:?}",
                self.views()
            );
            self.step();
        }
    }

    pub fn crash(&mut self, id: u64) {
        self.sim.crash(host(id));
        self.crashed.insert(id);
        if let Some(disk) = self.disks.get(&id) {
            // Power loss: whatever was not fsynced is gone.
            disk.crash();
        }
        if let Ok(mut b) = self.boards.lock() {
            b.remove(&id);
        }
        if let Ok(mut c) = self.clients.lock() {
            c.remove(&id);
        }
    }

    /// A client host that writes `/k<i>` through the servers in turn, every `gap`, and records
    /// every write the ensemble acknowledged.
    pub fn start_writer(&mut self, writes: u64, gap: Duration) -> Arc<Mutex<Vec<String>>> {
        let acked: Arc<Mutex<Vec<String>>> = Arc::default();
        let clients = self.clients.clone();
        let out = acked.clone();
        let ids = self.ids.clone();
        self.sim.client("writer", async move {
            for i in 0..writes {
                tokio::time::sleep(gap).await;
                let id = ids[(i as usize) % ids.len()];
                let client = clients.lock().ok().and_then(|c| c.get(&id).cloned());
                let Some(client) = client else { continue };
                let path = format!("/k{i}");
                let op = Op::Create {
                    path: path.clone(),
                    data: vec![1],
                    acl: Acl::open_unsafe(),
                    mode: CreateMode::Persistent,
                };
                if let Ok(result) = client.submit(0, 0, op, Duration::from_secs(2)).await {
                    if result.err().is_ok() {
                        if let Ok(mut a) = out.lock() {
                            a.push(path);
                        }
                    }
                }
            }
            Ok(())
        });
        acked
    }

    /// After healing: every acknowledged write is on every server, and all trees are equal.
    pub fn check_acknowledged(&mut self, acked: &Arc<Mutex<Vec<String>>>, within: Duration) {
        let acked = acked.lock().map(|a| a.clone()).unwrap_or_default();
        let end = self.sim.elapsed() + within;
        loop {
            let clients = self.clients.lock().map(|c| c.clone()).unwrap_or_default();
            let views: BTreeMap<u64, (u64, Vec<String>)> = clients
                .iter()
                .map(|(id, c)| {
                    let missing = c.read(|t| {
                        acked
                            .iter()
                            .filter(|p| !t.exists(p))
                            .cloned()
                            .collect::<Vec<_>>()
                    });
                    (*id, (c.read(|t| t.digest()), missing))
                })
                .collect();
            let digests: BTreeSet<u64> = views.values().map(|v| v.0).collect();
            let complete = views.values().all(|v| v.1.is_empty());
            if complete && digests.len() == 1 && views.len() == self.ids.len() {
                return;
            }
            assert!(
                self.sim.elapsed() < end,
                "after healing, replicas disagree or lost acknowledged writes: {views:?}"
            );
            self.step();
        }
    }

    pub fn bounce(&mut self, id: u64) {
        self.sim.bounce(host(id));
        self.crashed.remove(&id);
    }

    pub fn others(&self, id: u64) -> Vec<u64> {
        self.ids.iter().copied().filter(|i| *i != id).collect()
    }

    /// Election traffic so far, per running server: (notifications sent, their bytes on the
    /// wire). For measuring what an election costs as the ensemble grows (`examples/sim_scale.rs`).
    pub fn election_traffic(&self) -> BTreeMap<u64, (u64, u64)> {
        let boards = self.boards.lock().map(|b| b.clone()).unwrap_or_default();
        boards
            .into_iter()
            .filter(|(id, _)| !self.crashed.contains(id))
            .map(|(id, b)| {
                let c = &b.counters;
                (
                    id,
                    (
                        Counters::get(&c.notifications_sent),
                        Counters::get(&c.notification_bytes_sent),
                    ),
                )
            })
            .collect()
    }

    /// Give server `id` a slow disk: its log fsyncs take simulated time (see [`SyncLatency`]).
    pub fn set_sync_latency(&self, id: u64, latency: SyncLatency) {
        if let Some(disk) = self.disks.get(&id) {
            disk.set_sync_latency(latency);
        }
    }

    /// Is server `id` (running) inside a log fsync, with logged data not yet durable?
    pub fn syncing(&self, id: u64) -> bool {
        !self.crashed.contains(&id) && self.disks.get(&id).is_some_and(MemDisk::sync_pending)
    }

    /// The running server that serves as leader of the newest epoch, if any.
    pub fn leader(&self) -> Option<u64> {
        self.views()
            .into_iter()
            .filter(|(_, (serving, _, _))| *serving == Serving::Leader)
            .max_by_key(|(_, (_, epoch, _))| *epoch)
            .map(|(id, _)| id)
    }

    /// A power outage: a majority of the voters (half the time all of them), the leader among
    /// them, lose power at once. It is aimed (within `aim`) at the moment when the fewest
    /// servers hold the newest writes durably: the leader has finished an fsync while at least
    /// two of the other victims are still inside theirs, so what they logged is lost. Power
    /// comes back after a pause, server by server in a seeded order; half the time the leader's
    /// comes back last. Returns the servers it crashed (none without a leader).
    ///
    /// ZAB survives this: a write is acknowledged only once a quorum has it fsynced, and the
    /// quorum that elects the next leader overlaps that one. A server that acknowledges before
    /// its fsync breaks exactly this (see `tests/planted.rs`).
    pub fn outage(&mut self, rng: &mut Schedule, aim: Duration) -> Vec<u64> {
        let Some(leader) = self.leader() else {
            return Vec::new();
        };
        let quorum = self.voters / 2 + 1;
        let mut up: Vec<u64> = (1..=self.voters)
            .filter(|id| *id != leader && !self.crashed.contains(id))
            .collect();
        let size = if rng.below(2) == 0 {
            self.voters
        } else {
            quorum + rng.below(self.voters - quorum + 1)
        };
        let mut victims = vec![leader];
        while (victims.len() as u64) < size && !up.is_empty() {
            victims.push(up.remove(rng.below(up.len() as u64) as usize));
        }
        let leader_last = rng.below(2) == 0;
        let end = self.sim.elapsed() + aim;
        while self.sim.elapsed() < end && !self.in_window(leader, &victims) {
            self.step();
        }
        let syncing: Vec<u64> = victims
            .iter()
            .copied()
            .filter(|id| self.syncing(*id))
            .collect();
        tracing::info!(at = ?self.sim.elapsed(), ?victims, ?syncing, %leader, "sim: power outage");
        for id in &victims {
            self.crash(*id);
        }
        self.run_for(Duration::from_millis(rng.below(300)));
        let mut order: Vec<u64> = victims.clone();
        if leader_last {
            order.retain(|id| *id != leader);
        }
        while !order.is_empty() {
            let id = order.remove(rng.below(order.len() as u64) as usize);
            self.power_back(id, rng);
        }
        if leader_last {
            self.power_back(leader, rng);
        }
        victims
    }

    /// The leader's log is synced while at least two of the other `victims` are mid-fsync.
    fn in_window(&self, leader: u64, victims: &[u64]) -> bool {
        let syncing = victims
            .iter()
            .filter(|id| **id != leader && self.syncing(**id))
            .count();
        !self.syncing(leader) && syncing >= 2
    }

    /// Restart a crashed server, then let up to a second pass.
    fn power_back(&mut self, id: u64, rng: &mut Schedule) {
        tracing::info!(at = ?self.sim.elapsed(), %id, "sim: power back");
        self.bounce(id);
        self.run_for(Duration::from_millis(rng.below(1000)));
    }
}

/// A seeded fsync latency for each of `n` servers' disks. A third of the ensembles have fast
/// disks (0.2 to 2 ms per fsync), a third slow ones (5 to 50 ms), a third a mix; one slow
/// fsync in 50 stalls for 100 to 300 ms.
pub fn disk_profiles(rng: &mut Schedule, n: usize) -> Vec<SyncLatency> {
    let class = rng.below(3);
    (0..n)
        .map(|_| {
            let seed = rng.next_u64();
            let slow = match class {
                0 => false,
                1 => true,
                _ => rng.below(2) == 0,
            };
            if !slow {
                return SyncLatency::new(
                    seed,
                    Duration::from_micros(200),
                    Duration::from_millis(2),
                );
            }
            let stall = Duration::from_millis(100 + rng.below(201));
            SyncLatency::new(seed, Duration::from_millis(5), Duration::from_millis(50))
                .with_stalls(50, stall)
        })
        .collect()
}

pub struct Schedule(pub u64);

impl Schedule {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// One seeded run: 5 voters and an observer on seeded slow or fast disks, a write workload, 30
/// random faults (crash and restart keeping a voter majority up, partitions, repairs, power
/// outages of a majority aimed at fsync windows), then healing and the checks.
pub fn random_faults(seed: u64) {
    let voters = 5;
    let mut c = Cluster::new(seed, voters, 1);
    let mut rng = Schedule(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let ids = c.ids.clone();
    for (id, latency) in ids.iter().zip(disk_profiles(&mut rng, ids.len())) {
        c.set_sync_latency(*id, latency);
    }
    let mut partitioned: Vec<(u64, u64)> = Vec::new();
    c.wait_stable(&c.ids.clone(), Duration::from_secs(10));
    let acked = c.start_writer(400, Duration::from_millis(40));
    for _ in 0..30 {
        let ids = c.ids.clone();
        let victim = ids[rng.below(ids.len() as u64) as usize];
        match rng.below(5) {
            // Crash, keeping a majority of voters up.
            0 => {
                let down_voters = c.crashed.iter().filter(|i| **i <= voters).count() as u64;
                if !c.crashed.contains(&victim) && (victim > voters || down_voters < voters / 2) {
                    c.crash(victim);
                }
            }
            1 => {
                if let Some(id) = c.crashed.iter().next().copied() {
                    c.bounce(id);
                }
            }
            2 => {
                let other = ids[rng.below(ids.len() as u64) as usize];
                if other != victim {
                    c.sim.partition(host(victim), host(other));
                    partitioned.push((victim, other));
                }
            }
            3 => {
                for (a, b) in partitioned.drain(..) {
                    c.sim.repair(host(a), host(b));
                }
            }
            _ => {
                c.outage(&mut rng, Duration::from_millis(500));
            }
        }
        let pause = 50 + rng.below(1500);
        c.run_for(Duration::from_millis(pause));
    }
    // Heal everything: a leader must appear and everyone must serve under it.
    for (a, b) in partitioned.drain(..) {
        c.sim.repair(host(a), host(b));
    }
    for id in c.crashed.clone() {
        c.bounce(id);
    }
    let all = c.ids.clone();
    c.wait_stable(&all, Duration::from_secs(30));
    c.check_acknowledged(&acked, Duration::from_secs(30));
    let n = acked.lock().map(|a| a.len()).unwrap_or(0);
    assert!(n > 0, "the workload acknowledged no write at all");
}

pub fn submit_on(c: &mut Cluster, name: &str, id: u64, path: &str) -> Arc<Mutex<Option<bool>>> {
    let slot: Arc<Mutex<Option<bool>>> = Arc::default();
    let out = slot.clone();
    let client = c.clients.lock().ok().and_then(|m| m.get(&id).cloned());
    let path = path.to_string();
    c.sim.client(name, async move {
        let Some(client) = client else { return Ok(()) };
        let op = Op::Create {
            path,
            data: vec![1],
            acl: Acl::open_unsafe(),
            mode: CreateMode::Persistent,
        };
        let acked = matches!(
            client.submit(0, 0, op, Duration::from_secs(3)).await,
            Ok(r) if r.err().is_ok()
        );
        if let Ok(mut s) = out.lock() {
            *s = Some(acked);
        }
        Ok(())
    });
    slot
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Zxid;

    /// The applied-history invariant can fail: one zxid with two different transactions is
    /// reported by the next check; the same transaction applied again (a replay) is not.
    #[test]
    fn a_zxid_applied_as_two_transactions_fails_the_invariants() {
        let cluster = Cluster::new(1, 3, 0);
        record_applied(Zxid(5), b"create /a");
        record_applied(Zxid(5), b"create /a");
        record_applied(Zxid(6), b"create /b");
        cluster.check_invariants();
        record_applied(Zxid(6), b"create /c");
        let caught =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cluster.check_invariants()));
        let msg = caught
            .err()
            .and_then(|p| p.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        assert!(
            msg.contains("applied as two different transactions"),
            "{msg:?}"
        );
        // A new simulation starts with an empty history.
        let fresh = Cluster::new(2, 3, 0);
        fresh.check_invariants();
    }
}
