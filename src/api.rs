//! The library API of a running node: submit a write from any server and get its committed
//! result, read the local data tree, and `sync` for read-your-writes across servers. The client
//! protocol (kazoo, zkCli) is built on this.

use crate::ids::Zxid;
use crate::replica::{read_tree, Request, SharedTree};
use crate::tree::{DataTree, Op, TxnResult};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Why a write or a sync did not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    #[error("this server is not serving (no leader or no quorum right now)")]
    NotServing,
    #[error("the leader was lost before the request completed; its outcome is unknown")]
    LeaderLost,
    #[error("the leader refused the request: {0}")]
    Refused(String),
    #[error("no answer within {0:?}; the outcome is unknown")]
    TimedOut(Duration),
    #[error("the node has stopped")]
    Stopped,
}

/// A request to the peer loop.
#[derive(Debug)]
pub enum Command {
    Submit {
        request: Request,
        reply: oneshot::Sender<Result<TxnResult, SubmitError>>,
    },
    Sync {
        reply: oneshot::Sender<Result<Zxid, SubmitError>>,
    },
    /// The session's client was heard from (fire and forget).
    Touch { session: i64 },
    /// The session's client (re)connected to this server, which now owns it (fire and forget;
    /// sent ahead of the session's next write, on the same path to the leader).
    Claim { session: i64 },
    /// Shut down gracefully: a leader stops taking writes, commits what it proposed, tells its
    /// learners to elect a successor at once, and then answers `done` (other roles at once).
    HandOff { done: oneshot::Sender<()> },
}

/// A cheap, cloneable handle on a node.
#[derive(Debug, Clone)]
pub struct ZabClient {
    commands: mpsc::Sender<Command>,
    tree: SharedTree,
    next_session: Arc<AtomicI64>,
}

impl ZabClient {
    /// Session ids are unique across the ensemble without coordination, as in ZooKeeper: the
    /// server id in the top byte, then the start time in milliseconds, then a counter.
    pub(crate) fn new(commands: mpsc::Sender<Command>, tree: SharedTree, sid: u64) -> ZabClient {
        let now_ms = u64::try_from(crate::wallclock::unix_ms()).unwrap_or(0);
        let first = ((sid & 0xff) << 56) | ((now_ms << 24) >> 8);
        ZabClient {
            commands,
            tree,
            next_session: Arc::new(AtomicI64::new(first as i64)),
        }
    }

    /// Open a session with `timeout_ms`: replicated (CreateSession commits on every server),
    /// kept alive by [`ZabClient::touch`], expired by the leader when silent for longer.
    pub async fn create_session(
        &self,
        timeout_ms: i32,
        timeout: Duration,
    ) -> Result<i64, SubmitError> {
        let session = self.next_session.fetch_add(1, Ordering::Relaxed);
        let result = self
            .submit(session, 0, Op::CreateSession { timeout_ms }, timeout)
            .await?;
        match result.err().is_ok() {
            true => Ok(session),
            false => Err(SubmitError::Refused(result.err().name().to_string())),
        }
    }

    /// Close a session now: its ephemeral nodes go away on every server.
    pub async fn close_session(&self, session: i64, timeout: Duration) -> Result<(), SubmitError> {
        self.submit(session, 0, Op::CloseSession, timeout)
            .await
            .map(|_| ())
    }

    /// The session's client was heard from (the leader learns of it within half a tick).
    pub fn touch(&self, session: i64) {
        let _ = self.commands.try_send(Command::Touch { session });
    }

    /// This server now holds `session`'s connection: writes through another server's older
    /// connection of it are refused (SESSIONMOVED).
    pub async fn claim(&self, session: i64) {
        let _ = self.commands.send(Command::Claim { session }).await;
    }

    /// Prepare this server to stop (see [`Command::HandOff`]); waits at most `within`.
    pub async fn hand_off(&self, within: Duration) {
        let (done, rx) = oneshot::channel();
        if self.commands.send(Command::HandOff { done }).await.is_ok() {
            let _ = tokio::time::timeout(within, rx).await;
        }
    }

    /// Submit a write as `session_id` (0 for none) and wait, at most `timeout`, for its commit.
    /// A failed op (NONODE, BADVERSION, ...) is a committed result, not an error.
    pub async fn submit(
        &self,
        session_id: i64,
        cxid: i32,
        op: Op,
        timeout: Duration,
    ) -> Result<TxnResult, SubmitError> {
        let (reply, rx) = oneshot::channel();
        let cmd = Command::Submit {
            request: Request {
                session_id,
                cxid,
                op,
            },
            reply,
        };
        self.ask(cmd, rx, timeout).await
    }

    /// Wait until this server has applied everything committed before the call.
    pub async fn sync(&self, timeout: Duration) -> Result<Zxid, SubmitError> {
        let (reply, rx) = oneshot::channel();
        self.ask(Command::Sync { reply }, rx, timeout).await
    }

    /// Read the local tree (possibly behind the leader; `sync` first for read-your-writes).
    pub fn read<T>(&self, f: impl FnOnce(&DataTree) -> T) -> T {
        read_tree(&self.tree, f)
    }

    async fn ask<T>(
        &self,
        cmd: Command,
        rx: oneshot::Receiver<Result<T, SubmitError>>,
        timeout: Duration,
    ) -> Result<T, SubmitError> {
        self.commands
            .send(cmd)
            .await
            .map_err(|_| SubmitError::Stopped)?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(SubmitError::Stopped),
            Err(_) => Err(SubmitError::TimedOut(timeout)),
        }
    }
}
