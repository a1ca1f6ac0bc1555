//! A single server (no `server.N` lines, or just its own): every write is logged, made durable
//! and applied by this server alone, with group commit off the loop.
//!
//! Writes are appended to the log as they arrive. Once no command is waiting, the loop starts
//! one fsync covering everything appended so far, on a blocking thread (the peer's
//! [`LogSyncer`]), and goes on taking commands and appending meanwhile; those form the next
//! group. A lone write is fsynced on the loop itself (see `start_sync`). When an fsync returns, the writes it covers are applied and answered, in order.
//! Nothing is applied or answered before the fsync that covers it. Before this, a standalone
//! server made one fsync per write on its loop, so concurrent clients queued for one disk
//! flush each (zkbench create x128: 5.9k ops/s; 34k with groups on the loop; see BENCHMARKS.md
//! for the figures with the fsync off the loop).

use crate::api::{Command, SubmitError};
use crate::ids::{Epoch, Zxid};
use crate::peer::syncer::{self, Finished, LogSyncer};
use crate::replica::{self, Replica, Request};
use crate::status::StatusBoard;
use crate::storage::Disk;
use crate::tree::{Op, TxnResult};
use crate::zab::sessions::SessionTracker;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

type Reply = oneshot::Sender<Result<TxnResult, SubmitError>>;

pub(super) struct Standalone {
    replica: Replica,
    commands: mpsc::Receiver<Command>,
    board: Arc<StatusBoard>,
    disk: Arc<dyn Disk>,
    epoch: Epoch,
    /// ZooKeeper's tickTime: sessions are checked for expiry every half tick.
    tick: Duration,
    syncer: LogSyncer,
    /// Logged writes not yet known durable, and the commands that must be answered after them
    /// (a sync, a hand-off), in order.
    waiting: VecDeque<Waiting>,
    /// Writes appended since the last fsync started.
    unsynced: usize,
}

enum Waiting {
    /// A write in the log; `reply` is `None` for the server's own (session expiry).
    Write {
        zxid: Zxid,
        bytes: Vec<u8>,
        /// The timeout a CreateSession asks for (the session tracker needs it once it commits).
        session_timeout: Option<i32>,
        reply: Option<Reply>,
    },
    /// Answered once every write before it is applied: read-your-writes.
    Sync(oneshot::Sender<Result<Zxid, SubmitError>>),
    /// Answered once every write before it is answered.
    HandOff(oneshot::Sender<()>),
}

impl Standalone {
    pub(super) fn new(
        replica: Replica,
        commands: mpsc::Receiver<Command>,
        board: Arc<StatusBoard>,
        disk: Arc<dyn Disk>,
        epoch: Epoch,
        tick: Duration,
    ) -> Standalone {
        Standalone {
            replica,
            commands,
            board,
            disk,
            epoch,
            tick,
            syncer: LogSyncer::new(),
            waiting: VecDeque::new(),
            unsynced: 0,
        }
    }

