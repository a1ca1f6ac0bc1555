//! The admin server's commands: ZooKeeper's AdminServer JSON answers, built from the same
//! [`Context`] the four-letter words read, so both always agree.
//!
//! Pure: a command and a context in, an HTTP status and a JSON body out. The shell
//! (`super`) gathers the context (status snapshot, counters, connections, system facts).
//!
//! Every answer is a JSON object with ZooKeeper's envelope: `command` (the command's primary
//! name) and `error` (`null` on success), plus the command's fields under ZooKeeper's JSON
//! names (its Jackson output is snake_case). Differences from ZooKeeper:
//! - `GET <commandURL>` lists the commands as JSON (ZooKeeper: an HTML page of links);
//! - `ready` is zabd's own (200 while serving, 503 otherwise), for load balancers and probes;
//! - `elections` (alias `elec`) is zabd's own: the last elections, answered at any time;
//! - the commands that change state (`srst`, `crst`, `stmk`) and those whose data zabd does
//!   not keep (`dump`'s expiry queue, `hash`, `lsnp`, `icfg`, `obsr`, `sysp`) are absent;
//! - `configuration` adds the quorum keys the `conf` word prints (`init_limit`, ...).

use crate::config::Whitelist;
use crate::ids::LearnerType;
use crate::server::fourlw::{
    self, ConnInfo, Context, Disposition, MntrValue, Needs, Word, NOT_SERVING,
};
use crate::status::{Counters, Serving};
use serde_json::{json, Map, Value};

/// What a command reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Ruok,
    ServerStats,
    Stats,
    Monitor,
    Configuration,
    Environment,
    IsReadOnly,
    Connections,
    WatchSummary,
    Watches,
    WatchesByPath,
    Dirs,
    GetTraceMask,
    Leader,
    VotingView,
    ZabState,
    Ready,
    Elections,
}

/// One command: its primary name (ZooKeeper's), the aliases it also answers to (the
/// four-letter word among them), and what it reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Command {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub kind: Kind,
}

/// Every command, in ZooKeeper's alphabetical order of primary names.
pub const COMMANDS: &[Command] = &[
    Command {
        name: "configuration",
        aliases: &["conf", "config"],
        kind: Kind::Configuration,
    },
    Command {
        name: "connections",
        aliases: &["cons"],
        kind: Kind::Connections,
    },
    Command {
        name: "dirs",
        aliases: &[],
        kind: Kind::Dirs,
    },
    Command {
        name: "elections",
        aliases: &["elec"],
        kind: Kind::Elections,
    },
    Command {
        name: "environment",
        aliases: &["env", "envi"],
        kind: Kind::Environment,
    },
    Command {
        name: "get_trace_mask",
        aliases: &["gtmk"],
        kind: Kind::GetTraceMask,
    },
    Command {
        name: "is_read_only",
        aliases: &["isro"],
        kind: Kind::IsReadOnly,
    },
    Command {
        name: "leader",
        aliases: &["lead"],
        kind: Kind::Leader,
    },
    Command {
        name: "monitor",
        aliases: &["mntr"],
        kind: Kind::Monitor,
    },
    Command {
        name: "ready",
        aliases: &[],
        kind: Kind::Ready,
    },
    Command {
        name: "ruok",
        aliases: &[],
        kind: Kind::Ruok,
    },
    Command {
        name: "server_stats",
        aliases: &["srvr"],
        kind: Kind::ServerStats,
    },
    Command {
        name: "stats",
        aliases: &["stat"],
        kind: Kind::Stats,
    },
    Command {
        name: "voting_view",
        aliases: &[],
        kind: Kind::VotingView,
    },
    Command {
        name: "watch_summary",
        aliases: &["wchs"],
        kind: Kind::WatchSummary,
    },
    Command {
        name: "watches",
        aliases: &["wchc"],
        kind: Kind::Watches,
    },
    Command {
        name: "watches_by_path",
        aliases: &["wchp"],
        kind: Kind::WatchesByPath,
    },
    Command {
        name: "zabstate",
        aliases: &[],
        kind: Kind::ZabState,
    },
];

