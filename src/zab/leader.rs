//! The leader side of ZAB's discovery and synchronisation, and its heartbeats, as a pure state
//! machine (reference section 5). The shell feeds it learner messages and half-tick timer
//! events and executes the returned [`LeaderAction`]s in order — in particular every `Persist*`
//! completes (fsync) before any later `Send` is executed.
//!
//! Phases: Discovery (wait until the leader plus connected voters form a quorum, then propose
//! epoch = max(acceptedEpochs) + 1) -> AwaitAckEpoch (a quorum of *counted* ACKEPOCHs) ->
//! AwaitNewLeaderAck (a quorum of NEWLEADER ACKs) -> Serving (broadcast). Nothing here waits on
//! a tick: each step happens the moment the message completing a quorum arrives; ticks only
//! detect failure.
//!
//! Each learner is synced in one atomic batch — DIFF/TRUNC/SNAP (see [`super::sync`]), then the
//! proposals still outstanding, then NEWLEADER — after which it receives every new proposal and
//! commit on the same FIFO link, so it can never miss or reorder one.

use super::broadcast::{Commit, Origin, Proposals};
use super::messages::{QuorumMessage, SyncMode};
use super::sync::{self, CommittedWindow, SyncPlan};
use crate::election::Voters;
use crate::ids::{Epoch, LearnerType, Sid, Zxid};
use crate::status::LearnerCounts;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

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
    /// SNAP: send `to` the whole state as of `zxid` (SYNCSTART, then bounded chunks). The shell
    /// serializes its data tree, which has applied exactly the history up to `zxid`.
    SendSnapshot {
        to: Sid,
        zxid: Zxid,
    },
    /// A quorum acknowledged NEWLEADER: start serving as leader of `epoch`.
    Serving {
        epoch: Epoch,
    },
    /// Append this proposal to the leader's own log; report the fsync with `on_logged`.
    Log {
        zxid: Zxid,
        txn: Arc<Vec<u8>>,
    },
    /// A transaction committed: apply it to the data tree and answer its origin if local.
    Apply(Commit),
    /// A sync barrier submitted on the leader itself completed.
    LocalSyncDone {
        request: u64,
        zxid: Zxid,
    },
    /// A learner's clients were heard from: reset these sessions' expiry timers.
    Touch {
        sessions: Vec<i64>,
    },
    /// These sessions' clients are now connected to `owner`.
    Claim {
        owner: Sid,
        sessions: Vec<i64>,
    },
    /// A learner forwarded a write: stamp it into a transaction and `propose` it with `origin`.
    Forwarded {
        origin: Origin,
        request: Vec<u8>,
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
    /// ACKEPOCH arrived while the epoch was not yet established: sync when it is.
    AwaitSync,
    /// Synced and NEWLEADER sent, waiting for its ACK; receives proposals and commits.
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
    /// Its last logged zxid, from ACKEPOCH: where its sync starts.
    last_zxid: Zxid,
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
    /// The leader's recent history (its log's tail), ending at `last_zxid`; all of it becomes
    /// committed in the new epoch.
    pub window: CommittedWindow,
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
    /// The broadcast pipeline, once the epoch is decided.
    proposals: Option<Proposals>,
    /// Sync barriers waiting for a zxid to commit: (zxid, who asked, request id).
    barriers: Vec<(Zxid, Sid, u64)>,
}

/// Why a write could not be proposed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposeError {
    #[error("this server is not serving as leader")]
    NotServing,
    #[error("the epoch's zxid counter is exhausted; a new epoch is being established")]
    EpochExhausted,
}

