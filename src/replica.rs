//! One server's replicated state: its transaction log, its snapshots, and the data tree they
//! rebuild. This is the storage half of the ZAB shell; the protocol cores never see it.
//!
//! Recovery follows ZooKeeper: the newest valid snapshot, then every logged transaction after
//! it (committed or not — a tail the new leader never committed is cut by TRUNC when this server
//! syncs, which rebuilds the tree). A torn final record is cut by the log; a complete record that
//! fails its checksum stops start-up (`ReplicaError::Log`), because it may have been acknowledged.

use crate::config::SnapshotPolicy;
use crate::ids::Zxid;
use crate::storage::{
    Disk, LogError, LogOptions, PendingSync, SnapError, SnapStore, Synced, TxnLog,
};
use crate::tree::{DataTree, TreeError, Txn, TxnResult};
use crate::zab::sync::CommittedWindow;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::{Arc, RwLock};

/// A transaction record is at most this large (a 1 MiB znode plus headroom).
pub const MAX_TXN_BYTES: usize = 2 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    #[error("transaction log: {0}")]
    Log(#[from] LogError),
    #[error("snapshots: {0}")]
    Snap(#[from] SnapError),
    #[error("data tree: {0}")]
    Tree(#[from] TreeError),
    #[error("transaction {zxid} cannot be decoded: {detail}")]
    BadTxn { zxid: Zxid, detail: String },
    #[error("cannot truncate to {to}: the newest snapshot is already at {snapshot}")]
    TruncateBelowSnapshot { to: Zxid, snapshot: Zxid },
}

/// A write as submitted (and as a learner forwards it to the leader): the leader stamps it into
/// a [`Txn`] with its zxid and the leader's clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub session_id: i64,
    pub cxid: i32,
    pub op: crate::tree::Op,
}

impl Request {
    /// The transaction for this request at `zxid`, stamped with the wall clock now (so that
    /// every replica writes the same ctime/mtime).
    pub fn stamp(self, zxid: Zxid) -> Txn {
        let time_ms = crate::wallclock::unix_ms();
        Txn {
            header: crate::tree::TxnHeader {
                session_id: self.session_id,
                cxid: self.cxid,
                zxid,
                time_ms,
            },
            op: self.op,
        }
    }
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard()
        .with_big_endian()
        .with_fixed_int_encoding()
        .with_limit::<MAX_TXN_BYTES>()
}

pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
    bincode::serde::encode_to_vec(value, config()).map_err(|e| e.to_string())
}

pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let (value, used) =
        bincode::serde::decode_from_slice(bytes, config()).map_err(|e| e.to_string())?;
    if used != bytes.len() {
        return Err(format!("{} trailing bytes", bytes.len() - used));
    }
    Ok(value)
}

/// The tree as readers see it: shared with the client side, written only by the peer loop.
pub type SharedTree = Arc<RwLock<DataTree>>;

pub fn read_tree<T>(tree: &SharedTree, f: impl FnOnce(&DataTree) -> T) -> T {
    match tree.read() {
        Ok(guard) => f(&guard),
        Err(poisoned) => f(&poisoned.into_inner()),
    }
}

fn write_tree<T>(tree: &SharedTree, f: impl FnOnce(&mut DataTree) -> T) -> T {
    match tree.write() {
        Ok(mut guard) => f(&mut guard),
        Err(poisoned) => f(&mut poisoned.into_inner()),
    }
}

/// Called with every applied transaction while the tree's write lock is still held (the client
/// side fires watches from it; see `server::hub` for why under the lock).
#[derive(Clone)]
pub struct ApplyHook(pub Arc<dyn Fn(&TxnResult) + Send + Sync>);

impl std::fmt::Debug for ApplyHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApplyHook")
    }
}

#[derive(Debug)]
pub struct Replica {
    disk: Arc<dyn Disk>,
    hook: Option<ApplyHook>,
    log: TxnLog,
    snaps: SnapStore,
    tree: SharedTree,
    policy: SnapshotPolicy,
    /// Transactions applied since the last snapshot was started, replayed ones included: a
    /// server restarted often must not replay an ever longer log because the count began
    /// again at zero after each restart.
    since_snapshot: u64,
    /// Snapshot after this many (between half and all of snapCount, fixed per server, so that
    /// the servers of an ensemble do not all snapshot at once).
    threshold: u64,
    job: Option<SnapshotJob>,
    last_purge: Option<std::time::Instant>,
    /// The most recent applied transactions, kept as they are applied so that a server that
    /// becomes leader can offer DIFF syncs at once instead of reading its log back (which took
    /// seconds on a long log, all of it failover time).
    recent: CommittedWindow,
}

