//! Group commit off the peer loop.
//!
//! An fsync takes from a tenth of a millisecond to tens of milliseconds. Run on the peer loop it
//! stalls everything else for that long: a leader could neither propose the writes that arrived
//! meanwhile nor count the ACKs that came in, so every write waited for a whole extra fsync.
//! Here the loop only *starts* an fsync ([`crate::storage::TxnLog::begin_sync`]: the buffered
//! records are written, the fsync covers everything appended so far) and goes on appending;
//! the fsync runs on a blocking thread and comes back as a [`Finished`] the loop reacts to (the
//! leader counts its own ACK, a follower sends its cumulative ACK). One fsync runs at a time; the
//! records appended while it runs form the next group.
//!
//! The protocol rule is unchanged: nothing is acknowledged before the fsync that covers it has
//! returned. Under the `sim` feature the fsync runs on the simulated host instead (so that runs
//! replay exactly): at once, or, on a simulated slow disk, after its latency in virtual time as
//! a task of its own, so that a crash can land while logged records are not yet durable; its
//! outcome is still delivered through the channel, as a later event.

use crate::ids::Zxid;
use crate::replica::{Replica, ReplicaError};
use crate::status::{Counters, StatusBoard};
use crate::storage::{Disk, LogError, PendingSync, Synced};
use std::time::Duration;
use tokio::sync::mpsc;

/// A finished fsync, as the peer loop receives it.
#[derive(Debug)]
pub(crate) struct Finished {
    pub outcome: Result<Synced, LogError>,
    /// How long the fsync took (for the fsync-time histogram).
    pub took: Duration,
    /// A follower owes the leader a cumulative ACK once this fsync is done.
    pub ack_due: bool,
}

#[derive(Debug)]
pub(crate) struct LogSyncer {
    done_tx: mpsc::UnboundedSender<Finished>,
    done_rx: mpsc::UnboundedReceiver<Finished>,
    busy: bool,
}

impl LogSyncer {
    pub fn new() -> LogSyncer {
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        LogSyncer {
            done_tx,
            done_rx,
            busy: false,
        }
    }

    /// An fsync is running (its [`Finished`] has not been taken yet).
    pub fn busy(&self) -> bool {
        self.busy
    }

    /// Start the group commit of everything `replica` has appended, counted on `board`:
    /// `Ok(None)` when an fsync now runs (its [`Finished`] follows, carrying `ack_due`),
    /// `Ok(Some(durable))` when everything was durable already. Only when not
    /// [`LogSyncer::busy`]. `disk` is asked for its fsync latency only when an fsync starts
    /// (a simulated disk draws it from the run's seed, so an extra call would change the run).
    pub fn begin(
        &mut self,
        replica: &mut Replica,
        board: &StatusBoard,
        ack_due: bool,
        disk: &dyn Disk,
    ) -> Result<Option<Zxid>, ReplicaError> {
        match replica.begin_sync()? {
            Some(pending) => {
                Counters::add(&board.counters.log_fsyncs, 1);
                // Zero on real disks; a simulated slow disk's fsync takes virtual time.
                self.start(pending, ack_due, disk.sync_latency());
                Ok(None)
            }
            None => Ok(Some(replica.last_synced())),
        }
    }

    /// Run `pending` off the loop. The caller starts one only when [`LogSyncer::busy`] is false.
    /// `latency` is a simulated disk's fsync time (`Disk::sync_latency`); real disks say zero.
    fn start(&mut self, pending: PendingSync, ack_due: bool, latency: Duration) {
        self.busy = true;
        let done = self.done_tx.clone();
        let work = move || {
            let started = std::time::Instant::now();
            let outcome = pending.run();
            // The receiver lives as long as the peer; if it is gone nobody waits for this.
            let _ = done.send(Finished {
                outcome,
                took: started.elapsed(),
                ack_due,
            });
        };
        #[cfg(not(feature = "sim"))]
        {
            let _ = latency;
            drop(tokio::task::spawn_blocking(work));
        }
        #[cfg(feature = "sim")]
        if latency.is_zero() {
            work();
        } else {
            drop(tokio::spawn(async move {
                tokio::time::sleep(latency).await;
                work();
            }));
        }
    }

    /// The running fsync's outcome; pending forever when none runs (guard with `busy()`).
    pub async fn finished(&mut self) -> Finished {
        match self.done_rx.recv().await {
            Some(finished) => {
                self.busy = false;
                finished
            }
            // Cannot happen: this struct holds a sender.
            None => std::future::pending().await,
        }
    }

    /// Wait for the running fsync, if any (before a role change: what it covers must be known
    /// durable, or known failed, before this server votes or syncs again).
    pub async fn drain(&mut self) -> Option<Finished> {
        if self.busy {
            Some(self.finished().await)
        } else {
            None
        }
    }
}

/// A group commit's fsync returned: record its time on `board` and tell `replica`; the last
/// durable zxid, or the storage failure.
pub(crate) fn finish(
    replica: &mut Replica,
    board: &StatusBoard,
    done: Finished,
) -> Result<Zxid, ReplicaError> {
    board.counters.log_fsync_time.record(done.took);
    replica.finish_sync(done.outcome)
}

/// An fsync of everything `replica` has appended, on this thread, counted and timed on `board`
/// like a group commit's.
pub(crate) fn sync_here(replica: &mut Replica, board: &StatusBoard) -> Result<Zxid, ReplicaError> {
    Counters::add(&board.counters.log_fsyncs, 1);
    let started = std::time::Instant::now();
    let synced = replica.sync();
    board.counters.log_fsync_time.record(started.elapsed());
    synced
}
