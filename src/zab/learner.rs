//! The learner side (follower or observer) of ZAB's discovery and synchronisation, as a pure
//! state machine. The rule that matters most: a learner promises an epoch only once. If the
//! proposed epoch equals the one it already accepted, it answers with `already_promised` (ZooKeeper's
//! currentEpoch = -1) so the leader can sync it but never counts it toward that epoch's quorum.

use super::messages::{QuorumMessage, QUORUM_PROTOCOL_VERSION};
use crate::ids::{Epoch, LearnerType, Sid, Zxid};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LearnerAction {
    /// Durably promise this epoch before anything that follows.
    PersistAcceptedEpoch(Epoch),
    /// Durably record this epoch as current before anything that follows.
    PersistCurrentEpoch(Epoch),
    Send(QuorumMessage),
    /// UPTODATE arrived: serve as follower/observer of `epoch`.
    Serving {
        epoch: Epoch,
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    AwaitLeaderInfo,
    AwaitNewLeader(Epoch),
    AwaitUpToDate(Epoch),
    Serving(Epoch),
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::AwaitLeaderInfo => "waiting for LEADERINFO",
            Phase::AwaitNewLeader(_) => "waiting for NEWLEADER",
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
        }
    }

    pub fn is_serving(&self) -> bool {
        matches!(self.phase, Phase::Serving(_))
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
        match (msg, self.phase) {
            (QuorumMessage::Ping, _) => Ok(vec![LearnerAction::Send(QuorumMessage::Ping)]),
            (QuorumMessage::LeaderInfo { epoch }, Phase::AwaitLeaderInfo) => {
                let mut out = Vec::new();
                let already_promised = if epoch > self.accepted {
                    out.push(LearnerAction::PersistAcceptedEpoch(epoch));
                    self.accepted = epoch;
                    false
                } else if epoch == self.accepted {
                    true
                } else {
                    return Err(LearnerError::EpochBehind {
                        proposed: epoch,
                        accepted: self.accepted,
                    });
                };
                out.push(LearnerAction::Send(QuorumMessage::AckEpoch {
                    current_epoch: self.current,
                    already_promised,
                    last_zxid: self.last_zxid,
                }));
                self.phase = Phase::AwaitNewLeader(epoch);
                Ok(out)
            }
            (QuorumMessage::NewLeader { epoch, zxid }, Phase::AwaitNewLeader(expected)) => {
                if epoch != expected {
                    return Err(LearnerError::EpochMismatch {
                        expected,
                        got: epoch,
                    });
                }
                self.current = epoch;
                self.phase = Phase::AwaitUpToDate(epoch);
                Ok(vec![
                    LearnerAction::PersistCurrentEpoch(epoch),
                    LearnerAction::Send(QuorumMessage::Ack { zxid }),
                ])
            }
            (QuorumMessage::UpToDate, Phase::AwaitUpToDate(epoch)) => {
                self.phase = Phase::Serving(epoch);
                Ok(vec![LearnerAction::Serving { epoch }])
            }
            (msg, phase) => Err(LearnerError::Unexpected {
                got: msg.kind(),
                phase: phase.name(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn learner(accepted: u32, current: u32) -> LearnerCore {
        LearnerCore::new(
            Sid(2),
            LearnerType::Participant,
            9,
            Epoch(accepted),
            Epoch(current),
            Zxid(0),
        )
    }

    #[test]
    fn a_new_epoch_is_persisted_before_it_is_acknowledged() {
        let mut l = learner(3, 3);
        let out = l
            .on_message(QuorumMessage::LeaderInfo { epoch: Epoch(4) })
            .expect("ok");
        assert_eq!(out[0], LearnerAction::PersistAcceptedEpoch(Epoch(4)));
        assert_eq!(
            out[1],
            LearnerAction::Send(QuorumMessage::AckEpoch {
                current_epoch: Epoch(3),
                already_promised: false,
                last_zxid: Zxid(0)
            })
        );
    }

    #[test]
    fn an_epoch_already_promised_is_answered_but_marked_so_it_is_not_counted() {
        let mut l = learner(4, 3);
        let out = l
            .on_message(QuorumMessage::LeaderInfo { epoch: Epoch(4) })
            .expect("ok");
        assert_eq!(
            out,
            vec![LearnerAction::Send(QuorumMessage::AckEpoch {
                current_epoch: Epoch(3),
                already_promised: true,
                last_zxid: Zxid(0)
            })]
        );
    }

    #[test]
    fn an_older_epoch_is_refused() {
        let mut l = learner(5, 5);
        assert_eq!(
            l.on_message(QuorumMessage::LeaderInfo { epoch: Epoch(4) }),
            Err(LearnerError::EpochBehind {
                proposed: Epoch(4),
                accepted: Epoch(5)
            })
        );
    }

    #[test]
    fn full_handshake_to_serving() {
        let mut l = learner(0, 0);
        l.on_message(QuorumMessage::LeaderInfo { epoch: Epoch(1) })
            .expect("leaderinfo");
        let out = l
            .on_message(QuorumMessage::NewLeader {
                epoch: Epoch(1),
                zxid: Zxid::epoch_start(Epoch(1)),
            })
            .expect("newleader");
        assert_eq!(out[0], LearnerAction::PersistCurrentEpoch(Epoch(1)));
        assert!(!l.is_serving());
        let out = l.on_message(QuorumMessage::UpToDate).expect("uptodate");
        assert_eq!(out, vec![LearnerAction::Serving { epoch: Epoch(1) }]);
        assert!(l.is_serving());
        assert_eq!(
            l.on_message(QuorumMessage::Ping).expect("ping"),
            vec![LearnerAction::Send(QuorumMessage::Ping)]
        );
    }

    #[test]
    fn out_of_order_messages_are_errors() {
        let mut l = learner(0, 0);
        assert!(l.on_message(QuorumMessage::UpToDate).is_err());
        let mut l = learner(0, 0);
        l.on_message(QuorumMessage::LeaderInfo { epoch: Epoch(1) })
            .expect("leaderinfo");
        assert_eq!(
            l.on_message(QuorumMessage::NewLeader {
                epoch: Epoch(2),
                zxid: Zxid(0)
            }),
            Err(LearnerError::EpochMismatch {
                expected: Epoch(1),
                got: Epoch(2)
            })
        );
    }
}
