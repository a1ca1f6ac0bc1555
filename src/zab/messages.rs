//! Messages on the quorum port (leader <-> learner), named after ZooKeeper's packet kinds.
//!
//! Transactions travel as opaque bytes: ZAB orders and replicates them, the data tree gives them
//! meaning. Large state never travels in one frame: a DIFF is one `Txn` message per
//! transaction and a SNAP is a sequence of bounded `SnapChunk`s.

use super::broadcast::Origin;
use crate::ids::{Epoch, LearnerType, Sid, Zxid};
use serde::{Deserialize, Serialize};

/// Bumped when the quorum wire format or a message's meaning changes incompatibly: the leader
/// refuses a learner that states another version (with a message naming both), where mixing
/// them would fail in less obvious ways. 6: COMMIT became cumulative (d21201c); a follower of
/// version 5 would refuse it as naming no pending proposal and resync over and over.
pub const QUORUM_PROTOCOL_VERSION: u32 = 6;

/// How the leader syncs a learner (the first message after ACKEPOCH).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncMode {
    /// `Txn` messages follow: the committed transactions after the learner's last zxid.
    Diff,
    /// Cut the learner's log after `to`, then `Txn` messages follow.
    Trunc { to: Zxid },
    /// `SnapChunk` messages follow: the whole state as of `zxid`.
    Snap { zxid: Zxid },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum QuorumMessage {
    /// FOLLOWERINFO / OBSERVERINFO: the first message a learner sends.
    LearnerInfo {
        protocol: u32,
        ensemble: u64,
        sid: Sid,
        role: LearnerType,
        accepted_epoch: Epoch,
    },
    /// LEADERINFO: the epoch the leader proposes.
    LeaderInfo { epoch: Epoch },
    /// ACKEPOCH. `already_promised` is ZooKeeper's currentEpoch = -1: the learner had already
    /// accepted this very epoch (from this or another would-be leader), so its answer is used to
    /// sync it but never counts toward the epoch's quorum.
    AckEpoch {
        current_epoch: Epoch,
        already_promised: bool,
        last_zxid: Zxid,
    },
    /// DIFF / TRUNC / SNAP: how the sync data that follows is to be taken.
    SyncStart { mode: SyncMode },
    /// One committed transaction of a DIFF.
    Txn {
        zxid: Zxid,
        #[serde(with = "crate::tree::bytes")]
        txn: Vec<u8>,
    },
    /// Part of a snapshot; `last` marks the final chunk.
    SnapChunk {
        #[serde(with = "crate::tree::bytes")]
        data: Vec<u8>,
        last: bool,
    },
    /// NEWLEADER: the sync data is complete.
    NewLeader { epoch: Epoch },
    /// The learner has persisted the sync data and the new epoch.
    AckNewLeader { epoch: Epoch },
    /// UPTODATE: the leader serves; so may the learner.
    UpToDate,
    /// PROPOSAL (to followers).
    Proposal {
        zxid: Zxid,
        #[serde(with = "crate::tree::bytes")]
        txn: Vec<u8>,
        origin: Option<Origin>,
    },
    /// ACK: everything up to `zxid` is durably logged (cumulative).
    Ack { zxid: Zxid },
    /// COMMIT (to followers): every pending proposal up to `zxid` is committed (cumulative).
    Commit { zxid: Zxid },
    /// INFORM (to observers): a committed transaction with its bytes.
    Inform {
        zxid: Zxid,
        #[serde(with = "crate::tree::bytes")]
        txn: Vec<u8>,
        origin: Option<Origin>,
    },
    /// REQUEST: a learner forwards a write submitted to it.
    Request {
        request: u64,
        #[serde(with = "crate::tree::bytes")]
        txn: Vec<u8>,
    },
    /// The leader could not take a forwarded write.
    RequestFailed { request: u64, reason: String },
    /// SYNC: a barrier for read-your-writes on a learner.
    Sync { request: u64 },
    /// Every transaction committed before the barrier has been sent ahead of this.
    SyncDone { request: u64, zxid: Zxid },
    /// Heartbeat, both ways.
    Ping,
    /// A learner's clients were heard from: the leader, which decides session expiry, resets
    /// these sessions' timers.
    Touch { sessions: Vec<i64> },
    /// These sessions' clients (re)connected to the sending learner: it owns them now.
    Claim { sessions: Vec<i64> },
    /// The leader is shutting down after committing everything it proposed: elect a new leader
    /// now instead of waiting to notice it is gone.
    Leaving,
}

impl QuorumMessage {
    pub fn kind(&self) -> &'static str {
        match self {
            QuorumMessage::LearnerInfo { .. } => "LEARNERINFO",
            QuorumMessage::LeaderInfo { .. } => "LEADERINFO",
            QuorumMessage::AckEpoch { .. } => "ACKEPOCH",
            QuorumMessage::SyncStart { .. } => "SYNCSTART",
            QuorumMessage::Txn { .. } => "TXN",
            QuorumMessage::SnapChunk { .. } => "SNAPCHUNK",
            QuorumMessage::NewLeader { .. } => "NEWLEADER",
            QuorumMessage::AckNewLeader { .. } => "ACKNEWLEADER",
            QuorumMessage::UpToDate => "UPTODATE",
            QuorumMessage::Proposal { .. } => "PROPOSAL",
            QuorumMessage::Ack { .. } => "ACK",
            QuorumMessage::Commit { .. } => "COMMIT",
            QuorumMessage::Inform { .. } => "INFORM",
            QuorumMessage::Request { .. } => "REQUEST",
            QuorumMessage::RequestFailed { .. } => "REQUESTFAILED",
            QuorumMessage::Sync { .. } => "SYNC",
            QuorumMessage::SyncDone { .. } => "SYNCDONE",
            QuorumMessage::Ping => "PING",
            QuorumMessage::Touch { .. } => "TOUCH",
            QuorumMessage::Claim { .. } => "CLAIM",
            QuorumMessage::Leaving => "LEAVING",
        }
    }
}
