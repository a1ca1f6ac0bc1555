//! Every checker must be able to fail: with a protocol bug planted (`--features planted`,
//! src/planted.rs), the checker that guards the broken rule reports it. Run with
//! `cargo test --features sim,planted --test planted` (scripts/test.sh does).
//!
//! Which checker catches which bug:
//! - commits out of order: the simulation's invariants (here);
//! - observer votes counted: the model checker (here) and the election core's unit test;
//! - the ACKEPOCH -1 rule dropped: the leader core's unit test (`--features planted --lib`);
//! - an ACK before its fsync: none yet. The simulation's disk loses unsynced bytes only at a
//!   crash between steps, and a follower fsyncs within the step that logged the proposal, so
//!   the window is never hit; catching it needs slow-disk faults in the simulation.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;
use zabd::planted::{plant, Bug};

/// 3 voters, a burst of concurrent writes (so that one fsync commits several proposals at
/// once), run with the simulation's invariant checks after every step.
fn burst(bug: Option<Bug>) -> Result<(), String> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    plant(bug.as_slice());
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let mut c = zabd::sim::Cluster::new(7, 3, 0);
        let ids = c.ids.clone();
        c.wait_stable(&ids, Duration::from_secs(10));
        let slots: Vec<_> = (0..30)
            .map(|i| {
                let id = ids[i % ids.len()];
                zabd::sim::submit_on(&mut c, &format!("w{i}"), id, &format!("/b{i}"))
            })
            .collect();
        c.run_for(Duration::from_secs(3));
        let acked = slots
            .iter()
            .filter(|s| s.lock().ok().and_then(|v| *v) == Some(true))
            .count();
        assert!(acked > 0, "the burst acknowledged nothing");
    }));
    plant(&[]);
    std::panic::set_hook(previous);
    outcome.map_err(|payload| {
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

#[test]
fn the_simulation_catches_commits_out_of_order() {
    burst(None).expect("the burst passes without the bug");
    let msg = burst(Some(Bug::CommitOutOfOrder)).expect_err("commits out of order went unnoticed");
    assert!(msg.contains("out of zxid order"), "{msg}");
}

#[test]
fn the_model_checker_catches_counted_observer_votes() {
    use zabd::election::model::{explore, Bounds};
    let bounds = Bounds {
        voters: 2,
        observers: 1,
        losses: 0,
        crashes: 0,
        timer_fires: 1,
        max_states: 50_000,
    };
    let clean = explore(Bounds {
        max_states: 5_000,
        ..bounds
    });
    assert_eq!(clean.violation, None, "clean core");
    plant(&[Bug::ObserverVoteCounted]);
    let report = explore(bounds);
    plant(&[]);
    let violation = report
        .violation
        .expect("counting observers' votes went unnoticed");
    println!("after {} states: {violation}", report.states);
}
