//! A whole zabd process: bind the ports, start the client port, and run the quorum peer (or,
//! with a single-server configuration, serve standalone).

mod standalone;

use crate::api::ZabClient;
use crate::config::Config;
use crate::ids::Zxid;
use crate::net::TcpListener;
use crate::peer::{Peer, PeerError, PeerListeners};
use crate::replica::{self, Replica};
use crate::status::{NodeStatus, Serving, StatusBoard, ZabPhase};
use crate::storage::{resync, Disk, EpochStore, LogError};
use standalone::Standalone;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::{info, warn};

/// How often, and how far apart, a port that cannot be bound is retried before giving up.
const BIND_ATTEMPTS: u32 = 5;
const BIND_RETRY: Duration = Duration::from_millis(200);

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("cannot bind the {what} port {addr}: {source} (is another server using it?)")]
    Bind {
        what: &'static str,
        addr: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Peer(#[from] PeerError),
    #[error(transparent)]
    Epoch(#[from] crate::storage::EpochError),
    #[error("cannot recover the data: {0} (the server refuses to start rather than serve or vote without data it may have acknowledged)")]
    Replica(#[from] replica::ReplicaError),
    #[error("cannot quarantine a corrupt log: {0}")]
    Quarantine(String),
}

/// A node with its ports bound, ready to run.
pub struct Node {
    config: Arc<Config>,
    board: Arc<StatusBoard>,
    client: TcpListener,
    api: ZabClient,
    hub: Arc<crate::server::hub::Hub>,
    role: Role,
}

enum Role {
    Peer(Box<Peer>),
    Standalone(Box<Standalone>),
}

impl Node {
    /// Bind every port this server's configuration names and open its durable state.
    pub async fn bind(config: Config, disk: Arc<dyn Disk>) -> Result<Node, NodeError> {
        let config = Arc::new(config);
        let board = Arc::new(StatusBoard::new(NodeStatus::new(
            Zxid(0),
            Default::default(),
            Default::default(),
        )));
        let client_addr = match config.client_port_address {
            Some(ip) => SocketAddr::new(ip, config.client_port).to_string(),
            None => format!("0.0.0.0:{}", config.client_port),
        };
        let client = bind("client", &client_addr).await?;
        let (mut replica, needs_resync) = open_replica(&config, disk.clone())?;
        replica.set_policy(config.snapshots.clone(), config.my_id.0);
        replica.set_window_limits(config.commit_log_count, crate::peer::SYNC_WINDOW_BYTES);
        let hub = crate::server::hub::Hub::new();
        let for_hook = hub.clone();
        replica.set_apply_hook(replica::ApplyHook(Arc::new(move |result| {
            for_hook.on_applied(result)
        })));
        let (commands_tx, commands) = mpsc::channel(1024);
        let api = ZabClient::new(commands_tx, replica.tree(), config.my_id.0);
        let role = if config.is_standalone() {
            let epochs = EpochStore::open(&config.data_dir.join("version-2"), disk.clone())?;
            let applied = replica.last_applied();
            board.update(|s| {
                s.serving = Serving::Standalone;
                s.peer_state = "standalone";
                s.phase = ZabPhase::Broadcast;
                s.current_epoch = epochs.current();
                s.accepted_epoch = epochs.accepted();
                s.zxid = Zxid::epoch_start(epochs.current()).max(applied);
            });
            crate::peer::show_tree(&board, &replica);
            Role::Standalone(Box::new(Standalone::new(
                replica,
                commands,
                board.clone(),
                disk,
                epochs.current(),
                config.tick_time,
            )))
        } else {
            let me = config
                .me()
                .ok_or(NodeError::Peer(PeerError::NotInEnsemble(config.my_id)))?;
            let listeners = PeerListeners {
                election: bind("election", &listen_addr(&me.host, me.election_port)).await?,
                quorum: bind("quorum", &listen_addr(&me.host, me.quorum_port)).await?,
            };
            Role::Peer(Box::new(Peer::new(
                config.clone(),
                board.clone(),
                listeners,
                disk.clone(),
                replica,
                commands,
                needs_resync,
            )?))
        };
        Ok(Node {
            config,
            board,
            client,
            api,
            hub,
            role,
        })
    }

    /// The library API: submit writes, read the tree, sync.
    pub fn client(&self) -> ZabClient {
        self.api.clone()
    }

    pub fn board(&self) -> Arc<StatusBoard> {
        self.board.clone()
    }

    /// How long a graceful shutdown may take: a leader commits what it proposed (at most one
    /// tick) and flushes its learner links.
    pub fn handoff_limit(&self) -> Duration {
        self.config.tick_time + Duration::from_secs(1)
    }

    /// The client port actually bound (useful with `clientPort=0`).
    pub fn client_addr(&self) -> Option<SocketAddr> {
        self.client.local_addr().ok()
    }

    /// Serve until the future is dropped.
    pub async fn run(self) {
        let port = crate::server::ClientPort::new(
            self.client,
            self.board.clone(),
            self.config.clone(),
            self.api.clone(),
            self.hub.clone(),
        );
        // The admin and metrics servers (when configured) stop when `run` ends.
        #[cfg(not(feature = "sim"))]
        let _http = crate::admin::start(crate::admin::Sources {
            board: self.board.clone(),
            config: self.config.clone(),
            client_port: Some(port.view()),
        })
        .await;
        let _client = AbortOnDrop(tokio::spawn(port.serve()));
        match self.role {
            Role::Peer(peer) => peer.run().await,
            Role::Standalone(standalone) => {
                info!(sid = %self.config.my_id, "serving standalone");
                standalone.run().await
            }
        }
    }
}

/// Recover the replica. A voter (or observer) whose log holds a corrupt complete record is
/// quarantined instead of refused (see `storage::resync`): its log is set aside and it runs as
/// a non-voting learner until a leader has resynced it. `true` means it must resync first (now,
/// or still, after a restart during an earlier resync). A standalone server has nobody to
/// resync from and refuses to start.
fn open_replica(config: &Config, disk: Arc<dyn Disk>) -> Result<(Replica, bool), NodeError> {
    let epoch_dir = config.data_dir.join("version-2");
    let io = |e: std::io::Error| NodeError::Quarantine(e.to_string());
    let marked = resync::is_marked(&*disk, &epoch_dir).map_err(io)?;
    match Replica::open(&config.data_dir, &config.data_log_dir, disk.clone()) {
        Ok(replica) => Ok((replica, marked)),
        Err(replica::ReplicaError::Log(err @ LogError::Corrupt { .. }))
            if !config.is_standalone() =>
        {
            warn!(%err, "corrupt transaction log: setting it aside; this server will not vote until a leader has resynced it");
            resync::mark(&*disk, &epoch_dir, &err.to_string()).map_err(io)?;
            let log_dir = config.data_log_dir.join("version-2");
            let moved = resync::set_aside_log(&*disk, &log_dir).map_err(io)?;
            info!(files = moved.len(), dir = %log_dir.display(), "log segments set aside (renamed *.corrupt, kept for diagnosis)");
            let replica = Replica::open(&config.data_dir, &config.data_log_dir, disk)?;
            Ok((replica, true))
        }
        Err(err) => Err(err.into()),
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Peers listen on the address of their own server line (as ZooKeeper does by default).
#[cfg(not(feature = "sim"))]
fn listen_addr(host: &str, port: u16) -> String {
    format!("{host}:{port}")
}

/// turmoil binds only the unspecified address; each simulated host has its own IP anyway.
#[cfg(feature = "sim")]
fn listen_addr(_host: &str, port: u16) -> String {
    format!("0.0.0.0:{port}")
}

async fn bind(what: &'static str, addr: &str) -> Result<TcpListener, NodeError> {
    let mut attempt = 1;
    loop {
        match TcpListener::bind(addr).await {
            Ok(listener) => return Ok(listener),
            Err(source) if attempt >= BIND_ATTEMPTS => {
                return Err(NodeError::Bind {
                    what,
                    addr: addr.to_string(),
                    source,
                })
            }
            Err(err) => {
                warn!(what, addr, %err, attempt, "cannot bind yet; retrying");
                attempt += 1;
                tokio::time::sleep(BIND_RETRY).await;
            }
        }
    }
}