/// How much recent history [`Replica::recent_window`] keeps until the node configures it.
const DEFAULT_WINDOW_TXNS: usize = 10_000;
const DEFAULT_WINDOW_BYTES: usize = 64 * 1024 * 1024;

/// A snapshot being written off the peer loop; its result is the zxid below which log
/// segments may be purged (when autopurge ran).
type SnapshotResult = Result<(Zxid, Option<Zxid>), ReplicaError>;

#[derive(Debug)]
enum SnapshotJob {
    #[cfg(not(feature = "sim"))]
    Running(tokio::task::JoinHandle<SnapshotResult>),
    /// Under simulation the snapshot is written inline, so that runs replay exactly.
    #[allow(dead_code)]
    Done(SnapshotResult),
}

impl Replica {
    /// Recover: newest valid snapshot, then replay of the log after it.
    pub fn open(
        data_dir: &Path,
        data_log_dir: &Path,
        disk: Arc<dyn Disk>,
    ) -> Result<Replica, ReplicaError> {
        let snaps = SnapStore::open(&data_dir.join("version-2"), disk.clone())?;
        // The snapshot first: the log segments it covers need not be read.
        let tree = load_tree(&snaps)?;
        let (log, recovery) = TxnLog::open(
            &data_log_dir.join("version-2"),
            disk.clone(),
            LogOptions {
                covered_through: tree.last_applied(),
                ..LogOptions::default()
            },
        )?;
        if let Some(torn) = &recovery.torn {
            tracing::warn!(
                ?torn,
                "cut a torn final log record (never fully written, so never acknowledged)"
            );
        }
        let policy = SnapshotPolicy::default();
        let recent = CommittedWindow::new(
            tree.last_applied(),
            DEFAULT_WINDOW_TXNS,
            DEFAULT_WINDOW_BYTES,
        );
        let mut replica = Replica {
            disk,
            hook: None,
            log,
            snaps,
            tree: Arc::new(RwLock::new(tree)),
            threshold: policy.snap_count,
            policy,
            since_snapshot: 0,
            job: None,
            last_purge: None,
            recent,
        };
        replica.catch_up()?;
        Ok(replica)
    }

    /// When to snapshot and purge. `spread` (e.g. the server id) picks this server's point
    /// between snapCount/2 and snapCount.
    pub fn set_policy(&mut self, policy: SnapshotPolicy, spread: u64) {
        let half = (policy.snap_count / 2).max(1);
        self.threshold = half + spread.wrapping_mul(0x9e37_79b9_7f4a_7c15) % half;
        self.policy = policy;
    }

    /// Apply a transaction known to be committed, and snapshot when enough have been applied
    /// since the last one (only committed state is ever snapshotted).
    pub fn apply_committed(
        &mut self,
        zxid: Zxid,
        txn: Arc<Vec<u8>>,
    ) -> Result<TxnResult, ReplicaError> {
        let result = self.apply(zxid, txn)?;
        self.reap_snapshot()?;
        if self.since_snapshot >= self.threshold && self.job.is_none() {
            self.start_snapshot();
        }
        Ok(result)
    }

