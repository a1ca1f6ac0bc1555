//! Identity and ordering primitives shared by every layer: server ids, epochs and zxids.
//!
//! These are newtypes rather than bare integers so that a zxid can never be passed where an
//! epoch is expected (an easy and silent mistake with `u64`s everywhere).

use serde::{Deserialize, Serialize};
use std::fmt;

/// A server id (`myid`), unique within an ensemble.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
pub struct Sid(pub u64);

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A ZAB epoch: the high 32 bits of every zxid issued while one leader reigns.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
pub struct Epoch(pub u32);

impl Epoch {
    /// The epoch after this one, or `None` when the 32-bit space is exhausted.
    pub fn next(self) -> Option<Epoch> {
        self.0.checked_add(1).map(Epoch)
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A transaction id: epoch in the high 32 bits, a counter inside the epoch in the low 32.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
pub struct Zxid(pub u64);

impl Zxid {
    /// The zxid that stands for "nothing applied yet in `epoch`": `epoch << 32`.
    pub fn epoch_start(epoch: Epoch) -> Zxid {
        Zxid(u64::from(epoch.0) << 32)
    }

    pub fn new(epoch: Epoch, counter: u32) -> Zxid {
        Zxid((u64::from(epoch.0) << 32) | u64::from(counter))
    }

    pub fn epoch(self) -> Epoch {
        Epoch((self.0 >> 32) as u32)
    }

    pub fn counter(self) -> u32 {
        (self.0 & 0xffff_ffff) as u32
    }
}

impl fmt::Display for Zxid {
    /// ZooKeeper prints zxids as `0x` + lower-case hex without padding.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:x}", self.0)
    }
}

/// Whether a server votes. Observers follow the leader but never count toward a quorum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LearnerType {
    Participant,
    Observer,
}

impl LearnerType {
    /// The word zoo.cfg and the `conf` four-letter word use.
    pub fn as_str(self) -> &'static str {
        match self {
            LearnerType::Participant => "participant",
            LearnerType::Observer => "observer",
        }
    }
}

/// The four states of a quorum peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ServerState {
    Looking,
    Following,
    Leading,
    Observing,
}

impl ServerState {
    pub fn as_str(self) -> &'static str {
        match self {
            ServerState::Looking => "looking",
            ServerState::Following => "following",
            ServerState::Leading => "leading",
            ServerState::Observing => "observing",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zxid_splits_into_epoch_and_counter() {
        let z = Zxid::new(Epoch(3), 7);
        assert_eq!(z.0, 0x3_0000_0007);
        assert_eq!(z.epoch(), Epoch(3));
        assert_eq!(z.counter(), 7);
        assert_eq!(z.to_string(), "0x300000007");
        assert_eq!(Zxid::epoch_start(Epoch(1)).to_string(), "0x100000000");
    }

    #[test]
    fn epoch_next_stops_at_exhaustion() {
        assert_eq!(Epoch(1).next(), Some(Epoch(2)));
        assert_eq!(Epoch(u32::MAX).next(), None);
    }
}
