//! In-process nodes for tests that need to look inside a server (its status board, its tree)
//! or to start it with a configuration no zoo.cfg spells: `Node` on real loopback sockets and
//! the real disk, run as a tokio task, "crashed" by aborting the task (its files stay).

use std::sync::Arc;
use zabd::api::ZabClient;
use zabd::config::Config;
use zabd::node::Node;
use zabd::status::StatusBoard;
use zabd::storage::RealDisk;

/// One running in-process server.
pub struct Server {
    pub client: ZabClient,
    pub board: Arc<StatusBoard>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Bind and run a node with `config`.
    pub async fn start(config: Config) -> Server {
        let node = Node::bind(config, Arc::new(RealDisk))
            .await
            .expect("node binds");
        Server {
            client: node.client(),
            board: node.board(),
            task: tokio::spawn(node.run()),
        }
    }

    /// Crash: the task is aborted and its sockets close; its files stay.
    pub async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}
