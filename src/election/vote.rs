//! Votes and the notification that carries them.
//!
//! A vote's total order is the one rule everything else in the election leans on: higher peer
//! epoch first, then higher zxid, then higher server id (ZOOKEEPER-1419 is what happens when the
//! epoch is not compared first). Deriving `Ord` with the fields in that order makes "is this vote
//! better?" a single comparison everywhere, as openraft does with its `Vote` type.

use crate::ids::{Epoch, ServerState, Sid, Zxid};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A proposal for who should lead: that server's epoch, its last zxid and its id.
///
/// Field order matters: `#[derive(Ord)]` compares fields top to bottom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Vote {
    /// The proposed leader's current epoch (ZooKeeper's "peer epoch").
    pub epoch: Epoch,
    /// The proposed leader's last logged zxid.
    pub zxid: Zxid,
    /// The proposed leader.
    pub leader: Sid,
}

impl fmt::Display for Vote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "(leader {}, zxid {}, epoch {})",
            self.leader, self.zxid, self.epoch
        )
    }
}

/// What one server tells another on the election port: its vote, its election round
/// (ZooKeeper's "logical clock" / election epoch) and its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub vote: Vote,
    pub round: u64,
    pub state: ServerState,
}

impl Notification {
    /// ZooKeeper's `Vote.equals` when deciding: if either side is still LOOKING, leader, zxid,
    /// round and epoch must all match; between established servers leader and epoch suffice.
    pub fn agrees_with(&self, other: &Notification) -> bool {
        if self.state == ServerState::Looking || other.state == ServerState::Looking {
            self.vote == other.vote && self.round == other.round
        } else {
            self.vote.leader == other.vote.leader && self.vote.epoch == other.vote.epoch
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v(epoch: u32, zxid: u64, leader: u64) -> Vote {
        Vote {
            epoch: Epoch(epoch),
            zxid: Zxid(zxid),
            leader: Sid(leader),
        }
    }

    #[test]
    fn epoch_beats_zxid_beats_sid() {
        // A higher epoch wins even with a lower zxid and a lower sid (ZOOKEEPER-1419).
        assert!(v(2, 0, 1) > v(1, 100, 9));
        // Equal epoch: higher zxid wins over a higher sid.
        assert!(v(1, 5, 1) > v(1, 4, 9));
        // Equal epoch and zxid: higher sid wins.
        assert!(v(1, 5, 3) > v(1, 5, 2));
    }

    proptest! {
        /// The derived order is exactly the lexicographic (epoch, zxid, sid) order.
        #[test]
        fn order_is_lexicographic(a in any::<(u32, u64, u64)>(), b in any::<(u32, u64, u64)>()) {
            let va = v(a.0, a.1, a.2);
            let vb = v(b.0, b.1, b.2);
            prop_assert_eq!(va.cmp(&vb), a.cmp(&b));
        }
    }

    #[test]
    fn agreement_between_established_servers_ignores_zxid_and_round() {
        let following = Notification {
            vote: v(3, 10, 2),
            round: 4,
            state: ServerState::Following,
        };
        let leading = Notification {
            vote: v(3, 12, 2),
            round: 5,
            state: ServerState::Leading,
        };
        assert!(following.agrees_with(&leading));
        let looking = Notification {
            state: ServerState::Looking,
            ..leading
        };
        assert!(!following.agrees_with(&looking));
        assert!(leading.agrees_with(&looking));
    }
}
