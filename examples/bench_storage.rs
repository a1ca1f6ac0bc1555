//! Storage figures of issue 3: catch-up of a follower far behind, recovery from a large
//! transaction log, and memory per million znodes. It prints figures; it asserts nothing about
//! time.
//!
//! 1. **Catch-up.** Three real nodes (the `Node` the binary runs) in this process on loopback,
//!    fsync on, data on disk under `--dir`. One follower is stopped (its task aborted: sockets
//!    close, files stay), `--behind` creates of 100-byte znodes are committed by 128 concurrent
//!    submitters, and the follower is restarted from its directories. Timed from just before
//!    `Node::bind` to the first poll (every 1 ms) at which its tree's last applied zxid equals
//!    the leader's. The sync mode (DIFF/TRUNC/SNAP) is read from the nodes' own log lines. Run
//!    with the default `zabd.commitLogCount` (10000), with it raised above `--behind`, and, for
//!    contrast, with a follower only `--behind`/10 transactions behind.
//! 2. **Recovery.** A standalone `Replica` writes about `--log-mb` MiB of real log records
//!    (creates of 1024 znodes, then setData of 4 KiB values; fsync every 1000 records; no
//!    snapshot), and `Replica::open` (recovery) is timed on it, with the log's pages dropped
//!    from the page cache first (cold) and again right after (warm). `TxnLog::open` (the
//!    validating scan recovery does before replay) is timed alone too. Then a snapshot of the
//!    recovered tree is written, a short tail appended, and recovery timed again with the whole
//!    old log still on disk (purgeInterval 0, the default) and after purging the segments the
//!    snapshot covers.
//! 3. **Memory.** VmRSS of this process before and after building a `DataTree` of `--znodes`
//!    znodes (`/bench/nNNNNNNN`, 16 bytes of data, applied as real create txns), its snapshot's
//!    size on disk, and (in a fresh process) VmRSS after loading that snapshot.
//!
//! Each part runs in its own child process (this program re-executes itself with `--only`), so
//! that one part's memory does not show up in another's RSS.
//!
//! `cargo run --release --example bench_storage -- [--quick] [--dir DIR]
//!  [--parts catchup,recovery,memory] [--behind N] [--log-mb M] [--znodes N] [--repeat N]
//!  [--tick-ms T] [--writers N] [--wait-idle S]` (or `scripts/bench-storage.sh`). `--wait-idle S`
//! waits, before each part, up to S seconds for other processes to use under 0.2 CPUs.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zabd::api::ZabClient;
use zabd::config::Config;
use zabd::ids::{Epoch, Zxid};
use zabd::node::Node;
use zabd::replica::{self, Replica};
use zabd::status::{Serving, StatusBoard};
use zabd::storage::{Disk, LogOptions, RealDisk, SnapStore, TxnLog};
use zabd::tree::{Acl, CreateMode, DataTree, Op, Txn, TxnHeader};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

// ---------------------------------------------------------------- arguments and helpers

#[derive(Debug, Clone)]
struct Args {
    quick: bool,
    base: PathBuf,
    only: Option<String>,
    behind: u64,
    log_mb: u64,
    znodes: u64,
    snapshot: Option<PathBuf>,
    writers: usize,
    tick_ms: u64,
    wait_idle: u64,
    repeat: usize,
    /// The parts the parent runs (`--parts catchup,recovery`; all by default).
    parts: Vec<String>,
}

fn parse_args() -> Args {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let quick = args.iter().any(|a| a == "--quick");
    let num = |name: &str, full: u64, small: u64| {
        arg(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or(if quick { small } else { full })
    };
    Args {
        quick,
        base: arg("--dir")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir),
        only: arg("--only"),
        behind: num("--behind", 100_000, 12_000),
        log_mb: num("--log-mb", 1024, 32),
        znodes: num("--znodes", 1_000_000, 50_000),
        snapshot: arg("--snapshot").map(PathBuf::from),
        writers: num("--writers", 128, 128) as usize,
        tick_ms: num("--tick-ms", 2000, 2000),
        wait_idle: num("--wait-idle", 0, 0),
        repeat: num("--repeat", 3, 1) as usize,
        parts: arg("--parts")
            .unwrap_or_else(|| "catchup,recovery,memory".into())
            .split(',')
            .map(|p| p.trim().to_string())
            .collect(),
    }
}

fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<std::net::TcpListener> = (0..n)
        .filter_map(|_| std::net::TcpListener::bind("127.0.0.1:0").ok())
        .collect();
    held.iter()
        .filter_map(|l| l.local_addr().ok().map(|a| a.port()))
        .collect()
}

/// A `kB` field of /proc/self/status, in bytes.
fn proc_status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kb| kb * 1024)
}

/// The 1/5/15-minute load averages: the machine is shared, so every part prints them.
fn load() -> String {
    let l = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let f: Vec<&str> = l.split_whitespace().take(3).collect();
    format!("load average {}", f.join(" "))
}

