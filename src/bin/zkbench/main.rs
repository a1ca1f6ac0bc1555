//! `zkbench`: a load generator speaking ZooKeeper's client protocol, for comparing zabd with
//! Apache ZooKeeper on the same machine with the same client.
//!
//! Modes:
//! - `create`, `set`, `get`: `--sessions` concurrent sessions, each its own TCP connection and
//!   ZooKeeper session with one request outstanding at a time (like a synchronous client),
//!   spread round-robin over `--servers`; after `--warmup` seconds, `--duration` seconds are
//!   measured: throughput, latency percentiles, errors, and zkbench's own CPU use (so a reader
//!   can see whether the generator, which shares the machine, was the bottleneck).
//! - `gap`: `--writers` sessions write continuously; on connection loss they reconnect to the
//!   next server with the same session (as real clients do) and retry. Reports the longest time
//!   between two successful writes over the run, and for each SIGUSR1-marked event (the
//!   benchmark script marks the moment just before it kills the leader) the pause it caused:
//!   the interval between successful writes that holds each writer's first failed write after
//!   the mark (worst writer), and the time from the mark to the end of that pause.
//!
//! Every run works under its own znode `<prefix>/<unix-ms>-<pid>` so runs never collide.
//! Prints one human-readable line, and with `--json` also one JSON line (last on stdout).
//! Only loopback or test hosts should be given as servers; the run stops by itself.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod client;
mod gap;
mod load;
mod report;

use clap::Parser;
use client::{Client, ConnEvents};
use load::{LoadParams, SessionResult, Window, Workload};
use report::{cpu_seconds, num_array, JsonLine, Latencies};
use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Mode {
    /// create of new 100-byte znodes (unique paths, or sequential with --sequential)
    Create,
    /// setData (version -1) on a znode per session
    Set,
    /// getData of a znode per session
    Get,
    /// continuous writes; reports the longest pause in successful writes (see --help)
    Gap,
}

/// Load generator for ZooKeeper-compatible servers (zabd, Apache ZooKeeper).
#[derive(Debug, Parser)]
#[command(name = "zkbench", version)]
struct Cli {
    /// What to run.
    #[arg(value_enum)]
    mode: Mode,
    /// Client ports, comma separated: 127.0.0.1:2181,127.0.0.1:2182,...
    #[arg(long, value_delimiter = ',', required = true)]
    servers: Vec<String>,
    /// Concurrent sessions (create/set/get), assigned round-robin to the servers.
    #[arg(long, default_value_t = 1)]
    sessions: usize,
    /// Measured seconds (after the warmup).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of load before measuring (JIT, caches, connection set-up settle).
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Bytes of data per create/setData.
    #[arg(long, default_value_t = 100)]
    data_size: usize,
    /// Parent znode of every run's own directory.
    #[arg(long, default_value = "/zkbench")]
    prefix: String,
    /// create: PERSISTENT_SEQUENTIAL nodes `c<session>-<seq>` instead of unique paths.
    #[arg(long)]
    sequential: bool,
    /// Session timeout to request (ms); pings go out after a third of the negotiated one.
    #[arg(long, default_value_t = 10_000)]
    session_timeout_ms: i32,
    /// Runtime worker threads; 1 runs everything on one thread (least CPU taken from servers).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Wait after a full round of failed connection attempts (ms).
    #[arg(long, default_value_t = 10)]
    backoff_ms: u64,
    /// How long connecting and preparing all sessions may take (s).
    #[arg(long, default_value_t = 60.0)]
    setup_timeout: f64,
    /// gap: number of writing sessions (writer i starts on server i).
    #[arg(long, default_value_t = 1)]
    writers: usize,
    /// gap: which write to repeat.
    #[arg(long, value_enum, default_value_t = gap::GapOp::Set)]
    gap_op: gap::GapOp,
    /// gap: seconds after an event within which a failed write is attributed to it.
    #[arg(long, default_value_t = 10.0)]
    event_window: f64,
    /// Free-form label copied into the JSON line (e.g. "zabd" or "zookeeper").
    #[arg(long, default_value = "")]
    label: String,
    /// Also print a JSON line with every figure.
    #[arg(long)]
    json: bool,
    /// Print every connection event (established, failed attempt and why, lost call) to stderr.
    #[arg(long)]
    trace_conn: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let servers = match resolve(&cli.servers) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("zkbench: {e}");
            return ExitCode::from(2);
        }
    };
    if cli.sessions == 0 || cli.writers == 0 || cli.duration <= 0.0 || cli.warmup < 0.0 {
        eprintln!("zkbench: --sessions/--writers must be > 0, --duration > 0, --warmup >= 0");
        return ExitCode::from(2);
    }
    if cli.trace_conn {
        client::enable_trace();
    }
    let runtime = if cli.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cli.threads)
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("zkbench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, servers)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zkbench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn resolve(list: &[String]) -> Result<Vec<SocketAddr>, String> {
    let mut out = Vec::new();
    for s in list.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let addr = s
            .to_socket_addrs()
            .map_err(|e| format!("server {s}: {e}"))?
            .next()
            .ok_or_else(|| format!("server {s}: no address"))?;
        out.push(addr);
    }
    if out.is_empty() {
        return Err("--servers is empty".into());
    }
    Ok(out)
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

