//! The `zabd` binary: parse flags, load the configuration, run the node until SIGINT/SIGTERM.

use clap::Parser;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use tracing_subscriber::EnvFilter;

/// A ZooKeeper-style ensemble server: ZAB fast leader election, four-letter words.
#[derive(Debug, Parser)]
#[command(name = "zabd", version)]
struct Cli {
    /// zoo.cfg-style file (with dataDir/myid), or a .toml file.
    #[arg(long, short)]
    config: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let config = match zabd::config::load(&cli.config) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("zabd: {err}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
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