/// Busy CPU seconds of the whole machine so far (/proc/stat: everything but idle and iowait).
fn machine_busy_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(cpu) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return 0.0;
    };
    let v: Vec<f64> = cpu
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: f64 = v.iter().sum();
    let idle = v.get(3).copied().unwrap_or(0.0) + v.get(4).copied().unwrap_or(0.0);
    (total - idle) / 100.0
}

/// User + system CPU seconds of this process so far (from /proc/self/stat).
fn self_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields 14 and 15 of stat (utime, stime) are at 11 and 12 after the command name.
    (ticks(11) + ticks(12)) / 100.0
}

/// CPU seconds used by this process's waited-for children (and theirs).
fn children_cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) } != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn rss() -> u64 {
    proc_status_bytes("VmRSS:")
}

fn peak_rss() -> u64 {
    proc_status_bytes("VmHWM:")
}

/// Reset VmHWM to the current RSS (Linux: `5` in /proc/self/clear_refs); false if refused.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 1.0 {
        format!("{:.0} ms", s * 1000.0)
    } else {
        format!("{s:.2} s")
    }
}

/// Drop a directory's file pages from the page cache (they are clean: everything was fsynced),
/// so that the next read comes from the disk. Returns how many files were advised.
fn drop_cache(dir: &Path) -> usize {
    use std::os::fd::AsRawFd;
    let mut n = 0;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if let Ok(file) = std::fs::File::open(entry.path()) {
            let _ = file.sync_all();
            // SAFETY: a valid open descriptor; advice only, no memory is touched.
            let rc =
                unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
            if rc == 0 {
                n += 1;
            }
        }
    }
    n
}

fn dir_bytes(dir: &Path, prefix: &str) -> (u64, usize) {
    let mut bytes = 0;
    let mut files = 0;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_name().to_string_lossy().starts_with(prefix) {
            bytes += entry.metadata().map(|m| m.len()).unwrap_or(0);
            files += 1;
        }
    }
    (bytes, files)
}

fn txn(zxid: Zxid, op: Op) -> Txn {
    Txn {
        header: TxnHeader {
            session_id: 0,
            cxid: 0,
            zxid,
            time_ms: 1_700_000_000_000,
        },
        op,
    }
}

fn create(path: String, data: Vec<u8>) -> Op {
    Op::Create {
        path,
        data,
        acl: Acl::open_unsafe(),
        mode: CreateMode::Persistent,
    }
}

/// Deterministic incompressible-looking bytes (xorshift), so values are not all alike.
fn fill(buf: &mut [u8], seed: &mut u64) {
    for chunk in buf.chunks_mut(8) {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        let bytes = seed.to_le_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
}

// ---------------------------------------------------------------- machine description

fn machine(base: &Path) -> Vec<String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|r| r.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown".into());
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kb: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|r| r.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    // The mount holding `base`: the longest mount point that prefixes it.
    let canon = std::fs::canonicalize(base).unwrap_or_else(|_| base.to_path_buf());
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let mount = mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 3 && canon.starts_with(f[1])).then(|| (f[1].len(), f[0], f[2]))
        })
        .max_by_key(|m| m.0)
        .map(|(_, dev, fs)| (dev.to_string(), fs.to_string()));
    let disk = match mount {
        Some((dev, fs)) => {
            let name = dev.trim_start_matches("/dev/");
            let rot = std::fs::read_to_string(format!("/sys/block/{name}/queue/rotational"))
                .map(|r| match r.trim() {
                    "0" => ", non-rotational",
                    "1" => ", reported rotational",
                    _ => "",
                })
                .unwrap_or("");
            format!("{dev} ({fs}{rot})")
        }
        None => "unknown".into(),
    };
    let fsync = fsync_probe(base)
        .map(|(p50, p99)| format!("append 4 KiB + fdatasync: median {p50:.2} ms, p99 {p99:.2} ms"))
        .unwrap_or_else(|e| format!("fsync probe failed: {e}"));
    vec![
        format!(
            "machine: nproc={nproc}, CPU {model}, memory {:.1} GiB, kernel {}",
            mem_kb as f64 / (1024.0 * 1024.0),
            kernel.trim()
        ),
        format!("data in {} on {disk}; {fsync}", base.display()),
    ]
}

