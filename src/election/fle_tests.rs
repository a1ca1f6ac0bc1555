//! Unit tests of the election rules (reference section 4), one scenario each, plus a
//! property test that random delivery orders and losses still converge on one leader.

use super::*;
use proptest::prelude::*;
use std::collections::VecDeque;

fn v(epoch: u32, zxid: u64, leader: u64) -> Vote {
    Vote {
        epoch: Epoch(epoch),
        zxid: Zxid(zxid),
        leader: Sid(leader),
    }
}

fn looking(vote: Vote, round: u64) -> Notification {
    Notification {
        vote,
        round,
        state: ServerState::Looking,
    }
}

fn with_state(vote: Vote, round: u64, state: ServerState) -> Notification {
    Notification { vote, round, state }
}

/// A server of an ensemble of `voters` voters (ids 1..=voters) and `observers` observers
/// (ids after the voters), with every peer connected.
fn node(me: u64, voters: u64, observers: u64, finalize_ms: u64) -> Fle {
    let all: Vec<Sid> = (1..=voters + observers).map(Sid).collect();
    let others = all.iter().copied().filter(|s| *s != Sid(me)).collect();
    let mut fle = Fle::new(
        Sid(me),
        Voters::new((1..=voters).map(Sid)),
        others,
        Duration::from_millis(finalize_ms),
    );
    for s in all {
        if s != Sid(me) {
            fle.on_connected(s);
        }
    }
    fle
}

fn decision(actions: &[Action]) -> Option<Decision> {
    actions.iter().find_map(|a| match a {
        Action::Decided(d) => Some(*d),
        _ => None,
    })
}

fn sends_to(actions: &[Action], to: Sid) -> Vec<Notification> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send {
                to: t,
                notification,
            } if *t == to => Some(*notification),
            _ => None,
        })
        .collect()
}

fn broadcasts(actions: &[Action]) -> Vec<Notification> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Broadcast(n) => Some(*n),
            _ => None,
        })
        .collect()
}

fn last_timer(actions: &[Action]) -> Option<(TimerId, Duration)> {
    actions.iter().rev().find_map(|a| match a {
        Action::SetTimer { timer, after } => Some((*timer, *after)),
        _ => None,
    })
}

/// A tiny in-memory network of election cores: messages are queued and delivered in FIFO order
/// (or dropped by a filter), timers fire on demand.
struct Cluster {
    nodes: BTreeMap<Sid, Fle>,
    queue: VecDeque<(Sid, Sid, Notification)>,
    timers: BTreeMap<Sid, TimerId>,
    decisions: BTreeMap<Sid, Decision>,
}

impl Cluster {
    fn new(voters: u64, observers: u64, finalize_ms: u64) -> Cluster {
        let nodes = (1..=voters + observers)
            .map(|i| (Sid(i), node(i, voters, observers, finalize_ms)))
            .collect();
        Cluster {
            nodes,
            queue: VecDeque::new(),
            timers: BTreeMap::new(),
            decisions: BTreeMap::new(),
        }
    }

    fn apply(&mut self, from: Sid, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Send { to, notification } => self.queue.push_back((from, to, notification)),
                Action::Broadcast(n) => {
                    let targets: Vec<Sid> = self.nodes[&from].broadcast_targets().collect();
                    for to in targets {
                        self.queue.push_back((from, to, n));
                    }
                }
                Action::SetTimer { timer, .. } => {
                    self.timers.insert(from, timer);
                }
                Action::Decided(d) => {
                    self.decisions.insert(from, d);
                }
            }
        }
    }

    fn start(&mut self, sid: u64, epoch: u32, zxid: u64) {
        let sid = Sid(sid);
        let Some(node) = self.nodes.get_mut(&sid) else {
            return;
        };
        let actions = node.start_election(Epoch(epoch), Zxid(zxid));
        self.apply(sid, actions);
    }

    fn deliver_one(&mut self) -> bool {
        let Some((from, to, n)) = self.queue.pop_front() else {
            return false;
        };
        if let Some(node) = self.nodes.get_mut(&to) {
            let actions = node.on_notification(from, n);
            self.apply(to, actions);
        }
        true
    }

    /// Take the oldest queued message of the link (sender, receiver) of the `i`th queued
    /// message: links are TCP connections, FIFO each, while different links interleave freely.
    fn take_fifo(&mut self, i: usize) -> Option<(Sid, Sid, Notification)> {
        let (from, to, _) = *self.queue.get(i)?;
        let head = self
            .queue
            .iter()
            .position(|(f, t, _)| *f == from && *t == to)?;
        self.queue.remove(head)
    }

    fn deliver_all(&mut self) {
        let mut budget = 100_000;
        while budget > 0 && self.deliver_one() {
            budget -= 1;
        }
        assert!(budget > 0, "message storm: the election does not quiesce");
    }

    fn fire_timers(&mut self) {
        let timers: Vec<(Sid, TimerId)> = self.timers.iter().map(|(s, t)| (*s, *t)).collect();
        for (sid, timer) in timers {
            if let Some(node) = self.nodes.get_mut(&sid) {
                let actions = node.on_timer(timer);
                self.apply(sid, actions);
            }
        }
    }

    fn leaders(&self) -> Vec<Sid> {
        self.decisions
            .iter()
            .filter(|(_, d)| d.state == ServerState::Leading)
            .map(|(s, _)| *s)
            .collect()
    }
}