    /// Write a snapshot of the tree as it is now (an O(1) clone), off the caller's thread.
    fn start_snapshot(&mut self) {
        self.since_snapshot = 0;
        let tree = read_tree(&self.tree, |t| t.clone());
        let zxid = tree.last_applied();
        let snaps = self.snaps.clone();
        let retain = self.policy.retain;
        let purge = match (self.policy.purge_interval, self.last_purge) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(every), Some(last)) => last.elapsed() >= every,
        };
        let work = move || -> SnapshotResult {
            let len = tree.snapshot_len()?;
            snaps.write_streamed(zxid, len, |out| {
                tree.write_snapshot(out).map_err(std::io::Error::other)
            })?;
            let point = if purge {
                snaps.purge(retain)?.log_purge_point
            } else {
                None
            };
            Ok((zxid, point))
        };
        #[cfg(not(feature = "sim"))]
        {
            self.job = Some(SnapshotJob::Running(tokio::task::spawn_blocking(work)));
        }
        #[cfg(feature = "sim")]
        {
            self.job = Some(SnapshotJob::Done(work()));
        }
    }

    /// Collect a finished snapshot: log it, and purge the log segments it made unnecessary.
    /// A failed snapshot is not fatal (the log still holds everything); the next one retries.
    fn reap_snapshot(&mut self) -> Result<(), ReplicaError> {
        let result = match self.job.take() {
            None => return Ok(()),
            #[cfg(not(feature = "sim"))]
            Some(SnapshotJob::Running(handle)) => {
                if !handle.is_finished() {
                    self.job = Some(SnapshotJob::Running(handle));
                    return Ok(());
                }
                match futures_util::FutureExt::now_or_never(handle) {
                    Some(Ok(result)) => result,
                    Some(Err(err)) => {
                        tracing::warn!(%err, "snapshot task failed");
                        return Ok(());
                    }
                    None => return Ok(()),
                }
            }
            Some(SnapshotJob::Done(result)) => result,
        };
        match result {
            Ok((zxid, purge_point)) => {
                tracing::info!(%zxid, "snapshot written");
                if let Some(point) = purge_point {
                    let removed = self.log.purge_before(point)?;
                    self.last_purge = Some(std::time::Instant::now());
                    tracing::info!(%point, segments = removed.len(), "autopurge");
                }
            }
            Err(err) => tracing::warn!(%err, "snapshot failed; the log still holds everything"),
        }
        Ok(())
    }

    pub fn tree(&self) -> SharedTree {
        self.tree.clone()
    }

    /// The last zxid this server holds: logged, or covered by its snapshot.
    pub fn last_logged(&self) -> Zxid {
        self.log.last_zxid().max(self.last_applied())
    }

    pub fn last_applied(&self) -> Zxid {
        read_tree(&self.tree, |t| t.last_applied())
    }

    /// Append to the log; durable only after [`Replica::sync`].
    pub fn append(&mut self, zxid: Zxid, txn: &[u8]) -> Result<(), ReplicaError> {
        Ok(self.log.append(zxid, txn)?)
    }

    /// Make everything appended durable (one fsync for all of it); the last durable zxid.
    pub fn sync(&mut self) -> Result<Zxid, ReplicaError> {
        Ok(self.log.sync()?)
    }

    /// The last zxid known durable in the log.
    pub fn last_synced(&self) -> Zxid {
        self.log.last_synced()
    }

    /// See [`TxnLog::begin_sync`]: an fsync of everything appended, to run off this thread.
    pub fn begin_sync(&mut self) -> Result<Option<PendingSync>, ReplicaError> {
        Ok(self.log.begin_sync()?)
    }

    /// See [`TxnLog::finish_sync`]; the last durable zxid.
    pub fn finish_sync(&mut self, outcome: Result<Synced, LogError>) -> Result<Zxid, ReplicaError> {
        Ok(self.log.finish_sync(outcome)?)
    }

    /// Apply one committed transaction to the tree. The bytes are shared, not copied, with the
    /// DIFF window ([`Replica::recent_window`]).
    pub fn apply(&mut self, zxid: Zxid, bytes: Arc<Vec<u8>>) -> Result<TxnResult, ReplicaError> {
        let mut txn: Txn =
            decode(&bytes).map_err(|detail| ReplicaError::BadTxn { zxid, detail })?;
        txn.header.zxid = zxid;
        let hook = &self.hook;
        let result = write_tree(&self.tree, |t| {
            let result = t.apply(&txn)?;
            if let Some(hook) = hook {
                (hook.0)(&result);
            }
            Ok::<_, crate::tree::TreeError>(result)
        })?;
        #[cfg(feature = "sim")]
        crate::sim::record_applied(zxid, &bytes);
        // The tree refused anything out of order above, so the window takes it.
        self.recent.push(zxid, bytes);
        self.since_snapshot += 1;
        Ok(result)
    }

    /// See [`ApplyHook`]; set before serving (recovery replays without it).
    pub fn set_apply_hook(&mut self, hook: ApplyHook) {
        self.hook = Some(hook);
    }

    /// Apply every logged transaction the tree has not seen (recovery, and a new leader whose
    /// whole log becomes committed in its epoch).
    pub fn catch_up(&mut self) -> Result<usize, ReplicaError> {
        let from = self.last_applied();
        // One record at a time: a long log never has to fit in memory twice.
        let mut applied = 0;
        for record in self.log.iter_from(from)? {
            let (zxid, bytes) = record?;
            self.apply(zxid, Arc::new(bytes))?;
            applied += 1;
        }
        Ok(applied)
    }

    /// TRUNC: cut every record after `to` and rebuild the tree from what remains.
    pub fn truncate_after(&mut self, to: Zxid) -> Result<(), ReplicaError> {
        if let Some(snapshot) = self.snaps.list()?.last().copied() {
            if snapshot > to {
                return Err(ReplicaError::TruncateBelowSnapshot { to, snapshot });
            }
        }
        self.log.truncate_after(to)?;
        let base = write_tree(&self.tree, |t| -> Result<Zxid, ReplicaError> {
            *t = load_tree(&self.snaps)?;
            Ok(t.last_applied())
        })?;
        self.recent = self.recent.emptied(base);
        self.since_snapshot = 0;
        self.catch_up()?;
        Ok(())
    }

    /// SNAP: adopt the leader's whole state as of `zxid`, durably, before anything after it.
    pub fn install_snapshot(&mut self, zxid: Zxid, data: &[u8]) -> Result<(), ReplicaError> {
        let tree = DataTree::from_snapshot(data)?;
        // Nothing after the snapshot may remain in the log: the log must continue right after it.
        if self.log.last_zxid() > zxid {
            self.log.truncate_after(zxid)?;
        }
        self.snaps.write(zxid, data)?;
        // Older log records are superseded.
        if self.log.last_zxid() > Zxid(0) {
            self.log.purge_before(zxid)?;
        }
        write_tree(&self.tree, |t| *t = tree);
        self.recent = self.recent.emptied(zxid);
        self.since_snapshot = 0;
        Ok(())
    }

    /// The tree as it is now, an O(1) clone that later writes do not change (a learner that
    /// needs SNAP gets it encoded off the peer loop).
    pub fn tree_image(&self) -> DataTree {
        read_tree(&self.tree, |t| t.clone())
    }

    /// The most recent applied transactions, for DIFF syncs: a new leader first applies its
    /// whole log ([`Replica::catch_up`]), so then this ends at its last logged zxid.
    pub fn recent_window(&self) -> CommittedWindow {
        self.recent.clone()
    }

    /// Keep at most this much recent history (`zabd.commitLogCount`; bytes bound memory).
    pub fn set_window_limits(&mut self, max_txns: usize, max_bytes: usize) {
        self.recent.set_limits(max_txns, max_bytes);
    }

    pub fn disk(&self) -> Arc<dyn Disk> {
        self.disk.clone()
    }
}

