//! Where applied transactions meet client connections: the watch table, and each open
//! session's outbound queue.
//!
//! The replica calls [`Hub::on_applied`] while it still holds the tree's write lock, and reads
//! register their watches and queue their replies while holding its read lock. So a
//! notification is always queued before the reply to any read that could see the change
//! (ZooKeeper's guarantee that a client sees the event before the new data), and a watch set
//! by a read is never missed by the change right after it.
//!
//! Queues are unbounded so that the apply path never waits for a client, but each has a byte
//! budget: a client that stops reading is disconnected instead of holding memory or others.

use super::jute::{encode_notification, WatcherEvent};
use super::watches::{ConnId, WatchTable};
use crate::tree::{OpResult, TxnResult};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Replies and notifications queued for one connection and not yet written, at most.
pub const OUTBOUND_BUDGET: usize = 64 * 1024 * 1024;
/// ZooKeeper's `KeeperState.SyncConnected`.
const SYNC_CONNECTED: i32 = 3;

/// A connection's outbound queue (the writer task drains it).
#[derive(Debug, Clone)]
pub struct Outbound {
    tx: mpsc::UnboundedSender<Vec<u8>>,
    queued: Arc<AtomicUsize>,
    cancel: CancellationToken,
}

impl Outbound {
    pub fn new(cancel: CancellationToken) -> (Outbound, mpsc::UnboundedReceiver<Vec<u8>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let out = Outbound {
            tx,
            queued: Arc::new(AtomicUsize::new(0)),
            cancel,
        };
        (out, rx)
    }

    /// Queue a framed packet. Over budget, the connection is cancelled instead (a client that
    /// does not read its replies) and `false` returned.
    pub fn push(&self, frame: Vec<u8>) -> bool {
        let len = frame.len();
        let before = self.queued.fetch_add(len, Ordering::Relaxed);
        if before + len > OUTBOUND_BUDGET {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            tracing::warn!(
                queued = before,
                "client is not reading its replies; closing the connection"
            );
            self.cancel.cancel();
            return false;
        }
        self.tx.send(frame).is_ok()
    }

    /// The writer's side of the byte count (holding it does not keep the queue open).
    pub fn clone_counter(&self) -> QueueCounter {
        QueueCounter(self.queued.clone())
    }

    pub fn queued_bytes(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }
}

/// Counts down the queued bytes as the writer writes them.
#[derive(Debug)]
pub struct QueueCounter(Arc<AtomicUsize>);

impl QueueCounter {
    pub fn written(&self, len: usize) {
        self.0.fetch_sub(len, Ordering::Relaxed);
    }
}

/// One open session on this server.
#[derive(Debug)]
struct Link {
    session: i64,
    out: Outbound,
    cancel: CancellationToken,
    /// The client asked to close its session: its CloseSession reply must still be sent.
    closing_self: Arc<AtomicBool>,
}

/// Shared by the replica's apply path and every client connection of this server.
#[derive(Debug, Default)]
pub struct Hub {
    watches: Mutex<WatchTable>,
    links: Mutex<HashMap<ConnId, Link>>,
    next_conn: AtomicU64,
}

