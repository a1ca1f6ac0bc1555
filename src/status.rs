//! The node's externally visible status: what the four-letter words (and later the admin
//! server) report. The peer loop writes it at each state change; the client port reads it.
//!
//! One small mutex-protected struct plus atomic counters: reads are rare (an operator's `srvr`),
//! writes happen at state changes, so contention is irrelevant and consistency is simple.

use crate::election::Decision;
use crate::ids::{Epoch, Sid, Zxid};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

pub mod history;

use history::{ElectionHistory, Stamp};

/// The role a server *serves* in. A server claims a role only once it serves (see
/// reference section 6): a leader after a quorum acknowledged NEWLEADER, a learner after
/// UPTODATE. Everything before that is [`Serving::NotServing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serving {
    NotServing,
    Leader,
    Follower,
    Observer,
    Standalone,
}

impl Serving {
    /// The `Mode:` word of `srvr`/`stat` and `zk_server_state` of `mntr`.
    pub fn mode_str(self) -> Option<&'static str> {
        match self {
            Serving::NotServing => None,
            Serving::Leader => Some("leader"),
            Serving::Follower => Some("follower"),
            Serving::Observer => Some("observer"),
            Serving::Standalone => Some("standalone"),
        }
    }
}

/// The ZAB phase a peer is in (`zk_peer_state` is "<state> - <phase>").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZabPhase {
    Election,
    Discovery,
    Synchronization,
    Broadcast,
}

impl ZabPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            ZabPhase::Election => "election",
            ZabPhase::Discovery => "discovery",
            ZabPhase::Synchronization => "synchronization",
            ZabPhase::Broadcast => "broadcast",
        }
    }
}

/// A leader's view of its learners, for `mntr`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LearnerCounts {
    /// Learners with an open quorum connection (followers and observers).
    pub learners: u64,
    /// Voting followers heard from within syncLimit, not counting the leader itself.
    pub synced_followers: u64,
    pub synced_observers: u64,
    /// Learners connected but not yet through synchronisation.
    pub pending_syncs: u64,
}

/// Sizes in bytes of the serialized proposals a leader made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProposalSizes {
    pub last: u64,
    pub min: u64,
    pub max: u64,
}

/// A leader's proposal statistics. `srst` clears `sizes` (as ZooKeeper's BufferStats reset),
/// never `count`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProposalStats {
    /// Proposals made since this process started.
    pub count: u64,
    /// `None` until the first proposal (printed `-1/-1/-1` like ZooKeeper).
    pub sizes: Option<ProposalSizes>,
}

impl ProposalStats {
    /// Account for one proposal of `size` bytes.
    pub fn record(&mut self, size: u64) {
        self.count += 1;
        self.sizes = Some(match self.sizes {
            None => ProposalSizes {
                last: size,
                min: size,
                max: size,
            },
            Some(s) => ProposalSizes {
                last: size,
                min: s.min.min(size),
                max: s.max.max(size),
            },
        });
    }
}

/// Everything about the node that changes at state transitions.
#[derive(Debug, Clone)]
pub struct NodeStatus {
    pub serving: Serving,
    /// "looking", "following", "leading", "observing" (`zk_peer_state`'s first half).
    pub peer_state: &'static str,
    pub phase: ZabPhase,
    /// The leader this server follows or is, once known.
    pub leader: Option<Sid>,
    pub current_epoch: Epoch,
    pub accepted_epoch: Epoch,
    /// Last zxid applied to the data tree, or `epoch << 32` if none in this epoch.
    pub zxid: Zxid,
    /// When this server started leading (for `zk_leader_uptime`), if it leads.
    pub leading_since: Option<Instant>,
    pub learners: LearnerCounts,
    /// The znode count and approximate data size of the data tree.
    pub node_count: u64,
    pub approximate_data_size: u64,
    /// Ephemeral znodes in the tree (`zk_ephemerals_count`).
    pub ephemerals: u64,
    /// The data tree's digest (`zk_digest`): equal on replicas that applied the same history.
    pub digest: u64,
    /// Proposals this server made as leader (`zk_proposal_count`, `Proposal sizes` of `srvr`).
    pub proposals: ProposalStats,
    /// The last elections (`elec`, `elections`); shared, so a snapshot copies a pointer.
    pub elections: Arc<ElectionHistory>,
}

