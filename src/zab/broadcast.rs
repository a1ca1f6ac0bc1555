//! The leader's proposal pipeline (ZAB broadcast), pure: proposals in zxid order, acknowledgements,
//! and commits strictly in zxid order once a quorum of voters holds a proposal durably.
//!
//! Acknowledgements are cumulative: a learner's `Ack { zxid }` says "everything up to zxid is on
//! my disk" (it logs in order and acknowledges only after the fsync that covers it), so one ACK
//! can cover a whole group commit. The leader's own acknowledgement counts only once its own
//! fsync of the proposal is done (`logged`), never at proposal time.

use crate::election::Voters;
use crate::ids::{Sid, Zxid};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Who asked for a transaction: the server it was submitted on and that server's request id,
/// so the origin can answer its caller once the transaction commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Origin {
    pub server: Sid,
    pub request: u64,
}

#[derive(Debug, Clone)]
struct Outstanding {
    txn: Arc<Vec<u8>>,
    origin: Option<Origin>,
    acks: BTreeSet<Sid>,
}

/// A transaction that just committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    pub zxid: Zxid,
    pub txn: Arc<Vec<u8>>,
    pub origin: Option<Origin>,
}

#[derive(Debug)]
pub struct Proposals {
    me: Sid,
    voters: Voters,
    outstanding: BTreeMap<Zxid, Outstanding>,
    last_proposed: Zxid,
    last_committed: Zxid,
    /// The leader's own durable point.
    logged: Zxid,
}

impl Proposals {
    /// A pipeline whose history (all committed) ends at `last`.
    pub fn new(me: Sid, voters: Voters, last: Zxid) -> Proposals {
        Proposals {
            me,
            voters,
            outstanding: BTreeMap::new(),
            last_proposed: last,
            last_committed: last,
            logged: last,
        }
    }

    pub fn last_proposed(&self) -> Zxid {
        self.last_proposed
    }

    pub fn last_committed(&self) -> Zxid {
        self.last_committed
    }

    pub fn outstanding_count(&self) -> usize {
        self.outstanding.len()
    }

    /// Proposals not yet committed, oldest first (sent to a learner joining mid-stream).
    pub fn outstanding(&self) -> impl Iterator<Item = (Zxid, &Arc<Vec<u8>>)> {
        self.outstanding.iter().map(|(z, o)| (*z, &o.txn))
    }

    /// Record a new proposal. Returns false (and records nothing) unless `zxid` is the next.
    pub fn propose(&mut self, zxid: Zxid, txn: Arc<Vec<u8>>, origin: Option<Origin>) -> bool {
        if zxid <= self.last_proposed {
            return false;
        }
        self.last_proposed = zxid;
        self.outstanding.insert(
            zxid,
            Outstanding {
                txn,
                origin,
                acks: BTreeSet::new(),
            },
        );
        true
    }

    /// The leader's own log is durable up to `up_to`.
    pub fn logged(&mut self, up_to: Zxid) -> Vec<Commit> {
        self.logged = self.logged.max(up_to);
        self.try_commit()
    }

    /// `from` has everything up to `up_to` durably. Acks of non-voters count for nothing.
    pub fn ack(&mut self, from: Sid, up_to: Zxid) -> Vec<Commit> {
        if !self.voters.contains(from) || from == self.me {
            return Vec::new();
        }
        for (_, o) in self.outstanding.range_mut(..=up_to) {
            o.acks.insert(from);
        }
        self.try_commit()
    }

    /// Commit, strictly in zxid order, every leading proposal a quorum holds.
    fn try_commit(&mut self) -> Vec<Commit> {
        let mut done = Vec::new();
        while let Some(entry) = self.outstanding.first_entry() {
            let zxid = *entry.key();
            let o = entry.get();
            let leader_has_it = self.logged >= zxid && self.voters.contains(self.me);
            let holders = o.acks.iter().chain(leader_has_it.then_some(&self.me));
            if !self.voters.is_quorum(holders) {
                break;
            }
            let o = entry.remove();
            self.last_committed = zxid;
            done.push(Commit {
                zxid,
                txn: o.txn,
                origin: o.origin,
            });
        }
        if crate::planted::active(crate::planted::Bug::CommitOutOfOrder) {
            done.reverse();
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Epoch;

    fn z(c: u32) -> Zxid {
        Zxid::new(Epoch(1), c)
    }

    fn pipeline(voters: u64) -> Proposals {
        Proposals::new(
            Sid(1),
            Voters::new((1..=voters).map(Sid)),
            Zxid::epoch_start(Epoch(1)),
        )
    }

    fn committed(c: &[Commit]) -> Vec<Zxid> {
        c.iter().map(|c| c.zxid).collect()
    }

    #[test]
    fn nothing_commits_before_the_leader_itself_has_it_on_disk() {
        let mut p = pipeline(3);
        assert!(p.propose(z(1), Arc::new(vec![1]), None));
        // A follower's ack alone is one of three.
        assert!(p.ack(Sid(2), z(1)).is_empty());
        // The leader's own fsync completes the quorum.
        assert_eq!(committed(&p.logged(z(1))), vec![z(1)]);
        assert_eq!(p.last_committed(), z(1));
    }

    #[test]
    fn commits_happen_in_zxid_order_even_when_acks_arrive_out_of_order() {
        let mut p = pipeline(5);
        for c in 1..=3 {
            p.propose(z(c), Arc::new(vec![c as u8]), None);
        }
        p.logged(z(3));
        // Follower 2's cumulative ack covers all three, but leader + 2 is not a quorum of five.
        assert_eq!(committed(&p.ack(Sid(2), z(3))), Vec::<Zxid>::new());
        // Follower 3 acks only the first: exactly that one commits, the rest wait their turn.
        assert_eq!(committed(&p.ack(Sid(3), z(1))), vec![z(1)]);
        assert_eq!(committed(&p.ack(Sid(3), z(3))), vec![z(2), z(3)]);
    }

    #[test]
    fn acks_from_observers_and_strangers_never_count() {
        let mut p = pipeline(3);
        p.propose(z(1), Arc::new(vec![]), None);
        p.logged(z(1));
        assert!(p.ack(Sid(4), z(1)).is_empty(), "an observer");
        assert!(p.ack(Sid(1), z(1)).is_empty(), "the leader via the network");
        assert_eq!(committed(&p.ack(Sid(3), z(1))), vec![z(1)]);
    }

    #[test]
    fn proposals_must_move_forward_and_report_their_origin() {
        let mut p = pipeline(1);
        let origin = Origin {
            server: Sid(7),
            request: 42,
        };
        assert!(p.propose(z(1), Arc::new(vec![9]), Some(origin)));
        assert!(!p.propose(z(1), Arc::new(vec![9]), None));
        let c = p.logged(z(1));
        assert_eq!(c[0].origin, Some(origin));
        assert_eq!(p.outstanding_count(), 0);
    }
}
