//! Exhaustive exploration of the election core (src/election/model.rs): prints the states
//! explored and any violation.
//!
//! `cargo run --release --example model_fle [VOTERS] [OBSERVERS] [LOSSES] [CRASHES] [MAX_STATES]`

use zabd::election::model::{explore, Bounds};

fn main() -> std::process::ExitCode {
    let arg = |i: usize, default: u64| -> u64 {
        std::env::args()
            .nth(i)
            .and_then(|a| a.parse().ok())
            .unwrap_or(default)
    };
    let bounds = Bounds {
        voters: arg(1, 3),
        observers: arg(2, 0),
        losses: arg(3, 1) as u32,
        crashes: arg(4, 1) as u32,
        timer_fires: 1,
        max_states: arg(5, 2_000_000) as usize,
    };
    let started = std::time::Instant::now();
    let report = explore(bounds);
    println!(
        "{:?}: {} states explored{} in {:.1?}",
        bounds,
        report.states,
        if report.exhausted {
            " (all reachable within the bounds)"
        } else {
            " (stopped at max_states)"
        },
        started.elapsed()
    );
    match report.violation {
        Some(v) => {
            println!("VIOLATION: {v}");
            std::process::ExitCode::FAILURE
        }
        None => {
            println!("no violation");
            std::process::ExitCode::SUCCESS
        }
    }
}
