//! Messages on the quorum port (leader <-> learner), named after ZooKeeper's packet kinds.
//! The replicated log (PROPOSAL, COMMIT, DIFF, TRUNC, SNAP, INFORM, REQUEST) joins this enum
//! with the replication work.

use crate::ids::{Epoch, LearnerType, Sid, Zxid};
use serde::{Deserialize, Serialize};

/// Bumped when the quorum wire format changes incompatibly.
pub const QUORUM_PROTOCOL_VERSION: u32 = 1;

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
    /// NEWLEADER: sent after the learner is synced.
    NewLeader { epoch: Epoch, zxid: Zxid },
    /// ACK of NEWLEADER (and, with replication, of proposals).
    Ack { zxid: Zxid },
    /// UPTODATE: the leader serves; so may the learner.
    UpToDate,
    /// Heartbeat, both ways.
    Ping,
}

impl QuorumMessage {
    pub fn kind(&self) -> &'static str {
        match self {
            QuorumMessage::LearnerInfo { .. } => "LEARNERINFO",
            QuorumMessage::LeaderInfo { .. } => "LEADERINFO",
            QuorumMessage::AckEpoch { .. } => "ACKEPOCH",
            QuorumMessage::NewLeader { .. } => "NEWLEADER",
            QuorumMessage::Ack { .. } => "ACK",
            QuorumMessage::UpToDate => "UPTODATE",
            QuorumMessage::Ping => "PING",
        }
    }
}
