//! The learner side (follower or observer) of ZAB's discovery, synchronisation and broadcast, as
//! a pure state machine.
//!
//! Rules that matter most:
//! - A learner promises an epoch only once. If the proposed epoch equals the one it already
//!   accepted it answers with `already_promised` (ZooKeeper's currentEpoch = -1), so the leader
//!   can sync it but never counts it toward that epoch's quorum.
//! - Sync data is only buffered until NEWLEADER. Then, in this order: the data is logged and made
//!   durable, *then* currentEpoch is persisted, *then* NEWLEADER is acknowledged (ZooKeeper's
//!   order). Persisting the epoch first would let a server with a short log out-vote, on epoch,
//!   a server holding committed transactions.
//! - A proposal is acknowledged only after the fsync that covers it (the shell sends the
//!   cumulative `Ack` after its group commit), and commits are applied strictly in order.

use super::broadcast::Origin;
use super::messages::{QuorumMessage, SyncMode, QUORUM_PROTOCOL_VERSION};
use crate::ids::{Epoch, LearnerType, Sid, Zxid};
use std::collections::VecDeque;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LearnerAction {
    /// Durably promise this epoch before anything that follows.
    PersistAcceptedEpoch(Epoch),
    /// Durably record this epoch as current before anything that follows.
    PersistCurrentEpoch(Epoch),
    Send(QuorumMessage),
    /// TRUNC: cut the log after this zxid (durably) and rebuild the state from what remains.
    Truncate(Zxid),
    /// SNAP: replace the whole state with this snapshot, durably.
    InstallSnapshot {
        zxid: Zxid,
        data: Vec<u8>,
    },
    /// Append to the log; durable only after the next `SyncLog` or group commit.
    Log {
        zxid: Zxid,
        txn: Arc<Vec<u8>>,
    },
    /// A follower's broadcast proposal: log it, and after the group fsync that covers it send
    /// `Ack { zxid: last synced }`.
    LogAndAck {
        zxid: Zxid,
        txn: Arc<Vec<u8>>,
    },
    /// Make everything logged so far durable before any later action.
    SyncLog,
    /// Apply to the tree every transaction already in the log that it lacks: the leader synced
    /// from this server's last zxid, so its whole log is now committed history (including
    /// proposals of a previous leader whose COMMIT never arrived).
    CatchUp,
    /// Apply a committed transaction to the data tree; answer its origin if it is this server.
    Apply {
        zxid: Zxid,
        txn: Arc<Vec<u8>>,
        origin: Option<Origin>,
    },
    /// UPTODATE arrived: serve as follower/observer of `epoch`.
    Serving {
        epoch: Epoch,
    },
    /// The leader refused a write forwarded from here.
    RequestFailed {
        request: u64,
        reason: String,
    },
    /// A sync barrier forwarded from here completed: everything committed before it is applied.
    SyncDone {
        request: u64,
        zxid: Zxid,
    },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LearnerError {
    #[error("leader proposed epoch {proposed}, but I already accepted {accepted}")]
    EpochBehind { proposed: Epoch, accepted: Epoch },
    #[error("unexpected {got} while {phase}")]
    Unexpected {
        got: &'static str,
        phase: &'static str,
    },
    #[error("NEWLEADER for epoch {got}, but LEADERINFO said {expected}")]
    EpochMismatch { expected: Epoch, got: Epoch },
    #[error("COMMIT of {got} names no pending proposal (the next pending one is {expected:?})")]
    CommitOutOfOrder { expected: Option<Zxid>, got: Zxid },
    #[error("{what} {got} does not follow {last}")]
    NotIncreasing {
        what: &'static str,
        got: Zxid,
        last: Zxid,
    },
    #[error("NEWLEADER before the snapshot was complete")]
    IncompleteSnapshot,
}

/// What arrived between SYNCSTART and NEWLEADER.
#[derive(Debug, Default)]
struct SyncBuffer {
    mode: Option<SyncMode>,
    txns: Vec<(Zxid, Arc<Vec<u8>>)>,
    snapshot: Vec<u8>,
    snapshot_complete: bool,
    proposals: Vec<(Zxid, Arc<Vec<u8>>, Option<Origin>)>,
}

#[derive(Debug)]
enum Phase {
    AwaitLeaderInfo,
    Syncing(Epoch, SyncBuffer),
    AwaitUpToDate(Epoch),
    Serving(Epoch),
}

impl Phase {
    fn name(&self) -> &'static str {
        match self {
            Phase::AwaitLeaderInfo => "waiting for LEADERINFO",
            Phase::Syncing(..) => "syncing",
            Phase::AwaitUpToDate(_) => "waiting for UPTODATE",
            Phase::Serving(_) => "serving",
        }
    }
}