#[test]
fn three_voters_elect_the_highest_vote_and_agree() {
    let mut c = Cluster::new(3, 0, 50);
    for i in 1..=3 {
        c.start(i, 0, 0);
    }
    c.deliver_all();
    assert_eq!(c.leaders(), vec![Sid(3)]);
    for i in 1..=3 {
        let d = c.decisions[&Sid(i)];
        assert_eq!(d.vote.leader, Sid(3));
        assert_eq!(d.round, 1);
        // Every server proposed itself first, and everyone heard every proposal.
        assert_eq!(d.distinct_votes, 3, "server {i}");
    }
    assert_eq!(c.decisions[&Sid(1)].state, ServerState::Following);
}

#[test]
fn higher_epoch_beats_higher_zxid_and_sid() {
    let mut c = Cluster::new(3, 0, 50);
    c.start(1, 2, 5);
    c.start(2, 1, 900);
    c.start(3, 1, 900);
    c.deliver_all();
    assert_eq!(c.leaders(), vec![Sid(1)]);
}

#[test]
fn higher_zxid_beats_higher_sid() {
    let mut c = Cluster::new(5, 0, 50);
    for i in 1..=5 {
        c.start(i, 1, if i == 2 { 0x1_0000_0009 } else { 0x1_0000_0003 });
    }
    c.deliver_all();
    assert_eq!(c.leaders(), vec![Sid(2)]);
    assert_eq!(c.decisions.len(), 5);
}

#[test]
fn a_round_that_goes_backwards_is_answered_and_not_counted() {
    let mut fle = node(1, 3, 0, 50);
    fle.start_election(Epoch(0), Zxid(0));
    fle.start_election(Epoch(0), Zxid(0)); // round 2
    assert_eq!(fle.round(), 2);
    // Server 3 still in round 1 votes for itself: it would win, but the round is stale.
    let actions = fle.on_notification(Sid(3), looking(v(0, 0, 3), 1));
    let replies = sends_to(&actions, Sid(3));
    assert_eq!(replies.len(), 1, "the stale sender is told my round");
    assert_eq!(replies[0].round, 2);
    assert_eq!(replies[0].vote.leader, Sid(1));
    assert_eq!(
        fle.vote().leader,
        Sid(1),
        "a stale round's vote is not adopted"
    );
    assert!(decision(&actions).is_none());
}

#[test]
fn a_newer_round_is_joined_with_the_better_of_its_vote_and_my_own() {
    let mut fle = node(2, 3, 0, 50);
    fle.start_election(Epoch(1), Zxid(10));
    // Server 1 is in round 5 and votes for itself with an older zxid: I join round 5 but keep
    // proposing myself, since my own candidacy is better.
    let actions = fle.on_notification(Sid(1), looking(v(1, 5, 1), 5));
    assert_eq!(fle.round(), 5);
    assert_eq!(fle.vote().leader, Sid(2));
    let b = broadcasts(&actions);
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].round, 5);
    assert_eq!(b[0].vote, v(1, 10, 2));
}