/// What a registered connection keeps to talk to the hub.
#[derive(Debug, Clone)]
pub struct Registration {
    pub conn: ConnId,
    pub closing_self: Arc<AtomicBool>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Hub {
    pub fn new() -> Arc<Hub> {
        Arc::new(Hub::default())
    }

    /// A fresh connection id.
    pub fn next_conn_id(&self) -> ConnId {
        self.next_conn.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Start routing notifications for `session` to `out`. An older connection of the same
    /// session on this server is closed (the client moved to the new one).
    pub fn register(
        &self,
        conn: ConnId,
        session: i64,
        out: Outbound,
        cancel: CancellationToken,
    ) -> Registration {
        let closing_self = Arc::new(AtomicBool::new(false));
        let mut links = lock(&self.links);
        for link in links.values().filter(|l| l.session == session) {
            link.cancel.cancel();
        }
        links.insert(
            conn,
            Link {
                session,
                out,
                cancel,
                closing_self: closing_self.clone(),
            },
        );
        Registration { conn, closing_self }
    }

    /// The connection closed: forget it and its watches.
    pub fn unregister(&self, conn: ConnId) {
        lock(&self.links).remove(&conn);
        lock(&self.watches).remove_conn(conn);
    }

    /// The watch table, for a read registering its watches (call with the tree's read lock
    /// held, see the module docs).
    pub fn watches(&self) -> MutexGuard<'_, WatchTable> {
        lock(&self.watches)
    }

    /// The session of each open connection, for reports.
    pub fn sessions(&self) -> HashMap<ConnId, i64> {
        lock(&self.links)
            .iter()
            .map(|(c, l)| (*c, l.session))
            .collect()
    }

    /// A committed transaction was just applied (the tree's write lock is held): fire the
    /// watches it triggers, and close the local connection of a session it closed.
    pub fn on_applied(&self, result: &TxnResult) {
        let closed_session = matches!(result.result, OpResult::SessionClosed);
        if result.events.is_empty() && !closed_session {
            return;
        }
        let mut watches = lock(&self.watches);
        let links = lock(&self.links);
        for change in &result.events {
            for (conn, event_type, path) in watches.trigger(change) {
                if let Some(link) = links.get(&conn) {
                    link.out.push(encode_notification(&WatcherEvent {
                        event_type,
                        state: SYNC_CONNECTED,
                        path,
                    }));
                }
            }
        }
        drop(watches);
        if closed_session {
            for link in links.values().filter(|l| l.session == result.session_id) {
                if !link.closing_self.load(Ordering::Acquire) {
                    // Expired (or closed elsewhere): the client learns it on reconnect.
                    link.cancel.cancel();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Zxid;
    use crate::server::jute::decode_response;
    use crate::server::watches::WatchKind;
    use crate::tree::ChangeEvent;

    fn result(session: i64, result: OpResult, events: Vec<ChangeEvent>) -> TxnResult {
        TxnResult {
            session_id: session,
            cxid: 0,
            zxid: Zxid(1),
            result,
            events,
        }
    }

    #[test]
    fn a_change_notifies_the_watching_connection_once() {
        let hub = Hub::new();
        let cancel = CancellationToken::new();
        let (out, mut rx) = Outbound::new(cancel.clone());
        let conn = hub.next_conn_id();
        hub.register(conn, 5, out, cancel);
        hub.watches().add(conn, WatchKind::Data, "/a");
        let change = ChangeEvent::NodeDataChanged("/a".into());
        hub.on_applied(&result(9, OpResult::Checked, vec![change.clone()]));
        hub.on_applied(&result(9, OpResult::Checked, vec![change]));
        let frame = rx.try_recv().expect("one notification");
        let (header, body) = decode_response(&frame[4..], 0).unwrap();
        assert_eq!(header.xid, -1);
        assert_eq!(
            body,
            crate::server::jute::Response::Event(WatcherEvent {
                event_type: 3,
                state: 3,
                path: "/a".into()
            })
        );
        assert!(rx.try_recv().is_err(), "one-shot watch fired twice");
    }

    /// Register connection `conn` of `session`; its token and registration.
    fn connect(hub: &Hub, conn: ConnId, session: i64) -> (CancellationToken, Registration) {
        let cancel = CancellationToken::new();
        let (out, _rx) = Outbound::new(cancel.clone());
        let reg = hub.register(conn, session, out, cancel.clone());
        (cancel, reg)
    }

    #[test]
    fn an_expired_session_closes_its_connection_but_a_self_close_does_not() {
        let hub = Hub::new();
        let (c1, _) = connect(&hub, 1, 5);
        let (c2, reg) = connect(&hub, 2, 6);
        reg.closing_self.store(true, Ordering::Release);
        hub.on_applied(&result(5, OpResult::SessionClosed, vec![]));
        hub.on_applied(&result(6, OpResult::SessionClosed, vec![]));
        assert!(c1.is_cancelled());
        assert!(!c2.is_cancelled());
    }

    #[test]
    fn a_second_connection_of_a_session_replaces_the_first() {
        let hub = Hub::new();
        let (c1, _) = connect(&hub, 1, 5);
        let (c2, _) = connect(&hub, 2, 5);
        assert!(c1.is_cancelled());
        assert!(!c2.is_cancelled());
    }

    #[test]
    fn a_queue_over_budget_cancels_the_connection() {
        let cancel = CancellationToken::new();
        let (out, _rx) = Outbound::new(cancel.clone());
        assert!(out.push(vec![0; 1024]));
        assert!(!out.push(vec![0; OUTBOUND_BUDGET]));
        assert!(cancel.is_cancelled());
        assert_eq!(out.queued_bytes(), 1024);
    }
}