/// The command called `name` (its primary name or an alias, case-sensitive as ZooKeeper).
pub fn find(name: &str) -> Option<Command> {
    COMMANDS
        .iter()
        .find(|c| c.name == name || c.aliases.contains(&name))
        .copied()
}

impl Command {
    /// The four-letter word this command mirrors: what it needs gathered, and whether it
    /// answers while the server does not serve.
    pub fn word(self) -> Option<Word> {
        Some(match self.kind {
            Kind::Ruok => Word::Ruok,
            Kind::ServerStats => Word::Srvr,
            Kind::Stats => Word::Stat,
            Kind::Monitor => Word::Mntr,
            Kind::Configuration => Word::Conf,
            Kind::Environment => Word::Envi,
            Kind::IsReadOnly => Word::Isro,
            Kind::Connections => Word::Cons,
            Kind::WatchSummary => Word::Wchs,
            Kind::Watches => Word::Wchc,
            Kind::WatchesByPath => Word::Wchp,
            Kind::Dirs => Word::Dirs,
            Kind::GetTraceMask => Word::Gtmk,
            Kind::Elections => Word::Elec,
            Kind::Leader | Kind::VotingView | Kind::ZabState | Kind::Ready => return None,
        })
    }

    /// True when the answer is "not serving" while the server does not serve: the words'
    /// rule (ruok, isro and envi always answer); `leader` needs a leader; zabd's quorum views
    /// (voting_view, zabstate, ready) exist precisely to be asked at any time.
    pub fn needs_serving(self) -> bool {
        match self.word() {
            Some(word) => {
                fourlw::disposition(word, &Whitelist::All, Serving::NotServing)
                    == Disposition::NotServing
            }
            None => self.kind == Kind::Leader,
        }
    }

    /// The system facts the answer reads (I/O the shell does off the async threads).
    pub fn needs(self) -> Needs {
        let mut needs = match self.word() {
            Some(word) => fourlw::needs(word, Disposition::Answer),
            None => Needs::default(),
        };
        // ServerStats reports the data and log directory sizes.
        if matches!(self.kind, Kind::ServerStats | Kind::Stats) {
            needs.dirs = true;
        }
        needs
    }

    /// True when the answer lists the client-port connections.
    pub fn needs_connections(self) -> bool {
        matches!(self.kind, Kind::Stats | Kind::Connections)
    }
}

/// An HTTP status and a JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

/// ZooKeeper's envelope around `fields`.
fn envelope(command: Option<&str>, error: Option<&str>, fields: Map<String, Value>) -> Value {
    let mut body = fields;
    body.insert("command".into(), command.map_or(Value::Null, Value::from));
    body.insert("error".into(), error.map_or(Value::Null, Value::from));
    Value::Object(body)
}

/// An error answer: `command` is the name asked for, when there was one.
pub fn error(status: u16, command: Option<&str>, message: &str) -> Answer {
    Answer {
        status,
        body: envelope(command, Some(message), Map::new()),
    }
}

/// `GET <commandURL>`: every command with its aliases and URL.
pub fn list(command_url: &str) -> Answer {
    let commands: Vec<Value> = COMMANDS
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "aliases": c.aliases,
                "url": format!("{command_url}/{}", c.name),
            })
        })
        .collect();
    let mut fields = Map::new();
    fields.insert("commands".into(), Value::Array(commands));
    Answer {
        status: 200,
        body: Value::Object(fields),
    }
}