#[test]
fn votes_of_an_older_round_do_not_count_in_a_newer_one() {
    // 5 voters, no finalize wait: any 3 agreeing voters decide at once.
    let mut fle = node(1, 5, 0, 0);
    fle.start_election(Epoch(0), Zxid(0));
    // Round 1: 2 votes for 5 (me + 2 agree: 2 of 5, no quorum yet).
    assert!(decision(&fle.on_notification(Sid(2), looking(v(0, 0, 5), 1))).is_none());
    // 3 starts round 2, also for 5. Were 2's round-1 vote still counted, me + 2 + 3 would decide.
    let actions = fle.on_notification(Sid(3), looking(v(0, 0, 5), 2));
    assert!(
        decision(&actions).is_none(),
        "a round-1 vote counted in round 2"
    );
    assert_eq!(fle.round(), 2);
    // 2 catches up to round 2: now three round-2 votes agree.
    let d = decision(&fle.on_notification(Sid(2), looking(v(0, 0, 5), 2))).expect("quorum");
    assert_eq!(d.round, 2);
    assert_eq!(d.rounds, 2);
    assert_eq!(d.vote.leader, Sid(5));
}

#[test]
fn a_lost_message_is_recovered_by_the_timeout_resend() {
    let mut c = Cluster::new(3, 0, 50);
    for i in 1..=3 {
        c.start(i, 0, 0);
    }
    // Lose every message 3 sends in its first broadcast.
    c.queue.retain(|(from, _, _)| *from != Sid(3));
    c.deliver_all();
    // 1 and 2 may have settled on 2 without 3 (2 of 3 agree, 3's vote never came: finalize).
    c.fire_timers();
    c.deliver_all();
    c.fire_timers();
    c.deliver_all();
    let leaders = c.leaders();
    assert_eq!(leaders.len(), 1, "exactly one leader: {leaders:?}");
    let leader = leaders[0];
    for d in c.decisions.values() {
        assert_eq!(d.vote.leader, leader);
    }
    assert_eq!(c.decisions.len(), 3);
}

#[test]
fn notifications_proposing_a_non_voter_or_from_strangers_are_ignored() {
    let mut fle = node(1, 3, 1, 0);
    fle.start_election(Epoch(0), Zxid(0));
    // Server 2 proposes observer 4, which can never lead.
    let actions = fle.on_notification(Sid(2), looking(v(9, 9, 4), 1));
    assert!(actions.is_empty());
    assert_eq!(fle.vote().leader, Sid(1));
    // A server id outside the ensemble, and my own id, change nothing.
    assert!(fle
        .on_notification(Sid(77), looking(v(0, 0, 3), 1))
        .is_empty());
    assert!(fle
        .on_notification(Sid(1), looking(v(0, 0, 3), 1))
        .is_empty());
    assert_eq!(fle.vote().leader, Sid(1));
}

#[test]
fn an_observer_can_never_win_and_observes_the_voters_choice() {
    let mut c = Cluster::new(3, 1, 50);
    // The observer has by far the best epoch and zxid.
    c.start(4, 99, 0xffff);
    for i in 1..=3 {
        c.start(i, 0, 0);
    }
    c.deliver_all();
    assert_eq!(c.leaders(), vec![Sid(3)]);
    let obs = c.decisions[&Sid(4)];
    assert_eq!(obs.state, ServerState::Observing);
    assert_eq!(obs.vote.leader, Sid(3));
}

/// Voter 1 alone with two observers, which "agree" with 1 and then claim to follow it.
/// Whether 1 (wrongly) decided anything.
fn observers_alone_make_a_leader() -> bool {
    let mut fle = node(1, 3, 2, 0);
    fle.on_disconnected(Sid(2));
    fle.on_disconnected(Sid(3));
    fle.start_election(Epoch(0), Zxid(0));
    let mut decided = false;
    for obs in [4, 5] {
        let actions = fle.on_notification(Sid(obs), looking(v(0, 0, 1), 1));
        decided |= decision(&actions).is_some();
    }
    let actions = fle.on_notification(Sid(4), with_state(v(0, 0, 1), 1, ServerState::Observing));
    decided | decision(&actions).is_some() || fle.state() != ServerState::Looking
}

#[test]
fn observer_votes_never_count_toward_a_quorum() {
    // 1 of 3 voters is no quorum, whatever observers say.
    let mut fle = node(1, 3, 2, 0);
    fle.on_disconnected(Sid(2));
    fle.on_disconnected(Sid(3));
    fle.start_election(Epoch(0), Zxid(0));
    let actions = fle.on_notification(Sid(4), looking(v(0, 0, 1), 1));
    // The observer gets my vote back at once...
    assert_eq!(sends_to(&actions, Sid(4)).len(), 1);
    // ...but nothing is decided, ever.
    assert!(!observers_alone_make_a_leader());
}

