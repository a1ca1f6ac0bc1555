//! Write throughput and commit latency of a 3-voter zabd ensemble with fsync on.
//!
//! Three real nodes (the `Node` the binary runs) in this process, talking over loopback TCP,
//! each with its own data directory on the same disk (`--dir`, default the system temp dir).
//! Writers submit `create` transactions of 100-byte znodes through the library API, spread over
//! all three servers (followers forward to the leader), for 1, 16 and 128 concurrent writers.
//! Printed per level: throughput, p50/p99/max commit latency, the leader's log fsyncs per
//! committed transaction (group commit), and this process's CPU time (servers included).
//!
//! `cargo run --release --example bench_writes -- [--seconds S] [--dir DIR]`
//! (or `scripts/bench-writes.sh`). Loopback only; it stops by itself.

use std::sync::Arc;
use std::time::{Duration, Instant};
use zabd::api::ZabClient;
use zabd::node::Node;
use zabd::status::{Counters, Serving, StatusBoard};
use zabd::storage::RealDisk;
use zabd::tree::{Acl, CreateMode, Op};

fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<std::net::TcpListener> = (0..n)
        .filter_map(|_| std::net::TcpListener::bind("127.0.0.1:0").ok())
        .collect();
    held.iter()
        .filter_map(|l| l.local_addr().ok().map(|a| a.port()))
        .collect()
}

/// User + system CPU seconds of this process so far (from /proc/self/stat).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields 14 and 15 of stat (utime, stime) are at 11 and 12 after the command name.
    (ticks(11) + ticks(12)) / 100.0
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var("RUST_LOG").is_ok() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let seconds: f64 = arg("--seconds").and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let base = arg("--dir")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::Builder::new()
        .prefix("zabd-bench-writes")
        .tempdir_in(&base)?;
    let configs = zabd::config::loopback_ensemble(3, &free_ports(9), dir.path());
    let mut clients: Vec<ZabClient> = Vec::new();
    let mut boards: Vec<Arc<StatusBoard>> = Vec::new();
    let mut tasks = Vec::new();
    for cfg in configs.into_values() {
        let node = Node::bind(cfg, Arc::new(RealDisk)).await?;
        clients.push(node.client());
        boards.push(node.board());
        tasks.push(tokio::spawn(node.run()));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let leader = loop {
        let serving: Vec<Serving> = boards.iter().map(|b| b.snapshot().serving).collect();
        if let Some(i) = serving.iter().position(|s| *s == Serving::Leader) {
            if serving.iter().all(|s| *s != Serving::NotServing) {
                break i;
            }
        }
        if Instant::now() > deadline {
            return Err("no stable leader within 20 s".into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    println!(
        "zabd write benchmark: 3 voters in one process on loopback, fsync on, data in {}",
        base.display()
    );
    println!("each write: create of a 100-byte znode, submitted round-robin to all 3 servers; {seconds} s per level");
    println!();
    println!("| writers | writes/s | p50 | p99 | max | leader fsyncs per txn | CPU s per 1000 writes (whole process) |");
    println!("|---|---|---|---|---|---|---|");
    let mut next_path = 0u64;
    for writers in [1usize, 16, 128] {
        let fsyncs0 = Counters::get(&boards[leader].counters.log_fsyncs);
        let txns0 = Counters::get(&boards[leader].counters.txns_committed);
        let cpu0 = cpu_seconds();
        let start = Instant::now();
        let stop = start + Duration::from_secs_f64(seconds);
        let mut workers = Vec::new();
        for w in 0..writers {
            let client = clients[w % clients.len()].clone();
            let first = next_path + (w as u64) * 10_000_000;
            workers.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut failures = 0u64;
                let mut i = first;
                while Instant::now() < stop {
                    let op = Op::Create {
                        path: format!("/b{i}"),
                        data: vec![7; 100],
                        acl: Acl::open_unsafe(),
                        mode: CreateMode::Persistent,
                    };
                    i += 1;
                    let t = Instant::now();
                    match client.submit(0, 0, op, Duration::from_secs(10)).await {
                        Ok(r) if r.err().is_ok() => latencies.push(t.elapsed()),
                        _ => {
                            failures += 1;
                            // A fair client backs off instead of spinning on NOTSERVING.
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                }
                (latencies, failures)
            }));
        }
        let mut all = Vec::new();
        let mut failures = 0;
        for w in workers {
            let (l, f) = w.await?;
            all.extend(l);
            failures += f;
        }
        next_path += (writers as u64) * 10_000_000;
        let elapsed = start.elapsed().as_secs_f64();
        all.sort_unstable();
        let fsyncs = Counters::get(&boards[leader].counters.log_fsyncs) - fsyncs0;
        let txns = Counters::get(&boards[leader].counters.txns_committed) - txns0;
        let cpu = cpu_seconds() - cpu0;
        let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1000.0);
        println!(
            "| {writers} | {:.0} | {} | {} | {} | {:.3} | {:.3} |{}",
            all.len() as f64 / elapsed,
            ms(percentile(&all, 0.50)),
            ms(percentile(&all, 0.99)),
            ms(all.last().copied().unwrap_or_default()),
            fsyncs as f64 / (txns.max(1) as f64),
            cpu / (all.len().max(1) as f64) * 1000.0,
            if failures > 0 {
                format!(" {failures} failed")
            } else {
                String::new()
            },
        );
    }
    let digests: Vec<u64> = {
        let mut d = Vec::new();
        for c in &clients {
            c.sync(Duration::from_secs(10)).await?;
            d.push(c.read(|t| t.digest()));
        }
        d
    };
    println!();
    println!(
        "replicas agree after the run: {} (digests {:x?})",
        digests.windows(2).all(|w| w[0] == w[1]),
        digests
    );
    for t in tasks {
        t.abort();
    }
    Ok(())
}