/// Run `command` against the server's state in `ctx`.
pub fn run(command: Command, ctx: &Context<'_>) -> Answer {
    let serving = ctx.status.serving;
    if serving == Serving::NotServing && command.needs_serving() {
        // ZooKeeper answers 503 for a command that needs a running server.
        return error(503, Some(command.name), NOT_SERVING.trim_end());
    }
    let mut status = 200;
    let mut error_message = None;
    let fields = match command.kind {
        Kind::Ruok => Map::new(),
        Kind::ServerStats => server_stats(ctx),
        Kind::Stats => {
            let mut fields = server_stats(ctx);
            fields.insert(
                "connections".into(),
                ctx.connections
                    .iter()
                    .map(|c| connection(c, true))
                    .collect(),
            );
            fields.insert("secure_connections".into(), json!([]));
            fields
        }
        Kind::Monitor => fourlw::mntr_values(ctx)
            .into_iter()
            .map(|(key, value)| {
                let key = key.strip_prefix("zk_").unwrap_or(key).to_string();
                let value = match value {
                    MntrValue::Int(n) => Value::from(n),
                    MntrValue::UInt(n) => Value::from(n),
                    MntrValue::Float(v) => Value::from(v),
                    MntrValue::Text(s) => Value::from(s),
                };
                (key, value)
            })
            .collect(),
        Kind::Configuration => configuration(ctx),
        Kind::Environment => fourlw::envi_values(ctx)
            .into_iter()
            .map(|(key, value)| (key.to_string(), Value::from(value)))
            .collect(),
        Kind::IsReadOnly => fields([("read_only", json!(false))]),
        Kind::Connections => fields([
            (
                "connections",
                ctx.connections
                    .iter()
                    .map(|c| connection(c, false))
                    .collect(),
            ),
            ("secure_connections", json!([])),
        ]),
        Kind::WatchSummary => {
            let (connections, paths, total) = ctx.clients.watch_summary;
            fields([
                ("num_connections", json!(connections)),
                ("num_paths", json!(paths)),
                ("num_total_watches", json!(total)),
            ])
        }
        Kind::Watches => {
            let by_session: Map<String, Value> = ctx
                .clients
                .watches_by_session
                .iter()
                .map(|(session, paths)| (session.to_string(), json!(paths)))
                .collect();
            fields([("session_id_to_watched_paths", Value::Object(by_session))])
        }
        Kind::WatchesByPath => {
            let by_path: Map<String, Value> = ctx
                .clients
                .watches_by_path
                .iter()
                .map(|(path, sessions)| (path.clone(), json!(sessions)))
                .collect();
            fields([("path_to_session_ids", Value::Object(by_path))])
        }
        Kind::Dirs => {
            let (data, log) = fourlw::dirs(ctx);
            fields([
                ("datadir_size", json!(data.size)),
                ("logdir_size", json!(log.size)),
            ])
        }
        Kind::GetTraceMask => fields([("tracemask", json!(ctx.trace_mask))]),
        Kind::Leader => {
            if ctx.config.is_standalone() {
                // ZooKeeper's answer for a server that is not a quorum peer.
                error_message = Some("server is not initialized (standalone: no leader)");
                Map::new()
            } else {
                let leader = ctx.status.leader;
                let leader_ip = leader
                    .and_then(|sid| ctx.config.servers.get(&sid))
                    .map_or(String::new(), |spec| spec.host.clone());
                fields([
                    ("is_leader", json!(serving == Serving::Leader)),
                    ("leader_id", leader.map_or(json!(-1), |sid| json!(sid.0))),
                    ("leader_ip", json!(leader_ip)),
                ])
            }
        }
        Kind::VotingView => {
            let voters: Map<String, Value> = if ctx.config.is_standalone() {
                Map::new()
            } else {
                ctx.config
                    .voters()
                    .map(|spec| (spec.id.to_string(), json!(fourlw::server_line(spec))))
                    .collect()
            };
            fields([("current_config", Value::Object(voters))])
        }
        Kind::ZabState => zab_state(ctx),
        Kind::Elections => elections(ctx),
        Kind::Ready => {
            let ready = serving != Serving::NotServing;
            if !ready {
                status = 503;
            }
            fields([
                ("ready", json!(ready)),
                ("server_state", json!(serving.mode_str())),
            ])
        }
    };
    Answer {
        status,
        body: envelope(Some(command.name), error_message, fields),
    }
}

fn fields<const N: usize>(entries: [(&str, Value); N]) -> Map<String, Value> {
    entries
        .into_iter()
        .map(|(key, value)| (key.to_string(), value))
        .collect()
}

