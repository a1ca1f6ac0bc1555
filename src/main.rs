//! The `zabd` binary: parse flags, load the configuration, run the node until SIGINT/SIGTERM.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use clap::Parser;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::EnvFilter;

/// mimalloc instead of glibc's malloc: a write allocates and frees many small, short-lived
/// buffers (frames, txns, replies, tree nodes), and glibc's malloc/free, with its
/// consolidation of freed chunks, was about 7% of the servers' CPU under write load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `zabd --version`: the crate version, the git commit it was built from (`unknown` outside
/// a git checkout) and the build date, all embedded by build.rs.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("ZABD_GIT_COMMIT"),
    ", built ",
    env!("ZABD_BUILD_DATE"),
    " UTC)"
);

/// A ZooKeeper-style ensemble server: ZAB fast leader election, four-letter words.
#[derive(Debug, Parser)]
#[command(name = "zabd", version = VERSION)]
struct Cli {
    /// zoo.cfg-style file (with dataDir/myid), or a .toml file.
    #[arg(long, short)]
    config: PathBuf,
    /// Log lines as human-readable text, or as one JSON object per line (for log shippers).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Append the log to this file instead of writing it to stderr.
    #[arg(long, value_name = "PATH")]
    log_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, ansi) = match &cli.log_file {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path);
            match file {
                Ok(file) => (BoxMakeWriter::new(std::sync::Mutex::new(file)), false),
                Err(err) => {
                    eprintln!("zabd: cannot open the log file {}: {err}", path.display());
                    return ExitCode::from(2);
                }
            }
        }
        None => (
            BoxMakeWriter::new(std::io::stderr),
            std::io::stderr().is_terminal(),
        ),
    };
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(writer);
    match cli.log_format {
        LogFormat::Text => logs.with_ansi(ansi).init(),
        // Span fields (sid, port, ...) go in "spans"; the event's own in "fields".
        LogFormat::Json => logs
            .json()
            .with_current_span(false)
            .with_span_list(true)
            .init(),
    }
    let config = match zabd::config::load(&cli.config) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("zabd: {err}");
            return ExitCode::from(2);
        }
    };
    // One thread runs every task: the peer loop, the learner links and the client connections.
    // A write crosses several of them (client -> peer loop -> links -> peer loop -> client);
    // on one thread each hand-off is a queue push, where a multi-threaded runtime wakes a parked
    // thread (a futex and, on a VM, an expensive cross-CPU interrupt). Measured on the 2-core
    // VM with 3 servers: +35-40% writes/s at 16 and 128 sessions, same CPU (BENCHMARKS.md).
    // fsyncs and snapshots still run on tokio's blocking threads, off this loop.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("zabd: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let node = match zabd::node::Node::bind(config, Arc::new(zabd::storage::RealDisk)).await {
            Ok(node) => node,
            Err(err) => {
                eprintln!("zabd: {err}");
                return ExitCode::FAILURE;
            }
        };
        // A leader hands off before it exits (commits what it proposed, tells its learners to
        // elect a successor at once); bounded so that a stuck ensemble cannot hold us.
        let api = node.client();
        let handoff_limit = node.handoff_limit();
        let run = node.run();
        tokio::pin!(run);
        tokio::select! {
            _ = &mut run => ExitCode::SUCCESS,
            _ = shutdown_signal() => {
                tracing::info!("shutting down");
                tokio::select! {
                    _ = &mut run => {}
                    _ = api.hand_off(handoff_limit) => {}
                }
                ExitCode::SUCCESS
            }
        }
    })
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