#[derive(Debug)]
pub struct LearnerCore {
    me: Sid,
    role: LearnerType,
    ensemble: u64,
    accepted: Epoch,
    current: Epoch,
    last_zxid: Zxid,
    phase: Phase,
    /// Proposals logged but not yet committed, oldest first.
    pending: VecDeque<(Zxid, Arc<Vec<u8>>, Option<Origin>)>,
    /// Last zxid handed to the log (sync data, proposals, informs).
    last_logged: Zxid,
}

impl LearnerCore {
    pub fn new(
        me: Sid,
        role: LearnerType,
        ensemble: u64,
        accepted: Epoch,
        current: Epoch,
        last_zxid: Zxid,
    ) -> LearnerCore {
        LearnerCore {
            me,
            role,
            ensemble,
            accepted,
            current,
            last_zxid,
            phase: Phase::AwaitLeaderInfo,
            pending: VecDeque::new(),
            last_logged: last_zxid,
        }
    }

    pub fn is_serving(&self) -> bool {
        matches!(self.phase, Phase::Serving(_))
    }

    /// Proposals logged and not yet committed.
    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    /// The first message on a fresh connection to the leader.
    pub fn hello(&self) -> QuorumMessage {
        QuorumMessage::LearnerInfo {
            protocol: QUORUM_PROTOCOL_VERSION,
            ensemble: self.ensemble,
            sid: self.me,
            role: self.role,
            accepted_epoch: self.accepted,
        }
    }

    pub fn on_message(&mut self, msg: QuorumMessage) -> Result<Vec<LearnerAction>, LearnerError> {
        if msg == QuorumMessage::Ping {
            return Ok(vec![LearnerAction::Send(QuorumMessage::Ping)]);
        }
        let phase = std::mem::replace(&mut self.phase, Phase::AwaitLeaderInfo);
        let (phase, result) = self.step(phase, msg);
        self.phase = phase;
        result
    }

    fn step(
        &mut self,
        phase: Phase,
        msg: QuorumMessage,
    ) -> (Phase, Result<Vec<LearnerAction>, LearnerError>) {
        match (phase, msg) {
            (Phase::AwaitLeaderInfo, QuorumMessage::LeaderInfo { epoch }) => {
                let mut out = Vec::new();
                let already_promised = if epoch > self.accepted {
                    out.push(LearnerAction::PersistAcceptedEpoch(epoch));
                    self.accepted = epoch;
                    false
                } else if epoch == self.accepted {
                    true
                } else {
                    let err = LearnerError::EpochBehind {
                        proposed: epoch,
                        accepted: self.accepted,
                    };
                    return (Phase::AwaitLeaderInfo, Err(err));
                };
                out.push(LearnerAction::Send(QuorumMessage::AckEpoch {
                    current_epoch: self.current,
                    already_promised,
                    last_zxid: self.last_zxid,
                }));
                (Phase::Syncing(epoch, SyncBuffer::default()), Ok(out))
            }
            (Phase::Syncing(epoch, buf), msg) => self.on_sync_message(epoch, buf, msg),
            (Phase::AwaitUpToDate(epoch), QuorumMessage::UpToDate) => (
                Phase::Serving(epoch),
                Ok(vec![LearnerAction::Serving { epoch }]),
            ),
            (Phase::AwaitUpToDate(epoch), msg) => {
                let result = self.on_broadcast(msg);
                (Phase::AwaitUpToDate(epoch), result)
            }
            (Phase::Serving(epoch), msg) => {
                let result = self.on_broadcast(msg);
                (Phase::Serving(epoch), result)
            }
            (phase, msg) => {
                let err = LearnerError::Unexpected {
                    got: msg.kind(),
                    phase: phase.name(),
                };
                (phase, Err(err))
            }
        }
    }

