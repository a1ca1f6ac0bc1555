//! Server configuration: ZooKeeper's zoo.cfg (plus `dataDir/myid`) or an equivalent TOML file.
//!
//! Loading goes through the `config` crate: `zoocfg` is a `config::Format` for zoo.cfg's
//! `key=value` lines, TOML uses the crate's own format. Both produce the same raw tree, which
//! `validate` turns into a [`Config`] or a [`ConfigError`] naming the file, the key and the fix.

use crate::ids::{LearnerType, Sid};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

mod load;
mod zoocfg;

pub use load::{load, parse_offline, ConfigError};

/// One `server.N=host:quorumPort:electionPort[:role][;[clientHost:]clientPort]` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSpec {
    pub id: Sid,
    /// Host name or address; re-resolved on each connection attempt.
    pub host: String,
    pub quorum_port: u16,
    pub election_port: u16,
    pub role: LearnerType,
    /// The optional client address after `;`.
    pub client_host: Option<String>,
    pub client_port: Option<u16>,
}

impl ServerSpec {
    pub fn quorum_addr(&self) -> String {
        format!("{}:{}", self.host, self.quorum_port)
    }

    pub fn election_addr(&self) -> String {
        format!("{}:{}", self.host, self.election_port)
    }
}

/// Which four-letter words the client port answers (`4lw.commands.whitelist`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Whitelist {
    All,
    /// Lower-case words; `srvr` is always allowed whatever the list says.
    Only(Vec<String>),
}

impl Whitelist {
    pub fn allows(&self, word: &str) -> bool {
        match self {
            Whitelist::All => true,
            Whitelist::Only(words) => word == "srvr" || words.iter().any(|w| w == word),
        }
    }
}

/// When to write snapshots and what to keep (ZooKeeper's `snapCount` and `autopurge.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotPolicy {
    /// A snapshot is written after about this many committed transactions (ZooKeeper: a random
    /// point between half and all of it, so that servers do not snapshot together).
    pub snap_count: u64,
    /// Snapshots kept by autopurge (ZooKeeper's minimum and default: 3).
    pub retain: usize,
    /// Autopurge runs at most this often; `None` (purgeInterval 0, the default) never purges.
    pub purge_interval: Option<Duration>,
}

impl Default for SnapshotPolicy {
    fn default() -> SnapshotPolicy {
        SnapshotPolicy {
            snap_count: 100_000,
            retain: 3,
            purge_interval: None,
        }
    }
}

/// ZooKeeper's AdminServer keys (`admin.*`): an HTTP server that answers `<commandURL>/<name>`
/// in JSON (see `crate::admin`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminConfig {
    /// `admin.enableServer`. Off by default in zabd (ZooKeeper: on), so that several servers
    /// on one host do not all reach for port 8080.
    pub enabled: bool,
    /// `admin.serverAddress` (default 0.0.0.0).
    pub address: IpAddr,
    /// `admin.serverPort` (default 8080; 0 = any free port).
    pub port: u16,
    /// `admin.commandURL` (default `/commands`), normalised: it starts with `/` and has no
    /// trailing `/`, so `/` itself becomes the empty string (commands at `/<name>`).
    pub command_url: String,
}

impl Default for AdminConfig {
    fn default() -> AdminConfig {
        AdminConfig {
            enabled: false,
            address: IpAddr::from([0, 0, 0, 0]),
            port: 8080,
            command_url: "/commands".to_string(),
        }
    }
}

/// `metricsProvider.*`: Prometheus metrics at `http://<httpHost>:<httpPort>/metrics`. zabd serves
/// them only when `metricsProvider.httpPort` is set; `metricsProvider.className` is accepted
/// and ignored (there is one provider).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsConfig {
    /// `metricsProvider.httpHost` (default 0.0.0.0).
    pub host: IpAddr,
    /// `metricsProvider.httpPort` (0 = any free port).
    pub port: u16,
}

