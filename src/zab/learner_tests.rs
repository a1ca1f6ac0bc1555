//! The learner's promises, its sync (DIFF, TRUNC, SNAP), the order of persistence at
//! NEWLEADER, and broadcast (proposals, in-order commits, informs).

use super::*;

fn z(e: u32, c: u32) -> Zxid {
    Zxid::new(Epoch(e), c)
}

fn learner(role: LearnerType, accepted: u32, current: u32, last: Zxid) -> LearnerCore {
    LearnerCore::new(Sid(2), role, 9, Epoch(accepted), Epoch(current), last)
}

fn follower(accepted: u32, current: u32) -> LearnerCore {
    learner(LearnerType::Participant, accepted, current, Zxid(0))
}

fn ok(l: &mut LearnerCore, msg: QuorumMessage) -> Vec<LearnerAction> {
    match l.on_message(msg) {
        Ok(actions) => actions,
        Err(err) => panic!("unexpected error: {err}"),
    }
}

fn txn(zxid: Zxid) -> QuorumMessage {
    QuorumMessage::Txn {
        zxid,
        txn: vec![zxid.counter() as u8],
    }
}

fn proposal(zxid: Zxid) -> QuorumMessage {
    QuorumMessage::Proposal {
        zxid,
        txn: vec![zxid.counter() as u8],
        origin: None,
    }
}

fn position(actions: &[LearnerAction], pred: impl Fn(&LearnerAction) -> bool) -> usize {
    actions.iter().position(pred).unwrap_or(usize::MAX)
}

#[test]
fn a_new_epoch_is_persisted_before_it_is_acknowledged() {
    let mut l = follower(3, 3);
    let out = ok(&mut l, QuorumMessage::LeaderInfo { epoch: Epoch(4) });
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
    let mut l = follower(4, 3);
    let out = ok(&mut l, QuorumMessage::LeaderInfo { epoch: Epoch(4) });
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
    let mut l = follower(5, 5);
    assert_eq!(
        l.on_message(QuorumMessage::LeaderInfo { epoch: Epoch(4) }),
        Err(LearnerError::EpochBehind {
            proposed: Epoch(4),
            accepted: Epoch(5)
        })
    );
}

#[test]
fn diff_sync_logs_then_persists_the_epoch_then_acknowledges() {
    let mut l = learner(LearnerType::Participant, 1, 1, z(1, 1));
    ok(&mut l, QuorumMessage::LeaderInfo { epoch: Epoch(2) });
    ok(
        &mut l,
        QuorumMessage::SyncStart {
            mode: SyncMode::Diff,
        },
    );
    assert!(
        ok(&mut l, txn(z(1, 2))).is_empty(),
        "buffered until NEWLEADER"
    );
    ok(&mut l, txn(z(1, 3)));
    let out = ok(&mut l, QuorumMessage::NewLeader { epoch: Epoch(2) });
    let caught_up = position(&out, |a| *a == LearnerAction::CatchUp);
    let logged = position(
        &out,
        |a| matches!(a, LearnerAction::Log { zxid, .. } if *zxid == z(1, 3)),
    );
    let synced = position(&out, |a| *a == LearnerAction::SyncLog);
    let epoch = position(&out, |a| *a == LearnerAction::PersistCurrentEpoch(Epoch(2)));
    let applied = position(
        &out,
        |a| matches!(a, LearnerAction::Apply { zxid, .. } if *zxid == z(1, 3)),
    );
    let acked = position(&out, |a| {
        *a == LearnerAction::Send(QuorumMessage::AckNewLeader { epoch: Epoch(2) })
    });
    assert!(
        caught_up < logged
            && logged < synced
            && synced < epoch
            && epoch < applied
            && applied < acked,
        "{out:?}"
    );
    assert!(!l.is_serving());
    assert_eq!(
        ok(&mut l, QuorumMessage::UpToDate),
        vec![LearnerAction::Serving { epoch: Epoch(2) }]
    );
    assert!(l.is_serving());
}