    fn on_sync_message(
        &mut self,
        epoch: Epoch,
        mut buf: SyncBuffer,
        msg: QuorumMessage,
    ) -> (Phase, Result<Vec<LearnerAction>, LearnerError>) {
        let mut out = Vec::new();
        match msg {
            QuorumMessage::SyncStart { mode } if buf.mode.is_none() => {
                buf.mode = Some(mode);
                if let SyncMode::Trunc { to } = mode {
                    // The tail after `to` was never committed by the new leader: drop it now.
                    out.push(LearnerAction::Truncate(to));
                    self.last_logged = to;
                    self.last_zxid = to;
                }
            }
            QuorumMessage::Txn { zxid, txn }
                if matches!(buf.mode, Some(SyncMode::Diff | SyncMode::Trunc { .. })) =>
            {
                let last = buf.txns.last().map(|(z, _)| *z).unwrap_or(self.last_zxid);
                if zxid <= last {
                    let err = LearnerError::NotIncreasing {
                        what: "TXN",
                        got: zxid,
                        last,
                    };
                    return (Phase::Syncing(epoch, buf), Err(err));
                }
                buf.txns.push((zxid, Arc::new(txn)));
            }
            QuorumMessage::SnapChunk { data, last }
                if matches!(buf.mode, Some(SyncMode::Snap { .. })) && !buf.snapshot_complete =>
            {
                buf.snapshot.extend_from_slice(&data);
                buf.snapshot_complete = last;
            }
            QuorumMessage::Proposal { zxid, txn, origin } if buf.mode.is_some() => {
                buf.proposals.push((zxid, Arc::new(txn), origin));
            }
            QuorumMessage::NewLeader { epoch: announced } => {
                if announced != epoch {
                    let err = LearnerError::EpochMismatch {
                        expected: epoch,
                        got: announced,
                    };
                    return (Phase::Syncing(epoch, buf), Err(err));
                }
                return match self.finish_sync(epoch, buf) {
                    Ok(actions) => (Phase::AwaitUpToDate(epoch), Ok(actions)),
                    Err(err) => (Phase::AwaitLeaderInfo, Err(err)),
                };
            }
            other => {
                let err = LearnerError::Unexpected {
                    got: other.kind(),
                    phase: "syncing",
                };
                return (Phase::Syncing(epoch, buf), Err(err));
            }
        }
        (Phase::Syncing(epoch, buf), Ok(out))
    }

