//! Deliberately planted protocol bugs, to prove that each checker can fail.
//!
//! A checker that has never caught anything proves little. With the `planted` cargo feature,
//! each [`Bug`] can be switched on, and tests show which checker catches it (see
//! `tests/planted.rs`). Without the feature, [`active`] is a constant `false` and every plant
//! point compiles away.
//!
//! Switching: [`plant`] for the current thread (the simulation runs every node on one thread),
//! or the `ZABD_PLANTED` environment variable (a comma list of [`Bug::name`]s) for processes.

/// The planted bugs, each breaking one safety rule of ZAB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Bug {
    /// Quorums count non-voters (an observer's vote decides an election).
    ObserverVoteCounted,
    /// The leader counts an ACKEPOCH from a learner that had already promised the epoch
    /// (ZooKeeper's currentEpoch = -1 rule dropped).
    AckEpochRuleDropped,
    /// A follower acknowledges a proposal before the fsync that makes it durable.
    AckBeforeFsync,
    /// The leader commits the newest acknowledged proposal ahead of older ones.
    CommitOutOfOrder,
}

impl Bug {
    pub const ALL: [Bug; 4] = [
        Bug::ObserverVoteCounted,
        Bug::AckEpochRuleDropped,
        Bug::AckBeforeFsync,
        Bug::CommitOutOfOrder,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Bug::ObserverVoteCounted => "observer-vote-counted",
            Bug::AckEpochRuleDropped => "ackepoch-rule-dropped",
            Bug::AckBeforeFsync => "ack-before-fsync",
            Bug::CommitOutOfOrder => "commit-out-of-order",
        }
    }
}

#[cfg(feature = "planted")]
mod switch {
    use super::Bug;
    use std::cell::Cell;
    use std::sync::OnceLock;

    fn bit(bug: Bug) -> u8 {
        1 << (bug as u8)
    }

    thread_local! {
        static THREAD: Cell<u8> = const { Cell::new(0) };
    }

    fn from_env() -> u8 {
        static ENV: OnceLock<u8> = OnceLock::new();
        *ENV.get_or_init(|| {
            let list = std::env::var("ZABD_PLANTED").unwrap_or_default();
            Bug::ALL
                .iter()
                .filter(|b| list.split(',').any(|n| n.trim() == b.name()))
                .fold(0, |acc, b| acc | bit(*b))
        })
    }

    pub fn active(bug: Bug) -> bool {
        (THREAD.with(Cell::get) | from_env()) & bit(bug) != 0
    }

    pub fn set(bugs: &[Bug]) {
        THREAD.with(|t| t.set(bugs.iter().fold(0, |acc, b| acc | bit(*b))));
    }
}

/// Is `bug` planted right now?
#[cfg(feature = "planted")]
pub fn active(bug: Bug) -> bool {
    switch::active(bug)
}

/// Is `bug` planted right now? (Never, without the `planted` feature.)
#[cfg(not(feature = "planted"))]
#[inline(always)]
pub fn active(_bug: Bug) -> bool {
    false
}

/// Plant exactly `bugs` on this thread (an empty slice removes them).
#[cfg(feature = "planted")]
pub fn plant(bugs: &[Bug]) {
    switch::set(bugs);
}