#[cfg(feature = "planted")]
#[test]
fn the_observer_rule_check_catches_the_planted_bug() {
    use crate::planted::{plant, Bug};
    plant(&[Bug::ObserverVoteCounted]);
    let caught = observers_alone_make_a_leader();
    plant(&[]);
    assert!(caught, "counting observers' votes went unnoticed");
}

#[test]
fn a_restarted_server_joins_the_established_leader_without_an_election() {
    // Ensemble of 3: 3 leads epoch 4 after round 7; 1 restarts with round 0.
    let mut fle = node(1, 3, 0, 50);
    let actions = fle.start_election(Epoch(3), Zxid(0x3_0000_0010));
    assert_eq!(broadcasts(&actions)[0].round, 1);
    // Follower 2 answers first: not enough on its own (no word from the leader itself).
    let follower = with_state(v(4, 0x3_0000_0010, 3), 7, ServerState::Following);
    assert!(decision(&fle.on_notification(Sid(2), follower)).is_none());
    // The leader's own LEADING vote completes the quorum and confirms the leader.
    let leader = with_state(v(4, 0x3_0000_0010, 3), 7, ServerState::Leading);
    let actions = fle.on_notification(Sid(3), leader);
    let d = decision(&actions).expect("joins the running leader");
    assert_eq!(d.state, ServerState::Following);
    assert_eq!(d.vote.leader, Sid(3));
    assert_eq!(d.vote.epoch, Epoch(4), "the leader's epoch is not changed");
    assert_eq!(d.round, 7, "adopts the ensemble's round");
    assert!(d.joined_established);
    // Its own candidacy and the one vote the follower and the leader share.
    assert_eq!(d.distinct_votes, 2);
    assert_eq!(d.notifications_received, 2);
}

#[test]
fn followers_of_a_leader_that_does_not_confirm_are_not_followed() {
    // Two servers say they follow 3, but 3 itself never says it leads (it died): no decision.
    let mut fle = node(1, 5, 0, 50);
    fle.start_election(Epoch(0), Zxid(0));
    for s in [2, 4, 5] {
        let n = with_state(v(1, 0, 3), 3, ServerState::Following);
        assert!(decision(&fle.on_notification(Sid(s), n)).is_none());
    }
    assert_eq!(fle.state(), ServerState::Looking);
}

#[test]
fn an_established_server_answers_a_looking_one_with_its_vote_and_state() {
    let mut fle = node(2, 3, 0, 0);
    fle.start_election(Epoch(0), Zxid(0));
    let actions = fle.on_notification(Sid(3), looking(v(0, 0, 3), 1));
    assert_eq!(
        decision(&actions).map(|d| d.state),
        Some(ServerState::Following)
    );
    // A newcomer (1) in round 1 asks: it is told I follow 3.
    let actions = fle.on_notification(Sid(1), looking(v(0, 0, 1), 1));
    let replies = sends_to(&actions, Sid(1));
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].state, ServerState::Following);
    assert_eq!(replies[0].vote.leader, Sid(3));
    // An established server telling me it follows changes nothing and gets no reply.
    let n = with_state(v(0, 0, 3), 1, ServerState::Following);
    assert!(fle.on_notification(Sid(1), n).is_empty());
}

#[test]
fn decides_at_once_when_every_connected_voter_agrees() {
    let mut fle = node(3, 3, 0, 200);
    fle.start_election(Epoch(0), Zxid(0));
    fle.on_notification(Sid(1), looking(v(0, 0, 3), 1));
    let actions = fle.on_notification(Sid(2), looking(v(0, 0, 3), 1));
    assert_eq!(
        decision(&actions).map(|d| d.state),
        Some(ServerState::Leading)
    );
}

#[test]
fn waits_for_a_connected_voter_that_has_not_answered_then_decides() {
    let mut fle = node(3, 3, 0, 200);
    fle.start_election(Epoch(0), Zxid(0));
    // 1 agrees (quorum: me + 1) but 2 is connected and silent: wait finalize_wait.
    let actions = fle.on_notification(Sid(1), looking(v(0, 0, 3), 1));
    assert!(decision(&actions).is_none());
    let (timer, after) = last_timer(&actions).expect("finalize timer armed");
    assert_eq!(after, Duration::from_millis(200));
    let actions = fle.on_timer(timer);
    assert_eq!(decision(&actions).map(|d| d.vote.leader), Some(Sid(3)));
}

