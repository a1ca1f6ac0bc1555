//! One server's replicated state: its transaction log, its snapshots, and the data tree they
//! rebuild. This is the storage half of the ZAB shell; the protocol cores never see it.
//!
//! Recovery follows ZooKeeper: the newest valid snapshot, then every logged transaction after
//! it (committed or not — a tail the new leader never committed is cut by TRUNC when this server
//! syncs, which rebuilds the tree). A torn final record is cut by the log; a complete record that
//! fails its checksum stops start-up (`ReplicaError::Log`), because it may have been acknowledged.

use crate::config::SnapshotPolicy;
use crate::ids::Zxid;
use crate::storage::{Disk, LogError, LogOptions, SnapError, SnapStore, TxnLog};
use crate::tree::{DataTree, TreeError, Txn, TxnResult};
use crate::zab::sync::CommittedWindow;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
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
    /// Committed transactions applied since the last snapshot was started.
    since_snapshot: u64,
    /// Snapshot after this many (between half and all of snapCount, fixed per server, so that
    /// the servers of an ensemble do not all snapshot at once).
    threshold: u64,
    job: Option<SnapshotJob>,
    last_purge: Option<std::time::Instant>,
}

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
        let (log, recovery) = TxnLog::open(
            &data_log_dir.join("version-2"),
            disk.clone(),
            LogOptions::default(),
        )?;
        if let Some(torn) = &recovery.torn {
            tracing::warn!(
                ?torn,
                "cut a torn final log record (never fully written, so never acknowledged)"
            );
        }
        let tree = load_tree(&snaps)?;
        let policy = SnapshotPolicy::default();
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
    pub fn apply_committed(&mut self, zxid: Zxid, bytes: &[u8]) -> Result<TxnResult, ReplicaError> {
        let result = self.apply(zxid, bytes)?;
        self.since_snapshot += 1;
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
            let bytes = tree.serialize_snapshot()?;
            snaps.write(zxid, &bytes)?;
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

    /// Apply one committed transaction to the tree.
    pub fn apply(&mut self, zxid: Zxid, bytes: &[u8]) -> Result<TxnResult, ReplicaError> {
        let mut txn: Txn = decode(bytes).map_err(|detail| ReplicaError::BadTxn { zxid, detail })?;
        txn.header.zxid = zxid;
        let hook = &self.hook;
        Ok(write_tree(&self.tree, |t| {
            let result = t.apply(&txn)?;
            if let Some(hook) = hook {
                (hook.0)(&result);
            }
            Ok::<_, crate::tree::TreeError>(result)
        })?)
    }

    /// See [`ApplyHook`]; set before serving (recovery replays without it).
    pub fn set_apply_hook(&mut self, hook: ApplyHook) {
        self.hook = Some(hook);
    }

    /// Apply every logged transaction the tree has not seen (recovery, and a new leader whose
    /// whole log becomes committed in its epoch).
    pub fn catch_up(&mut self) -> Result<usize, ReplicaError> {
        let from = self.last_applied();
        let records: Vec<(Zxid, Vec<u8>)> = self.log.iter_from(from)?.collect::<Result<_, _>>()?;
        for (zxid, bytes) in &records {
            self.apply(*zxid, bytes)?;
        }
        Ok(records.len())
    }

    /// TRUNC: cut every record after `to` and rebuild the tree from what remains.
    pub fn truncate_after(&mut self, to: Zxid) -> Result<(), ReplicaError> {
        if let Some(snapshot) = self.snaps.list()?.last().copied() {
            if snapshot > to {
                return Err(ReplicaError::TruncateBelowSnapshot { to, snapshot });
            }
        }
        self.log.truncate_after(to)?;
        write_tree(&self.tree, |t| -> Result<(), ReplicaError> {
            *t = load_tree(&self.snaps)?;
            Ok(())
        })?;
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
        Ok(())
    }

    /// The whole tree, serialized (for a learner that needs SNAP).
    pub fn snapshot_bytes(&self) -> Result<Vec<u8>, ReplicaError> {
        let tree = read_tree(&self.tree, |t| t.clone());
        Ok(tree.serialize_snapshot()?)
    }

    /// The tail of the log as a DIFF window ending at the last logged zxid.
    pub fn window(
        &mut self,
        max_txns: usize,
        max_bytes: usize,
    ) -> Result<CommittedWindow, ReplicaError> {
        // History before the newest snapshot exists only as that snapshot.
        let snapshot_base = self.snaps.list()?.last().copied().unwrap_or(Zxid(0));
        let mut tail: VecDeque<(Zxid, Vec<u8>)> = VecDeque::new();
        let mut bytes = 0usize;
        let mut base = snapshot_base;
        for record in self.log.iter_from(snapshot_base)? {
            let (zxid, txn) = record?;
            bytes += txn.len();
            tail.push_back((zxid, txn));
            while tail.len() > max_txns || (bytes > max_bytes && tail.len() > 1) {
                if let Some((z, t)) = tail.pop_front() {
                    bytes -= t.len();
                    base = z;
                }
            }
        }
        if tail.is_empty() {
            base = self.last_logged();
        }
        let mut window = CommittedWindow::new(base, max_txns, max_bytes);
        for (zxid, txn) in tail {
            window.push(zxid, Arc::new(txn));
        }
        Ok(window)
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
    use crate::tree::{Acl, CreateMode, Op, TxnHeader};

    fn create(path: &str, zxid: Zxid) -> Vec<u8> {
        let txn = Txn {
            header: TxnHeader {
                session_id: 0,
                cxid: 0,
                zxid,
                time_ms: 0,
            },
            op: Op::Create {
                path: path.into(),
                data: b"x".to_vec(),
                acl: Acl::open_unsafe(),
                mode: CreateMode::Persistent,
            },
        };
        encode(&txn).expect("encode")
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
        let w = r.window(10, 1 << 20).expect("window");
        assert_eq!(w.last(), z(2));
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
        let snap = leader.snapshot_bytes().expect("snapshot");
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
            r.apply_committed(z(c), &txn).expect("apply");
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