impl Learner {
    /// Synced (or being synced): it receives proposals and commits from now on.
    fn forwarding(&self) -> bool {
        matches!(
            self.stage,
            Stage::NewLeaderSent | Stage::Synced | Stage::UpToDate
        )
    }
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
            proposals: None,
            barriers: Vec::new(),
        }
    }

    /// The last committed zxid (the history's end before serving).
    pub fn last_committed(&self) -> Zxid {
        match &self.proposals {
            Some(p) => p.last_committed(),
            None => self.setup.window.last(),
        }
    }

    /// Proposals not yet committed.
    pub fn outstanding(&self) -> usize {
        self.proposals.as_ref().map_or(0, |p| p.outstanding_count())
    }

    /// The zxid the next proposal will get (the shell stamps it into the transaction).
    pub fn next_zxid(&self) -> Option<Zxid> {
        let epoch = self.new_epoch?;
        let last = self.proposals.as_ref()?.last_proposed();
        let counter = if last.epoch() == epoch {
            last.counter()
        } else {
            0
        };
        counter
            .checked_add(1)
            .filter(|c| *c < u32::MAX)
            .map(|c| Zxid::new(epoch, c))
    }

    /// Propose a transaction (submitted locally, or forwarded by `origin`'s server).
    pub fn propose(
        &mut self,
        txn: Arc<Vec<u8>>,
        origin: Option<Origin>,
    ) -> Result<(Zxid, Vec<LeaderAction>), ProposeError> {
        let mut out = Vec::new();
        let (Some(epoch), LeaderPhase::Serving) = (self.new_epoch, self.phase) else {
            return Err(ProposeError::NotServing);
        };
        let Some(proposals) = self.proposals.as_mut() else {
            return Err(ProposeError::NotServing);
        };
        let last = proposals.last_proposed();
        let counter = if last.epoch() == epoch {
            last.counter()
        } else {
            0
        };
        let Some(next) = counter.checked_add(1).filter(|c| *c < u32::MAX) else {
            self.step_down(
                "zxid counter exhausted: a new epoch must start".into(),
                &mut out,
            );
            return Err(ProposeError::EpochExhausted);
        };
        let zxid = Zxid::new(epoch, next);
        proposals.propose(zxid, txn.clone(), origin);
        out.push(LeaderAction::Log {
            zxid,
            txn: txn.clone(),
        });
        for (sid, l) in &self.learners {
            if l.role == LearnerType::Participant && l.forwarding() {
                out.push(LeaderAction::Send {
                    to: *sid,
                    msg: QuorumMessage::Proposal {
                        zxid,
                        txn: txn.to_vec(),
                        origin,
                    },
                });
            }
        }
        Ok((zxid, out))
    }

    /// The leader's own log is durable up to `up_to`: its own acknowledgement.
    pub fn on_logged(&mut self, up_to: Zxid) -> Vec<LeaderAction> {
        let commits = match self.proposals.as_mut() {
            Some(p) => p.logged(up_to),
            None => Vec::new(),
        };
        let mut out = Vec::new();
        self.emit_commits(commits, &mut out);
        out
    }

    /// A read-your-writes barrier submitted on the leader: done once everything proposed so far
    /// has committed.
    pub fn sync_barrier(&mut self, request: u64) -> Vec<LeaderAction> {
        let mut out = Vec::new();
        self.add_barrier(self.setup.me, request, &mut out);
        out
    }

    fn add_barrier(&mut self, who: Sid, request: u64, out: &mut Vec<LeaderAction>) {
        let (last_proposed, last_committed) = match &self.proposals {
            Some(p) => (p.last_proposed(), p.last_committed()),
            None => (self.setup.window.last(), self.setup.window.last()),
        };
        if last_proposed == last_committed {
            self.barrier_done(who, request, last_committed, out);
        } else {
            self.barriers.push((last_proposed, who, request));
        }
    }

    fn barrier_done(&self, who: Sid, request: u64, zxid: Zxid, out: &mut Vec<LeaderAction>) {
        if who == self.setup.me {
            out.push(LeaderAction::LocalSyncDone { request, zxid });
        } else {
            out.push(LeaderAction::Send {
                to: who,
                msg: QuorumMessage::SyncDone { request, zxid },
            });
        }
    }

    /// Apply commits: remember them for future DIFFs, tell followers (one cumulative COMMIT
    /// for the batch) and observers (an INFORM per transaction, which carries it), then release
    /// the barriers they complete.
    ///
    /// One COMMIT per batch instead of one per transaction: under load a single fsync or ACK
    /// commits dozens of proposals at once, and every message costs an encode, a decode and a
    /// pass through both peer loops. A follower commits its pending proposals in zxid order up
    /// to the one named, so the order rule is the same.
    fn emit_commits(&mut self, commits: Vec<Commit>, out: &mut Vec<LeaderAction>) {
        let Some(last) = commits.iter().map(|c| c.zxid).max() else {
            return;
        };
        for c in &commits {
            self.setup.window.push(c.zxid, c.txn.clone());
            for (sid, l) in &self.learners {
                if l.forwarding() && l.role == LearnerType::Observer {
                    let msg = QuorumMessage::Inform {
                        zxid: c.zxid,
                        txn: c.txn.to_vec(),
                        origin: c.origin,
                    };
                    out.push(LeaderAction::Send { to: *sid, msg });
                }
            }
        }
        for (sid, l) in &self.learners {
            if l.forwarding() && l.role == LearnerType::Participant {
                let msg = QuorumMessage::Commit { zxid: last };
                out.push(LeaderAction::Send { to: *sid, msg });
            }
        }
        out.extend(commits.into_iter().map(LeaderAction::Apply));
        let (done, waiting): (Vec<_>, Vec<_>) =
            self.barriers.drain(..).partition(|(z, _, _)| *z <= last);
        self.barriers = waiting;
        for (_, who, request) in done {
            self.barrier_done(who, request, last, out);
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
            QuorumMessage::AckNewLeader { epoch } if Some(epoch) == self.new_epoch => {
                self.on_ack_new_leader(from, &mut out)
            }
            QuorumMessage::Ack { zxid } => {
                let commits = match self.proposals.as_mut() {
                    Some(p)
                        if self.learners.get(&from).is_some_and(|l| {
                            l.forwarding() && l.role == LearnerType::Participant
                        }) =>
                    {
                        p.ack(from, zxid)
                    }
                    _ => Vec::new(),
                };
                self.emit_commits(commits, &mut out);
            }
            QuorumMessage::Request { request, txn } => {
                let origin = Origin {
                    server: from,
                    request,
                };
                if self.phase == LeaderPhase::Serving {
                    // The shell turns the request into a transaction (zxid, time) and proposes it.
                    out.push(LeaderAction::Forwarded {
                        origin,
                        request: txn,
                    });
                } else {
                    out.push(LeaderAction::Send {
                        to: from,
                        msg: QuorumMessage::RequestFailed {
                            request,
                            reason: ProposeError::NotServing.to_string(),
                        },
                    });
                }
            }
            QuorumMessage::Sync { request } => self.add_barrier(from, request, &mut out),
            QuorumMessage::Touch { sessions } => out.push(LeaderAction::Touch { sessions }),
            QuorumMessage::Claim { sessions } => out.push(LeaderAction::Claim {
                owner: from,
                sessions,
            }),
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
        let mut expired = Vec::new();
        for (sid, l) in self.learners.iter_mut() {
            l.silent = l.silent.saturating_add(1);
            // A learner still syncing (maybe loading a large SNAP, deaf to pings meanwhile)
            // has initLimit, as in ZooKeeper; only a serving one is held to syncLimit.
            let limit = if l.stage == Stage::UpToDate {
                self.setup.sync_limit_half_ticks
            } else {
                self.setup.init_limit_half_ticks
            };
            if l.silent > limit {
                expired.push((*sid, limit));
            } else {
                out.push(LeaderAction::Send {
                    to: *sid,
                    msg: QuorumMessage::Ping,
                });
            }
        }
        for (sid, limit) in expired {
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
            // A voter that lost log records joins as a non-voting observer until it is
            // resynced: never count it (a downgrade only, never an upgrade).
            Some(LearnerType::Participant) if role == LearnerType::Observer => {}
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
                last_zxid: Zxid(0),
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
        if !already_promised || crate::planted::active(crate::planted::Bug::AckEpochRuleDropped) {
            // While establishing the epoch, a learner newer than the leader means the election
            // went wrong: refusing to lead is the safe answer. Once established, a late joiner
            // with an old uncommitted tail is normal: TRUNC handles it.
            let establishing = self.phase == LeaderPhase::AwaitAckEpoch;
            if establishing
                && (current_epoch, last_zxid) > (self.setup.current_epoch, self.setup.last_zxid)
            {
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
        if let Some(l) = self.learners.get_mut(&sid) {
            l.last_zxid = last_zxid;
            l.stage = Stage::AwaitSync;
        }
        if self.phase == LeaderPhase::AwaitAckEpoch {
            // Synchronisation waits until the epoch is established.
            self.try_finish_discovery(out);
        } else {
            self.sync_learner(sid, out);
        }
    }

    /// A quorum of counted ACKEPOCHs: the epoch is established. Record it, then sync everyone
    /// who already answered.
    fn try_finish_discovery(&mut self, out: &mut Vec<LeaderAction>) {
        let Some(epoch) = self.new_epoch else { return };
        if self.phase != LeaderPhase::AwaitAckEpoch
            || !self.setup.voters.is_quorum(&self.epoch_acks)
        {
            return;
        }
        self.phase = LeaderPhase::AwaitNewLeaderAck;
        out.push(LeaderAction::PersistCurrentEpoch(epoch));
        // The whole of the leader's history is committed in the new epoch; proposals continue
        // after it.
        self.proposals = Some(Proposals::new(
            self.setup.me,
            self.setup.voters.clone(),
            self.setup.window.last(),
        ));
        let answered: Vec<Sid> = self
            .learners
            .iter()
            .filter(|(_, l)| l.stage == Stage::AwaitSync)
            .map(|(s, _)| *s)
            .collect();
        for sid in answered {
            self.sync_learner(sid, out);
        }
        self.try_serve(out);
    }

    /// Bring one learner up to date, in one batch on its FIFO link: DIFF/TRUNC/SNAP, the
    /// proposals still outstanding (followers only: observers get them as INFORMs when they
    /// commit), then NEWLEADER.
    fn sync_learner(&mut self, sid: Sid, out: &mut Vec<LeaderAction>) {
        let Some(epoch) = self.new_epoch else { return };
        let Some(l) = self.learners.get(&sid) else {
            return;
        };
        let role = l.role;
        let plan = sync::decide(l.last_zxid, &self.setup.window);
        let send = |msg| LeaderAction::Send { to: sid, msg };
        match plan {
            SyncPlan::Diff { txns } => {
                out.push(send(QuorumMessage::SyncStart {
                    mode: SyncMode::Diff,
                }));
                out.extend(txns.into_iter().map(|(zxid, txn)| {
                    send(QuorumMessage::Txn {
                        zxid,
                        txn: txn.to_vec(),
                    })
                }));
            }
            SyncPlan::Trunc { to, txns } => {
                out.push(send(QuorumMessage::SyncStart {
                    mode: SyncMode::Trunc { to },
                }));
                out.extend(txns.into_iter().map(|(zxid, txn)| {
                    send(QuorumMessage::Txn {
                        zxid,
                        txn: txn.to_vec(),
                    })
                }));
            }
            SyncPlan::Snap { zxid } => out.push(LeaderAction::SendSnapshot { to: sid, zxid }),
        }
        if role == LearnerType::Participant {
            if let Some(p) = &self.proposals {
                for (zxid, txn) in p.outstanding() {
                    out.push(send(QuorumMessage::Proposal {
                        zxid,
                        txn: txn.to_vec(),
                        origin: None,
                    }));
                }
            }
        }
        out.push(send(QuorumMessage::NewLeader { epoch }));
        if let Some(l) = self.learners.get_mut(&sid) {
            l.stage = Stage::NewLeaderSent;
        }
    }

    fn on_ack_new_leader(&mut self, sid: Sid, out: &mut Vec<LeaderAction>) {
        let Some(l) = self.learners.get_mut(&sid) else {
            return;
        };
        if l.stage != Stage::NewLeaderSent {
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