/// Create the prefix (each component) and this run's own directory; returns the latter and
/// the session timeout the server negotiated (every session asks for the same).
async fn prepare_run_dir(cli: &Cli, servers: &[SocketAddr]) -> Result<(String, i32), String> {
    let mut admin = Client::new(
        servers.to_vec(),
        0,
        cli.session_timeout_ms,
        Duration::from_millis(cli.backoff_ms),
    );
    admin
        .ensure_connected(Instant::now() + secs(cli.setup_timeout))
        .await
        .map_err(|e| format!("no server of {servers:?} accepted a session (last: {e})"))?;
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let mut path = String::new();
    for part in cli.prefix.split('/').filter(|p| !p.is_empty()) {
        path.push('/');
        path.push_str(part);
        load::ensure_node(&mut admin, &path, b"").await?;
    }
    let run_path = format!("{path}/{stamp}-{}", std::process::id());
    load::ensure_node(&mut admin, &run_path, b"").await?;
    let negotiated = admin.negotiated_timeout_ms();
    admin.close(Duration::from_secs(2)).await;
    Ok((run_path, negotiated))
}

/// zkbench's CPU use between two readings, as seconds and % of one core over `wall`.
fn cpu_between(c0: Option<f64>, c1: Option<f64>, wall: f64) -> (f64, f64) {
    match (c0, c1) {
        (Some(a), Some(b)) if wall > 0.0 => ((b - a).max(0.0), (b - a).max(0.0) / wall * 100.0),
        _ => (f64::NAN, f64::NAN),
    }
}

fn add_events(total: &mut ConnEvents, e: &ConnEvents) {
    total.reconnects += e.reconnects;
    total.failed_attempts += e.failed_attempts;
    total.losses += e.losses;
    total.expirations += e.expirations;
    total.protocol_errors += e.protocol_errors;
    total.pings += e.pings;
}

fn events_json(j: &mut JsonLine, e: &ConnEvents) {
    j.int("reconnects", e.reconnects)
        .int("failed_connect_attempts", e.failed_attempts)
        .int("connection_losses", e.losses)
        .int("session_expirations", e.expirations)
        .int("protocol_errors", e.protocol_errors)
        .int("pings", e.pings);
}

async fn run(cli: Cli, servers: Vec<SocketAddr>) -> Result<(), String> {
    let (run_path, negotiated) = prepare_run_dir(&cli, &servers).await?;
    let data = vec![b'z'; cli.data_size];
    let ctx = RunCtx {
        servers,
        run_path,
        data,
        negotiated,
    };
    match cli.mode {
        Mode::Create => run_load(&cli, ctx, Workload::Create).await,
        Mode::Set => run_load(&cli, ctx, Workload::Set).await,
        Mode::Get => run_load(&cli, ctx, Workload::Get).await,
        Mode::Gap => run_gap(&cli, ctx).await,
    }
}

/// What every mode gets after the common set-up.
struct RunCtx {
    servers: Vec<SocketAddr>,
    run_path: String,
    data: Vec<u8>,
    negotiated: i32,
}