#[test]
fn trunc_cuts_the_uncommitted_tail_first() {
    let mut l = learner(LearnerType::Participant, 1, 1, z(1, 5));
    ok(&mut l, QuorumMessage::LeaderInfo { epoch: Epoch(2) });
    let out = ok(
        &mut l,
        QuorumMessage::SyncStart {
            mode: SyncMode::Trunc { to: z(1, 3) },
        },
    );
    assert_eq!(out, vec![LearnerAction::Truncate(z(1, 3))]);
    // After the cut, history continues from (1,3).
    ok(&mut l, txn(z(1, 4)));
    let out = ok(&mut l, QuorumMessage::NewLeader { epoch: Epoch(2) });
    assert!(out
        .iter()
        .any(|a| matches!(a, LearnerAction::Log { zxid, .. } if *zxid == z(1, 4))));
}

#[test]
fn snap_is_assembled_from_chunks_and_installed_at_newleader() {
    let mut l = follower(1, 1);
    ok(&mut l, QuorumMessage::LeaderInfo { epoch: Epoch(2) });
    ok(
        &mut l,
        QuorumMessage::SyncStart {
            mode: SyncMode::Snap { zxid: z(1, 9) },
        },
    );
    ok(
        &mut l,
        QuorumMessage::SnapChunk {
            data: vec![1, 2],
            last: false,
        },
    );
    ok(
        &mut l,
        QuorumMessage::SnapChunk {
            data: vec![3],
            last: true,
        },
    );
    let out = ok(&mut l, QuorumMessage::NewLeader { epoch: Epoch(2) });
    assert_eq!(
        out[0],
        LearnerAction::InstallSnapshot {
            zxid: z(1, 9),
            data: vec![1, 2, 3]
        }
    );
}

#[test]
fn an_incomplete_snapshot_at_newleader_is_an_error() {
    let mut l = follower(1, 1);
    ok(&mut l, QuorumMessage::LeaderInfo { epoch: Epoch(2) });
    ok(
        &mut l,
        QuorumMessage::SyncStart {
            mode: SyncMode::Snap { zxid: z(1, 9) },
        },
    );
    ok(
        &mut l,
        QuorumMessage::SnapChunk {
            data: vec![1],
            last: false,
        },
    );
    assert_eq!(
        l.on_message(QuorumMessage::NewLeader { epoch: Epoch(2) }),
        Err(LearnerError::IncompleteSnapshot)
    );
}