/// BufferStats with nothing recorded (zabd does not measure client response sizes).
fn empty_buffer_stats() -> Value {
    json!({"last_buffer_size": -1, "min_buffer_size": -1, "max_buffer_size": -1})
}

/// `server_stats`: ZooKeeper's ServerStats bean plus version, read_only and node_count.
fn server_stats(ctx: &Context<'_>) -> Map<String, Value> {
    let s = ctx.status;
    let c = ctx.counters;
    let latency = c.request_latency.summary();
    let (data, log) = fourlw::dirs(ctx);
    let uptime_ms = ctx.now.saturating_duration_since(ctx.started).as_millis();
    let stats = json!({
        "packets_sent": Counters::get(&c.packets_sent),
        "packets_received": Counters::get(&c.packets_received),
        "max_latency": latency.max_ms,
        "min_latency": latency.min_ms,
        "avg_latency": latency.avg_ms,
        "num_alive_client_connections": Counters::get(&c.alive_connections),
        "outstanding_requests": 0,
        "server_state": s.serving.mode_str().unwrap_or("unknown"),
        "last_processed_zxid": s.zxid.0,
        "data_dir_size": data.size,
        "log_dir_size": log.size,
        "uptime": u64::try_from(uptime_ms).unwrap_or(u64::MAX),
        "client_response_stats": empty_buffer_stats(),
    });
    let mut out = fields([
        ("version", json!(fourlw::version_string())),
        ("read_only", json!(false)),
        ("server_stats", stats),
        ("client_response", empty_buffer_stats()),
        ("node_count", json!(s.node_count)),
    ]);
    if s.serving == Serving::Leader {
        let (last, min, max) = fourlw::proposal_sizes(s);
        out.insert(
            "proposal_stats".into(),
            json!({"last_buffer_size": last, "min_buffer_size": min, "max_buffer_size": max}),
        );
    }
    out
}

/// ZooKeeper's `ServerCnxn.getConnectionInfo(brief)`.
fn connection(c: &ConnInfo, brief: bool) -> Value {
    let mut info = fields([
        (
            "remote_socket_address",
            json!(format!("{}:{}", c.remote.ip(), c.remote.port())),
        ),
        ("interest_ops", json!(c.interest)),
        ("outstanding_requests", json!(0)),
        ("packets_received", json!(c.recved)),
        ("packets_sent", json!(c.sent)),
    ]);
    if !brief {
        let avg = c.total_latency_ms.checked_div(c.latency_count).unwrap_or(0);
        info.extend(fields([
            ("session_id", json!(c.session_id)),
            ("last_operation", json!(c.last_op)),
            ("established", json!(c.established_ms)),
            ("session_timeout", json!(c.timeout_ms)),
            ("last_cxid", json!(c.last_cxid)),
            ("last_zxid", json!(c.last_zxid)),
            ("last_response_time", json!(c.last_response_ms)),
            ("last_latency", json!(c.last_latency_ms)),
            ("min_latency", json!(c.min_latency_ms)),
            ("avg_latency", json!(avg)),
            ("max_latency", json!(c.max_latency_ms)),
        ]));
    }
    Value::Object(info)
}