async fn run_load(cli: &Cli, ctx: RunCtx, workload: Workload) -> Result<(), String> {
    let RunCtx {
        servers,
        run_path,
        data,
        negotiated,
    } = ctx;
    let params = LoadParams {
        workload,
        servers: servers.clone(),
        sessions: cli.sessions,
        run_path,
        data,
        sequential: cli.sequential,
        timeout_ms: cli.session_timeout_ms,
        backoff: Duration::from_millis(cli.backoff_ms),
        connect_limit: secs(cli.setup_timeout),
    };
    let (ready_tx, mut ready_rx) = mpsc::channel(params.sessions);
    let (start_tx, start_rx) = watch::channel(None);
    let mut tasks = tokio::task::JoinSet::new();
    for id in 0..params.sessions {
        tasks.spawn(load::run_session(
            id,
            params.clone(),
            ready_tx.clone(),
            start_rx.clone(),
        ));
    }
    drop(ready_tx);
    let setup_started = Instant::now();
    let mut setup_errors = Vec::new();
    let mut ready = 0usize;
    while let Some(r) = ready_rx.recv().await {
        match r {
            Ok(()) => ready += 1,
            Err(e) => setup_errors.push(e),
        }
    }
    let setup_s = setup_started.elapsed().as_secs_f64();
    if !setup_errors.is_empty() {
        drop(start_tx);
        while tasks.join_next().await.is_some() {}
        return Err(format!(
            "{} of {} sessions failed to start; first: {}",
            setup_errors.len(),
            params.sessions,
            setup_errors[0]
        ));
    }
    let start = Instant::now();
    let window = Window {
        warm_end: start + secs(cli.warmup),
        end: start + secs(cli.warmup) + secs(cli.duration),
    };
    // Receivers only go away with their tasks; a send error just means every session ended.
    let _ = start_tx.send(Some(window));
    tokio::time::sleep_until(window.warm_end).await;
    // Markers for a driver that samples the servers' CPU over the same window.
    eprintln!("zkbench: measuring");
    let c0 = cpu_seconds();
    tokio::time::sleep_until(window.end).await;
    let c1 = cpu_seconds();
    eprintln!("zkbench: window end");
    let (cpu_s, cpu_pct) = cpu_between(c0, c1, cli.duration);

    let mut ok = 0u64;
    let mut lat = Latencies::default();
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut events = ConnEvents::default();
    while let Some(joined) = tasks.join_next().await {
        let r: SessionResult = joined.map_err(|e| format!("session task failed: {e}"))?;
        ok += r.ok;
        lat.merge(r.latencies);
        for (k, v) in r.errors {
            *errors.entry(k).or_default() += v;
        }
        add_events(&mut events, &r.events);
        if let Some(e) = r.setup_error {
            *errors.entry(format!("setup: {e}")).or_default() += 1;
        }
    }
    let error_total: u64 = errors.values().sum();
    let ops_per_s = ok as f64 / cli.duration;
    let (p50, p99, p999, max, mean) = (
        lat.quantile_ms(0.50),
        lat.quantile_ms(0.99),
        lat.quantile_ms(0.999),
        lat.max_ms(),
        lat.mean_ms(),
    );
    let label = if cli.label.is_empty() {
        String::new()
    } else {
        format!("[{}] ", cli.label)
    };
    println!(
        "{label}{} sessions={} servers={}: {:.0} ops/s ({ok} ops in {:.1} s), latency p50 {p50:.3} ms \
         p99 {p99:.3} ms max {max:.3} ms, errors {error_total}{}, reconnects {}, zkbench CPU \
         {cpu_s:.2} s ({cpu_pct:.0}% of one core); setup {setup_s:.2} s",
        workload.name(),
        params.sessions,
        servers.len(),
        ops_per_s,
        cli.duration,
        if errors.is_empty() {
            String::new()
        } else {
            format!(" {errors:?}")
        },
        events.reconnects,
    );
    if cli.json {
        let mut err_obj = JsonLine::new();
        for (k, v) in &errors {
            err_obj.int(k, *v);
        }
        let mut j = JsonLine::new();
        j.str("mode", workload.name())
            .str("label", &cli.label)
            .int("servers", servers.len() as u64)
            .int("sessions", params.sessions as u64)
            .int("ready_sessions", ready as u64)
            .num("duration_s", cli.duration)
            .num("warmup_s", cli.warmup)
            .int("data_size", cli.data_size as u64)
            .int("ops", ok)
            .num("ops_per_s", ops_per_s)
            .num("p50_ms", p50)
            .num("p99_ms", p99)
            .num("p999_ms", p999)
            .num("max_ms", max)
            .num("mean_ms", mean)
            .int("errors", error_total)
            .raw("error_counts", &err_obj.finish())
            .num("cpu_s", cpu_s)
            .num("cpu_pct", cpu_pct)
            .int("threads", cli.threads as u64)
            .num("setup_s", setup_s)
            .int("session_timeout_ms", negotiated.max(0) as u64);
        events_json(&mut j, &events);
        println!("{}", j.finish());
    }
    Ok(())
}

