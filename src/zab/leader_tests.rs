//! Discovery, the ACKEPOCH -1 rule, synchronisation and heartbeat rules of the leader core.

use super::*;
use crate::zab::messages::SyncMode;

const ENSEMBLE: u64 = 9;

fn setup(voters: &[u64], observers: &[u64], accepted: u32, current: u32) -> LeaderSetup {
    let mut roles = BTreeMap::new();
    for v in voters {
        roles.insert(Sid(*v), LearnerType::Participant);
    }
    for o in observers {
        roles.insert(Sid(*o), LearnerType::Observer);
    }
    LeaderSetup {
        me: Sid(voters[voters.len() - 1]),
        voters: Voters::new(voters.iter().map(|v| Sid(*v))),
        roles,
        accepted_epoch: Epoch(accepted),
        current_epoch: Epoch(current),
        last_zxid: Zxid(0),
        window: CommittedWindow::new(Zxid(0), 100, 1 << 20),
        init_limit_half_ticks: 20,
        sync_limit_half_ticks: 10,
    }
}

fn info(sid: u64, role: LearnerType, accepted: u32) -> QuorumMessage {
    QuorumMessage::LearnerInfo {
        protocol: 1,
        ensemble: ENSEMBLE,
        sid: Sid(sid),
        role,
        accepted_epoch: Epoch(accepted),
    }
}

fn ack_epoch(current: u32, already_promised: bool) -> QuorumMessage {
    QuorumMessage::AckEpoch {
        current_epoch: Epoch(current),
        already_promised,
        last_zxid: Zxid(0),
    }
}

fn ack(epoch: u32) -> QuorumMessage {
    QuorumMessage::AckNewLeader {
        epoch: Epoch(epoch),
    }
}

fn sent(actions: &[LeaderAction], to: u64) -> Vec<QuorumMessage> {
    actions
        .iter()
        .filter_map(|a| match a {
            LeaderAction::Send { to: t, msg } if *t == Sid(to) => Some(msg.clone()),
            _ => None,
        })
        .collect()
}

fn is_serving(actions: &[LeaderAction]) -> bool {
    actions
        .iter()
        .any(|a| matches!(a, LeaderAction::Serving { .. }))
}

fn steps_down(actions: &[LeaderAction]) -> bool {
    actions
        .iter()
        .any(|a| matches!(a, LeaderAction::StepDown { .. }))
}

/// Drive a 3-voter leader (3) with follower 1 to serving.
fn serving_leader() -> LeaderCore {
    let mut l = LeaderCore::new(setup(&[1, 2, 3], &[4], 0, 0));
    assert!(l.start().is_empty());
    l.on_message(Sid(1), info(1, LearnerType::Participant, 0));
    l.on_message(Sid(1), ack_epoch(0, false));
    let out = l.on_message(Sid(1), ack(1));
    assert!(is_serving(&out));
    l
}

/// [`serving_leader`] with observer 4 synced too (it gets INFORMs, not proposals).
fn serving_leader_with_observer() -> LeaderCore {
    let mut l = serving_leader();
    l.on_message(Sid(4), info(4, LearnerType::Observer, 0));
    l.on_message(Sid(4), ack_epoch(0, false));
    l.on_message(Sid(4), ack(1));
    l
}

#[test]
fn the_new_epoch_is_max_accepted_plus_one_and_persisted_before_it_is_sent() {
    let mut l = LeaderCore::new(setup(&[1, 2, 3], &[], 4, 4));
    assert!(l.start().is_empty(), "alone, the leader is no quorum");
    let out = l.on_message(Sid(1), info(1, LearnerType::Participant, 6));
    assert_eq!(out[0], LeaderAction::PersistAcceptedEpoch(Epoch(7)));
    assert_eq!(
        sent(&out, 1),
        vec![QuorumMessage::LeaderInfo { epoch: Epoch(7) }]
    );
    assert_eq!(l.epoch(), Some(Epoch(7)));
}

#[test]
fn an_observer_does_not_help_decide_the_epoch() {
    let mut l = LeaderCore::new(setup(&[1, 2, 3], &[4], 0, 0));
    let out = l.on_message(Sid(4), info(4, LearnerType::Observer, 0));
    assert!(out.is_empty(), "leader + observer is no quorum: {out:?}");
    assert_eq!(l.phase(), LeaderPhase::Discovery);
    // A voter arrives: now the epoch is decided and both learners are told.
    let out = l.on_message(Sid(1), info(1, LearnerType::Participant, 0));
    assert_eq!(sent(&out, 4).len(), 1);
    assert_eq!(sent(&out, 1).len(), 1);
}

