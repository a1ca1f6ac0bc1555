//! How the leader brings a learner up to date (reference section 5): from the learner's last
//! zxid and the leader's recent committed history, decide DIFF, TRUNC + DIFF, or SNAP.
//!
//! The leader keeps a window of its most recent committed transactions (loaded from its log
//! when it starts leading, then fed by every commit). Inside the window a learner gets exactly
//! the transactions it lacks; a learner holding a tail the leader never committed (an old
//! leader's uncommitted proposals) is first truncated to the last zxid both share; anything
//! older than the window gets the whole state (SNAP).

use crate::ids::Zxid;
use std::collections::VecDeque;
use std::sync::Arc;

/// One committed transaction: its zxid and the opaque bytes the log and the tree understand.
pub type Committed = (Zxid, Arc<Vec<u8>>);

/// The most transactions a DIFF may carry, hence the largest window (`zabd.commitLogCount`).
///
/// A sync goes out in one batch on the learner's link, whose queue is bounded (a learner that
/// stops reading is dropped, see `net::link`); the link's queue is sized at twice this, so a
/// whole DIFF plus the proposals made meanwhile always fit. A larger DIFF could never be queued
/// and the learner would retry forever; a learner further behind than this gets SNAP.
pub const MAX_DIFF_TXNS: usize = 16 * 1024;

/// The leader's recent committed history, oldest first, bounded in count and bytes.
#[derive(Debug, Clone)]
pub struct CommittedWindow {
    entries: VecDeque<Committed>,
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
    /// The zxid just before the oldest entry: what a learner needs to have for a DIFF to be
    /// possible. Starts as the zxid the history begins after (a snapshot's, or zero).
    base: Zxid,
    last: Zxid,
}

impl CommittedWindow {
    /// An empty window whose history begins after `base` (everything up to `base` is only
    /// available as a snapshot).
    pub fn new(base: Zxid, max_entries: usize, max_bytes: usize) -> CommittedWindow {
        CommittedWindow {
            entries: VecDeque::new(),
            bytes: 0,
            max_entries: max_entries.clamp(1, MAX_DIFF_TXNS),
            max_bytes: max_bytes.max(1),
            base,
            last: base,
        }
    }

    pub fn last(&self) -> Zxid {
        self.last
    }

    /// An empty window with these limits whose history begins after `base` (after a TRUNC or
    /// a SNAP replaced the state it described).
    pub fn emptied(&self, base: Zxid) -> CommittedWindow {
        CommittedWindow::new(base, self.max_entries, self.max_bytes)
    }

    /// New limits; the oldest entries fall out if the window is now over them.
    pub fn set_limits(&mut self, max_entries: usize, max_bytes: usize) {
        self.max_entries = max_entries.clamp(1, MAX_DIFF_TXNS);
        self.max_bytes = max_bytes.max(1);
        self.trim();
    }

    pub fn base(&self) -> Zxid {
        self.base
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Append the next committed transaction; zxids must increase. Old entries fall out.
    pub fn push(&mut self, zxid: Zxid, txn: Arc<Vec<u8>>) -> bool {
        if zxid <= self.last {
            return false;
        }
        self.bytes += txn.len();
        self.entries.push_back((zxid, txn));
        self.last = zxid;
        self.trim();
        true
    }

    fn trim(&mut self) {
        while self.entries.len() > self.max_entries
            || (self.bytes > self.max_bytes && self.entries.len() > 1)
        {
            if let Some((z, t)) = self.entries.pop_front() {
                self.bytes -= t.len();
                self.base = z;
            }
        }
    }

    fn contains(&self, zxid: Zxid) -> bool {
        zxid == self.base
            || self
                .entries
                .binary_search_by_key(&zxid, |(z, _)| *z)
                .is_ok()
    }

    /// The largest zxid of the history that is below `zxid`, if the window reaches that far.
    fn last_common_below(&self, zxid: Zxid) -> Option<Zxid> {
        if zxid <= self.base {
            return None;
        }
        let idx = self.entries.partition_point(|(z, _)| *z < zxid);
        Some(match idx {
            0 => self.base,
            i => self
                .entries
                .get(i - 1)
                .map(|(z, _)| *z)
                .unwrap_or(self.base),
        })
    }

    /// Every entry with zxid > `after`, oldest first.
    pub fn after(&self, after: Zxid) -> Vec<Committed> {
        let idx = self.entries.partition_point(|(z, _)| *z <= after);
        self.entries.iter().skip(idx).cloned().collect()
    }
}

/// What the leader sends a learner before NEWLEADER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncPlan {
    /// The learner is current or a suffix away: send these committed transactions.
    Diff { txns: Vec<Committed> },
    /// The learner holds a tail the leader never committed: cut it after `to`, then DIFF.
    Trunc { to: Zxid, txns: Vec<Committed> },
    /// Too far behind (or on a history the window no longer covers): the whole state.
    Snap { zxid: Zxid },
}

impl SyncPlan {
    pub fn mode(&self) -> &'static str {
        match self {
            SyncPlan::Diff { .. } => "DIFF",
            SyncPlan::Trunc { .. } => "TRUNC",
            SyncPlan::Snap { .. } => "SNAP",
        }
    }
}