    pub(super) async fn run(mut self) {
        let started = tokio::time::Instant::now();
        let now_ms = move || u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let live = replica::read_tree(&self.replica.tree(), |t| t.sessions());
        let mut sessions = SessionTracker::new(live, now_ms());
        let mut tick = tokio::time::interval(self.tick / 2);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                done = self.syncer.finished(), if self.syncer.busy() => {
                    self.synced(done, &mut sessions, now_ms());
                }
                cmd = self.commands.recv() => match cmd {
                    Some(cmd) => {
                        self.take(cmd, &mut sessions, now_ms());
                        // Everything already queued joins this group.
                        while let Ok(cmd) = self.commands.try_recv() {
                            self.take(cmd, &mut sessions, now_ms());
                        }
                    }
                    None => return,
                },
                _ = tick.tick() => {
                    for session in sessions.tick(now_ms()) {
                        info!(session = format_args!("{session:#x}"), "session expired");
                        let close = Request { session_id: session, cxid: 0, op: Op::CloseSession };
                        if let Err((err, _)) = self.log(close, None) {
                            warn!(%err, "cannot expire a session");
                        }
                    }
                }
            }
            if self.unsynced > 0 && !self.syncer.busy() {
                self.start_sync(&mut sessions, now_ms());
            }
            // A sync or hand-off with no write ahead of it is answered at once.
            self.answer_ready(&mut sessions, now_ms());
        }
    }

    /// One command from the queue.
    fn take(&mut self, cmd: Command, sessions: &mut SessionTracker, now_ms: u64) {
        match cmd {
            Command::Submit { request, reply } => {
                if let Err((err, Some(reply))) = self.log(request, Some(reply)) {
                    let _ = reply.send(Err(err));
                }
            }
            Command::Sync { reply } => self.waiting.push_back(Waiting::Sync(reply)),
            Command::Touch { session } => sessions.touch(session, now_ms),
            // One server: it owns every session.
            Command::Claim { .. } => {}
            Command::HandOff { done } => self.waiting.push_back(Waiting::HandOff(done)),
        }
    }

    /// Stamp `request` with the next zxid and append it to the log (not durable yet); on
    /// failure the error and the reply come back, nothing was logged.
    #[allow(clippy::result_large_err)]
    fn log(
        &mut self,
        request: Request,
        reply: Option<Reply>,
    ) -> Result<(), (SubmitError, Option<Reply>)> {
        let last = self.replica.last_logged();
        let counter = if last.epoch() == self.epoch {
            last.counter()
        } else {
            0
        };
        let Some(next) = counter.checked_add(1) else {
            return Err((SubmitError::NotServing, reply));
        };
        let zxid = Zxid::new(self.epoch, next);
        let txn = request.stamp(zxid);
        let session_timeout = match txn.op {
            Op::CreateSession { timeout_ms } => Some(timeout_ms),
            _ => None,
        };
        let bytes = match replica::encode(&txn) {
            Ok(bytes) => bytes,
            Err(why) => return Err((SubmitError::Refused(why), reply)),
        };
        if let Err(err) = self.replica.append(zxid, &bytes) {
            return Err((storage(err), reply));
        }
        self.unsynced += 1;
        self.waiting.push_back(Waiting::Write {
            zxid,
            bytes,
            session_timeout,
            reply,
        });
        Ok(())
    }

    /// Start the fsync of everything appended so far: off the loop, except for a lone write.
    /// A lone write means nobody else is waiting, so the loop has nothing to do meanwhile,
    /// and an fsync on the loop saves the two thread wake-ups of a hand-off (one writer:
    /// 3.7k -> 4.5k ops/s); a write that arrives meanwhile waits in the queue, as it would for
    /// the running fsync anyway.
    fn start_sync(&mut self, sessions: &mut SessionTracker, now_ms: u64) {
        let lone = std::mem::take(&mut self.unsynced) == 1;
        let outcome = if lone && self.disk.sync_latency().is_zero() {
            syncer::sync_here(&mut self.replica, &self.board).map(Some)
        } else {
            self.syncer
                .begin(&mut self.replica, &self.board, false, &*self.disk)
        };
        match outcome {
            // Running off the loop: `synced` takes it from here.
            Ok(None) => {}
            Ok(Some(durable)) => self.apply_durable(durable, sessions, now_ms),
            Err(err) => self.fail_waiting(storage(err)),
        }
    }

    /// An fsync returned: apply and answer what it made durable.
    fn synced(&mut self, done: Finished, sessions: &mut SessionTracker, now_ms: u64) {
        match syncer::finish(&mut self.replica, &self.board, done) {
            Ok(durable) => self.apply_durable(durable, sessions, now_ms),
            // The log refuses every later write too; nothing logged so far may be answered
            // as committed.
            Err(err) => self.fail_waiting(storage(err)),
        }
    }

    /// Apply and answer, in order, every waiting write up to `durable`, and the syncs and
    /// hand-offs queued behind them.
    fn apply_durable(&mut self, durable: Zxid, sessions: &mut SessionTracker, now_ms: u64) {
        let mut applied = false;
        while let Some(front) = self.waiting.front() {
            if matches!(front, Waiting::Write { zxid, .. } if *zxid > durable) {
                break;
            }
            let Some(entry) = self.waiting.pop_front() else {
                break;
            };
            match entry {
                Waiting::Write {
                    zxid,
                    bytes,
                    session_timeout,
                    reply,
                } => {
                    let result = self
                        .replica
                        .apply_committed(zxid, Arc::new(bytes))
                        .map_err(storage);
                    if let Ok(result) = &result {
                        sessions.on_committed(result, || session_timeout, None, now_ms);
                    }
                    applied = true;
                    match reply {
                        Some(reply) => {
                            let _ = reply.send(result);
                        }
                        None => {
                            if let Err(err) = result {
                                warn!(%err, "cannot expire a session");
                            }
                        }
                    }
                }
                Waiting::Sync(reply) => {
                    let _ = reply.send(Ok(self.replica.last_applied()));
                }
                Waiting::HandOff(done) => {
                    let _ = done.send(());
                }
            }
        }
        if applied {
            crate::peer::show_tree(&self.board, &self.replica);
        }
    }

    /// Answer the syncs and hand-offs at the front of the queue (no write ahead of them).
    fn answer_ready(&mut self, sessions: &mut SessionTracker, now_ms: u64) {
        if matches!(
            self.waiting.front(),
            Some(Waiting::Sync(_) | Waiting::HandOff(_))
        ) {
            self.apply_durable(self.replica.last_synced(), sessions, now_ms);
        }
    }

    /// A failed fsync: no waiting write may be answered as committed.
    fn fail_waiting(&mut self, err: SubmitError) {
        warn!(%err, "the transaction log failed; refusing writes");
        for entry in self.waiting.drain(..) {
            match entry {
                Waiting::Write {
                    reply: Some(reply), ..
                } => {
                    let _ = reply.send(Err(err.clone()));
                }
                Waiting::Write { reply: None, .. } => {}
                Waiting::Sync(reply) => {
                    let _ = reply.send(Err(err.clone()));
                }
                Waiting::HandOff(done) => {
                    let _ = done.send(());
                }
            }
        }
    }
}

