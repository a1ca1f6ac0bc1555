//! How the cost of an election grows with the ensemble, measured in the deterministic
//! simulation (`zabd::sim`, turmoil): real processes cannot show 51 voters or 200 observers on a
//! 2-core machine, simulated ones can, in virtual time.
//!
//! For each ensemble (voters, observers): cold start to a stable leader, then the leader is
//! crashed and the survivors elect a new one. Prints one JSON line per ensemble: simulated
//! milliseconds to a stable leader (cold start and failover), notifications and their bytes
//! (summed over the servers; for the failover over the survivors, counted until they are stable
//! plus a settle period), and the wall-clock seconds the simulation took.
//!
//! `cargo run --release --features sim --example sim_scale -- [--voters 3,5,...] [--observers
//! 0,50,...] [--seed S] [--budget SECONDS]`. Voters and observers are combined as given: every
//! voter count with 0 observers, then every observer count with 3 voters. `--budget` stops
//! before starting an ensemble once that much wall time is spent, and says so.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use zabd::sim::Cluster;

/// Simulated time allowed to each stable-leader wait; beyond it the ensemble counts as failed.
const WITHIN: Duration = Duration::from_secs(120);
/// Simulated time after the survivors are stable before their counters are read, so that
/// trailing notifications (answers to late votes) are counted too.
const SETTLE: Duration = Duration::from_millis(500);

fn list(args: &[String], name: &str, default: &[u64]) -> Result<Vec<u64>, String> {
    match args.iter().position(|a| a == name) {
        None => Ok(default.to_vec()),
        Some(i) => args
            .get(i + 1)
            .ok_or(format!("{name} needs a value"))?
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().map_err(|_| format!("{name}: not a number: {s}")))
            .collect(),
    }
}

fn sum(t: &BTreeMap<u64, (u64, u64)>, ids: &[u64]) -> (u64, u64) {
    ids.iter()
        .filter_map(|id| t.get(id))
        .fold((0, 0), |(n, b), (n2, b2)| (n + n2, b + b2))
}

/// One ensemble: cold start, then a leader crash. The JSON line to print.
fn measure(seed: u64, voters: u64, observers: u64) -> String {
    let wall = Instant::now();
    let mut c = Cluster::new(seed, voters, observers);
    let all = c.ids.clone();
    let t0 = c.sim.elapsed();
    let (leader, _) = c.wait_stable(&all, WITHIN);
    let cold = c.sim.elapsed() - t0;
    let (cold_n, cold_b) = sum(&c.election_traffic(), &all);
    c.run_for(SETTLE);
    let survivors = c.others(leader);
    let before = sum(&c.election_traffic(), &survivors);
    c.crash(leader);
    let t1 = c.sim.elapsed();
    c.wait_stable(&survivors, WITHIN);
    let failover = c.sim.elapsed() - t1;
    c.run_for(SETTLE);
    let after = sum(&c.election_traffic(), &survivors);
    format!(
        "{{\"voters\":{voters},\"observers\":{observers},\"seed\":{seed},\
         \"cold_ms\":{:.1},\"cold_notifications\":{cold_n},\"cold_bytes\":{cold_b},\
         \"failover_ms\":{:.1},\"failover_notifications\":{},\"failover_bytes\":{},\
         \"wall_s\":{:.2}}}",
        cold.as_secs_f64() * 1000.0,
        failover.as_secs_f64() * 1000.0,
        after.0.saturating_sub(before.0),
        after.1.saturating_sub(before.1),
        wall.elapsed().as_secs_f64()
    )
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = (|| -> Result<_, String> {
        let voters = list(&args, "--voters", &[3, 5, 7, 11, 15, 21, 31, 51])?;
        let observers = list(&args, "--observers", &[0, 10, 50, 100, 200])?;
        let seed = list(&args, "--seed", &[1])?.first().copied().unwrap_or(1);
        let budget = list(&args, "--budget", &[1800])?
            .first()
            .copied()
            .unwrap_or(1800);
        Ok((voters, observers, seed, budget))
    })();
    let (voters, observers, seed, budget) = match parsed {
        Ok(p) => p,
        Err(err) => {
            eprintln!("sim_scale: {err}");
            return ExitCode::from(2);
        }
    };
    let mut plan: Vec<(u64, u64)> = voters.iter().map(|v| (*v, 0)).collect();
    plan.extend(observers.iter().filter(|o| **o > 0).map(|o| (3, *o)));
    let start = Instant::now();
    for (v, o) in plan {
        if start.elapsed() > Duration::from_secs(budget) {
            println!(
                "{{\"voters\":{v},\"observers\":{o},\"skipped\":\"wall-clock budget of {budget} s spent\"}}"
            );
            continue;
        }
        // A failed wait panics inside the harness; report it as that ensemble's result.
        match std::panic::catch_unwind(|| measure(seed, v, o)) {
            Ok(line) => println!("{line}"),
            Err(_) => println!(
                "{{\"voters\":{v},\"observers\":{o},\"failed\":\"no stable leader within {} s of simulated time\"}}",
                WITHIN.as_secs()
            ),
        }
    }
    ExitCode::SUCCESS
}