async fn run_gap(cli: &Cli, ctx: RunCtx) -> Result<(), String> {
    let RunCtx {
        servers,
        run_path,
        data,
        negotiated,
    } = ctx;
    let marks = gap::spawn_event_listener().map_err(|e| format!("SIGUSR1 handler: {e}"))?;
    let start = Instant::now();
    let params = gap::GapParams {
        servers: servers.clone(),
        op: cli.gap_op,
        run_path,
        data,
        timeout_ms: cli.session_timeout_ms,
        backoff: Duration::from_millis(cli.backoff_ms),
        connect_limit: secs(cli.setup_timeout),
        warm_end: start + secs(cli.warmup),
        end: start + secs(cli.warmup) + secs(cli.duration),
    };
    let mut tasks = tokio::task::JoinSet::new();
    for id in 0..cli.writers {
        tasks.spawn(gap::run_writer(id, params.clone()));
    }
    tokio::time::sleep_until(params.warm_end).await;
    eprintln!("zkbench: measuring");
    let c0 = cpu_seconds();
    tokio::time::sleep_until(params.end).await;
    let c1 = cpu_seconds();
    eprintln!("zkbench: window end");
    let (cpu_s, cpu_pct) = cpu_between(c0, c1, cli.duration);
    let marks: Vec<Instant> = marks.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let window = secs(cli.event_window);

    let mut ok = 0u64;
    let mut failed = 0u64;
    let mut retried = 0u64;
    let mut lat = Latencies::default();
    let mut events = ConnEvents::default();
    let mut max_gap = Duration::ZERO;
    // Per event: the worst (gap, recovery) over writers.
    let mut per_event: Vec<Option<(Duration, Duration)>> = vec![None; marks.len()];
    let mut setup_errors = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let r = joined.map_err(|e| format!("writer task failed: {e}"))?;
        if let Some(e) = r.setup_error {
            setup_errors.push(e);
            continue;
        }
        let in_window = r
            .successes
            .iter()
            .filter(|t| **t >= params.warm_end)
            .count();
        ok += in_window as u64;
        failed += r.failed;
        retried += r.retried;
        add_events(&mut events, &r.events);
        lat.merge(r.latencies);
        let iv = gap::intervals(&r.successes, params.warm_end, params.end);
        if let Some(m) = iv.iter().map(|(a, b)| *b - *a).max() {
            max_gap = max_gap.max(m);
        }
        for (slot, &t) in per_event.iter_mut().zip(&marks) {
            let bounds = (params.warm_end, params.end);
            if let Some(g) = gap::event_outage(&r.successes, &r.failures, t, window, bounds) {
                if slot.map_or(true, |s| g.0 > s.0) {
                    *slot = Some(g);
                }
            }
        }
    }
    if !setup_errors.is_empty() {
        return Err(format!(
            "{} of {} writers failed to start; first: {}",
            setup_errors.len(),
            cli.writers,
            setup_errors[0]
        ));
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let gaps: Vec<f64> = per_event
        .iter()
        .map(|g| g.map_or(f64::NAN, |g| ms(g.0)))
        .collect();
    let recoveries: Vec<f64> = per_event
        .iter()
        .map(|g| g.map_or(f64::NAN, |g| ms(g.1)))
        .collect();
    let label = if cli.label.is_empty() {
        String::new()
    } else {
        format!("[{}] ", cli.label)
    };
    println!(
        "{label}gap writers={} op={:?} servers={}: {ok} writes in {:.1} s ({:.0}/s), longest pause \
         {:.1} ms, pause caused by events {:?} ms (writes resumed {:?} ms after the mark), failed {failed}, \
         retried {retried}, reconnects {}, expirations {}, write p50 {:.3} ms p99 {:.3} ms max \
         {:.3} ms, zkbench CPU {cpu_s:.2} s ({cpu_pct:.0}%)",
        cli.writers,
        cli.gap_op,
        servers.len(),
        cli.duration,
        ok as f64 / cli.duration,
        ms(max_gap),
        gaps.iter().map(|g| (g * 10.0).round() / 10.0).collect::<Vec<_>>(),
        recoveries
            .iter()
            .map(|g| (g * 10.0).round() / 10.0)
            .collect::<Vec<_>>(),
        events.reconnects,
        events.expirations,
        lat.quantile_ms(0.5),
        lat.quantile_ms(0.99),
        lat.max_ms(),
    );
    if cli.json {
        let mut j = JsonLine::new();
        j.str("mode", "gap")
            .str("label", &cli.label)
            .str(
                "op",
                if cli.gap_op == gap::GapOp::Set {
                    "set"
                } else {
                    "create"
                },
            )
            .int("servers", servers.len() as u64)
            .int("writers", cli.writers as u64)
            .num("duration_s", cli.duration)
            .num("warmup_s", cli.warmup)
            .int("ops", ok)
            .num("ops_per_s", ok as f64 / cli.duration)
            .num("max_gap_ms", ms(max_gap))
            .raw("event_gap_ms", &num_array(&gaps))
            .raw("event_recovery_ms", &num_array(&recoveries))
            .int("failed_writes", failed)
            .int("retried_writes", retried)
            .num("p50_ms", lat.quantile_ms(0.5))
            .num("p99_ms", lat.quantile_ms(0.99))
            .num("max_ms", lat.max_ms())
            .num("cpu_s", cpu_s)
            .num("cpu_pct", cpu_pct)
            .int("session_timeout_ms", negotiated.max(0) as u64);
        events_json(&mut j, &events);
        println!("{}", j.finish());
    }
    Ok(())
}