impl NodeStatus {
    pub fn new(zxid: Zxid, current_epoch: Epoch, accepted_epoch: Epoch) -> NodeStatus {
        NodeStatus {
            serving: Serving::NotServing,
            peer_state: "looking",
            phase: ZabPhase::Election,
            leader: None,
            current_epoch,
            accepted_epoch,
            zxid,
            leading_since: None,
            learners: LearnerCounts::default(),
            node_count: 0,
            approximate_data_size: 0,
            ephemerals: 0,
            digest: 0,
            proposals: ProposalStats::default(),
            elections: Arc::default(),
        }
    }
}

/// Counters that only grow (until `srst`/`crst` reset the resettable ones).
#[derive(Debug, Default)]
pub struct Counters {
    /// Client-port packets received and sent (four-letter words count as one each).
    pub packets_received: AtomicU64,
    pub packets_sent: AtomicU64,
    pub bytes_received: AtomicU64,
    /// Open client-port connections right now.
    pub alive_connections: AtomicU64,
    /// Elections this server has started (`zk_looking_count`-like).
    pub elections_started: AtomicU64,
    pub elections_won: AtomicU64,
    pub notifications_sent: AtomicU64,
    pub notifications_received: AtomicU64,
    pub notifications_dropped: AtomicU64,
    /// Peer connections (election or quorum port) refused by quorum authentication: a peer
    /// without the secret, with another one, or claiming an id outside the ensemble.
    pub quorum_auth_refused: AtomicU64,
    /// Bytes of the notifications sent and received, each with its 4-byte frame prefix (pings
    /// and handshakes excluded): the size side of what an election costs.
    pub notification_bytes_sent: AtomicU64,
    pub notification_bytes_received: AtomicU64,
    /// Committed transactions that arrived out of zxid order (the tree refused them). Always
    /// 0 unless the protocol is broken; the simulation checks it after every step.
    pub commit_order_violations: AtomicU64,
    /// Transaction-log fsyncs (group commits) and the transactions they covered.
    pub log_fsyncs: AtomicU64,
    /// How long those fsyncs took.
    pub log_fsync_time: FsyncTimes,
    pub txns_committed: AtomicU64,
    /// Learners this leader synced by DIFF (TRUNC included: it is a DIFF after a cut) and by
    /// SNAP (ZooKeeper's `diff_count` / `snap_count`).
    pub diff_syncs: AtomicU64,
    pub snap_syncs: AtomicU64,
    /// Client request latency (`Latency min/avg/max`); resettable.
    pub request_latency: LatencyStats,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// `srst`: reset what ZooKeeper's ServerStats.reset resets (latency and packet counts).
    pub fn reset_server_stats(&self) {
        self.request_latency.reset();
        self.packets_received.store(0, Ordering::Relaxed);
        self.packets_sent.store(0, Ordering::Relaxed);
    }
}

/// Min/avg/max of client request latencies in milliseconds, lock-free, plus a histogram of the
/// same latencies for Prometheus.
#[derive(Debug)]
pub struct LatencyStats {
    count: AtomicU64,
    total_ms: AtomicU64,
    /// `u64::MAX` while nothing was recorded.
    min_ms: AtomicU64,
    max_ms: AtomicU64,
    /// Never reset by `srst`: Prometheus counters only grow (a reset would read as a restart).
    histogram: Histogram,
}

/// Upper bounds, in milliseconds, of the latency [`Histogram`]'s buckets (a last, unbounded
/// bucket follows). Latencies are whole milliseconds, as ZooKeeper's.
pub const LATENCY_BUCKETS_MS: [u64; 13] = [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];

