//! Runs seeds of the deterministic simulation (`zabd::sim::random_faults`) and prints only what
//! the seeds determine: the same arguments give byte-identical output.
//!
//! `scripts/sim.sh --seeds N [--start S] [--trace]`: seeds S .. S+N-1; ends with
//! `simulated N seeds, F failed` and exits non-zero when F > 0. `--trace` prints each seed's
//! full event trace (the nodes' debug logs, stamped with simulated time).

use std::process::ExitCode;
use std::sync::Mutex;

/// The message of the last panic, captured instead of printed (a default panic message would
/// mention the thread and vary between runs).
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str| -> Option<u64> {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
    };
    let (Some(seeds), start) = (value("--seeds"), value("--start").unwrap_or(0)) else {
        eprintln!("usage: scripts/sim.sh --seeds N [--start S] [--trace]");
        return ExitCode::from(2);
    };
    let trace = args.iter().any(|a| a == "--trace");
    if trace {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("zabd=debug"))
            .with_writer(std::io::stdout)
            .with_ansi(false)
            .with_timer(zabd::sim::SimTime)
            .init();
    }
    std::panic::set_hook(Box::new(|info| {
        let msg = match (
            info.payload().downcast_ref::<&str>(),
            info.payload().downcast_ref::<String>(),
        ) {
            (Some(s), _) => (*s).to_string(),
            (_, Some(s)) => s.clone(),
            _ => "panic".to_string(),
        };
        let at = info
            .location()
            .map(|l| format!(" (at {}:{})", l.file(), l.line()))
            .unwrap_or_default();
        if let Ok(mut last) = LAST_PANIC.lock() {
            *last = Some(format!("{msg}{at}"));
        }
    }));
    let mut failed = 0u64;
    for seed in start..start.saturating_add(seeds) {
        if trace {
            println!("=== seed {seed}");
        }
        if std::panic::catch_unwind(|| zabd::sim::random_faults(seed)).is_err() {
            failed += 1;
            let msg = LAST_PANIC
                .lock()
                .ok()
                .and_then(|mut m| m.take())
                .unwrap_or_default();
            println!("seed {seed} failed: {msg}");
            println!("  replay: scripts/sim.sh --seeds 1 --start {seed} --trace");
        }
    }
    println!("simulated {seeds} seeds, {failed} failed");
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