/// Learners 1 and 2 both answer ACKEPOCH "already promised": whether the leader (wrongly)
/// establishes the epoch on them.
fn promised_answers_establish_the_epoch() -> bool {
    let mut l = LeaderCore::new(setup(&[1, 2, 3, 4, 5], &[], 0, 0));
    l.on_message(Sid(1), info(1, LearnerType::Participant, 0));
    l.on_message(Sid(2), info(2, LearnerType::Participant, 0));
    let mut out = l.on_message(Sid(1), ack_epoch(0, true));
    out.extend(l.on_message(Sid(2), ack_epoch(0, true)));
    out.contains(&LeaderAction::PersistCurrentEpoch(Epoch(1)))
}

#[cfg(feature = "planted")]
#[test]
fn the_ackepoch_rule_check_catches_the_planted_bug() {
    use crate::planted::{plant, Bug};
    assert!(!promised_answers_establish_the_epoch());
    plant(&[Bug::AckEpochRuleDropped]);
    let caught = promised_answers_establish_the_epoch();
    plant(&[]);
    assert!(caught, "counting already-promised ACKEPOCHs went unnoticed");
}

#[test]
fn an_ackepoch_from_a_learner_that_already_promised_the_epoch_is_never_counted() {
    assert!(!promised_answers_establish_the_epoch());
    // Without this rule, learner 1 (which promised epoch 1 to another would-be leader) could
    // back two leaders of epoch 1.
    let mut l = LeaderCore::new(setup(&[1, 2, 3, 4, 5], &[], 0, 0));
    l.on_message(Sid(1), info(1, LearnerType::Participant, 0));
    let out = l.on_message(Sid(2), info(2, LearnerType::Participant, 0));
    assert!(sent(&out, 1).contains(&QuorumMessage::LeaderInfo { epoch: Epoch(1) }));
    // 1 and 2 both answer "already promised": me + nobody counted.
    let out = l.on_message(Sid(1), ack_epoch(0, true));
    assert!(!out.contains(&LeaderAction::PersistCurrentEpoch(Epoch(1))));
    let out = l.on_message(Sid(2), ack_epoch(0, true));
    assert!(!out.contains(&LeaderAction::PersistCurrentEpoch(Epoch(1))));
    assert_eq!(l.phase(), LeaderPhase::AwaitAckEpoch);
    // Two genuine promises (3 and 4) make the quorum: me + 3 + 4.
    l.on_message(Sid(3), info(3, LearnerType::Participant, 0));
    l.on_message(Sid(3), ack_epoch(0, false));
    assert_eq!(l.phase(), LeaderPhase::AwaitAckEpoch);
    l.on_message(Sid(4), info(4, LearnerType::Participant, 0));
    let out = l.on_message(Sid(4), ack_epoch(0, false));
    assert_eq!(out[0], LeaderAction::PersistCurrentEpoch(Epoch(1)));
    // Everyone who answered, counted or not, is synced (NEWLEADER).
    for sid in [1, 2, 3, 4] {
        assert!(
            sent(&out, sid)
                .iter()
                .any(|m| matches!(m, QuorumMessage::NewLeader { .. })),
            "learner {sid} gets NEWLEADER"
        );
    }
}

#[test]
fn serving_needs_a_quorum_of_newleader_acks_then_uptodate_goes_out() {
    let mut l = LeaderCore::new(setup(&[1, 2, 3, 4, 5], &[], 0, 0));
    for sid in [1, 2] {
        l.on_message(Sid(sid), info(sid, LearnerType::Participant, 0));
    }
    for sid in [1, 2] {
        l.on_message(Sid(sid), ack_epoch(0, false));
    }
    assert_eq!(l.phase(), LeaderPhase::AwaitNewLeaderAck);
    assert!(!is_serving(&l.on_message(Sid(1), ack(1))));
    let out = l.on_message(Sid(2), ack(1));
    assert!(is_serving(&out));
    assert_eq!(sent(&out, 1), vec![QuorumMessage::UpToDate]);
    assert_eq!(sent(&out, 2), vec![QuorumMessage::UpToDate]);
    // A late learner goes straight through.
    let out = l.on_message(Sid(5), info(5, LearnerType::Participant, 0));
    assert_eq!(
        sent(&out, 5),
        vec![QuorumMessage::LeaderInfo { epoch: Epoch(1) }]
    );
    let out = l.on_message(Sid(5), ack_epoch(0, false));
    assert_eq!(
        sent(&out, 5),
        vec![
            QuorumMessage::SyncStart {
                mode: SyncMode::Diff
            },
            QuorumMessage::NewLeader { epoch: Epoch(1) }
        ]
    );
    let out = l.on_message(Sid(5), ack(1));
    assert_eq!(sent(&out, 5), vec![QuorumMessage::UpToDate]);
    assert_eq!(l.counts().synced_followers, 3);
}