fn load_tree(snaps: &SnapStore) -> Result<DataTree, ReplicaError> {
    Ok(match snaps.newest_valid()? {
        Some((_, bytes)) => DataTree::from_snapshot(&bytes)?,
        None => DataTree::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Epoch;
    use crate::storage::MemDisk;

    fn create(path: &str, zxid: Zxid) -> Vec<u8> {
        encode(&Txn::test_create(path, b"x", zxid)).expect("encode")
    }

    fn z(c: u32) -> Zxid {
        Zxid::new(Epoch(1), c)
    }

    fn open(disk: &MemDisk) -> Replica {
        Replica::open(Path::new("/d"), Path::new("/l"), Arc::new(disk.clone())).expect("open")
    }

    #[test]
    fn recovery_replays_the_synced_log_and_loses_only_unsynced_records() {
        let disk = MemDisk::new();
        let mut r = open(&disk);
        for c in 1..=3 {
            r.append(z(c), &create(&format!("/n{c}"), z(c)))
                .expect("append");
        }
        assert_eq!(r.sync().expect("sync"), z(3));
        r.append(z(4), &create("/n4", z(4))).expect("append");
        drop(r);
        disk.crash();
        let r = open(&disk);
        assert_eq!(r.last_logged(), z(3));
        assert_eq!(r.last_applied(), z(3));
        assert!(read_tree(&r.tree(), |t| t.exists("/n3") && !t.exists("/n4")));
    }

    #[test]
    fn truncate_rebuilds_the_tree_without_the_cut_tail() {
        let disk = MemDisk::new();
        let mut r = open(&disk);
        for c in 1..=4 {
            r.append(z(c), &create(&format!("/n{c}"), z(c)))
                .expect("append");
        }
        r.sync().expect("sync");
        r.catch_up().expect("apply");
        r.truncate_after(z(2)).expect("truncate");
        assert_eq!(r.last_logged(), z(2));
        assert!(read_tree(&r.tree(), |t| t.exists("/n2") && !t.exists("/n3")));
        let w = r.recent_window();
        assert_eq!(w.last(), z(2));
        assert_eq!(w.len(), 2, "the cut tail left the DIFF window too");
    }

    #[test]
    fn an_installed_snapshot_replaces_the_state_and_survives_a_crash() {
        let leader_disk = MemDisk::new();
        let mut leader = open(&leader_disk);
        for c in 1..=3 {
            leader
                .append(z(c), &create(&format!("/n{c}"), z(c)))
                .expect("append");
        }
        leader.sync().expect("sync");
        leader.catch_up().expect("apply");
        let snap = leader.tree_image().serialize_snapshot().expect("snapshot");
        let disk = MemDisk::new();
        let mut r = open(&disk);
        r.install_snapshot(z(3), &snap).expect("install");
        drop(r);
        disk.crash();
        let r = open(&disk);
        assert_eq!(r.last_logged(), z(3));
        let digest = read_tree(&leader.tree(), |t| t.digest());
        assert_eq!(read_tree(&r.tree(), |t| t.digest()), digest);
    }

    #[tokio::test]
    async fn snapshots_are_taken_every_snap_count_and_recovery_starts_from_them() {
        let disk = MemDisk::new();
        let mut r = open(&disk);
        r.set_policy(
            SnapshotPolicy {
                snap_count: 10,
                retain: 3,
                purge_interval: Some(std::time::Duration::ZERO),
            },
            0,
        );
        for c in 1..=40 {
            let txn = create(&format!("/n{c}"), z(c));
            r.append(z(c), &txn).expect("append");
            r.sync().expect("sync");
            r.apply_committed(z(c), Arc::new(txn)).expect("apply");
            // Let a background snapshot finish before the next trigger.
            for _ in 0..100 {
                if r.job.is_none() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                r.reap_snapshot().expect("reap");
            }
        }
        let snaps = r.snaps.list().expect("list");
        assert!(snaps.len() >= 3, "snapshots: {snaps:?}");
        assert!(
            snaps.len() <= 4,
            "autopurge keeps 3 (+1 in flight): {snaps:?}"
        );
        let digest = read_tree(&r.tree(), |t| t.digest());
        drop(r);
        disk.crash();
        let r = open(&disk);
        assert_eq!(r.last_applied(), z(40));
        assert_eq!(read_tree(&r.tree(), |t| t.digest()), digest);
    }

    #[tokio::test]
    async fn a_server_restarted_more_often_than_snap_count_still_snapshots() {
        let disk = MemDisk::new();
        let policy = SnapshotPolicy {
            snap_count: 10,
            retain: 3,
            purge_interval: None,
        };
        // Seven transactions per life, fewer than this server's threshold (snapCount 10 gives
        // 5 to 9 depending on the spread; pick a spread that gives 8 or 9).
        let spread = (0..100u64)
            .find(|s| {
                let mut r = open(&MemDisk::new());
                r.set_policy(policy.clone(), *s);
                r.threshold >= 8
            })
            .expect("a spread with a threshold above 7");
        let mut c = 0;
        for _life in 0..3 {
            let mut r = open(&disk);
            r.set_policy(policy.clone(), spread);
            for _ in 0..7 {
                c += 1;
                let txn = create(&format!("/n{c}"), z(c));
                r.append(z(c), &txn).expect("append");
                r.sync().expect("sync");
                r.apply_committed(z(c), Arc::new(txn)).expect("apply");
            }
            for _ in 0..100 {
                r.reap_snapshot().expect("reap");
                if r.job.is_none() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
            drop(r);
            disk.crash();
        }
        let snaps = Replica::open(Path::new("/d"), Path::new("/l"), Arc::new(disk.clone()))
            .expect("open")
            .snaps
            .list()
            .expect("list");
        assert!(
            !snaps.is_empty(),
            "21 txns over three lives of 7 with a threshold of at most 10: replayed \
             transactions count, so a snapshot was taken"
        );
    }

    #[test]
    fn a_corrupt_complete_record_stops_recovery() {
        let disk = MemDisk::new();
        let mut r = open(&disk);
        for c in 1..=3 {
            r.append(z(c), &create(&format!("/n{c}"), z(c)))
                .expect("append");
        }
        r.sync().expect("sync");
        drop(r);
        let segment = Path::new("/l/version-2").join(format!("log.{:x}", z(1).0));
        let len = disk.len_of(&segment).expect("segment exists");
        disk.flip_bit(&segment, len - 3, 0).expect("flip");
        let err = Replica::open(Path::new("/d"), Path::new("/l"), Arc::new(disk.clone()))
            .expect_err("must refuse");
        assert!(
            matches!(err, ReplicaError::Log(LogError::Corrupt { .. })),
            "{err}"
        );
    }
}
