//! Deterministic simulation tests: the real node code on turmoil (see `zabd::sim`).
//!
//! Run: `cargo test --features sim --test sim`. `SIM_SEEDS=N` runs N seeds of the random-fault
//! test (default 12); a failure prints its seed, and `SIM_SEED=S` (or `scripts/sim.sh --seeds 1
//! --start S --trace`) replays exactly that one.

#![cfg(feature = "sim")]

use std::sync::{Arc, Mutex};
use std::time::Duration;
use zabd::sim::{host, random_faults, submit_on, Cluster, TICK};
use zabd::status::Serving;

#[test]
fn sim_three_voters_elect_one_leader() {
    let mut c = Cluster::new(1, 3, 0);
    let (leader, epoch) = c.wait_stable(&[1, 2, 3], Duration::from_secs(5));
    assert!((1..=3).contains(&leader));
    assert_eq!(epoch, 1);
    // Stays stable: heartbeats keep it.
    c.run_for(Duration::from_secs(5));
    assert_eq!(c.stable(&[1, 2, 3]), Some((leader, epoch)));
}

/// Quorum authentication (shared secret, required) under the simulation: the same crash and
/// restart as below, every connection authenticated.
#[test]
fn sim_authenticated_ensemble_fails_over_and_rejoins() {
    let auth = zabd::auth::Policy {
        secret: Some(Arc::new(zabd::auth::Secret::from_bytes(
            b"simulated ensemble secret",
        ))),
        require: true,
        tls: None,
    };
    let mut c = Cluster::with_auth(7, 3, 1, auth);
    let (old, _) = c.wait_stable(&[1, 2, 3, 4], Duration::from_secs(5));
    let acked = c.start_writer(50, Duration::from_millis(10));
    c.run_for(Duration::from_millis(200));
    c.crash(old);
    let rest = c.others(old);
    let (leader, epoch) = c.wait_stable(&rest, Duration::from_secs(5));
    c.bounce(old);
    let all = c.ids.clone();
    assert_eq!(c.wait_stable(&all, Duration::from_secs(5)), (leader, epoch));
    c.check_acknowledged(&acked, Duration::from_secs(10));
}

#[test]
fn sim_leader_crash_elects_a_new_leader_and_the_restarted_one_follows() {
    let mut c = Cluster::new(2, 3, 1);
    let (old, epoch) = c.wait_stable(&[1, 2, 3, 4], Duration::from_secs(5));
    let acked = c.start_writer(100, Duration::from_millis(10));
    c.run_for(Duration::from_millis(300));
    c.crash(old);
    let rest = c.others(old);
    let (leader, new_epoch) = c.wait_stable(&rest, Duration::from_secs(5));
    assert_ne!(leader, old);
    assert!(new_epoch > epoch);
    c.bounce(old);
    let all = c.ids.clone();
    assert_eq!(
        c.wait_stable(&all, Duration::from_secs(5)),
        (leader, new_epoch),
        "the restarted server joins without changing leader or epoch"
    );
    c.run_for(Duration::from_secs(2));
    c.check_acknowledged(&acked, Duration::from_secs(10));
}

#[test]
fn sim_partitioned_leader_is_replaced_and_steps_down() {
    let mut c = Cluster::new(3, 3, 0);
    let (old, epoch) = c.wait_stable(&[1, 2, 3], Duration::from_secs(5));
    for other in c.others(old) {
        c.sim.partition(host(old), host(other));
    }
    let rest = c.others(old);
    let (leader, new_epoch) = c.wait_stable(&rest, Duration::from_secs(10));
    assert!(new_epoch > epoch);
    // Cut off, the old leader loses its quorum and stops serving.
    c.run_for(TICK * 6);
    assert_ne!(c.views().get(&old).map(|v| v.0), Some(Serving::Leader));
    for other in c.others(old) {
        c.sim.repair(host(old), host(other));
    }
    assert_eq!(
        c.wait_stable(&[1, 2, 3], Duration::from_secs(10)),
        (leader, new_epoch)
    );
}

/// A tiny deterministic generator for the fault schedule (the network has its own seeded rng).
#[test]
fn sim_random_crashes_and_partitions_never_elect_two_leaders_per_epoch() {
    let seeds: Vec<u64> = match std::env::var("SIM_SEED") {
        Ok(s) => vec![s.parse().expect("SIM_SEED is a number")],
        Err(_) => {
            let n = std::env::var("SIM_SEEDS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(12);
            (0..n).collect()
        }
    };
    for seed in seeds {
        let outcome = std::panic::catch_unwind(|| random_faults(seed));
        if let Err(panic) = outcome {
            eprintln!(
                "seed {seed} failed; replay with: SIM_SEED={seed} cargo test --features sim --test sim sim_random"
            );
            std::panic::resume_unwind(panic);
        }
    }
}

/// Submit `/path` on server `id` from a client host; the outcome lands in the returned slot.
#[test]
fn sim_a_cut_off_leaders_uncommitted_proposals_are_truncated_when_it_rejoins() {
    let mut c = Cluster::new(5, 3, 0);
    let (old, epoch) = c.wait_stable(&[1, 2, 3], Duration::from_secs(5));
    let committed = submit_on(&mut c, "before", old, "/committed");
    c.run_for(Duration::from_millis(200));
    assert_eq!(committed.lock().ok().and_then(|s| *s), Some(true));
    // Cut the leader off, then write through it before it notices: logged, never committed.
    for other in c.others(old) {
        c.sim.partition(host(old), host(other));
    }
    let lost = submit_on(&mut c, "cut-off", old, "/uncommitted");
    let rest = c.others(old);
    let (leader, new_epoch) = c.wait_stable(&rest, Duration::from_secs(10));
    assert!(new_epoch > epoch);
    let after = submit_on(&mut c, "after", leader, "/after");
    c.run_for(Duration::from_secs(4));
    assert_eq!(
        lost.lock().ok().and_then(|s| *s),
        Some(false),
        "never acknowledged"
    );
    assert_eq!(after.lock().ok().and_then(|s| *s), Some(true));
    for other in c.others(old) {
        c.sim.repair(host(old), host(other));
    }
    c.wait_stable(&[1, 2, 3], Duration::from_secs(15));
    // Everyone, the old leader included, has the committed writes and not the lost one.
    let acked: Arc<Mutex<Vec<String>>> =
        Arc::new(Mutex::new(vec!["/committed".into(), "/after".into()]));
    c.check_acknowledged(&acked, Duration::from_secs(10));
    let clients = c.clients.lock().map(|m| m.clone()).unwrap_or_default();
    for (id, client) in clients {
        assert!(
            !client.read(|t| t.exists("/uncommitted")),
            "server {id} kept an uncommitted write"
        );
    }
}