/// Decide how to sync a learner whose last logged zxid is `learner_last`.
pub fn decide(learner_last: Zxid, window: &CommittedWindow) -> SyncPlan {
    let leader_last = window.last();
    if learner_last == leader_last {
        return SyncPlan::Diff { txns: Vec::new() };
    }
    if learner_last > leader_last {
        // Everything the leader has, the learner has too (histories are prefixes of one another
        // within an epoch, and the leader's epoch is the newest); cut the rest.
        return SyncPlan::Trunc {
            to: leader_last,
            txns: Vec::new(),
        };
    }
    if window.contains(learner_last) {
        return SyncPlan::Diff {
            txns: window.after(learner_last),
        };
    }
    match window.last_common_below(learner_last) {
        Some(common) => SyncPlan::Trunc {
            to: common,
            txns: window.after(common),
        },
        None => SyncPlan::Snap { zxid: leader_last },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Epoch;

    fn z(e: u32, c: u32) -> Zxid {
        Zxid::new(Epoch(e), c)
    }

    fn window(zxids: &[Zxid]) -> CommittedWindow {
        let mut w = CommittedWindow::new(Zxid(0), 1000, 1 << 20);
        for zx in zxids {
            assert!(w.push(*zx, Arc::new(vec![1, 2, 3])));
        }
        w
    }

    fn zxids(plan: &SyncPlan) -> Vec<Zxid> {
        match plan {
            SyncPlan::Diff { txns } | SyncPlan::Trunc { txns, .. } => {
                txns.iter().map(|(z, _)| *z).collect()
            }
            SyncPlan::Snap { .. } => Vec::new(),
        }
    }

    #[test]
    fn an_up_to_date_learner_gets_an_empty_diff() {
        let w = window(&[z(1, 1), z(1, 2)]);
        assert_eq!(decide(z(1, 2), &w), SyncPlan::Diff { txns: Vec::new() });
    }

    #[test]
    fn a_learner_behind_inside_the_window_gets_exactly_what_it_lacks() {
        let w = window(&[z(1, 1), z(1, 2), z(1, 3), z(2, 1)]);
        let plan = decide(z(1, 2), &w);
        assert_eq!(plan.mode(), "DIFF");
        assert_eq!(zxids(&plan), vec![z(1, 3), z(2, 1)]);
        // A brand-new learner (zxid 0) while the window still starts at 0: everything.
        assert_eq!(zxids(&decide(Zxid(0), &w)).len(), 4);
    }

    #[test]
    fn a_learner_with_a_tail_the_leader_never_committed_is_truncated_first() {
        // An old leader of epoch 1 proposed (1,4) and (1,5) to this learner only; the new
        // leader's history goes (1,3) then epoch 2.
        let w = window(&[z(1, 1), z(1, 2), z(1, 3), z(2, 1), z(2, 2)]);
        let plan = decide(z(1, 5), &w);
        assert_eq!(plan.mode(), "TRUNC");
        let SyncPlan::Trunc { to, .. } = &plan else {
            panic!("TRUNC expected")
        };
        assert_eq!(*to, z(1, 3));
        assert_eq!(zxids(&plan), vec![z(2, 1), z(2, 2)]);
    }

    #[test]
    fn a_learner_ahead_of_the_leader_is_truncated_to_the_leaders_last() {
        let w = window(&[z(1, 1), z(1, 2)]);
        assert_eq!(
            decide(z(1, 7), &w),
            SyncPlan::Trunc {
                to: z(1, 2),
                txns: Vec::new()
            }
        );
    }

    #[test]
    fn a_learner_older_than_the_window_gets_a_snapshot() {
        let mut w = CommittedWindow::new(Zxid(0), 3, 1 << 20);
        for c in 1..=10 {
            w.push(z(1, c), Arc::new(vec![0; 10]));
        }
        assert_eq!(w.len(), 3);
        assert_eq!(w.base(), z(1, 7));
        assert_eq!(decide(z(1, 2), &w), SyncPlan::Snap { zxid: z(1, 10) });
        // Exactly at the base is still a DIFF.
        assert_eq!(
            zxids(&decide(z(1, 7), &w)),
            vec![z(1, 8), z(1, 9), z(1, 10)]
        );
    }

    #[test]
    fn no_window_holds_more_than_one_link_queue_can_take() {
        let mut w = CommittedWindow::new(Zxid(0), usize::MAX, usize::MAX);
        for c in 1..=(MAX_DIFF_TXNS as u32 + 10) {
            w.push(z(1, c), Arc::new(Vec::new()));
        }
        assert_eq!(w.len(), MAX_DIFF_TXNS);
        // So the largest DIFF fits, and anything older is a SNAP.
        assert_eq!(zxids(&decide(w.base(), &w)).len(), MAX_DIFF_TXNS);
        assert_eq!(decide(z(1, 5), &w).mode(), "SNAP");
    }

    #[test]
    fn the_window_is_bounded_in_bytes_too_and_refuses_going_backwards() {
        let mut w = CommittedWindow::new(Zxid(0), 1000, 25);
        for c in 1..=5 {
            w.push(z(1, c), Arc::new(vec![0; 10]));
        }
        assert_eq!(w.len(), 2);
        assert!(!w.push(z(1, 3), Arc::new(vec![])));
    }
}