#[test]
fn a_learner_ahead_of_the_leader_makes_it_step_down() {
    let mut l = LeaderCore::new(setup(&[1, 2, 3], &[], 2, 2));
    l.on_message(Sid(1), info(1, LearnerType::Participant, 2));
    let out = l.on_message(Sid(1), ack_epoch(5, false));
    assert!(steps_down(&out));
}

#[test]
fn a_learner_lying_about_its_role_is_disconnected() {
    let mut l = LeaderCore::new(setup(&[1, 2, 3], &[4], 0, 0));
    let out = l.on_message(Sid(4), info(4, LearnerType::Participant, 0));
    assert!(matches!(out[..], [LeaderAction::Disconnect { .. }]));
    let out = l.on_message(Sid(9), info(9, LearnerType::Participant, 0));
    assert!(matches!(out[..], [LeaderAction::Disconnect { .. }]));
    assert_eq!(l.phase(), LeaderPhase::Discovery);
}

#[test]
fn pings_go_out_every_half_tick_and_a_silent_quorum_makes_the_leader_step_down() {
    let mut l = serving_leader();
    // Follower 1 keeps answering for a while.
    for _ in 0..15 {
        let out = l.on_half_tick();
        assert_eq!(sent(&out, 1), vec![QuorumMessage::Ping]);
        assert!(!steps_down(&out));
        l.on_message(Sid(1), QuorumMessage::Ping);
    }
    // Then goes silent: after syncLimit (10 half-ticks) the leader has no quorum.
    let mut stepped = false;
    for _ in 0..11 {
        if steps_down(&l.on_half_tick()) {
            stepped = true;
            break;
        }
    }
    assert!(stepped);
    assert_eq!(l.phase(), LeaderPhase::SteppedDown);
}

#[test]
fn a_learner_still_syncing_has_init_limit_and_a_serving_one_sync_limit() {
    let mut l = serving_leader();
    // Observer 4 joins the serving leader and gets its sync, then says nothing (as while it
    // loads a large snapshot).
    l.on_message(Sid(4), info(4, LearnerType::Observer, 0));
    l.on_message(Sid(4), ack_epoch(0, false));
    let dropped = |out: &[LeaderAction]| {
        out.iter()
            .any(|a| matches!(a, LeaderAction::Disconnect { sid, .. } if *sid == Sid(4)))
    };
    let mut dropped_at = None;
    for i in 1..=21 {
        let out = l.on_half_tick();
        l.on_message(Sid(1), QuorumMessage::Ping);
        if dropped(&out) {
            dropped_at = Some(i);
            break;
        }
    }
    assert_eq!(
        dropped_at,
        Some(21),
        "initLimit (20 half-ticks), not syncLimit (10)"
    );
    // Follower 1, serving, is held to syncLimit.
    let mut stepped_at = None;
    for i in 1..=11 {
        if steps_down(&l.on_half_tick()) {
            stepped_at = Some(i);
            break;
        }
    }
    assert_eq!(stepped_at, Some(11));
}

#[test]
fn losing_the_only_follower_connection_steps_down_at_once() {
    let mut l = serving_leader();
    assert!(steps_down(&l.on_disconnected(Sid(1))));
}

#[test]
fn no_quorum_within_init_limit_steps_down() {
    let mut l = LeaderCore::new(setup(&[1, 2, 3], &[], 0, 0));
    l.start();
    let mut stepped = 0;
    for i in 1..=21 {
        if steps_down(&l.on_half_tick()) {
            stepped = i;
            break;
        }
    }
    assert_eq!(stepped, 21, "initLimit is 20 half-ticks");
}

#[test]
fn a_single_voter_with_observers_leads_alone() {
    let mut l = LeaderCore::new(setup(&[1], &[2], 0, 0));
    let out = l.start();
    assert_eq!(
        out,
        vec![
            LeaderAction::PersistAcceptedEpoch(Epoch(1)),
            LeaderAction::PersistCurrentEpoch(Epoch(1)),
            LeaderAction::Serving { epoch: Epoch(1) },
        ]
    );
}

