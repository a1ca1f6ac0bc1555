//! Fast leader election as a pure state machine.
//!
//! `Fle` implements ZooKeeper's `lookForLeader` (reference section 4) with no sockets, clocks or
//! tokio: the shell feeds it events (a notification arrived, a peer connected or went away, a
//! timer fired) and executes the [`Action`]s it returns, in order. That makes every rule below
//! unit-testable and lets the same core run under turmoil.
//!
//! The core lives for the whole life of the process, not just while LOOKING: established servers
//! still answer looking ones (the receiver-side rules), which is how a restarted server learns
//! about a running leader and joins it without an election.
//!
//! One deliberate improvement over ZooKeeper: its fixed 200 ms "finalize wait" after a quorum
//! agrees. A voter knows which peers are connected; once every voter that can still vote has
//! voted and agrees, no better vote can still be on its way, so we decide at once. Voters known to
//! be gone (connected once, now disconnected — a dead leader) are not waited for. Only when some
//! connected or never-yet-seen voter has not answered do we wait (`finalize_wait`). Deciding early is
//! not a safety question: ZAB's epoch establishment (a quorum of ACKEPOCHs, each learner promising
//! an epoch once) is what guarantees one leader per epoch.

use super::quorum::Voters;
use super::vote::{Notification, Vote};
use crate::ids::{Epoch, ServerState, Sid, Zxid};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// ZooKeeper's first notification timeout; it doubles on each silent timeout.
pub const INITIAL_TIMEOUT: Duration = Duration::from_millis(200);
/// ZooKeeper's cap on the notification timeout.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);

/// Identifies one arming of the election timer; a firing of an older arming is ignored.
pub type TimerId = u64;

/// What the shell must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send to one server.
    Send { to: Sid, notification: Notification },
    /// Send to every server in [`Fle::broadcast_targets`].
    Broadcast(Notification),
    /// (Re)arm the election timer to fire `after` from now, replacing any earlier arming.
    SetTimer { timer: TimerId, after: Duration },
    /// The election is over: become LEADING, FOLLOWING or OBSERVING.
    Decided(Decision),
}

/// The outcome of one election.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub state: ServerState,
    pub vote: Vote,
    pub round: u64,
    /// How many rounds this election went through (1 when the first round decided).
    pub rounds: u32,
    /// Notifications received during this election.
    pub notifications_received: u64,
    /// Whether the decision joined an established ensemble (no election of its own).
    pub joined_established: bool,
    /// How many different votes (epoch, zxid, leader) this server saw during the election,
    /// its own proposals included: 1 when everyone agreed from the start.
    pub distinct_votes: u32,
}

/// At most this many different votes are remembered per election (for [`Decision::distinct_votes`]).
const MAX_VOTES_SEEN: usize = 256;

/// The election core of one server.
#[derive(Debug, Clone)]
pub struct Fle {
    me: Sid,
    voters: Voters,
    /// Every other server of the ensemble, voters and observers.
    others: BTreeSet<Sid>,
    finalize_wait: Duration,

    state: ServerState,
    /// ZooKeeper's `logicalclock`: the election round.
    round: u64,
    /// My own candidacy in this election.
    initial: Vote,
    /// My current vote: the proposal while LOOKING, the decided vote after.
    proposal: Vote,
    /// Votes of this round (ZooKeeper's `recvset`).
    recvset: BTreeMap<Sid, Notification>,
    /// Votes of servers that say they follow or lead (ZooKeeper's `outofelection`).
    outofelection: BTreeMap<Sid, Notification>,
    /// Peers with a live election connection right now.
    connected: BTreeSet<Sid>,
    /// Peers that have been connected at some point: one that was and no longer is is known to
    /// be gone; one never seen (a server still starting up) might yet vote.
    seen: BTreeSet<Sid>,
    timeout: Duration,
    finalizing: bool,
    timer: TimerId,
    rounds: u32,
    received: u64,
    /// The different votes seen in this election (bounded by [`MAX_VOTES_SEEN`]).
    votes_seen: BTreeSet<Vote>,
}