/// ZooKeeperServerConf's fields, plus the quorum keys `conf` prints for a quorum peer.
fn configuration(ctx: &Context<'_>) -> Map<String, Value> {
    let cfg = ctx.config;
    let (data, log) = fourlw::dirs(ctx);
    let mut out = fields([
        ("client_port", json!(ctx.client_port)),
        ("data_dir", json!(data.path.display().to_string())),
        ("data_log_dir", json!(log.path.display().to_string())),
        ("tick_time", json!(cfg.tick_time.as_millis() as u64)),
        ("max_client_cnxns", json!(cfg.max_client_cnxns)),
        (
            "min_session_timeout",
            json!(cfg.min_session_timeout.as_millis() as u64),
        ),
        (
            "max_session_timeout",
            json!(cfg.max_session_timeout.as_millis() as u64),
        ),
        // ZooKeeper reports 0 for a standalone server.
        (
            "server_id",
            json!(if cfg.is_standalone() { 0 } else { cfg.my_id.0 }),
        ),
        ("client_port_listen_backlog", json!(-1)),
    ]);
    if !cfg.is_standalone() {
        let (election_port, quorum_port) = match cfg.me() {
            Some(me) => (i64::from(me.election_port), i64::from(me.quorum_port)),
            None => (-1, -1),
        };
        let membership: Map<String, Value> = cfg
            .servers
            .values()
            .map(|spec| (spec.id.to_string(), json!(fourlw::server_line(spec))))
            .collect();
        out.extend(fields([
            ("init_limit", json!(cfg.init_limit)),
            ("sync_limit", json!(cfg.sync_limit)),
            ("election_alg", json!(3)),
            ("election_port", json!(election_port)),
            ("quorum_port", json!(quorum_port)),
            (
                "peer_type",
                json!(match cfg.peer_type {
                    LearnerType::Participant => 0,
                    LearnerType::Observer => 1,
                }),
            ),
            ("membership", Value::Object(membership)),
        ]));
    }
    out
}

/// zabd's `elections`: the remembered elections, oldest first (the `elec` word's fields).
fn elections(ctx: &Context<'_>) -> Map<String, Value> {
    let history = &ctx.status.elections;
    let list: Vec<Value> = history
        .iter()
        .map(|e| {
            Value::Object(
                e.fields()
                    .iter()
                    .map(|(key, value)| (key.to_string(), value.json()))
                    .collect(),
            )
        })
        .collect();
    fields([
        ("server_id", json!(ctx.config.my_id.0)),
        ("total", json!(history.total())),
        ("elections", Value::Array(list)),
    ])
}