fn fsync_probe(base: &Path) -> Res<(f64, f64)> {
    let dir = tempfile::Builder::new()
        .prefix("zabd-fsync-probe")
        .tempdir_in(base)?;
    let mut file = std::fs::File::create(dir.path().join("probe"))?;
    let block = vec![1u8; 4096];
    let mut times = Vec::new();
    for _ in 0..100 {
        let t = Instant::now();
        file.write_all(&block)?;
        file.sync_data()?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Ok((times[times.len() / 2], times[times.len() * 99 / 100]))
}

// ---------------------------------------------------------------- main: one child per part

fn main() -> Res<()> {
    let args = parse_args();
    match args.only.as_deref() {
        Some("catchup") => tokio_main(catchup(args)),
        Some("recovery") => recovery(&args),
        Some("memory") => memory(&args),
        Some("memory-load") => memory_load(&args),
        Some("recover-once" | "scan-once") => recover_once(&args),
        Some(other) => Err(format!("unknown part {other:?} (catchup, recovery, memory)").into()),
        None => {
            println!(
                "zabd storage benchmark{}: catch-up, recovery, memory",
                if args.quick { " (--quick sizes)" } else { "" }
            );
            for line in machine(&args.base) {
                println!("{line}");
            }
            let exe = std::env::current_exe()?;
            let passed: Vec<String> = std::env::args().skip(1).collect();
            for part in ["catchup", "recovery", "memory"] {
                if !args.parts.iter().any(|p| p == part) {
                    continue;
                }
                println!();
                if args.wait_idle > 0 {
                    wait_idle(Duration::from_secs(args.wait_idle));
                }
                println!("({part}: starting; {})", load());
                let t = Instant::now();
                let (busy0, mine0) = (machine_busy_seconds(), children_cpu_seconds());
                let status = std::process::Command::new(&exe)
                    .args(&passed)
                    .args(["--only", part])
                    .status()?;
                if !status.success() {
                    println!("(part {part} failed: {status})");
                }
                let wall = t.elapsed();
                let mine = children_cpu_seconds() - mine0;
                let others = (machine_busy_seconds() - busy0 - mine).max(0.0);
                println!(
                    "({part}: {} wall, {:.2} CPUs used by this benchmark and {:.2} CPUs by other \
                     processes on average; {} at its end)",
                    secs(wall),
                    mine / wall.as_secs_f64(),
                    others / wall.as_secs_f64(),
                    load()
                );
            }
            println!();
            println!("finished; {}", load());
            Ok(())
        }
    }
}

/// Wait (at most `limit`) for a 5-second window in which other processes use under 0.2 CPUs.
fn wait_idle(limit: Duration) {
    let start = Instant::now();
    loop {
        let busy0 = machine_busy_seconds();
        std::thread::sleep(Duration::from_secs(5));
        let others = (machine_busy_seconds() - busy0) / 5.0;
        if others < 0.2 {
            println!(
                "waited {} for an idle machine (other processes: {others:.2} CPUs)",
                secs(start.elapsed())
            );
            return;
        }
        if start.elapsed() >= limit {
            println!(
                "the machine did not become idle within {} (other processes: {others:.2} CPUs); \
                 running anyway",
                secs(limit)
            );
            return;
        }
    }
}

fn tokio_main<F: std::future::Future<Output = Res<()>>>(f: F) -> Res<()> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(f)
}

// ---------------------------------------------------------------- 1. catch-up

/// The nodes' log lines, kept in memory so that the sync mode can be read from them.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn len(&self) -> usize {
        self.0.lock().map_or(0, |v| v.len())
    }
    fn since(&self, from: usize) -> String {
        self.0
            .lock()
            .map(|v| String::from_utf8_lossy(v.get(from..).unwrap_or_default()).into_owned())
            .unwrap_or_default()
    }
}

struct Running {
    client: ZabClient,
    board: Arc<StatusBoard>,
    task: tokio::task::JoinHandle<()>,
}

async fn start(config: &Config) -> Res<Running> {
    let node = Node::bind(config.clone(), Arc::new(RealDisk)).await?;
    let client = node.client();
    let board = node.board();
    let task = tokio::spawn(node.run());
    Ok(Running {
        client,
        board,
        task,
    })
}