/// Upper bounds, in microseconds, of the transaction-log fsync [`Histogram`]'s buckets.
pub const FSYNC_BUCKETS_US: [u64; 14] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000,
];

/// A fixed-bucket histogram of whole numbers (a duration in some unit), lock-free. Buckets hold
/// their own counts (not cumulative); the last counts what exceeds every bound.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [u64],
    /// One per bound, then the unbounded one.
    buckets: Box<[AtomicU64]>,
    sum: AtomicU64,
    count: AtomicU64,
}

/// A copy of a [`Histogram`], in the unit it was recorded in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistogramSnapshot {
    /// (upper bound, or `None` for the unbounded last bucket; count in that bucket alone).
    pub buckets: Vec<(Option<u64>, u64)>,
    pub sum: u64,
    pub count: u64,
}

impl Histogram {
    /// `bounds` ascending.
    pub fn new(bounds: &'static [u64]) -> Histogram {
        Histogram {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    pub fn record(&self, value: u64) {
        let i = self
            .bounds
            .iter()
            .position(|&bound| value <= bound)
            .unwrap_or(self.bounds.len());
        if let Some(bucket) = self.buckets.get(i) {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        self.sum.fetch_add(value, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        let bounds = self.bounds.iter().map(|&b| Some(b)).chain([None]);
        HistogramSnapshot {
            buckets: bounds
                .zip(self.buckets.iter())
                .map(|(bound, n)| (bound, n.load(Ordering::Relaxed)))
                .collect(),
            sum: self.sum.load(Ordering::Relaxed),
            count: self.count.load(Ordering::Relaxed),
        }
    }
}

/// Transaction-log fsync durations in microseconds ([`FSYNC_BUCKETS_US`]).
#[derive(Debug)]
pub struct FsyncTimes(Histogram);

impl Default for FsyncTimes {
    fn default() -> FsyncTimes {
        FsyncTimes(Histogram::new(&FSYNC_BUCKETS_US))
    }
}

impl FsyncTimes {
    pub fn record(&self, took: std::time::Duration) {
        self.0
            .record(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        self.0.snapshot()
    }
}

/// A consistent-enough copy of [`LatencyStats`] (ZooKeeper's are not exact either).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LatencySummary {
    pub count: u64,
    /// 0 when nothing was recorded, as ZooKeeper prints it.
    pub min_ms: u64,
    /// total / count, 0.0 when nothing was recorded.
    pub avg_ms: f64,
    pub max_ms: u64,
}

impl Default for LatencyStats {
    fn default() -> Self {
        LatencyStats {
            count: AtomicU64::new(0),
            total_ms: AtomicU64::new(0),
            min_ms: AtomicU64::new(u64::MAX),
            max_ms: AtomicU64::new(0),
            histogram: Histogram::new(&LATENCY_BUCKETS_MS),
        }
    }
}

impl LatencyStats {
    /// Account for one client request that took `ms` milliseconds.
    pub fn record(&self, ms: u64) {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.total_ms.fetch_add(ms, Ordering::Relaxed);
        self.min_ms.fetch_min(ms, Ordering::Relaxed);
        self.max_ms.fetch_max(ms, Ordering::Relaxed);
        self.histogram.record(ms);
    }

    /// Every latency recorded since the process started (`srst` does not clear it).
    pub fn histogram(&self) -> HistogramSnapshot {
        self.histogram.snapshot()
    }

    pub fn reset(&self) {
        self.count.store(0, Ordering::Relaxed);
        self.total_ms.store(0, Ordering::Relaxed);
        self.min_ms.store(u64::MAX, Ordering::Relaxed);
        self.max_ms.store(0, Ordering::Relaxed);
    }

    pub fn summary(&self) -> LatencySummary {
        let count = self.count.load(Ordering::Relaxed);
        if count == 0 {
            return LatencySummary::default();
        }
        let total = self.total_ms.load(Ordering::Relaxed);
        let min = self.min_ms.load(Ordering::Relaxed);
        LatencySummary {
            count,
            min_ms: if min == u64::MAX { 0 } else { min },
            avg_ms: total as f64 / count as f64,
            max_ms: self.max_ms.load(Ordering::Relaxed),
        }
    }
}

/// ZooKeeper's default text trace mask (ZooTrace: client request | server packet | session |
/// warning = 2 | 16 | 32 | 256), what `gtmk` answers until `stmk` changes it.
pub const DEFAULT_TRACE_MASK: i64 = 306;

/// Shared between the peer loop (writer) and the client port (reader).
#[derive(Debug)]
pub struct StatusBoard {
    pub started: Instant,
    pub counters: Counters,
    /// The `gtmk`/`stmk` trace mask (an i64 stored as its bits). zabd logs through `tracing`;
    /// the mask is kept for the four-letter words only.
    trace_mask: AtomicU64,
    status: Mutex<NodeStatus>,
    /// The serving role, published on every change (see [`StatusBoard::serving_changes`]).
    serving_tx: tokio::sync::watch::Sender<Serving>,
}

impl StatusBoard {
    pub fn new(initial: NodeStatus) -> StatusBoard {
        let (serving_tx, _) = tokio::sync::watch::channel(initial.serving);
        StatusBoard {
            serving_tx,
            started: Instant::now(),
            counters: Counters::default(),
            trace_mask: AtomicU64::new(DEFAULT_TRACE_MASK as u64),
            status: Mutex::new(initial),
        }
    }

    pub fn trace_mask(&self) -> i64 {
        self.trace_mask.load(Ordering::Relaxed) as i64
    }

    pub fn set_trace_mask(&self, mask: i64) {
        self.trace_mask.store(mask as u64, Ordering::Relaxed);
    }

    /// A copy of the current status.
    pub fn snapshot(&self) -> NodeStatus {
        match self.status.lock() {
            Ok(guard) => guard.clone(),
            // A writer panicked mid-update; the data is still the best we have.
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Change the status under the lock. A peer that starts serving also completes its
    /// newest election record with the epoch it serves in (its zxid's epoch).
    pub fn update(&self, f: impl FnOnce(&mut NodeStatus)) {
        let apply = |s: &mut NodeStatus| {
            let was = s.serving;
            f(s);
            let quorum_role = matches!(
                s.serving,
                Serving::Leader | Serving::Follower | Serving::Observer
            );
            if was == Serving::NotServing && quorum_role {
                let epoch = s.zxid.epoch();
                Arc::make_mut(&mut s.elections).serving(epoch, self.stamp());
            }
            s.serving
        };
        let serving = match self.status.lock() {
            Ok(mut guard) => apply(&mut guard),
            Err(poisoned) => apply(&mut poisoned.into_inner()),
        };
        self.serving_tx.send_if_modified(|s| {
            let changed = *s != serving;
            *s = serving;
            changed
        });
    }

    /// Now, on the wall clock and as time since the process started.
    fn stamp(&self) -> Stamp {
        Stamp {
            unix_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            uptime: self.started.elapsed(),
        }
    }

    /// The peer goes LOOKING for `cause`: start a record in the election history.
    pub fn election_started(&self, cause: &dyn std::fmt::Display) {
        let at = self.stamp();
        let sent = Counters::get(&self.counters.notifications_sent);
        self.update(|s| {
            let epoch = s.current_epoch;
            Arc::make_mut(&mut s.elections).begin(at, cause.to_string(), epoch, sent);
        });
    }

    /// The election core decided: complete the newest record.
    pub fn election_decided(&self, decision: &Decision) {
        let at = self.stamp();
        let sent = Counters::get(&self.counters.notifications_sent);
        self.update(|s| {
            Arc::make_mut(&mut s.elections).decided(at, decision, sent);
        });
    }

    /// Follow the serving role: client connections close when the role they were opened in
    /// ends, as ZooKeeper closes them when its server restarts.
    pub fn serving_changes(&self) -> tokio::sync::watch::Receiver<Serving> {
        self.serving_tx.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_by_upper_bound_and_survives_srst() {
        let counters = Counters::default();
        for ms in [0, 1, 3, 3, 5000, 5001, u64::MAX / 4] {
            counters.request_latency.record(ms);
        }
        counters.reset_server_stats();
        let h = counters.request_latency.histogram();
        assert_eq!(h.count, 7);
        assert_eq!(h.sum, 5000 + 5001 + 1 + 3 + 3 + u64::MAX / 4);
        let count_at = |bound: Option<u64>| {
            h.buckets
                .iter()
                .find(|(b, _)| *b == bound)
                .map(|(_, n)| *n)
                .unwrap()
        };
        assert_eq!(count_at(Some(0)), 1);
        assert_eq!(count_at(Some(1)), 1);
        assert_eq!(count_at(Some(2)), 0);
        assert_eq!(count_at(Some(5)), 2);
        assert_eq!(count_at(Some(5000)), 1);
        assert_eq!(count_at(None), 2);
        assert_eq!(h.buckets.iter().map(|(_, n)| n).sum::<u64>(), 7);
        // srst cleared the min/avg/max summary only.
        assert_eq!(counters.request_latency.summary().count, 0);
    }

    #[test]
    fn the_board_records_elections_and_the_epoch_served_in() {
        use crate::election::Vote;
        use crate::ids::ServerState;
        let board = StatusBoard::new(NodeStatus::new(Zxid(0), Epoch(1), Epoch(1)));
        board.election_started(&"start-up");
        Counters::add(&board.counters.notifications_sent, 3);
        let decision = Decision {
            state: ServerState::Following,
            vote: Vote {
                epoch: Epoch(1),
                zxid: Zxid(0),
                leader: Sid(3),
            },
            round: 1,
            rounds: 1,
            notifications_received: 4,
            joined_established: false,
            distinct_votes: 2,
        };
        board.election_decided(&decision);
        let before = board.snapshot();
        // Discovery and sync change other things first; serving fills in the epoch.
        board.update(|s| s.peer_state = "following");
        assert_eq!(board.snapshot().elections.latest().unwrap().served, None);
        board.update(|s| {
            s.serving = Serving::Follower;
            s.zxid = Zxid::epoch_start(Epoch(2));
        });
        let after = board.snapshot();
        let e = after.elections.latest().unwrap();
        assert_eq!(e.served.map(|(epoch, _)| epoch), Some(Epoch(2)));
        assert_eq!(e.outcome.unwrap().notifications_sent, 3);
        assert_eq!((e.cause.as_str(), e.prior_epoch), ("start-up", Epoch(1)));
        // An earlier snapshot keeps what it saw.
        assert_eq!(before.elections.latest().unwrap().served, None);
        // Serving on (a later status update) changes nothing more.
        board.update(|s| s.zxid = Zxid::epoch_start(Epoch(7)));
        assert_eq!(
            board
                .snapshot()
                .elections
                .latest()
                .unwrap()
                .served
                .unwrap()
                .0,
            Epoch(2)
        );
    }

    #[test]
    fn fsync_times_are_kept_in_microseconds() {
        let times = FsyncTimes::default();
        times.record(std::time::Duration::from_micros(70));
        times.record(std::time::Duration::from_secs(3));
        let h = times.snapshot();
        assert_eq!((h.count, h.sum), (2, 3_000_070));
        assert_eq!(h.buckets.len(), FSYNC_BUCKETS_US.len() + 1);
        assert_eq!(h.buckets[1], (Some(100), 1));
        assert_eq!(h.buckets.last(), Some(&(None, 1)));
    }
}