impl Fle {
    /// `servers` is the whole ensemble (this server included) with each one's voting right.
    pub fn new(me: Sid, voters: Voters, others: BTreeSet<Sid>, finalize_wait: Duration) -> Fle {
        let initial = Vote {
            epoch: Epoch(0),
            zxid: Zxid(0),
            leader: me,
        };
        Fle {
            me,
            voters,
            others,
            finalize_wait,
            state: ServerState::Looking,
            round: 0,
            initial,
            proposal: initial,
            recvset: BTreeMap::new(),
            outofelection: BTreeMap::new(),
            connected: BTreeSet::new(),
            seen: BTreeSet::new(),
            timeout: INITIAL_TIMEOUT,
            finalizing: false,
            timer: 0,
            rounds: 0,
            received: 0,
            votes_seen: BTreeSet::new(),
        }
    }

    pub fn state(&self) -> ServerState {
        self.state
    }

    pub fn round(&self) -> u64 {
        self.round
    }

    pub fn vote(&self) -> Vote {
        self.proposal
    }

    fn am_voter(&self) -> bool {
        self.voters.contains(self.me)
    }

    /// Who a broadcast goes to: voters tell everyone (observers learn the outcome as fast as
    /// voters do), an observer talks only to voters.
    pub fn broadcast_targets(&self) -> impl Iterator<Item = Sid> + '_ {
        let to_all = self.am_voter();
        self.others
            .iter()
            .copied()
            .filter(move |s| to_all || self.voters.contains(*s))
    }

    /// This server's current notification (vote, round, state).
    pub fn current(&self) -> Notification {
        // A looking non-voter says so: a voter that resyncs after losing log records runs as
        // a non-voter while the others still list it as a voter, and must never be counted.
        let state = match self.state {
            ServerState::Looking if !self.am_voter() => ServerState::Observing,
            state => state,
        };
        Notification {
            vote: self.proposal,
            round: self.round,
            state,
        }
    }

    /// Does `new` beat `current`? A vote for a non-voter never wins; any voter beats one.
    fn beats(&self, new: &Vote, current: &Vote) -> bool {
        if !self.voters.contains(new.leader) {
            return false;
        }
        if !self.voters.contains(current.leader) {
            return true;
        }
        new > current
    }

    /// Start a new election round as LOOKING, proposing myself with my epoch and last zxid.
    pub fn start_election(&mut self, epoch: Epoch, last_zxid: Zxid) -> Vec<Action> {
        self.state = ServerState::Looking;
        self.round += 1;
        self.initial = Vote {
            epoch,
            zxid: last_zxid,
            leader: self.me,
        };
        self.proposal = self.initial;
        self.recvset.clear();
        self.outofelection.clear();
        self.finalizing = false;
        self.timeout = INITIAL_TIMEOUT;
        self.rounds = 1;
        self.received = 0;
        self.votes_seen.clear();
        self.saw(self.initial);
        let mut out = Vec::new();
        self.broadcast(&mut out);
        self.arm(self.timeout, &mut out);
        self.check_decision(&mut out);
        out
    }

    /// The new epoch has been established with the decided leader: update my vote's epoch so
    /// newcomers see a consistent (leader, epoch) from every established server, and tell them.
    pub fn epoch_established(&mut self, epoch: Epoch) -> Vec<Action> {
        let mut out = Vec::new();
        if self.state != ServerState::Looking && self.proposal.epoch != epoch {
            self.proposal.epoch = epoch;
            out.push(Action::Broadcast(self.current()));
        }
        out
    }

    pub fn on_connected(&mut self, peer: Sid) -> Vec<Action> {
        self.connected.insert(peer);
        self.seen.insert(peer);
        Vec::new()
    }

    /// A peer's election connection went away: its vote can no longer arrive, so stop waiting
    /// for it.
    pub fn on_disconnected(&mut self, peer: Sid) -> Vec<Action> {
        self.connected.remove(&peer);
        let mut out = Vec::new();
        self.check_decision(&mut out);
        out
    }

    /// A notification from `from` (already checked by the transport to be a known server).
    pub fn on_notification(&mut self, from: Sid, n: Notification) -> Vec<Action> {
        let mut out = Vec::new();
        if from == self.me || !self.others.contains(&from) {
            return out;
        }
        self.received += 1;
        self.saw(n.vote);
        let observer = !self.voters.contains(from) || n.state == ServerState::Observing;
        if observer && !crate::planted::active(crate::planted::Bug::ObserverVoteCounted) {
            // An observer (or a voter that may not vote while it resyncs): answer at once with
            // my vote, never count it (rules 3 and 6).
            if self.am_voter() {
                out.push(self.reply(from));
            }
            return out;
        }
        let mut n = n;
        if observer {
            // Planted bug only: the observer's vote is taken as a looking voter's.
            n.state = ServerState::Looking;
        }
        if !self.voters.contains(n.vote.leader) {
            // Rule 3: a vote for a server that cannot lead is ignored.
            return out;
        }
        if self.state != ServerState::Looking {
            // Established: tell a looking server who leads (how newcomers join quietly). An
            // observer never answers: voters ignore it, and would answer the answer.
            if n.state == ServerState::Looking && self.am_voter() {
                out.push(self.reply(from));
            }
            return out;
        }
        match n.state {
            ServerState::Looking => self.on_looking_vote(from, n, &mut out),
            ServerState::Following | ServerState::Leading => {
                self.on_established_vote(from, n, &mut out)
            }
            ServerState::Observing => {}
        }
        out
    }

    /// The timer armed by `SetTimer { timer, .. }` fired.
    pub fn on_timer(&mut self, timer: TimerId) -> Vec<Action> {
        let mut out = Vec::new();
        if timer != self.timer || self.state != ServerState::Looking {
            return out;
        }
        if self.finalizing {
            // No better vote arrived during the finalize wait.
            if self.quorum_agrees() {
                self.decide(self.proposal, false, &mut out);
            } else {
                self.finalizing = false;
                self.arm(self.timeout, &mut out);
            }
            return out;
        }
        // Nothing decided within the timeout: say it again, wait twice as long.
        self.broadcast(&mut out);
        self.timeout = (self.timeout * 2).min(MAX_TIMEOUT);
        self.arm(self.timeout, &mut out);
        out
    }

    fn on_looking_vote(&mut self, from: Sid, n: Notification, out: &mut Vec<Action>) {
        if n.round > self.round {
            // A newer round: join it, forget the old round's votes, and propose the better of
            // the sender's vote and my own candidacy.
            self.round = n.round;
            self.rounds += 1;
            self.recvset.clear();
            self.proposal = if self.beats(&n.vote, &self.initial) {
                n.vote
            } else {
                self.initial
            };
            self.stop_finalizing(out);
            self.broadcast(out);
        } else if n.round < self.round {
            // A stale round: bring the sender up to date, do not record its vote. An observer
            // stays quiet: voters answer anything an observer says, which would ping-pong.
            if self.am_voter() {
                out.push(self.reply(from));
            }
            return;
        } else if self.beats(&n.vote, &self.proposal) {
            self.proposal = n.vote;
            self.stop_finalizing(out);
            self.broadcast(out);
        } else if n.vote != self.proposal && self.am_voter() {
            // The sender proposes something worse than my proposal, in my round: it may have
            // missed my broadcast (it was still following when that arrived), so tell it now
            // instead of leaving it to wait for a timeout. It adopts mine, or already has.
            out.push(self.reply(from));
        }
        self.recvset.insert(from, n);
        self.check_decision(out);
    }

    fn on_established_vote(&mut self, from: Sid, n: Notification, out: &mut Vec<Action>) {
        if n.round == self.round {
            self.recvset.insert(from, n);
            if self.backed_by_quorum(&self.recvset, &n)
                && self.leader_confirmed(&self.recvset, n.vote.leader, n.round)
            {
                self.decide(n.vote, false, out);
                return;
            }
        }
        // Its vote may also complete the agreement with my own proposal.
        self.check_decision(out);
        if self.state != ServerState::Looking {
            return;
        }
        // ZOOKEEPER-1732: follow an established leader that a quorum already follows, without
        // an election of our own.
        self.outofelection.insert(from, n);
        if self.backed_by_quorum(&self.outofelection, &n)
            && self.leader_confirmed(&self.outofelection, n.vote.leader, n.round)
        {
            self.round = n.round;
            self.decide(n.vote, true, out);
        }
    }

    fn backed_by_quorum(&self, votes: &BTreeMap<Sid, Notification>, n: &Notification) -> bool {
        let agreeing: Vec<Sid> = votes
            .iter()
            .filter(|(_, v)| v.agrees_with(n))
            .map(|(s, _)| *s)
            .collect();
        self.voters.is_quorum(&agreeing)
    }

    /// ZooKeeper's `checkLeader`: another server may be followed only if its own vote says
    /// LEADING; I may lead only if the vote is of my current round.
    fn leader_confirmed(
        &self,
        votes: &BTreeMap<Sid, Notification>,
        leader: Sid,
        round: u64,
    ) -> bool {
        if leader == self.me {
            self.round == round
        } else {
            votes
                .get(&leader)
                .is_some_and(|v| v.state == ServerState::Leading)
        }
    }

    fn agreeing_with_proposal(&self) -> BTreeSet<Sid> {
        let mine = self.current();
        self.recvset
            .iter()
            .filter(|(_, v)| v.agrees_with(&mine))
            .map(|(s, _)| *s)
            .collect()
    }

    fn quorum_agrees(&self) -> bool {
        self.voters.is_quorum(&self.agreeing_with_proposal())
    }

    /// Decide if a quorum agrees with my proposal and no better vote can still be coming;
    /// otherwise start (or keep) the finalize wait.
    fn check_decision(&mut self, out: &mut Vec<Action>) {
        if self.state != ServerState::Looking {
            return;
        }
        let agreeing = self.agreeing_with_proposal();
        if !self.voters.is_quorum(&agreeing) {
            return;
        }
        // Every voter that can still vote has voted, and agrees: the connected ones, and the
        // never-seen ones (a server still starting up). Only voters known to be gone (seen, then
        // disconnected) are not waited for.
        let all_heard = self
            .voters
            .iter()
            .filter(|s| *s == self.me || self.connected.contains(s) || !self.seen.contains(s))
            .all(|s| agreeing.contains(&s));
        if all_heard || self.finalize_wait.is_zero() {
            self.decide(self.proposal, false, out);
        } else if !self.finalizing {
            self.finalizing = true;
            self.arm(self.finalize_wait, out);
        }
    }

    fn stop_finalizing(&mut self, out: &mut Vec<Action>) {
        if self.finalizing {
            self.finalizing = false;
            self.arm(self.timeout, out);
        }
    }

    fn decide(&mut self, vote: Vote, joined_established: bool, out: &mut Vec<Action>) {
        self.state = if vote.leader == self.me {
            ServerState::Leading
        } else if self.am_voter() {
            ServerState::Following
        } else {
            ServerState::Observing
        };
        self.proposal = vote;
        self.finalizing = false;
        self.timer += 1; // disarm: a pending firing is now stale
        self.recvset.clear();
        self.outofelection.clear();
        out.push(Action::Decided(Decision {
            state: self.state,
            vote,
            round: self.round,
            rounds: self.rounds,
            notifications_received: self.received,
            joined_established,
            distinct_votes: u32::try_from(self.votes_seen.len()).unwrap_or(u32::MAX),
        }));
        // Tell everyone at once: looking servers and observers need not wait for a timeout
        // to learn the outcome.
        out.push(Action::Broadcast(self.current()));
    }

    fn saw(&mut self, vote: Vote) {
        if self.votes_seen.len() < MAX_VOTES_SEEN {
            self.votes_seen.insert(vote);
        }
    }

    fn broadcast(&mut self, out: &mut Vec<Action>) {
        let me = self.current();
        if self.am_voter() {
            // My own vote counts in my vote box, as if I had sent it to myself.
            self.recvset.insert(self.me, me);
        }
        out.push(Action::Broadcast(me));
    }

    fn reply(&self, to: Sid) -> Action {
        Action::Send {
            to,
            notification: self.current(),
        }
    }

    fn arm(&mut self, after: Duration, out: &mut Vec<Action>) {
        self.timer += 1;
        out.push(Action::SetTimer {
            timer: self.timer,
            after,
        });
    }
}

#[cfg(test)]
#[path = "fle_tests.rs"]
mod tests;