    /// NEWLEADER: persist the sync data, then the epoch, then acknowledge.
    fn finish_sync(
        &mut self,
        epoch: Epoch,
        buf: SyncBuffer,
    ) -> Result<Vec<LearnerAction>, LearnerError> {
        let mut out = Vec::new();
        if let Some(SyncMode::Snap { zxid }) = buf.mode {
            if !buf.snapshot_complete {
                return Err(LearnerError::IncompleteSnapshot);
            }
            out.push(LearnerAction::InstallSnapshot {
                zxid,
                data: buf.snapshot,
            });
            self.last_logged = zxid;
            self.last_zxid = zxid;
        }
        out.push(LearnerAction::CatchUp);
        for (zxid, txn) in &buf.txns {
            out.push(LearnerAction::Log {
                zxid: *zxid,
                txn: txn.clone(),
            });
            self.last_logged = *zxid;
        }
        let is_follower = self.role == LearnerType::Participant;
        for (zxid, txn, origin) in &buf.proposals {
            if *zxid <= self.last_logged {
                return Err(LearnerError::NotIncreasing {
                    what: "PROPOSAL",
                    got: *zxid,
                    last: self.last_logged,
                });
            }
            out.push(LearnerAction::Log {
                zxid: *zxid,
                txn: txn.clone(),
            });
            self.last_logged = *zxid;
            self.pending.push_back((*zxid, txn.clone(), *origin));
        }
        out.push(LearnerAction::SyncLog);
        out.push(LearnerAction::PersistCurrentEpoch(epoch));
        self.current = epoch;
        self.last_zxid = self.last_logged;
        for (zxid, txn) in buf.txns {
            out.push(LearnerAction::Apply {
                zxid,
                txn,
                origin: None,
            });
        }
        out.push(LearnerAction::Send(QuorumMessage::AckNewLeader { epoch }));
        if is_follower && !self.pending.is_empty() {
            out.push(LearnerAction::Send(QuorumMessage::Ack {
                zxid: self.last_logged,
            }));
        }
        Ok(out)
    }

    /// The log only moves forward: `zxid` must follow everything logged so far.
    fn advance(&mut self, what: &'static str, zxid: Zxid) -> Result<(), LearnerError> {
        if zxid <= self.last_logged {
            return Err(LearnerError::NotIncreasing {
                what,
                got: zxid,
                last: self.last_logged,
            });
        }
        self.last_logged = zxid;
        self.last_zxid = zxid;
        Ok(())
    }

    fn on_broadcast(&mut self, msg: QuorumMessage) -> Result<Vec<LearnerAction>, LearnerError> {
        match msg {
            QuorumMessage::Proposal { zxid, txn, origin }
                if self.role == LearnerType::Participant =>
            {
                self.advance("PROPOSAL", zxid)?;
                let txn = Arc::new(txn);
                self.pending.push_back((zxid, txn.clone(), origin));
                Ok(vec![LearnerAction::LogAndAck { zxid, txn }])
            }
            QuorumMessage::Commit { zxid } if self.role == LearnerType::Participant => {
                // Cumulative: every pending proposal up to `zxid`, in order; `zxid` itself must
                // be one of them (anything else means the leader and this learner disagree).
                let upto = self
                    .pending
                    .iter()
                    .take_while(|(pending, _, _)| *pending <= zxid)
                    .count();
                match upto.checked_sub(1).and_then(|i| self.pending.get(i)) {
                    Some((named, _, _)) if *named == zxid => {}
                    _ => {
                        return Err(LearnerError::CommitOutOfOrder {
                            expected: self.pending.front().map(|(z, _, _)| *z),
                            got: zxid,
                        });
                    }
                }
                Ok(self
                    .pending
                    .drain(..upto)
                    .map(|(zxid, txn, origin)| LearnerAction::Apply { zxid, txn, origin })
                    .collect())
            }
            QuorumMessage::Inform { zxid, txn, origin } if self.role == LearnerType::Observer => {
                self.advance("INFORM", zxid)?;
                let txn = Arc::new(txn);
                Ok(vec![
                    LearnerAction::Log {
                        zxid,
                        txn: txn.clone(),
                    },
                    LearnerAction::Apply { zxid, txn, origin },
                ])
            }
            QuorumMessage::RequestFailed { request, reason } => {
                Ok(vec![LearnerAction::RequestFailed { request, reason }])
            }
            QuorumMessage::SyncDone { request, zxid } => {
                Ok(vec![LearnerAction::SyncDone { request, zxid }])
            }
            other => Err(LearnerError::Unexpected {
                got: other.kind(),
                phase: self.phase.name(),
            }),
        }
    }
}

#[cfg(test)]
#[path = "learner_tests.rs"]
mod tests;