/// A validated server configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The file this came from, for messages.
    pub source: PathBuf,
    pub my_id: Sid,
    pub tick_time: Duration,
    pub init_limit: u32,
    pub sync_limit: u32,
    pub data_dir: PathBuf,
    /// Defaults to `data_dir`.
    pub data_log_dir: PathBuf,
    pub client_port: u16,
    pub client_port_address: Option<IpAddr>,
    pub max_client_cnxns: u32,
    pub min_session_timeout: Duration,
    pub max_session_timeout: Duration,
    /// Every server of the ensemble, this one included. Empty means standalone.
    pub servers: BTreeMap<Sid, ServerSpec>,
    /// This server's role (`peerType`, or the role on its `server.N` line).
    pub peer_type: LearnerType,
    pub whitelist: Whitelist,
    /// zabd's own: how long a looking server waits for a better vote once a quorum agrees but
    /// some connected voter has not yet answered (`zabd.finalizeWaitMs`; ZooKeeper: fixed 200).
    pub finalize_wait: Duration,
    pub snapshots: SnapshotPolicy,
    /// How many recent committed transactions the leader keeps for DIFF syncs
    /// (`zabd.commitLogCount`, default 10000); a learner further behind gets a snapshot.
    pub commit_log_count: usize,
    /// How often the leader deletes empty containers and expired TTL nodes
    /// (`znode.container.checkIntervalMs`, ZooKeeper's default 60000).
    pub container_check: Duration,
    /// At most this many such deletions per minute (`znode.container.maxPerMinute`).
    pub containers_per_minute: u32,
    /// `standaloneEnabled` (default true). When false, a single `server.N` entry still makes an
    /// ensemble (of one), as in ZooKeeper.
    pub standalone_enabled: bool,
    /// The HTTP admin server (`admin.*`).
    pub admin: AdminConfig,
    /// Prometheus metrics, when `metricsProvider.httpPort` is set.
    pub metrics: Option<MetricsConfig>,
    /// Authentication on the election and quorum ports (`quorum.auth.*`).
    pub quorum_auth: crate::auth::Policy,
}

impl Config {
    /// True when there is no ensemble: the server serves alone (`Mode: standalone`).
    pub fn is_standalone(&self) -> bool {
        match self.servers.len() {
            0 => true,
            1 => self.standalone_enabled,
            _ => false,
        }
    }

    pub fn me(&self) -> Option<&ServerSpec> {
        self.servers.get(&self.my_id)
    }

    pub fn voters(&self) -> impl Iterator<Item = &ServerSpec> {
        self.servers
            .values()
            .filter(|s| s.role == LearnerType::Participant)
    }
}

/// An ensemble of `voters` servers on 127.0.0.1 with the given ports (three per server: client,
/// quorum, election), each with its own data directory under `dir` — for tests and benchmarks
/// that run nodes in one process. tickTime 100 ms, initLimit 10, syncLimit 5.
pub fn loopback_ensemble(
    voters: u64,
    ports: &[u16],
    dir: &std::path::Path,
) -> BTreeMap<u64, Config> {
    let port = |i: u64, k: usize| ports.get(3 * (i as usize - 1) + k).copied().unwrap_or(0);
    let servers: BTreeMap<Sid, ServerSpec> = (1..=voters)
        .map(|i| {
            let spec = ServerSpec {
                id: Sid(i),
                host: "127.0.0.1".into(),
                quorum_port: port(i, 1),
                election_port: port(i, 2),
                role: LearnerType::Participant,
                client_host: None,
                client_port: Some(port(i, 0)),
            };
            (Sid(i), spec)
        })
        .collect();
    (1..=voters)
        .map(|i| {
            let data = dir.join(format!("data{i}"));
            let cfg = Config {
                source: PathBuf::from(format!("zoo{i}.cfg")),
                my_id: Sid(i),
                tick_time: Duration::from_millis(100),
                init_limit: 10,
                sync_limit: 5,
                data_dir: data.clone(),
                data_log_dir: data,
                client_port: port(i, 0),
                client_port_address: Some(IpAddr::from([127, 0, 0, 1])),
                max_client_cnxns: 60,
                min_session_timeout: Duration::from_millis(200),
                max_session_timeout: Duration::from_millis(2000),
                servers: servers.clone(),
                peer_type: LearnerType::Participant,
                whitelist: Whitelist::All,
                finalize_wait: Duration::from_millis(50),
                standalone_enabled: true,
                snapshots: SnapshotPolicy::default(),
                commit_log_count: 10_000,
                container_check: Duration::from_millis(60_000),
                containers_per_minute: 10_000,
                admin: AdminConfig::default(),
                metrics: None,
                quorum_auth: crate::auth::Policy::off(),
            };
            (i, cfg)
        })
        .collect()
}