#[test]
fn proposals_outstanding_at_sync_are_logged_acked_and_committed_in_order() {
    let mut l = learner(LearnerType::Participant, 2, 2, z(2, 1));
    ok(&mut l, QuorumMessage::LeaderInfo { epoch: Epoch(3) });
    ok(
        &mut l,
        QuorumMessage::SyncStart {
            mode: SyncMode::Diff,
        },
    );
    ok(&mut l, proposal(z(3, 1)));
    let out = ok(&mut l, QuorumMessage::NewLeader { epoch: Epoch(3) });
    assert_eq!(
        out.last(),
        Some(&LearnerAction::Send(QuorumMessage::Ack { zxid: z(3, 1) })),
        "acknowledged after the sync (and its fsync) completed"
    );
    assert_eq!(l.pending_count(), 1);
    // A new proposal in broadcast: logged then acked after the group fsync.
    assert!(matches!(
        ok(&mut l, proposal(z(3, 2)))[..],
        [LearnerAction::LogAndAck { .. }]
    ));
    // A COMMIT must name a pending proposal: one never proposed is refused, and so is one
    // already committed.
    assert_eq!(
        l.on_message(QuorumMessage::Commit { zxid: z(3, 3) }),
        Err(LearnerError::CommitOutOfOrder {
            expected: Some(z(3, 1)),
            got: z(3, 3)
        })
    );
    assert_eq!(l.pending_count(), 2, "a refused COMMIT applies nothing");
    // COMMIT is cumulative: naming the second applies both, in zxid order.
    let applied: Vec<Zxid> = ok(&mut l, QuorumMessage::Commit { zxid: z(3, 2) })
        .into_iter()
        .map(|a| match a {
            LearnerAction::Apply { zxid, .. } => zxid,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(applied, vec![z(3, 1), z(3, 2)]);
    assert_eq!(l.pending_count(), 0);
    assert_eq!(
        l.on_message(QuorumMessage::Commit { zxid: z(3, 2) }),
        Err(LearnerError::CommitOutOfOrder {
            expected: None,
            got: z(3, 2)
        })
    );
}

#[test]
fn commits_apply_the_pending_proposal_with_its_origin() {
    let mut l = follower(0, 0);
    ok(&mut l, QuorumMessage::LeaderInfo { epoch: Epoch(1) });
    ok(
        &mut l,
        QuorumMessage::SyncStart {
            mode: SyncMode::Diff,
        },
    );
    ok(&mut l, QuorumMessage::NewLeader { epoch: Epoch(1) });
    ok(&mut l, QuorumMessage::UpToDate);
    let origin = Origin {
        server: Sid(2),
        request: 7,
    };
    ok(
        &mut l,
        QuorumMessage::Proposal {
            zxid: z(1, 1),
            txn: vec![5],
            origin: Some(origin),
        },
    );
    let out = ok(&mut l, QuorumMessage::Commit { zxid: z(1, 1) });
    assert_eq!(
        out,
        vec![LearnerAction::Apply {
            zxid: z(1, 1),
            txn: Arc::new(vec![5]),
            origin: Some(origin)
        }]
    );
    assert_eq!(l.pending_count(), 0);
    // A proposal that does not move forward is a protocol error.
    assert!(l.on_message(proposal(z(1, 1))).is_err());
}

#[test]
fn observers_take_informs_and_refuse_proposals() {
    let mut l = learner(LearnerType::Observer, 0, 0, Zxid(0));
    ok(&mut l, QuorumMessage::LeaderInfo { epoch: Epoch(1) });
    ok(
        &mut l,
        QuorumMessage::SyncStart {
            mode: SyncMode::Diff,
        },
    );
    ok(&mut l, QuorumMessage::NewLeader { epoch: Epoch(1) });
    ok(&mut l, QuorumMessage::UpToDate);
    let out = ok(
        &mut l,
        QuorumMessage::Inform {
            zxid: z(1, 1),
            txn: vec![1],
            origin: None,
        },
    );
    assert!(matches!(
        out[..],
        [LearnerAction::Log { .. }, LearnerAction::Apply { .. }]
    ));
    assert!(l.on_message(proposal(z(1, 2))).is_err());
}

#[test]
fn out_of_order_handshake_messages_are_errors() {
    let mut l = follower(0, 0);
    assert!(l.on_message(QuorumMessage::UpToDate).is_err());
    let mut l = follower(0, 0);
    ok(&mut l, QuorumMessage::LeaderInfo { epoch: Epoch(1) });
    ok(
        &mut l,
        QuorumMessage::SyncStart {
            mode: SyncMode::Diff,
        },
    );
    assert_eq!(
        l.on_message(QuorumMessage::NewLeader { epoch: Epoch(2) }),
        Err(LearnerError::EpochMismatch {
            expected: Epoch(1),
            got: Epoch(2)
        })
    );
    // A sync transaction going backwards.
    let mut l = learner(LearnerType::Participant, 1, 1, z(1, 4));
    ok(&mut l, QuorumMessage::LeaderInfo { epoch: Epoch(2) });
    ok(
        &mut l,
        QuorumMessage::SyncStart {
            mode: SyncMode::Diff,
        },
    );
    assert!(l.on_message(txn(z(1, 3))).is_err());
}