async fn stable_leader(nodes: &[Option<Running>]) -> Res<usize> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let serving: Vec<Serving> = nodes
            .iter()
            .flatten()
            .map(|n| n.board.snapshot().serving)
            .collect();
        if serving.iter().all(|s| *s != Serving::NotServing) {
            if let Some(i) = nodes.iter().position(|n| {
                n.as_ref()
                    .is_some_and(|n| n.board.snapshot().serving == Serving::Leader)
            }) {
                return Ok(i);
            }
        }
        if Instant::now() > deadline {
            return Err("no stable leader within 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

struct CatchupRow {
    label: &'static str,
    run: usize,
    behind: u64,
    commit_log_count: usize,
    write_rate: f64,
    mode: String,
    caught: Option<Duration>,
    bind: Duration,
    serving: Option<Duration>,
    snap_bytes: Option<u64>,
    agree: String,
    notes: String,
    others: f64,
}

async fn catchup(args: Args) -> Res<()> {
    let captured = Captured::default();
    let sink = captured.clone();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("zabd=info"))
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .init();
    let timeout = Duration::from_secs(if args.quick { 30 } else { 120 });
    println!(
        "## 1. Catch-up of a restarted follower (3 voters in one process, loopback, fsync on, \
         tickTime {} ms, initLimit 10, syncLimit 5)",
        args.tick_ms
    );
    println!(
        "writes while it is down: creates of 100-byte znodes from {} concurrent submitters \
         spread over the two live servers; timed from Node::bind (restart) to its tree's last \
         applied zxid = the leader's (polled every 1 ms); gives up after {}",
        args.writers,
        secs(timeout)
    );
    let small = (args.behind / 10).max(1);
    let scenarios: [(&'static str, u64, usize); 3] = [
        ("default window", args.behind, 10_000),
        (
            "commitLogCount raised",
            args.behind,
            (args.behind as usize) * 2,
        ),
        ("inside the default window", small.min(9_000), 10_000),
    ];
    let mut rows = Vec::new();
    for (label, behind, commit_log_count) in scenarios {
        for run in 1..=args.repeat.max(1) {
            let row = catchup_once(
                &args,
                &captured,
                (label, run),
                behind,
                commit_log_count,
                timeout,
            )
            .await?;
            rows.push(row);
        }
    }
    println!();
    println!("| scenario | run | txns behind | zabd.commitLogCount | sync mode | restart -> caught up | of which Node::bind (own log) | restart -> serving | SNAP size | writes/s while down | replicas agree | other processes' CPUs (restart to caught up) | notes |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} | {} | {:.2} | {} |",
            r.label,
            r.run,
            r.behind,
            r.commit_log_count,
            r.mode,
            r.caught.map(secs).unwrap_or_else(|| "never".into()),
            secs(r.bind),
            r.serving.map(secs).unwrap_or_else(|| "never".into()),
            r.snap_bytes.map(mib).unwrap_or_else(|| "-".into()),
            r.write_rate,
            r.agree,
            r.others,
            r.notes,
        );
    }
    Ok(())
}

async fn catchup_once(
    args: &Args,
    captured: &Captured,
    (label, run): (&'static str, usize),
    behind: u64,
    commit_log_count: usize,
    timeout: Duration,
) -> Res<CatchupRow> {
    let dir = tempfile::Builder::new()
        .prefix("zabd-bench-catchup")
        .tempdir_in(&args.base)?;
    let mut configs: Vec<Config> = zabd::config::loopback_ensemble(3, &free_ports(9), dir.path())
        .into_values()
        .collect();
    for cfg in &mut configs {
        cfg.commit_log_count = commit_log_count;
        cfg.tick_time = Duration::from_millis(args.tick_ms);
    }
    let mut nodes: Vec<Option<Running>> = Vec::new();
    for cfg in &configs {
        nodes.push(Some(start(cfg).await?));
    }
    let leader = stable_leader(&nodes).await?;
    let behind_idx = (leader + 1) % 3;
    let sid = configs[behind_idx].my_id;
    // A few writes first, so the follower has a history of its own to recover.
    let first = nodes[leader].as_ref().ok_or("leader")?.client.clone();
    for i in 0..10 {
        let r = first
            .submit(
                0,
                0,
                create(format!("/pre{i}"), vec![1; 100]),
                Duration::from_secs(10),
            )
            .await?;
        if !r.err().is_ok() {
            return Err(format!("pre-write failed: {:?}", r.err()).into());
        }
    }
    if let Some(n) = nodes[behind_idx].as_ref() {
        n.client.sync(Duration::from_secs(10)).await?;
    }
    // Stop the follower: its task is aborted, its sockets close, its files stay.
    if let Some(n) = nodes[behind_idx].take() {
        n.task.abort();
        let _ = n.task.await;
    }
    let live: Vec<ZabClient> = nodes.iter().flatten().map(|n| n.client.clone()).collect();
    let next = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let t_write = Instant::now();
    let mut workers = Vec::new();
    for w in 0..args.writers {
        let client = live[w % live.len()].clone();
        let next = next.clone();
        let failures = failures.clone();
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= behind {
                    return;
                }
                let mut retried = false;
                loop {
                    let op = create(format!("/c{i:07}"), vec![7; 100]);
                    match client.submit(0, 0, op, Duration::from_secs(10)).await {
                        Ok(r) if r.err().is_ok() => break,
                        // A retry of a write whose first attempt did commit.
                        Ok(r) if retried && r.err().name() == "NODEEXISTS" => break,
                        _ => {
                            failures.fetch_add(1, Ordering::Relaxed);
                            retried = true;
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                }
            }
        }));
    }
    for w in workers {
        w.await?;
    }
    let write_rate = behind as f64 / t_write.elapsed().as_secs_f64();
    let leader_client = nodes[leader].as_ref().ok_or("leader")?.client.clone();
    leader_client.sync(Duration::from_secs(10)).await?;
    let target = leader_client.read(|t| t.last_applied());
    println!();
    println!(
        "[{label}] server {sid} stopped; {behind} creates committed in {:.1} s ({} failed \
         attempts retried); leader at {target}; restarting server {sid}",
        t_write.elapsed().as_secs_f64(),
        failures.load(Ordering::Relaxed)
    );

    let mark = captured.len();
    let (busy0, own0) = (machine_busy_seconds(), self_cpu_seconds());
    let t0 = Instant::now();
    let restarted = start(&configs[behind_idx]).await?;
    let bind = t0.elapsed();
    let mut serving = None;
    let mut caught = None;
    let mut next_look = Instant::now();
    let mut gave_up = None;
    while t0.elapsed() < timeout {
        if serving.is_none() && restarted.board.snapshot().serving != Serving::NotServing {
            serving = Some(t0.elapsed());
        }
        // A sync that keeps failing the same way is not going to finish: stop after 100 drops.
        if Instant::now() >= next_look {
            next_look = Instant::now() + Duration::from_millis(200);
            if captured.since(mark).matches("dropping learner").count() >= 100 {
                gave_up = Some(t0.elapsed());
                break;
            }
        }
        if restarted.client.read(|t| t.last_applied()) >= target {
            caught = Some(t0.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // Caught up can come before serving (a SNAP is installed before NEWLEADER): keep polling.
    while serving.is_none() && gave_up.is_none() && t0.elapsed() < timeout {
        if restarted.board.snapshot().serving != Serving::NotServing {
            serving = Some(t0.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let others = ((machine_busy_seconds() - busy0) - (self_cpu_seconds() - own0)).max(0.0)
        / t0.elapsed().as_secs_f64();
    let log = captured.since(mark);
    nodes[behind_idx] = Some(restarted);
    // The sync mode, from the nodes' own log lines since the restart.
    let snaps = log.matches("SNAP: installing").count();
    let truncs = log.matches("TRUNC: cutting").count();
    let synced = log
        .lines()
        .filter(|l| {
            l.contains("learner synced and serving") && l.contains(&format!("learner={sid}"))
        })
        .count();
    let dropped: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("dropping learner") || l.contains("disconnecting learner"))
        .collect();
    let elections = log
        .lines()
        .filter(|l| l.contains("election decided") && l.contains(&format!("sid={sid} ")))
        .count();
    let mode = match (snaps, truncs, synced) {
        (0, 0, 0) => "none completed".to_string(),
        (0, 0, _) => "DIFF".to_string(),
        (s, 0, _) if s > 0 => "SNAP".to_string(),
        (0, _, _) => "TRUNC".to_string(),
        _ => "TRUNC+SNAP".to_string(),
    };
    let snap_bytes = log
        .lines()
        .filter(|l| l.contains("SNAP: installing"))
        .filter_map(|l| l.split("bytes=").nth(1))
        .filter_map(|b| b.split_whitespace().next().and_then(|v| v.parse().ok()))
        .next_back();
    let mut notes = Vec::new();
    if elections > 1 {
        notes.push(format!("the follower went through {elections} elections"));
    }
    if !dropped.is_empty() {
        let reasons: std::collections::BTreeSet<String> = dropped
            .iter()
            .filter_map(|l| l.split("reason=").nth(1))
            .map(|r| r.split(" learner").next().unwrap_or(r).trim().to_string())
            .collect();
        notes.push(format!(
            "the leader dropped it {} times ({})",
            dropped.len(),
            reasons.into_iter().collect::<Vec<_>>().join("; ")
        ));
    }
    if let Some(after) = gave_up {
        notes.push(format!(
            "gave up after {} (100 drops, each followed by a new election and a new sync)",
            secs(after)
        ));
    }
    let agree = if caught.is_some() && serving.is_some() {
        let mut digests = Vec::new();
        for n in nodes.iter().flatten() {
            n.client.sync(Duration::from_secs(10)).await?;
            digests.push(n.client.read(|t| (t.digest(), t.last_applied())));
        }
        if digests.windows(2).all(|w| w[0] == w[1]) {
            "yes".to_string()
        } else {
            format!("NO: {digests:x?}")
        }
    } else {
        "-".to_string()
    };
    println!(
        "[{label}] mode {mode}; bind {}; serving after {}; caught up after {}{}",
        secs(bind),
        serving.map(secs).unwrap_or_else(|| "never".into()),
        caught.map(secs).unwrap_or_else(|| "never".into()),
        if notes.is_empty() {
            String::new()
        } else {
            format!("; {}", notes.join("; "))
        }
    );
    // The log lines of the first run of each scenario only (BENCH_SHOW_LOG=1: every run).
    let show = if std::env::var_os("BENCH_SHOW_LOG").is_some() {
        200
    } else if run == 1 {
        16
    } else {
        0
    };
    if show > 0 {
        println!("[{label}] the nodes' log lines since the restart (first {show}, election connection lines left out):");
        for l in log
            .lines()
            .filter(|l| !l.contains("election connection"))
            .take(show)
        {
            println!("    {l}");
        }
    }
    for n in nodes.into_iter().flatten() {
        n.task.abort();
        let _ = n.task.await;
    }
    Ok(CatchupRow {
        label,
        run,
        behind,
        commit_log_count,
        write_rate,
        mode,
        caught,
        bind,
        serving,
        snap_bytes,
        agree,
        notes: notes.join("; "),
        others,
    })
}

// ---------------------------------------------------------------- 2. recovery

const NODES_FOR_SETDATA: u32 = 1024;
const VALUE_BYTES: usize = 4096;

/// Append `count` txns after `last` (creates of the 1024 znodes first, then setData of 4 KiB
/// values), fsync every 1000; returns the last zxid.
fn write_txns(replica: &mut Replica, mut last: u32, end: u32) -> Res<u32> {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ u64::from(last);
    let mut value = vec![0u8; VALUE_BYTES];
    while last < end {
        last += 1;
        let zxid = Zxid::new(Epoch(1), last);
        let op = if last == 1 {
            create("/r".into(), Vec::new())
        } else if last <= 1 + NODES_FOR_SETDATA {
            create(format!("/r/n{:04}", last - 2), Vec::new())
        } else {
            fill(&mut value, &mut seed);
            Op::SetData {
                path: format!("/r/n{:04}", last % NODES_FOR_SETDATA),
                data: value.clone(),
                version: -1,
            }
        };
        let bytes = replica::encode(&txn(zxid, op))?;
        replica.append(zxid, &bytes)?;
        if last % 1000 == 0 {
            replica.sync()?;
        }
    }
    replica.sync()?;
    Ok(last)
}

/// One recovery, measured in a fresh process (this program with `--only recover-once`), so
/// that its memory figures are its own and not what earlier work left in the allocator.
#[derive(Debug, Clone, Default)]
struct Recovered {
    took: Duration,
    /// VmHWM and VmRSS of the whole process at the end, and VmRSS before `Replica::open`.
    peak: u64,
    rss: u64,
    rss_before: u64,
    records: u64,
    last: u64,
    nodes: u64,
    digest: u64,
    /// Other processes' CPU use meanwhile (CPUs, averaged over the child's life).
    others: f64,
}

fn recover_once(args: &Args) -> Res<()> {
    let data = args.snapshot.clone().ok_or("--snapshot DATA_DIR")?;
    let scan_only = args.only.as_deref() == Some("scan-once");
    let rss_before = rss();
    let t = Instant::now();
    let (records, last, nodes, digest) = if scan_only {
        let (log, recovery) = TxnLog::open(
            &data.join("version-2"),
            Arc::new(RealDisk),
            LogOptions::default(),
        )?;
        drop(log);
        (recovery.records, recovery.last_zxid.0, 0, 0)
    } else {
        let replica = Replica::open(&data, &data, Arc::new(RealDisk))?;
        let (last, nodes, digest) = replica::read_tree(&replica.tree(), |t| {
            (t.last_applied().0, t.node_count() as u64, t.digest())
        });
        (0, last, nodes, digest)
    };
    let took = t.elapsed();
    println!(
        "RESULT took_ns={} peak={} rss={} rss_before={rss_before} records={records} last={last} \
         nodes={nodes} digest={digest}",
        took.as_nanos(),
        peak_rss(),
        rss(),
    );
    Ok(())
}

/// Recover `data` in a fresh process, after dropping the log's and snapshots' pages from the
/// page cache when `cold`.
fn recover_in_child(data: &Path, cold: bool, scan_only: bool) -> Res<Recovered> {
    if cold {
        drop_cache(&data.join("version-2"));
    }
    let (busy0, children0) = (machine_busy_seconds(), children_cpu_seconds());
    let started = Instant::now();
    let out = std::process::Command::new(std::env::current_exe()?)
        .args([
            "--only",
            if scan_only {
                "scan-once"
            } else {
                "recover-once"
            },
            "--snapshot",
        ])
        .arg(data)
        .output()?;
    let others = ((machine_busy_seconds() - busy0) - (children_cpu_seconds() - children0)).max(0.0)
        / started.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .ok_or_else(|| {
            format!(
                "recovery failed: {}{}",
                stdout,
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
    let field = |name: &str| -> u64 {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok(Recovered {
        took: Duration::from_nanos(field("took_ns")),
        peak: field("peak"),
        rss: field("rss"),
        rss_before: field("rss_before"),
        records: field("records"),
        last: field("last"),
        nodes: field("nodes"),
        digest: field("digest"),
        others,
    })
}

/// `repeat` times: a cold recovery in a fresh process, then a warm one.
fn pair(data: &Path, scan_only: bool, repeat: usize) -> Res<(Vec<Recovered>, Vec<Recovered>)> {
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    for _ in 0..repeat {
        cold.push(recover_in_child(data, true, scan_only)?);
        warm.push(recover_in_child(data, false, scan_only)?);
    }
    Ok((cold, warm))
}

fn recovery(args: &Args) -> Res<()> {
    let dir = tempfile::Builder::new()
        .prefix("zabd-bench-recovery")
        .tempdir_in(&args.base)?;
    let data = dir.path().join("data");
    let v2 = data.join("version-2");
    let target = args.log_mb << 20;
    println!(
        "## 2. Recovery (Replica::open: newest valid snapshot + replay of the log after it) from a \
         {} MiB transaction log",
        args.log_mb
    );
    println!(
        "log: creates of {NODES_FOR_SETDATA} znodes, then setData of {VALUE_BYTES}-byte values \
         round-robin over them, written through Replica::append (fsync every 1000 records, \
         64 MiB segments, no snapshot). Each recovery runs in a fresh process; cold = the \
         files' pages dropped from the page cache (posix_fadvise DONTNEED) just before, warm = \
         run again right after"
    );
    let mut replica = Replica::open(&data, &data, Arc::new(RealDisk))?;
    // How many setData records make `target` bytes: one record's size on disk is its encoded
    // txn plus the 20-byte record header.
    let sample = replica::encode(&txn(
        Zxid(1),
        Op::SetData {
            path: "/r/n0000".into(),
            data: vec![0; VALUE_BYTES],
            version: -1,
        },
    ))?;
    let per_record = sample.len() as u64 + zabd::storage::txnlog::RECORD_HEADER_LEN;
    let count = 1 + NODES_FOR_SETDATA + u32::try_from(target / per_record)?;
    let t = Instant::now();
    let last = write_txns(&mut replica, 0, count)?;
    let write_time = t.elapsed();
    drop(replica);
    let (log_bytes, segments) = dir_bytes(&v2, "log.");
    let records = u64::from(last);
    println!(
        "wrote {records} txns ({} bytes per record on disk), {} in {segments} segments, in {} \
         ({:.0} MB/s, fsync every 1000 records)",
        per_record,
        mib(log_bytes),
        secs(write_time),
        log_bytes as f64 / 1e6 / write_time.as_secs_f64()
    );

    struct Row {
        what: String,
        runs: Vec<Recovered>,
        bytes: u64,
        txns: u64,
    }
    let repeat = args.repeat.max(1);
    let mut rows: Vec<Row> = Vec::new();
    let push_pair = |rows: &mut Vec<Row>,
                     cold_what: String,
                     warm_what: String,
                     scan,
                     bytes,
                     txns: Option<u64>|
     -> Res<Vec<(u64, u64, u64)>> {
        let (cold, warm) = pair(&data, scan, repeat)?;
        let states = cold
            .iter()
            .chain(&warm)
            .map(|r| (r.last, r.nodes, r.digest))
            .collect();
        for (what, runs) in [(cold_what, cold), (warm_what, warm)] {
            let txns = txns.unwrap_or_else(|| runs.first().map_or(0, |r| r.records));
            rows.push(Row {
                what,
                runs,
                bytes,
                txns,
            });
        }
        Ok(states)
    };
    let mut check = push_pair(
        &mut rows,
        "log only, cold cache".into(),
        "log only, warm cache".into(),
        false,
        log_bytes,
        Some(records),
    )?;
    push_pair(
        &mut rows,
        "of which TxnLog::open alone (the validating scan), cold".into(),
        "of which TxnLog::open alone, warm".into(),
        true,
        log_bytes,
        None,
    )?;
    if check.windows(2).any(|w| w[0] != w[1]) || check[0].0 != Zxid::new(Epoch(1), last).0 {
        println!("WARNING: recoveries disagree or stop short: {check:?}");
    }
    let nodes = check.first().map_or(0, |c| c.1);

    // A snapshot of the recovered tree, then a short tail after it.
    let tail = 10_000u32;
    let snap_zxid = Zxid::new(Epoch(1), last);
    let mut replica = Replica::open(&data, &data, Arc::new(RealDisk))?;
    let bytes = replica::read_tree(&replica.tree(), |t| t.clone()).serialize_snapshot()?;
    let disk: Arc<dyn Disk> = Arc::new(RealDisk);
    SnapStore::open(&v2, disk.clone())?.write(snap_zxid, &bytes)?;
    let end = write_txns(&mut replica, last, last + tail)?;
    drop(replica);
    let (all_bytes, all_segments) = dir_bytes(&v2, "log.");
    check = push_pair(
        &mut rows,
        format!(
            "snapshot ({}) + {tail}-txn tail, the whole older log still on disk \
             ({all_segments} segments; purgeInterval 0, the default, never purges), cold",
            mib(bytes.len() as u64)
        ),
        "same, warm".into(),
        false,
        all_bytes,
        Some(u64::from(tail)),
    )?;
    // As autopurge would leave it: the segments before the snapshot's are gone.
    let (mut log, _) = TxnLog::open(&v2, disk, LogOptions::default())?;
    let removed = log.purge_before(snap_zxid)?.len();
    drop(log);
    let (kept_bytes, kept_segments) = dir_bytes(&v2, "log.");
    check.extend(push_pair(
        &mut rows,
        format!(
            "snapshot + the same tail, segments before the snapshot purged ({removed} \
             removed, {kept_segments} left), cold"
        ),
        "same, warm".into(),
        false,
        kept_bytes,
        Some(u64::from(tail)),
    )?);
    if check.windows(2).any(|w| w[0] != w[1]) || check[0].0 != Zxid::new(Epoch(1), end).0 {
        println!("WARNING: recoveries with a snapshot disagree or stop short: {check:?}");
    }
    println!();
    println!(
        "| recovery of | time{} | log on disk | MB/s of log on disk | txns replayed | txns/s \
         replayed | process VmRSS before -> after (peak) | other processes' CPUs (max over runs) |",
        if repeat > 1 {
            format!(", median of {repeat} (min - max)")
        } else {
            String::new()
        }
    );
    println!("|---|---|---|---|---|---|---|---|");
    for row in rows {
        let mut runs = row.runs;
        runs.sort_by_key(|r| r.took);
        let (Some(min), Some(max)) = (runs.first(), runs.last()) else {
            continue;
        };
        let med = &runs[runs.len() / 2];
        let s = med.took.as_secs_f64();
        println!(
            "| {} | {}{} | {} | {:.0} | {} | {:.0} | {} -> {} ({}) | {:.2} |",
            row.what,
            secs(med.took),
            if runs.len() > 1 {
                format!(" ({} - {})", secs(min.took), secs(max.took))
            } else {
                String::new()
            },
            mib(row.bytes),
            row.bytes as f64 / 1e6 / s,
            row.txns,
            row.txns as f64 / s,
            mib(med.rss_before),
            mib(med.rss),
            mib(med.peak),
            runs.iter().map(|r| r.others).fold(0.0, f64::max),
        );
    }
    println!(
        "(recovered tree: {} znodes; every recovery of the same files gave the same last zxid \
         and digest unless a WARNING says otherwise)",
        nodes
    );
    Ok(())
}

// ---------------------------------------------------------------- 3. memory

fn memory(args: &Args) -> Res<()> {
    let n = args.znodes;
    println!(
        "## 3. Memory of a data tree of {n} znodes (/bench/nNNNNNNN, 16 bytes of data, open ACL, \
         built by DataTree::apply of create txns)"
    );
    let mut tree = DataTree::new();
    let mut zxid = 1u32;
    tree.apply(&txn(
        Zxid::new(Epoch(1), zxid),
        create("/bench".into(), vec![]),
    ))?;
    let before = rss();
    let t = Instant::now();
    let mut seed = 7u64;
    let mut data = [0u8; 16];
    for i in 0..n {
        zxid += 1;
        fill(&mut data, &mut seed);
        let r = tree.apply(&txn(
            Zxid::new(Epoch(1), zxid),
            create(format!("/bench/n{i:08}"), data.to_vec()),
        ))?;
        if !r.err().is_ok() {
            return Err(format!("create {i} failed: {:?}", r.err()).into());
        }
    }
    let build = t.elapsed();
    let after = rss();
    let per = (after.saturating_sub(before)) as f64 / n as f64;
    let t = Instant::now();
    let bytes = tree.serialize_snapshot()?;
    let serialize = t.elapsed();
    let dir = tempfile::Builder::new()
        .prefix("zabd-bench-memory")
        .tempdir_in(&args.base)?;
    let store = SnapStore::open(&dir.path().join("version-2"), Arc::new(RealDisk))?;
    let t = Instant::now();
    let path = store.write(tree.last_applied(), &bytes)?;
    let write = t.elapsed();
    let on_disk = std::fs::metadata(&path)?.len();
    let with_snapshot = rss();
    drop(bytes);
    println!();
    println!("| figure | value |");
    println!("|---|---|");
    println!("| znodes in the tree | {} |", tree.node_count());
    println!(
        "| VmRSS before / after building | {} / {} |",
        mib(before),
        mib(after)
    );
    println!(
        "| RSS per znode | **{per:.0} bytes** ({} per million znodes) |",
        mib((per * 1e6) as u64)
    );
    println!(
        "| of which path + data (approximate_data_size) | {:.0} bytes |",
        tree.approximate_data_size() as f64 / n as f64
    );
    println!(
        "| build time (apply of {n} creates) | {} ({:.0} creates/s) |",
        secs(build),
        n as f64 / build.as_secs_f64()
    );
    println!(
        "| snapshot size on disk | {} ({:.0} bytes per znode) |",
        mib(on_disk),
        on_disk as f64 / n as f64
    );
    println!(
        "| snapshot serialize / write + fsync | {} / {} |",
        secs(serialize),
        secs(write)
    );
    println!(
        "| VmRSS while the serialized snapshot is also held | {} |",
        mib(with_snapshot)
    );
    drop(tree);
    // Loading that snapshot in a fresh process (what a restarted server's tree costs).
    let out = std::process::Command::new(std::env::current_exe()?)
        .args(["--only", "memory-load", "--snapshot"])
        .arg(&path)
        .output()?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    if !out.status.success() {
        println!(
            "(loading the snapshot failed: {})",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn memory_load(args: &Args) -> Res<()> {
    let path = args.snapshot.clone().ok_or("--snapshot PATH")?;
    let dir = path.parent().ok_or("snapshot dir")?;
    let store = SnapStore::open(dir, Arc::new(RealDisk))?;
    let before = rss();
    let peak_ok = reset_peak_rss();
    let t = Instant::now();
    let (_, bytes) = store.newest_valid()?.ok_or("no snapshot")?;
    let tree = DataTree::from_snapshot(&bytes)?;
    let took = t.elapsed();
    drop(bytes);
    let after = rss();
    let n = tree.node_count().max(1) as f64;
    println!(
        "| load that snapshot in a fresh process (SnapStore read + DataTree::from_snapshot) | {} |",
        secs(took)
    );
    println!(
        "| RSS per znode of the loaded tree | **{:.0} bytes** (VmRSS {} -> {}; peak while loading +{}) |",
        after.saturating_sub(before) as f64 / n,
        mib(before),
        mib(after),
        if peak_ok {
            mib(peak_rss().saturating_sub(before))
        } else {
            "n/a".into()
        }
    );
    Ok(())
}