fn apply_zxids(actions: &[LeaderAction]) -> Vec<Zxid> {
    actions
        .iter()
        .filter_map(|a| match a {
            LeaderAction::Apply(c) => Some(c.zxid),
            _ => None,
        })
        .collect()
}

fn z(c: u32) -> Zxid {
    Zxid::new(Epoch(1), c)
}

#[test]
fn proposals_go_to_followers_and_commit_once_a_quorum_has_them_durably() {
    let mut l = serving_leader_with_observer();
    let (zxid, out) = l
        .propose(Arc::new(vec![7]), None)
        .expect("a serving leader proposes");
    assert_eq!(zxid, z(1));
    assert!(matches!(out[0], LeaderAction::Log { zxid, .. } if zxid == z(1)));
    assert!(matches!(
        sent(&out, 1)[..],
        [QuorumMessage::Proposal { .. }]
    ));
    assert!(
        sent(&out, 4).is_empty(),
        "observers get INFORM on commit, not proposals"
    );
    // Follower 1's ack alone, then the leader's own fsync: the commit.
    assert!(apply_zxids(&l.on_message(Sid(1), QuorumMessage::Ack { zxid: z(1) })).is_empty());
    let out = l.on_logged(z(1));
    assert_eq!(apply_zxids(&out), vec![z(1)]);
    assert_eq!(sent(&out, 1), vec![QuorumMessage::Commit { zxid: z(1) }]);
    assert_eq!(
        sent(&out, 4),
        vec![QuorumMessage::Inform {
            zxid: z(1),
            txn: vec![7],
            origin: None
        }]
    );
    assert_eq!(l.last_committed(), z(1));
}

