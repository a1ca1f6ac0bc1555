//! The leader's session tracker, pure: which sessions are alive, and which have expired.
//!
//! Sessions themselves are replicated state (CreateSession / CloseSession transactions in the
//! tree); liveness is not. The server a client is connected to touches its session on every
//! request and ping, and learners forward their touches to the leader. Only the leader decides
//! expiry — a client may move between servers — and it expires a session by proposing its
//! CloseSession, which removes the session's ephemerals on every server.
//!
//! The tracker also knows which server holds each session's connection (ZooKeeper's session
//! owner): a client that moved to another server claims its session there, and a write still
//! arriving through the old server is refused with SESSIONMOVED, so two connections of one
//! session never both write.
//!
//! Time is an input: the shell calls [`SessionTracker::tick`] with a monotonic "now" in
//! milliseconds, so tests and the simulator drive it exactly.

use crate::tree::{OpResult, TxnResult};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Session {
    timeout_ms: u64,
    last_touch_ms: u64,
    /// CloseSession has been proposed; do not propose it again.
    closing: bool,
    /// The server holding the session's connection, once known (a new leader learns it from
    /// the next claim).
    owner: Option<u64>,
}

#[derive(Debug, Default)]
pub struct SessionTracker {
    sessions: BTreeMap<i64, Session>,
}

impl SessionTracker {
    /// Start tracking every live session as touched `now`: a new leader gives each session a
    /// full timeout, as ZooKeeper does, since it cannot know when it was last heard from.
    pub fn new(live: impl IntoIterator<Item = (i64, i32)>, now_ms: u64) -> SessionTracker {
        let mut tracker = SessionTracker::default();
        for (id, timeout) in live {
            tracker.add(id, timeout, now_ms);
        }
        tracker
    }

    /// A session was created (its CreateSession committed).
    pub fn add(&mut self, session: i64, timeout_ms: i32, now_ms: u64) {
        self.sessions.insert(
            session,
            Session {
                timeout_ms: u64::try_from(timeout_ms).unwrap_or(0),
                last_touch_ms: now_ms,
                closing: false,
                owner: None,
            },
        );
    }

    /// A session was closed (its CloseSession committed).
    pub fn remove(&mut self, session: i64) {
        self.sessions.remove(&session);
    }

    /// The client of `session` was heard from. Unknown sessions are ignored (a touch can race
    /// with the session's close).
    pub fn touch(&mut self, session: i64, now_ms: u64) {
        if let Some(s) = self.sessions.get_mut(&session) {
            s.last_touch_ms = s.last_touch_ms.max(now_ms);
        }
    }

    /// Keep in step with a committed transaction: a created session starts its timer (its
    /// timeout asked for only then; `owner` is the server it came through), a closed one is
    /// forgotten, anything else changes nothing.
    pub fn on_committed(
        &mut self,
        result: &TxnResult,
        timeout_ms: impl FnOnce() -> Option<i32>,
        owner: Option<u64>,
        now_ms: u64,
    ) {
        match result.result {
            OpResult::SessionCreated => {
                self.add(result.session_id, timeout_ms().unwrap_or(0), now_ms);
                if let Some(owner) = owner {
                    self.set_owner(result.session_id, owner);
                }
            }
            OpResult::SessionClosed => self.remove(result.session_id),
            _ => {}
        }
    }

    /// `server` now holds the session's connection (a new session, or a client that moved).
    pub fn set_owner(&mut self, session: i64, server: u64) {
        if let Some(s) = self.sessions.get_mut(&session) {
            s.owner = Some(server);
        }
    }

    /// May `server` write on behalf of `session`? No only if another server is known to hold
    /// it now (ZooKeeper's `checkSession` owner test).
    pub fn may_write(&self, session: i64, server: u64) -> bool {
        self.sessions
            .get(&session)
            .and_then(|s| s.owner)
            .map_or(true, |owner| owner == server)
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Sessions silent for longer than their timeout, each reported once: the shell proposes
    /// their CloseSession.
    pub fn tick(&mut self, now_ms: u64) -> Vec<i64> {
        let mut expired = Vec::new();
        for (id, s) in self.sessions.iter_mut() {
            if !s.closing && now_ms.saturating_sub(s.last_touch_ms) > s.timeout_ms {
                s.closing = true;
                expired.push(*id);
            }
        }
        expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_session_expires_once_and_a_touched_one_lives() {
        let mut t = SessionTracker::new([(1, 1000), (2, 1000)], 0);
        t.touch(2, 900);
        assert!(
            t.tick(1000).is_empty(),
            "exactly at the timeout is not yet expired"
        );
        assert_eq!(t.tick(1001), vec![1]);
        assert!(t.tick(1500).is_empty(), "reported once");
        assert_eq!(t.tick(1901), vec![2]);
        t.remove(1);
        t.remove(2);
        assert!(t.is_empty());
    }

    #[test]
    fn the_last_claim_owns_the_session() {
        let mut t = SessionTracker::new([(1, 1000)], 0);
        assert!(t.may_write(1, 7), "no owner known yet: anyone");
        t.set_owner(1, 2);
        assert!(t.may_write(1, 2));
        assert!(!t.may_write(1, 3));
        t.set_owner(1, 3);
        assert!(!t.may_write(1, 2));
        assert!(t.may_write(1, 3));
        t.set_owner(9, 3);
        assert!(t.may_write(9, 1), "unknown sessions are left to the tree");
    }

    #[test]
    fn touches_of_unknown_sessions_and_out_of_order_touches_are_harmless() {
        let mut t = SessionTracker::default();
        t.touch(9, 5);
        assert!(t.is_empty());
        t.add(3, 100, 50);
        t.touch(3, 40); // an older touch arriving late does not move time back
        assert!(t.tick(150).is_empty());
        assert_eq!(t.tick(151), vec![3]);
    }
}