fn storage(err: replica::ReplicaError) -> SubmitError {
    SubmitError::Refused(format!("storage: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ZabClient;
    use crate::status::NodeStatus;
    use crate::storage::MemDisk;
    use crate::tree::{Acl, CreateMode};
    use std::path::Path;
    use std::sync::atomic::Ordering;

    const WAIT: Duration = Duration::from_secs(5);

    fn open(disk: &MemDisk) -> Replica {
        Replica::open(Path::new("/d"), Path::new("/l"), Arc::new(disk.clone())).expect("open")
    }

    struct Running {
        client: ZabClient,
        /// The node's command queue itself, to queue commands without waiting for answers.
        commands: mpsc::Sender<Command>,
        board: Arc<StatusBoard>,
        task: tokio::task::JoinHandle<()>,
    }

    fn start(disk: &MemDisk) -> Running {
        let replica = open(disk);
        let board = Arc::new(StatusBoard::new(NodeStatus::new(
            Zxid(0),
            Epoch(1),
            Epoch(1),
        )));
        let (commands_tx, commands) = mpsc::channel(1024);
        let client = ZabClient::new(commands_tx.clone(), replica.tree(), 1);
        let node = Standalone::new(
            replica,
            commands,
            board.clone(),
            Arc::new(disk.clone()),
            Epoch(1),
            Duration::from_millis(100),
        );
        Running {
            client,
            commands: commands_tx,
            board,
            task: tokio::spawn(node.run()),
        }
    }

    /// Stop the node, crash the disk (unsynced bytes go) and recover what is left.
    async fn crash(node: Running, disk: &MemDisk) -> Replica {
        node.task.abort();
        let _ = node.task.await;
        disk.crash();
        open(disk)
    }

    fn create(i: i32) -> Op {
        Op::Create {
            path: format!("/n{i}"),
            data: b"x".to_vec(),
            acl: Acl::open_unsafe(),
            mode: CreateMode::Persistent,
        }
    }

    /// `n` creates of `/n0`.. submitted at once, each from its own task; their results.
    async fn concurrent_creates(client: &ZabClient, n: i32) -> Vec<Result<TxnResult, SubmitError>> {
        let writes: Vec<_> = (0..n)
            .map(|i| {
                let client = client.clone();
                tokio::spawn(async move { client.submit(0, i, create(i), WAIT).await })
            })
            .collect();
        let mut results = Vec::new();
        for write in writes {
            results.push(write.await.expect("task"));
        }
        results
    }

    #[tokio::test]
    async fn concurrent_writes_share_an_fsync_and_are_durable_once_answered() {
        let disk = MemDisk::new();
        let node = start(&disk);
        let results = concurrent_creates(&node.client, 50).await;
        let mut zxids: Vec<Zxid> = results
            .into_iter()
            .map(|r| {
                let r = r.expect("committed");
                assert!(r.err().is_ok(), "{:?}", r.result);
                r.zxid
            })
            .collect();
        zxids.sort();
        let expected: Vec<Zxid> = (1..=50).map(|c| Zxid::new(Epoch(1), c)).collect();
        assert_eq!(zxids, expected);
        // One fsync per write would be 50; the writes queued together share one (two if the
        // scheduler happened to split them).
        let fsyncs = node.board.counters.log_fsyncs.load(Ordering::Relaxed);
        assert!((1..=2).contains(&fsyncs), "{fsyncs} fsyncs for 50 writes");

        // Every answered write survives a crash that drops whatever was not synced.
        let recovered = crash(node, &disk).await;
        assert_eq!(recovered.last_applied(), Zxid::new(Epoch(1), 50));
        assert!(replica::read_tree(&recovered.tree(), |t| {
            (0..50).all(|i| t.exists(&format!("/n{i}")))
        }));
    }

    #[tokio::test]
    async fn a_lone_write_is_synced_on_the_loop_and_durable_once_answered() {
        let disk = MemDisk::new();
        let node = start(&disk);
        for i in 0..3 {
            let result = node
                .client
                .submit(0, i, create(i), WAIT)
                .await
                .expect("committed");
            assert_eq!(result.zxid, Zxid::new(Epoch(1), i as u32 + 1));
        }
        assert_eq!(node.board.counters.log_fsyncs.load(Ordering::Relaxed), 3);
        disk.fail_next_syncs(1);
        match node.client.submit(0, 3, create(3), WAIT).await {
            Err(SubmitError::Refused(why)) => assert!(why.contains("storage"), "{why}"),
            other => panic!("expected a storage failure, got {other:?}"),
        }
        assert!(!node.client.read(|t| t.exists("/n3")));
        let recovered = crash(node, &disk).await;
        assert_eq!(recovered.last_applied(), Zxid::new(Epoch(1), 3));
    }

    #[tokio::test]
    async fn a_failed_fsync_fails_its_whole_group_and_applies_none_of_it() {
        let disk = MemDisk::new();
        let node = start(&disk);
        disk.fail_next_syncs(1);
        for result in concurrent_creates(&node.client, 5).await {
            match result {
                Err(SubmitError::Refused(why)) => assert!(why.contains("storage"), "{why}"),
                other => panic!("expected a storage failure, got {other:?}"),
            }
        }
        assert!(node
            .client
            .read(|t| (0..5).all(|i| !t.exists(&format!("/n{i}")))));
        node.task.abort();
    }

    #[tokio::test]
    async fn a_sync_queued_behind_writes_answers_after_them() {
        let disk = MemDisk::new();
        let node = start(&disk);
        // Ten writes and then a sync, all queued before the node takes any of them (sending to
        // a queue with room does not wait): the sync must not be answered ahead of the group.
        let mut replies = Vec::new();
        for i in 0..10 {
            let (reply, answer) = oneshot::channel();
            let request = Request {
                session_id: 0,
                cxid: i,
                op: create(i),
            };
            node.commands
                .send(Command::Submit { request, reply })
                .await
                .expect("queued");
            replies.push(answer);
        }
        let (reply, synced) = oneshot::channel();
        node.commands
            .send(Command::Sync { reply })
            .await
            .expect("queued");
        let synced = synced.await.expect("answered").expect("synced");
        assert_eq!(synced, Zxid::new(Epoch(1), 10));
        for answer in replies {
            let result = answer.await.expect("answered").expect("committed");
            assert!(result.zxid <= synced);
        }
        node.task.abort();
    }
}