#[test]
fn proposals_committed_together_take_one_cumulative_commit_but_an_inform_each() {
    let mut l = serving_leader_with_observer();
    for data in [1u8, 2, 3] {
        l.propose(Arc::new(vec![data]), None).expect("proposes");
    }
    // Follower 1 has all three durably, then the leader's fsync covers them: one batch.
    assert!(apply_zxids(&l.on_message(Sid(1), QuorumMessage::Ack { zxid: z(3) })).is_empty());
    let out = l.on_logged(z(3));
    assert_eq!(apply_zxids(&out), vec![z(1), z(2), z(3)]);
    assert_eq!(sent(&out, 1), vec![QuorumMessage::Commit { zxid: z(3) }]);
    let informed: Vec<Zxid> = sent(&out, 4)
        .into_iter()
        .map(|m| match m {
            QuorumMessage::Inform { zxid, .. } => zxid,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(informed, vec![z(1), z(2), z(3)]);
}

#[test]
fn a_learner_joining_mid_stream_gets_the_history_then_the_outstanding_proposals() {
    let mut l = serving_leader();
    let (z1, _) = l.propose(Arc::new(vec![1]), None).expect("propose");
    l.on_logged(z1);
    l.on_message(Sid(1), QuorumMessage::Ack { zxid: z1 });
    let (z2, _) = l.propose(Arc::new(vec![2]), None).expect("propose");
    // Server 2 arrives with nothing: DIFF of the committed z1, the outstanding z2, NEWLEADER.
    l.on_message(Sid(2), info(2, LearnerType::Participant, 0));
    let out = l.on_message(Sid(2), ack_epoch(0, false));
    assert_eq!(
        sent(&out, 2),
        vec![
            QuorumMessage::SyncStart {
                mode: SyncMode::Diff
            },
            QuorumMessage::Txn {
                zxid: z1,
                txn: vec![1]
            },
            QuorumMessage::Proposal {
                zxid: z2,
                txn: vec![2],
                origin: None
            },
            QuorumMessage::NewLeader { epoch: Epoch(1) },
        ]
    );
    // Its ack counts toward z2 right away.
    let out = l.on_message(Sid(2), QuorumMessage::Ack { zxid: z2 });
    assert!(
        apply_zxids(&out).is_empty(),
        "the leader has not fsynced z2 yet"
    );
    assert_eq!(apply_zxids(&l.on_logged(z2)), vec![z2]);
}

#[test]
fn forwarded_requests_carry_their_origin_and_fail_clearly_when_not_serving() {
    let mut l = LeaderCore::new(setup(&[1, 2, 3], &[], 0, 0));
    l.on_message(Sid(1), info(1, LearnerType::Participant, 0));
    let out = l.on_message(
        Sid(1),
        QuorumMessage::Request {
            request: 5,
            txn: vec![1],
        },
    );
    assert!(matches!(
        &sent(&out, 1)[..],
        [QuorumMessage::RequestFailed { request: 5, .. }]
    ));
    let mut l = serving_leader();
    let out = l.on_message(
        Sid(1),
        QuorumMessage::Request {
            request: 6,
            txn: vec![1],
        },
    );
    assert_eq!(
        out,
        vec![LeaderAction::Forwarded {
            origin: Origin {
                server: Sid(1),
                request: 6
            },
            request: vec![1]
        }]
    );
    let zxid = l.next_zxid().expect("serving");
    let origin = Some(Origin {
        server: Sid(1),
        request: 6,
    });
    let (proposed, out) = l.propose(Arc::new(vec![1]), origin).expect("propose");
    assert_eq!(proposed, zxid);
    assert!(matches!(
        &sent(&out, 1)[..],
        [QuorumMessage::Proposal {
            origin: Some(Origin {
                server: Sid(1),
                request: 6
            }),
            ..
        }]
    ));
}

#[test]
fn sync_barriers_complete_after_everything_proposed_before_them_commits() {
    let mut l = serving_leader();
    // Nothing outstanding: done at once.
    let out = l.on_message(Sid(1), QuorumMessage::Sync { request: 1 });
    assert!(matches!(
        &sent(&out, 1)[..],
        [QuorumMessage::SyncDone { request: 1, .. }]
    ));
    let (z1, _) = l.propose(Arc::new(vec![1]), None).expect("propose");
    let out = l.on_message(Sid(1), QuorumMessage::Sync { request: 2 });
    assert!(sent(&out, 1).is_empty());
    assert!(l.sync_barrier(3).is_empty());
    l.on_message(Sid(1), QuorumMessage::Ack { zxid: z1 });
    let out = l.on_logged(z1);
    // COMMIT first, then the barrier's answer, on the same link.
    assert_eq!(
        sent(&out, 1),
        vec![
            QuorumMessage::Commit { zxid: z1 },
            QuorumMessage::SyncDone {
                request: 2,
                zxid: z1
            }
        ]
    );
    assert!(out.contains(&LeaderAction::LocalSyncDone {
        request: 3,
        zxid: z1
    }));
}

#[test]
fn proposing_is_refused_unless_serving() {
    let mut l = LeaderCore::new(setup(&[1, 2, 3], &[], 0, 0));
    assert_eq!(
        l.propose(Arc::new(vec![]), None).map(|(z, _)| z),
        Err(ProposeError::NotServing)
    );
}

#[test]
fn a_learner_behind_gets_exactly_the_missing_history_on_sync() {
    let mut s = setup(&[1, 2, 3], &[], 1, 1);
    s.last_zxid = Zxid::new(Epoch(1), 3);
    for c in 1..=3 {
        s.window
            .push(Zxid::new(Epoch(1), c), Arc::new(vec![c as u8]));
    }
    let mut l = LeaderCore::new(s);
    l.on_message(Sid(1), info(1, LearnerType::Participant, 1));
    let out = l.on_message(
        Sid(1),
        QuorumMessage::AckEpoch {
            current_epoch: Epoch(1),
            already_promised: false,
            last_zxid: Zxid::new(Epoch(1), 2),
        },
    );
    assert_eq!(
        sent(&out, 1)[..2],
        [
            QuorumMessage::SyncStart {
                mode: SyncMode::Diff
            },
            QuorumMessage::Txn {
                zxid: Zxid::new(Epoch(1), 3),
                txn: vec![3]
            }
        ]
    );
}

#[test]
fn a_late_joiner_with_an_old_uncommitted_tail_is_truncated_not_fatal() {
    // Serving epoch 1 with an empty history; learner 2 was the leader of epoch 0 and logged
    // (0,5) that never committed. It must be synced (TRUNC), not make the leader step down.
    let mut l = serving_leader();
    l.on_message(Sid(2), info(2, LearnerType::Participant, 0));
    let out = l.on_message(
        Sid(2),
        QuorumMessage::AckEpoch {
            current_epoch: Epoch(0),
            already_promised: false,
            last_zxid: Zxid::new(Epoch(0), 5),
        },
    );
    assert!(!steps_down(&out), "{out:?}");
    assert!(matches!(
        sent(&out, 2)[0],
        QuorumMessage::SyncStart {
            mode: SyncMode::Trunc { .. }
        }
    ));
}