#[test]
fn a_peer_going_away_ends_the_wait_for_its_vote() {
    let mut fle = node(3, 3, 0, 200);
    fle.start_election(Epoch(0), Zxid(0));
    let actions = fle.on_notification(Sid(1), looking(v(0, 0, 3), 1));
    assert!(decision(&actions).is_none());
    // 2 disconnects (it was the dead leader): nobody else can vote, decide now.
    let actions = fle.on_disconnected(Sid(2));
    assert_eq!(
        decision(&actions).map(|d| d.state),
        Some(ServerState::Leading)
    );
}

#[test]
fn a_better_vote_during_the_finalize_wait_reopens_the_election() {
    let mut fle = node(1, 3, 0, 200);
    fle.start_election(Epoch(0), Zxid(0));
    // 2 proposes 2; I adopt it; 2 and I agree: quorum, but 3 is connected and silent.
    let actions = fle.on_notification(Sid(2), looking(v(0, 0, 2), 1));
    assert!(decision(&actions).is_none());
    let (finalize_timer, _) = last_timer(&actions).expect("finalize timer");
    // 3's better vote arrives during the wait.
    let actions = fle.on_notification(Sid(3), looking(v(0, 0, 3), 1));
    assert_eq!(fle.vote().leader, Sid(3));
    assert_eq!(broadcasts(&actions).len(), 1);
    // The old finalize timer is stale now.
    assert!(fle.on_timer(finalize_timer).is_empty());
    assert_eq!(fle.state(), ServerState::Looking);
}

#[test]
fn the_notification_timeout_doubles_up_to_sixty_seconds_and_resends() {
    let mut fle = node(1, 3, 0, 50);
    let actions = fle.start_election(Epoch(0), Zxid(0));
    let (mut timer, mut after) = last_timer(&actions).expect("timer");
    assert_eq!(after, Duration::from_millis(200));
    let mut seen = vec![after];
    for _ in 0..12 {
        let actions = fle.on_timer(timer);
        assert_eq!(
            broadcasts(&actions).len(),
            1,
            "each timeout re-sends the proposal"
        );
        (timer, after) = last_timer(&actions).expect("re-armed");
        seen.push(after);
    }
    assert_eq!(seen[1], Duration::from_millis(400));
    assert_eq!(seen[2], Duration::from_millis(800));
    assert_eq!(*seen.last().unwrap_or(&Duration::ZERO), MAX_TIMEOUT);
}

#[test]
fn observers_broadcast_only_to_voters_and_voters_to_everyone() {
    let observer = node(4, 3, 2, 50);
    let targets: Vec<Sid> = observer.broadcast_targets().collect();
    assert_eq!(targets, vec![Sid(1), Sid(2), Sid(3)]);
    let voter = node(1, 3, 2, 50);
    let targets: Vec<Sid> = voter.broadcast_targets().collect();
    assert_eq!(targets, vec![Sid(2), Sid(3), Sid(4), Sid(5)]);
}

