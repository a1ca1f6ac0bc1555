//! The leader side of ZAB's discovery and synchronisation, and its heartbeats, as a pure state
//! machine (reference section 5). The shell feeds it learner messages and half-tick timer
//! events and executes the returned [`LeaderAction`]s in order — in particular every `Persist*`
//! completes (fsync) before any later `Send` is executed.
//!
//! Phases: Discovery (wait until the leader plus connected voters form a quorum, then propose
//! epoch = max(acceptedEpochs) + 1) -> AwaitAckEpoch (a quorum of *counted* ACKEPOCHs) ->
//! AwaitNewLeaderAck (a quorum of NEWLEADER ACKs) -> Serving. Nothing here waits on a tick: each
//! step happens the moment the message completing a quorum arrives; ticks only detect failure.

use super::messages::QuorumMessage;
use crate::election::Voters;
use crate::ids::{Epoch, LearnerType, Sid, Zxid};
use crate::status::LearnerCounts;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaderAction {
    /// Durably promise this epoch (acceptedEpoch) before anything that follows.
    PersistAcceptedEpoch(Epoch),
    /// Durably record this epoch as current before anything that follows.
    PersistCurrentEpoch(Epoch),
    Send {
        to: Sid,
        msg: QuorumMessage,
    },
    /// Close the connection of this learner.
    Disconnect {
        sid: Sid,
        reason: String,
    },
    /// A quorum acknowledged NEWLEADER: start serving as leader of `epoch`.
    Serving {
        epoch: Epoch,
    },
    /// Stop leading and go back to LOOKING.
    StepDown {
        reason: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaderPhase {
    Discovery,
    AwaitAckEpoch,
    AwaitNewLeaderAck,
    Serving,
    SteppedDown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// LEADERINFO not yet sent (epoch undecided).
    Info,
    /// LEADERINFO sent, waiting for ACKEPOCH.
    LeaderInfoSent,
    /// NEWLEADER sent, waiting for its ACK.
    NewLeaderSent,
    /// Acknowledged NEWLEADER, waiting for the leader to serve.
    Synced,
    /// Sent UPTODATE: serving.
    UpToDate,
}

#[derive(Debug, Clone)]
struct Learner {
    role: LearnerType,
    accepted_epoch: Epoch,
    stage: Stage,
    /// Half-ticks since we last heard anything from this learner.
    silent: u32,
}

/// Settings of one leadership term.
#[derive(Debug, Clone)]
pub struct LeaderSetup {
    pub me: Sid,
    pub voters: Voters,
    /// Every server's configured role, to refuse a learner claiming the wrong one.
    pub roles: BTreeMap<Sid, LearnerType>,
    pub accepted_epoch: Epoch,
    pub current_epoch: Epoch,
    pub last_zxid: Zxid,
    /// initLimit and syncLimit, in half-ticks (the heartbeat period is tickTime / 2).
    pub init_limit_half_ticks: u32,
    pub sync_limit_half_ticks: u32,
}

#[derive(Debug)]
pub struct LeaderCore {
    setup: LeaderSetup,
    phase: LeaderPhase,
    new_epoch: Option<Epoch>,
    learners: BTreeMap<Sid, Learner>,
    /// Voters (me included) whose LEARNERINFO arrived: the epoch is decided once a quorum.
    connecting: BTreeSet<Sid>,
    /// Voters (me included) whose ACKEPOCH counts.
    epoch_acks: BTreeSet<Sid>,
    /// Voters (me included) that acknowledged NEWLEADER.
    newleader_acks: BTreeSet<Sid>,
    half_ticks: u32,
}

impl LeaderCore {
    pub fn new(setup: LeaderSetup) -> LeaderCore {
        let me = setup.me;
        LeaderCore {
            setup,
            phase: LeaderPhase::Discovery,
            new_epoch: None,
            learners: BTreeMap::new(),
            connecting: BTreeSet::from([me]),
            epoch_acks: BTreeSet::from([me]),
            newleader_acks: BTreeSet::from([me]),
            half_ticks: 0,
        }
    }

    pub fn phase(&self) -> LeaderPhase {
        self.phase
    }

    pub fn epoch(&self) -> Option<Epoch> {
        self.new_epoch
    }

    /// Begin: a leader that is a quorum by itself (one voter) proceeds at once.
    pub fn start(&mut self) -> Vec<LeaderAction> {
        let mut out = Vec::new();
        self.try_decide_epoch(&mut out);
        out
    }

    /// A message from a registered learner, or a LEARNERINFO from a new connection.
    pub fn on_message(&mut self, from: Sid, msg: QuorumMessage) -> Vec<LeaderAction> {
        let mut out = Vec::new();
        if self.phase == LeaderPhase::SteppedDown {
            return out;
        }
        if let Some(l) = self.learners.get_mut(&from) {
            l.silent = 0;
        }
        match msg {
            QuorumMessage::LearnerInfo {
                role,
                accepted_epoch,
                ..
            } => self.on_learner_info(from, role, accepted_epoch, &mut out),
            QuorumMessage::AckEpoch {
                current_epoch,
                already_promised,
                last_zxid,
            } => self.on_ack_epoch(from, current_epoch, already_promised, last_zxid, &mut out),
            QuorumMessage::Ack { .. } => self.on_ack(from, &mut out),
            QuorumMessage::Ping => {}
            other => out.push(LeaderAction::Disconnect {
                sid: from,
                reason: format!("unexpected {} from a learner", other.kind()),
            }),
        }
        out
    }

    /// The learner's connection is gone.
    pub fn on_disconnected(&mut self, sid: Sid) -> Vec<LeaderAction> {
        self.learners.remove(&sid);
        // It can no longer help decide the epoch; promises already made stay counted.
        if self.phase == LeaderPhase::Discovery {
            self.connecting.remove(&sid);
        }
        let mut out = Vec::new();
        self.check_quorum_alive(&mut out);
        out
    }

    /// Every tickTime/2: ping every learner, expire the silent ones, and make sure the leader
    /// still has a quorum behind it.
    pub fn on_half_tick(&mut self) -> Vec<LeaderAction> {
        let mut out = Vec::new();
        if self.phase == LeaderPhase::SteppedDown {
            return out;
        }
        self.half_ticks = self.half_ticks.saturating_add(1);
        let limit = if self.phase == LeaderPhase::Serving {
            self.setup.sync_limit_half_ticks
        } else {
            self.setup.init_limit_half_ticks
        };
        let mut expired = Vec::new();
        for (sid, l) in self.learners.iter_mut() {
            l.silent = l.silent.saturating_add(1);
            if l.silent > limit {
                expired.push(*sid);
            } else {
                out.push(LeaderAction::Send {
                    to: *sid,
                    msg: QuorumMessage::Ping,
                });
            }
        }
        for sid in expired {
            self.learners.remove(&sid);
            out.push(LeaderAction::Disconnect {
                sid,
                reason: format!("silent for more than {limit} half-ticks"),
            });
        }
        if self.phase != LeaderPhase::Serving && self.half_ticks > self.setup.init_limit_half_ticks
        {
            self.step_down(
                format!(
                    "no quorum established the new epoch within initLimit ({:?} phase)",
                    self.phase
                ),
                &mut out,
            );
            return out;
        }
        self.check_quorum_alive(&mut out);
        out
    }

    /// Learner numbers for `mntr`.
    pub fn counts(&self) -> LearnerCounts {
        let mut c = LearnerCounts {
            learners: self.learners.len() as u64,
            ..LearnerCounts::default()
        };
        for l in self.learners.values() {
            let synced = l.stage == Stage::UpToDate && l.silent <= self.setup.sync_limit_half_ticks;
            match (l.role, synced) {
                (LearnerType::Participant, true) => c.synced_followers += 1,
                (LearnerType::Observer, true) => c.synced_observers += 1,
                (_, false) => c.pending_syncs += 1,
            }
        }
        c
    }

    fn on_learner_info(
        &mut self,
        sid: Sid,
        role: LearnerType,
        accepted_epoch: Epoch,
        out: &mut Vec<LeaderAction>,
    ) {
        match self.setup.roles.get(&sid) {
            Some(configured) if *configured == role => {}
            Some(configured) => {
                out.push(LeaderAction::Disconnect {
                    sid,
                    reason: format!(
                        "says it is a {} but the configuration makes it a {}",
                        role.as_str(),
                        configured.as_str()
                    ),
                });
                return;
            }
            None => {
                out.push(LeaderAction::Disconnect {
                    sid,
                    reason: "not a member of this ensemble".into(),
                });
                return;
            }
        }
        self.learners.insert(
            sid,
            Learner {
                role,
                accepted_epoch,
                stage: Stage::Info,
                silent: 0,
            },
        );
        match self.new_epoch {
            None => {
                if self.setup.voters.contains(sid) {
                    self.connecting.insert(sid);
                }
                self.try_decide_epoch(out);
            }
            // A learner arriving after the epoch was decided is told that epoch.
            Some(epoch) => self.send_leader_info(sid, epoch, out),
        }
    }

    fn try_decide_epoch(&mut self, out: &mut Vec<LeaderAction>) {
        if self.phase != LeaderPhase::Discovery || !self.setup.voters.is_quorum(&self.connecting) {
            return;
        }
        let highest = self
            .learners
            .values()
            .map(|l| l.accepted_epoch)
            .chain([self.setup.accepted_epoch])
            .max()
            .unwrap_or(self.setup.accepted_epoch);
        let Some(epoch) = highest.next() else {
            self.step_down("the epoch space is exhausted".into(), out);
            return;
        };
        self.new_epoch = Some(epoch);
        self.phase = LeaderPhase::AwaitAckEpoch;
        // The leader promises its own epoch before telling anyone about it.
        out.push(LeaderAction::PersistAcceptedEpoch(epoch));
        let waiting: Vec<Sid> = self.learners.keys().copied().collect();
        for sid in waiting {
            self.send_leader_info(sid, epoch, out);
        }
        self.try_finish_discovery(out);
    }

    fn send_leader_info(&mut self, sid: Sid, epoch: Epoch, out: &mut Vec<LeaderAction>) {
        if let Some(l) = self.learners.get_mut(&sid) {
            l.stage = Stage::LeaderInfoSent;
            out.push(LeaderAction::Send {
                to: sid,
                msg: QuorumMessage::LeaderInfo { epoch },
            });
        }
    }

    fn on_ack_epoch(
        &mut self,
        sid: Sid,
        current_epoch: Epoch,
        already_promised: bool,
        last_zxid: Zxid,
        out: &mut Vec<LeaderAction>,
    ) {
        let Some(l) = self.learners.get(&sid) else {
            return;
        };
        if l.stage != Stage::LeaderInfoSent {
            out.push(LeaderAction::Disconnect {
                sid,
                reason: "ACKEPOCH before LEADERINFO".into(),
            });
            return;
        }
        let is_voter = l.role == LearnerType::Participant && self.setup.voters.contains(sid);
        if !already_promised {
            // Election should have made that impossible; refusing to lead is the safe answer.
            if (current_epoch, last_zxid) > (self.setup.current_epoch, self.setup.last_zxid) {
                self.step_down(
                    format!(
                        "learner {sid} is ahead of me (epoch {current_epoch}, zxid {last_zxid})"
                    ),
                    out,
                );
                return;
            }
            if is_voter {
                self.epoch_acks.insert(sid);
            }
        }
        if self.phase == LeaderPhase::AwaitAckEpoch {
            // Synchronisation waits until the epoch is established; remember this learner.
            if let Some(l) = self.learners.get_mut(&sid) {
                l.stage = Stage::NewLeaderSent;
            }
            self.try_finish_discovery(out);
        } else {
            self.send_new_leader(sid, out);
        }
    }

    /// A quorum of counted ACKEPOCHs: the epoch is established. Record it, then sync everyone
    /// who already answered (with no log yet, sync is just NEWLEADER).
    fn try_finish_discovery(&mut self, out: &mut Vec<LeaderAction>) {
        let Some(epoch) = self.new_epoch else { return };
        if self.phase != LeaderPhase::AwaitAckEpoch
            || !self.setup.voters.is_quorum(&self.epoch_acks)
        {
            return;
        }
        self.phase = LeaderPhase::AwaitNewLeaderAck;
        out.push(LeaderAction::PersistCurrentEpoch(epoch));
        let answered: Vec<Sid> = self
            .learners
            .iter()
            .filter(|(_, l)| l.stage == Stage::NewLeaderSent)
            .map(|(s, _)| *s)
            .collect();
        for sid in answered {
            self.send_new_leader(sid, out);
        }
        self.try_serve(out);
    }

    fn send_new_leader(&mut self, sid: Sid, out: &mut Vec<LeaderAction>) {
        let Some(epoch) = self.new_epoch else { return };
        if let Some(l) = self.learners.get_mut(&sid) {
            l.stage = Stage::NewLeaderSent;
            out.push(LeaderAction::Send {
                to: sid,
                msg: QuorumMessage::NewLeader {
                    epoch,
                    zxid: Zxid::epoch_start(epoch),
                },
            });
        }
    }

    fn on_ack(&mut self, sid: Sid, out: &mut Vec<LeaderAction>) {
        let Some(l) = self.learners.get_mut(&sid) else {
            return;
        };
        if l.stage != Stage::NewLeaderSent || self.phase == LeaderPhase::AwaitAckEpoch {
            // With replication, ACKs of proposals arrive here once serving.
            return;
        }
        l.stage = Stage::Synced;
        if l.role == LearnerType::Participant && self.setup.voters.contains(sid) {
            self.newleader_acks.insert(sid);
        }
        if self.phase == LeaderPhase::Serving {
            self.send_up_to_date(sid, out);
        } else {
            self.try_serve(out);
        }
    }

    fn try_serve(&mut self, out: &mut Vec<LeaderAction>) {
        let Some(epoch) = self.new_epoch else { return };
        if self.phase != LeaderPhase::AwaitNewLeaderAck
            || !self.setup.voters.is_quorum(&self.newleader_acks)
        {
            return;
        }
        self.phase = LeaderPhase::Serving;
        out.push(LeaderAction::Serving { epoch });
        let synced: Vec<Sid> = self
            .learners
            .iter()
            .filter(|(_, l)| l.stage == Stage::Synced)
            .map(|(s, _)| *s)
            .collect();
        for sid in synced {
            self.send_up_to_date(sid, out);
        }
    }

    fn send_up_to_date(&mut self, sid: Sid, out: &mut Vec<LeaderAction>) {
        if let Some(l) = self.learners.get_mut(&sid) {
            l.stage = Stage::UpToDate;
            out.push(LeaderAction::Send {
                to: sid,
                msg: QuorumMessage::UpToDate,
            });
        }
    }

    /// While serving, the leader plus synced voters must stay a quorum ("not sufficient
    /// followers synced" in ZooKeeper); otherwise it steps down.
    fn check_quorum_alive(&mut self, out: &mut Vec<LeaderAction>) {
        if self.phase != LeaderPhase::Serving {
            return;
        }
        let synced: Vec<Sid> = self
            .learners
            .iter()
            .filter(|(_, l)| {
                l.role == LearnerType::Participant
                    && l.stage == Stage::UpToDate
                    && l.silent <= self.setup.sync_limit_half_ticks
            })
            .map(|(s, _)| *s)
            .chain([self.setup.me])
            .collect();
        if !self.setup.voters.is_quorum(&synced) {
            self.step_down("not sufficient followers synced".into(), out);
        }
    }

    fn step_down(&mut self, reason: String, out: &mut Vec<LeaderAction>) {
        self.phase = LeaderPhase::SteppedDown;
        out.push(LeaderAction::StepDown { reason });
    }
}

#[cfg(test)]
#[path = "leader_tests.rs"]
mod tests;