/// ZooKeeper's `zabstate`: the ZAB phase and whether this server votes.
fn zab_state(ctx: &Context<'_>) -> Map<String, Value> {
    let cfg = ctx.config;
    let s = ctx.status;
    let Some(me) = cfg.me().filter(|_| !cfg.is_standalone()) else {
        return fields([("voting", json!(false)), ("zabstate", json!(""))]);
    };
    let client_host = me
        .client_host
        .clone()
        .or_else(|| cfg.client_port_address.map(|ip| ip.to_string()))
        .unwrap_or_else(|| "0.0.0.0".to_string());
    fields([
        ("myid", json!(cfg.my_id.0)),
        ("is_leader", json!(s.serving == Serving::Leader)),
        ("quorum_address", json!(me.quorum_addr())),
        ("election_address", json!(me.election_addr())),
        (
            "client_address",
            json!(format!("{client_host}:{}", ctx.client_port)),
        ),
        ("voting", json!(me.role == LearnerType::Participant)),
        ("last_zxid", json!(s.zxid.to_string())),
        ("zab_epoch", json!(s.zxid.epoch().0)),
        ("zab_counter", json!(s.zxid.counter())),
        ("zabstate", json!(s.phase.as_str().to_ascii_uppercase())),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{Epoch, Sid, Zxid};
    use crate::server::fourlw::tests::{ensemble_config, standalone_config};
    use crate::server::fourlw::{ClientFacts, Facts};
    use crate::status::{NodeStatus, ZabPhase};
    use std::net::SocketAddr;
    use std::time::{Duration, Instant, UNIX_EPOCH};

    struct Fixture {
        config: crate::config::Config,
        status: NodeStatus,
        counters: Counters,
        connections: Vec<ConnInfo>,
        facts: Facts,
        clients: ClientFacts,
        started: Instant,
    }

    impl Fixture {
        fn new(serving: Serving) -> Fixture {
            let mut status = NodeStatus::new(Zxid::new(Epoch(3), 9), Epoch(3), Epoch(3));
            status.serving = serving;
            status.phase = if serving == Serving::NotServing {
                ZabPhase::Election
            } else {
                ZabPhase::Broadcast
            };
            status.leader = Some(Sid(2));
            status.node_count = 5;
            let mut conn = ConnInfo::new(
                SocketAddr::from(([127, 0, 0, 1], 40000)),
                UNIX_EPOCH + Duration::from_secs(10),
            );
            conn.session_id = 0x1234;
            conn.recved = 3;
            Fixture {
                config: ensemble_config(1, false),
                status,
                counters: Counters::default(),
                connections: vec![conn],
                facts: Facts::default(),
                clients: ClientFacts {
                    watch_summary: (1, 2, 3),
                    watches_by_session: vec![(0x1234, vec!["/a".into()])],
                    watches_by_path: vec![("/a".into(), vec![0x1234])],
                    sessions: vec![(0x1234, 4000)],
                    ephemerals: vec![],
                },
                started: Instant::now(),
            }
        }

        fn run(&self, name: &str) -> Answer {
            let ctx = Context {
                config: &self.config,
                status: &self.status,
                counters: &self.counters,
                started: self.started,
                now: self.started + Duration::from_millis(1500),
                trace_mask: 306,
                client_port: 2181,
                connections: &self.connections,
                facts: &self.facts,
                clients: &self.clients,
            };
            run(find(name).expect("a command"), &ctx)
        }
    }

    #[test]
    fn names_and_aliases_resolve_to_one_command() {
        assert_eq!(find("mntr").map(|c| c.name), Some("monitor"));
        assert_eq!(find("monitor").map(|c| c.name), Some("monitor"));
        assert_eq!(find("conf").map(|c| c.name), Some("configuration"));
        assert_eq!(find("MNTR"), None);
        assert_eq!(find(""), None);
        let mut names: Vec<&str> = COMMANDS
            .iter()
            .flat_map(|c| std::iter::once(c.name).chain(c.aliases.iter().copied()))
            .collect();
        let all = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all, "a name is used twice");
    }

    #[test]
    fn monitor_keeps_numbers_as_numbers() {
        let f = Fixture::new(Serving::Follower);
        let a = f.run("mntr");
        assert_eq!(a.status, 200);
        assert_eq!(a.body["command"], "monitor");
        assert_eq!(a.body["error"], Value::Null);
        assert_eq!(a.body["server_state"], "follower");
        assert_eq!(a.body["znode_count"], 5);
        assert_eq!(a.body["uptime"], 1500);
        assert_eq!(a.body["watch_count"], 3);
        assert_eq!(a.body["current_epoch"], 3);
        assert!(a.body["avg_latency"].is_f64());
        assert!(a.body.get("zk_version").is_none());
    }

    #[test]
    fn word_commands_refuse_while_not_serving_but_quorum_views_answer() {
        let f = Fixture::new(Serving::NotServing);
        let a = f.run("srvr");
        assert_eq!(a.status, 503);
        assert_eq!(a.body["command"], "server_stats");
        assert_eq!(
            a.body["error"],
            "This ZooKeeper instance is not currently serving requests"
        );
        for name in ["ruok", "isro", "envi", "zabstate", "voting_view"] {
            let a = f.run(name);
            assert_eq!(a.status, 200, "{name}: {}", a.body);
            assert_eq!(a.body["error"], Value::Null, "{name}");
        }
        assert_eq!(f.run("zabstate").body["zabstate"], "ELECTION");
        assert_eq!(f.run("lead").status, 503);
        let ready = f.run("ready");
        assert_eq!(ready.status, 503);
        assert_eq!(ready.body["ready"], false);
        assert_eq!(ready.body["error"], Value::Null);
    }

    #[test]
    fn quorum_views() {
        let f = Fixture::new(Serving::Leader);
        let lead = f.run("leader");
        assert_eq!(lead.body["is_leader"], true);
        assert_eq!(lead.body["leader_id"], 2);
        assert_eq!(lead.body["leader_ip"], "127.0.0.1");
        let view = f.run("voting_view");
        assert_eq!(
            view.body["current_config"]["1"],
            "127.0.0.1:21101:21201:participant"
        );
        let zab = f.run("zabstate");
        assert_eq!(zab.body["zabstate"], "BROADCAST");
        assert_eq!(zab.body["voting"], true);
        assert_eq!(zab.body["last_zxid"], "0x300000009");
        assert_eq!(zab.body["zab_counter"], 9);
        let stats = f.run("srvr");
        assert_eq!(stats.body["server_stats"]["server_state"], "leader");
        assert_eq!(stats.body["proposal_stats"]["last_buffer_size"], -1);
        let ready = f.run("ready");
        assert_eq!((ready.status, &ready.body["ready"]), (200, &json!(true)));
    }

    #[test]
    fn standalone_has_no_leader() {
        let mut f = Fixture::new(Serving::Standalone);
        f.config = standalone_config();
        let lead = f.run("leader");
        assert_eq!(lead.body["command"], "leader");
        assert!(lead.body["error"].is_string());
        assert_eq!(f.run("voting_view").body["current_config"], json!({}));
        assert_eq!(f.run("zabstate").body["voting"], false);
        assert_eq!(f.run("conf").body["server_id"], 0);
    }

    #[test]
    fn connections_and_watches() {
        let f = Fixture::new(Serving::Follower);
        let cons = f.run("cons");
        let first = &cons.body["connections"][0];
        assert_eq!(first["remote_socket_address"], "127.0.0.1:40000");
        assert_eq!(first["session_id"], 0x1234);
        assert_eq!(first["packets_received"], 3);
        let stat = f.run("stat");
        assert!(stat.body["connections"][0].get("session_id").is_none());
        assert_eq!(f.run("wchs").body["num_total_watches"], 3);
        assert_eq!(
            f.run("wchc").body["session_id_to_watched_paths"][0x1234.to_string()],
            json!(["/a"])
        );
        assert_eq!(
            f.run("wchp").body["path_to_session_ids"]["/a"],
            json!([0x1234])
        );
    }

    #[test]
    fn elections_lists_the_history_newest_last_at_any_time() {
        use crate::election::{Decision, Vote};
        use crate::ids::ServerState;
        use crate::status::history::{ElectionHistory, Stamp};
        use std::sync::Arc;
        let at = |ms: u64| Stamp {
            unix_ms: 1_700_000_000_000 + ms,
            uptime: Duration::from_millis(ms),
        };
        let mut h = ElectionHistory::default();
        h.begin(at(1), "start-up".into(), Epoch(0), 0);
        let decision = Decision {
            state: ServerState::Leading,
            vote: Vote {
                epoch: Epoch(0),
                zxid: Zxid(0),
                leader: Sid(1),
            },
            round: 1,
            rounds: 1,
            notifications_received: 2,
            joined_established: false,
            distinct_votes: 2,
        };
        h.decided(at(3), &decision, 4);
        h.serving(Epoch(1), at(20));
        h.begin(
            at(700),
            "quorum lost: no quorum of followers".into(),
            Epoch(1),
            9,
        );

        let mut f = Fixture::new(Serving::NotServing);
        assert_eq!(f.run("elections").body["elections"], json!([]));
        f.status.elections = Arc::new(h);
        for name in ["elections", "elec"] {
            let a = f.run(name);
            assert_eq!(a.status, 200, "answers while not serving");
            assert_eq!(a.body["command"], "elections");
            assert_eq!(a.body["error"], Value::Null);
            assert_eq!(a.body["server_id"], 1);
            assert_eq!(a.body["total"], 2);
            let list = a.body["elections"].as_array().expect("a list");
            assert_eq!(list.len(), 2);
            let first = &list[0];
            assert_eq!(first["id"], 1);
            assert_eq!(first["state"], "leading");
            assert_eq!(first["leader"], 1);
            assert_eq!(first["epoch"], 1);
            assert_eq!(first["took_ms"], json!(2.0));
            assert_eq!(first["serving_after_ms"], json!(17.0));
            assert_eq!(first["notifications_sent"], 4);
            assert_eq!(first["cause"], "start-up");
            let newest = &list[1];
            assert_eq!(newest["id"], 2);
            assert_eq!(newest["state"], "looking");
            assert_eq!(newest["leader"], Value::Null);
            assert_eq!(newest["cause"], "quorum lost: no quorum of followers");
        }
        assert!(find("elections").is_some_and(|c| !c.needs_serving()));
    }
}