#[test]
fn the_leader_updates_its_vote_epoch_once_established() {
    let mut fle = node(3, 3, 0, 0);
    fle.start_election(Epoch(2), Zxid(0));
    fle.on_notification(Sid(1), looking(v(2, 0, 3), 1));
    assert_eq!(fle.state(), ServerState::Leading);
    let actions = fle.epoch_established(Epoch(3));
    assert_eq!(broadcasts(&actions)[0].vote.epoch, Epoch(3));
    assert_eq!(fle.vote().epoch, Epoch(3));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Without losses, in any delivery order, every server decides and all agree on the best
    /// voter's vote: a decision by full agreement can never be contradicted later.
    #[test]
    fn any_delivery_order_without_loss_elects_the_best_voter(
        voters in 1u64..=7,
        observers in 0u64..=2,
        epochs in proptest::collection::vec(0u32..3, 9),
        zxids in proptest::collection::vec(0u64..4, 9),
        picks in proptest::collection::vec(any::<prop::sample::Index>(), 0..600),
    ) {
        // A long finalize wait whose timer never fires here: only full agreement decides.
        let mut c = Cluster::new(voters, observers, 10_000);
        for i in 1..=voters + observers {
            let idx = (i - 1) as usize;
            c.start(i, epochs[idx], zxids[idx]);
        }
        for pick in &picks {
            if c.queue.is_empty() { break; }
            let i = pick.index(c.queue.len());
            let Some(msg) = c.take_fifo(i) else { break };
            c.queue.push_front(msg);
            c.deliver_one();
        }
        c.deliver_all();
        let best = (1..=voters)
            .map(|i| v(epochs[(i - 1) as usize], zxids[(i - 1) as usize], i))
            .max();
        prop_assert_eq!(c.decisions.len() as u64, voters + observers);
        prop_assert_eq!(c.leaders().len(), 1);
        for d in c.decisions.values() {
            prop_assert_eq!(Some(d.vote), best);
        }
    }

    /// With random losses and timer-driven re-sends an election may split (ZAB's epoch
    /// establishment sorts that out), but nobody ever decides for an observer or a stranger,
    /// and no server decides to lead without being the vote's leader.
    #[test]
    fn lossy_delivery_never_chooses_a_non_voter(
        voters in 3u64..=7,
        epochs in proptest::collection::vec(0u32..3, 8),
        zxids in proptest::collection::vec(0u64..4, 8),
        picks in proptest::collection::vec(any::<prop::sample::Index>(), 0..400),
        drops in proptest::collection::vec(any::<bool>(), 0..400),
        finalize_ms in 0u64..3,
    ) {
        let mut c = Cluster::new(voters, 1, finalize_ms);
        for i in 1..=voters + 1 {
            let idx = (i - 1) as usize;
            c.start(i, epochs[idx], zxids[idx]);
        }
        for (k, pick) in picks.iter().enumerate() {
            if c.queue.is_empty() { break; }
            let i = pick.index(c.queue.len());
            let Some(msg) = c.take_fifo(i) else { break };
            if drops.get(k).copied().unwrap_or(false) { continue; }
            c.queue.push_front(msg);
            c.deliver_one();
        }
        for _ in 0..20 {
            c.deliver_all();
            c.fire_timers();
        }
        for (sid, d) in &c.decisions {
            prop_assert!(d.vote.leader.0 >= 1 && d.vote.leader.0 <= voters);
            prop_assert_eq!(d.state == ServerState::Leading, d.vote.leader == *sid);
        }
    }
}

#[test]
fn a_worse_vote_in_my_round_gets_my_better_vote_back_at_once() {
    // 2 went LOOKING while 1 still followed the dead leader, so 1 never saw 2's broadcast;
    // now 1 proposes itself in the same round. 2 answers with its better vote right away
    // rather than leaving 1 to discover it at the next timeout.
    let mut fle = node(2, 3, 0, 50);
    fle.start_election(Epoch(1), Zxid(0));
    let actions = fle.on_notification(Sid(1), looking(v(1, 0, 1), 1));
    let replies = sends_to(&actions, Sid(1));
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].vote.leader, Sid(2));
    // Once 1 agrees, nothing more is said.
    let actions = fle.on_notification(Sid(1), looking(v(1, 0, 2), 1));
    assert!(sends_to(&actions, Sid(1)).is_empty());
}

#[test]
fn a_voter_never_seen_yet_is_given_the_finalize_wait() {
    // At cold start server 3 may simply not be up yet: 1 and 2 agreeing is a quorum, but 3 might
    // still bring a better vote, so wait instead of deciding at once.
    let mut fle = Fle::new(
        Sid(2),
        Voters::new([Sid(1), Sid(2), Sid(3)]),
        [Sid(1), Sid(3)].into_iter().collect(),
        Duration::from_millis(50),
    );
    fle.on_connected(Sid(1));
    fle.start_election(Epoch(0), Zxid(0));
    let actions = fle.on_notification(Sid(1), looking(v(0, 0, 2), 1));
    assert!(decision(&actions).is_none());
    let (timer, after) = last_timer(&actions).expect("finalize timer");
    assert_eq!(after, Duration::from_millis(50));
    // 3 turns up within the wait with a better vote: it wins.
    fle.on_connected(Sid(3));
    fle.on_notification(Sid(3), looking(v(0, 0, 3), 1));
    assert_eq!(fle.vote().leader, Sid(3));
    assert!(
        fle.on_timer(timer).is_empty(),
        "the old finalize timer is stale"
    );
}
