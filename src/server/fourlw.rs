//! The four-letter words: ZooKeeper 3.8's replies, byte for byte in shape, from zabd's live state.
//!
//! Pure formatting: [`answer`] takes the word and a [`Context`] (status snapshot, counters,
//! configuration, the client-port connections, and the few facts read from the system such as
//! directory sizes) and returns the reply bytes plus the side effect the word asks for
//! ([`Effect`]), which the caller applies. No sockets, clocks or files here; `super::sysinfo`
//! gathers the facts and `super` does the I/O.
//!
//! Differences from ZooKeeper, all because the data does not exist in zabd (yet):
//! - `mntr` emits the documented subset [`MNTR_KEYS`] (plus zabd's own keys at the end) instead
//!   of ZooKeeper's ~500 metrics and histograms; keys keep ZooKeeper's order.
//! - `envi` lists the process (os.*, user.*, process.memory.*) instead of java.* properties.
//! - `hash` prints ZooKeeper's digest log, which zabd does not keep: the reply is empty, exactly
//!   what ZooKeeper 3.8 prints with digests disabled.
//! - `dataDirSize`/`datadir_size` are the size of dataDir/version-2, `dataLogSize`/
//!   `logdir_size` of dataLogDir/version-2 (ZooKeeper 3.8 swaps the two; equal by default).

use crate::config::{Config, ServerSpec, Whitelist};
use crate::ids::LearnerType;
use crate::status::{Counters, LatencySummary, NodeStatus, Serving};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What every word but ruok, isro and envi answers while the server does not serve.
pub const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests\n";

/// The ZooKeeper release whose client-visible behaviour zabd follows.
pub const ZK_COMPAT_VERSION: &str = "3.8.0";

/// `3.8.0-zabd-<crate version>-<short commit>, built on <YYYY-MM-DD HH:MM> UTC`
/// (`Zookeeper version:` of srvr/stat, `zk_version` of mntr, `zookeeper.version` of envi).
pub fn version_string() -> String {
    format!(
        "{ZK_COMPAT_VERSION}-zabd-{}-{}, built on {} UTC",
        env!("CARGO_PKG_VERSION"),
        env!("ZABD_GIT_COMMIT"),
        env!("ZABD_BUILD_DATE"),
    )
}

/// A known four-letter word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Word {
    Conf,
    Cons,
    Crst,
    Dirs,
    Dump,
    Envi,
    Gtmk,
    Ruok,
    Stmk,
    Srvr,
    Srst,
    Stat,
    Wchc,
    Wchp,
    Wchs,
    Mntr,
    Isro,
    Hash,
    /// zabd's own: the last elections, one `key=value` line each (not a ZooKeeper word).
    Elec,
}

impl Word {
    pub const ALL: [Word; 19] = [
        Word::Conf,
        Word::Cons,
        Word::Crst,
        Word::Dirs,
        Word::Dump,
        Word::Envi,
        Word::Gtmk,
        Word::Ruok,
        Word::Stmk,
        Word::Srvr,
        Word::Srst,
        Word::Stat,
        Word::Wchc,
        Word::Wchp,
        Word::Wchs,
        Word::Mntr,
        Word::Isro,
        Word::Hash,
        Word::Elec,
    ];

    /// The word for the first four bytes of a connection, if they are one (case-sensitive,
    /// as ZooKeeper).
    pub fn parse(bytes: &[u8]) -> Option<Word> {
        Word::ALL
            .into_iter()
            .find(|w| w.as_str().as_bytes() == bytes)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Word::Conf => "conf",
            Word::Cons => "cons",
            Word::Crst => "crst",
            Word::Dirs => "dirs",
            Word::Dump => "dump",
            Word::Envi => "envi",
            Word::Gtmk => "gtmk",
            Word::Ruok => "ruok",
            Word::Stmk => "stmk",
            Word::Srvr => "srvr",
            Word::Srst => "srst",
            Word::Stat => "stat",
            Word::Wchc => "wchc",
            Word::Wchp => "wchp",
            Word::Wchs => "wchs",
            Word::Mntr => "mntr",
            Word::Isro => "isro",
            Word::Hash => "hash",
            Word::Elec => "elec",
        }
    }

    /// Bytes the word carries after itself: `stmk` is followed by a big-endian i64 mask.
    pub fn argument_len(self) -> usize {
        match self {
            Word::Stmk => 8,
            _ => 0,
        }
    }

    /// Words that answer even while the server does not serve (`elec` is most useful then).
    fn works_when_not_serving(self) -> bool {
        matches!(self, Word::Ruok | Word::Isro | Word::Envi | Word::Elec)
    }
}

/// What the client is told, decided before anything is formatted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Not in `4lw.commands.whitelist`.
    Refused,
    /// The server does not serve and the word needs it to.
    NotServing,
    Answer,
}

/// Whether `word` will be answered; decides also whether its argument is read and which system
/// facts are worth gathering.
pub fn disposition(word: Word, whitelist: &Whitelist, serving: Serving) -> Disposition {
    if !whitelist.allows(word.as_str()) {
        Disposition::Refused
    } else if serving == Serving::NotServing && !word.works_when_not_serving() {
        Disposition::NotServing
    } else {
        Disposition::Answer
    }
}

/// Which system facts an answered word needs (reading them costs I/O; gather only these).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    pub fds: bool,
    pub dirs: bool,
    pub env: bool,
}

pub fn needs(word: Word, disposition: Disposition) -> Needs {
    if disposition != Disposition::Answer {
        return Needs::default();
    }
    Needs {
        fds: word == Word::Mntr,
        dirs: matches!(word, Word::Conf | Word::Dirs),
        env: word == Word::Envi,
    }
}

/// A directory and the bytes of the files under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirFacts {
    /// Absolute, as ZooKeeper prints it (`<dataDir>/version-2`).
    pub path: PathBuf,
    pub size: u64,
}

/// Process and host facts for `envi`. `None` prints ZooKeeper's `<NA>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvFacts {
    pub host_name: Option<String>,
    pub os_name: Option<String>,
    pub os_arch: Option<String>,
    pub os_version: Option<String>,
    pub user_name: Option<String>,
    pub user_home: Option<String>,
    pub user_dir: Option<String>,
    /// Resident set size and its peak (VmRSS, VmHWM), bytes.
    pub rss_bytes: Option<u64>,
    pub peak_rss_bytes: Option<u64>,
}

/// Facts read from the system for one reply (only those [`needs`] asked for are `Some`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    pub open_fds: Option<u64>,
    pub max_fds: Option<u64>,
    pub data_dir: Option<DirFacts>,
    pub log_dir: Option<DirFacts>,
    pub env: Option<EnvFacts>,
}

/// One client-port connection as `stat`, `cons` and `dump` list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnInfo {
    pub remote: SocketAddr,
    /// ZooKeeper's selector interest: 1 (read) while waiting for bytes, 0 while answering.
    pub interest: u32,
    pub recved: u64,
    pub sent: u64,
    /// When the server closes the connection if it is still open (`dump`'s `expire at`).
    pub expires_at: SystemTime,
    /// The client session on this connection (0 before the handshake, and for words).
    pub session_id: i64,
    pub timeout_ms: i32,
    /// When the connection was accepted (ms since the Unix epoch, `cons`' `est`).
    pub established_ms: i64,
    /// ZooKeeper's four-letter name of the last operation (`lop`).
    pub last_op: &'static str,
    pub last_cxid: i32,
    pub last_zxid: i64,
    /// When the last reply was queued (ms since the Unix epoch, `lresp`).
    pub last_response_ms: i64,
    pub last_latency_ms: u64,
    pub min_latency_ms: u64,
    pub max_latency_ms: u64,
    pub total_latency_ms: u64,
    pub latency_count: u64,
}

impl ConnInfo {
    pub fn new(remote: SocketAddr, expires_at: SystemTime) -> ConnInfo {
        ConnInfo {
            remote,
            interest: 1,
            recved: 0,
            sent: 0,
            expires_at,
            session_id: 0,
            timeout_ms: 0,
            established_ms: unix_ms(SystemTime::now()),
            last_op: "NA",
            last_cxid: -1,
            last_zxid: -1,
            last_response_ms: 0,
            last_latency_ms: 0,
            min_latency_ms: 0,
            max_latency_ms: 0,
            total_latency_ms: 0,
            latency_count: 0,
        }
    }

    /// One request was answered after `latency`.
    pub fn record_latency(&mut self, latency: std::time::Duration) {
        let ms = latency.as_millis() as u64;
        self.last_latency_ms = ms;
        self.min_latency_ms = if self.latency_count == 0 {
            ms
        } else {
            self.min_latency_ms.min(ms)
        };
        self.max_latency_ms = self.max_latency_ms.max(ms);
        self.total_latency_ms += ms;
        self.latency_count += 1;
        self.last_response_ms = unix_ms(SystemTime::now());
    }

    /// `crst`: zero the counts and latencies.
    pub fn reset_stats(&mut self) {
        self.recved = 0;
        self.sent = 0;
        self.last_latency_ms = 0;
        self.min_latency_ms = 0;
        self.max_latency_ms = 0;
        self.total_latency_ms = 0;
        self.latency_count = 0;
        self.last_op = "NA";
        self.last_cxid = -1;
        self.last_zxid = -1;
        self.last_response_ms = 0;
    }
}

fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Everything a reply is made from.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub config: &'a Config,
    pub status: &'a NodeStatus,
    pub counters: &'a Counters,
    /// When the process started (`zk_uptime`) and now (also for `zk_leader_uptime`).
    pub started: Instant,
    pub now: Instant,
    pub trace_mask: i64,
    /// The port the client listener is bound to (`clientPort` of conf).
    pub client_port: u16,
    /// Every open client-port connection, the asking one included.
    pub connections: &'a [ConnInfo],
    pub facts: &'a Facts,
    pub clients: &'a ClientFacts,
}

/// Sessions, ephemerals and watches, for `dump`, `wchs`, `wchc`, `wchp` and `mntr`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientFacts {
    /// (connections with watches, watched paths, watches) on this server.
    pub watch_summary: (usize, usize, usize),
    /// Each watching session's paths, by session id.
    pub watches_by_session: Vec<(i64, Vec<String>)>,
    /// Each watched path's sessions.
    pub watches_by_path: Vec<(String, Vec<i64>)>,
    /// Every session of the ensemble (id, timeout ms), as the replicated tree knows them.
    pub sessions: Vec<(i64, i32)>,
    /// Each session's ephemeral paths (sessions without any omitted).
    pub ephemerals: Vec<(i64, Vec<String>)>,
}

/// A side effect the word asks for; the caller applies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// `srst`: latency, packet counts and proposal sizes.
    ResetServerStats,
    /// `crst`: every connection's own counters.
    ResetConnectionStats,
    /// `stmk`.
    SetTraceMask(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub bytes: Vec<u8>,
    pub effect: Option<Effect>,
}

impl Reply {
    fn text(s: String) -> Reply {
        Reply {
            bytes: s.into_bytes(),
            effect: None,
        }
    }
}

/// The reply to `word`. `stmk_mask` is the mask that followed `stmk` (ignored for other words).
pub fn answer(word: Word, stmk_mask: Option<i64>, ctx: &Context<'_>) -> Reply {
    match disposition(word, &ctx.config.whitelist, ctx.status.serving) {
        Disposition::Refused => {
            return Reply::text(format!(
                "{} is not executed because it is not in the whitelist.\n",
                word.as_str()
            ))
        }
        Disposition::NotServing => return Reply::text(NOT_SERVING.to_string()),
        Disposition::Answer => {}
    }
    match word {
        Word::Ruok => Reply::text("imok".to_string()),
        Word::Isro => Reply::text(if ctx.status.serving == Serving::NotServing {
            "null".to_string()
        } else {
            "rw".to_string()
        }),
        Word::Srvr => Reply::text(srvr(ctx, false)),
        Word::Stat => Reply::text(srvr(ctx, true)),
        Word::Mntr => Reply::text(mntr(ctx)),
        Word::Conf => Reply::text(conf(ctx)),
        Word::Envi => Reply::text(envi(ctx)),
        Word::Cons => Reply::text(cons(ctx)),
        Word::Crst => Reply {
            bytes: b"Connection stats reset.\n".to_vec(),
            effect: Some(Effect::ResetConnectionStats),
        },
        Word::Srst => Reply {
            bytes: b"Server stats reset.\n".to_vec(),
            effect: Some(Effect::ResetServerStats),
        },
        Word::Dirs => {
            let (data, log) = dirs(ctx);
            Reply::text(format!(
                "datadir_size: {}\nlogdir_size: {}\n",
                data.size, log.size
            ))
        }
        Word::Gtmk => Reply::text(ctx.trace_mask.to_string()),
        Word::Stmk => match stmk_mask {
            Some(mask) => Reply {
                bytes: mask.to_string().into_bytes(),
                effect: Some(Effect::SetTraceMask(mask)),
            },
            None => Reply::text(ctx.trace_mask.to_string()),
        },
        // DataTree.dumpWatchesSummary / dumpWatches plus WatchCommand's final println.
        Word::Wchs => {
            let (conns, paths, total) = ctx.clients.watch_summary;
            Reply::text(format!(
                "{conns} connections watching {paths} paths\nTotal watches:{total}\n"
            ))
        }
        Word::Wchc => {
            let mut out = String::new();
            for (session, paths) in &ctx.clients.watches_by_session {
                let _ = writeln!(out, "0x{session:x}");
                for path in paths {
                    let _ = writeln!(out, "\t{path}");
                }
            }
            out.push('\n');
            Reply::text(out)
        }
        Word::Wchp => {
            let mut out = String::new();
            for (path, sessions) in &ctx.clients.watches_by_path {
                let _ = writeln!(out, "{path}");
                for session in sessions {
                    let _ = writeln!(out, "\t0x{session:x}");
                }
            }
            out.push('\n');
            Reply::text(out)
        }
        Word::Dump => Reply::text(dump(ctx)),
        // The digest log zabd does not keep: nothing to print.
        Word::Hash => Reply::text(String::new()),
        Word::Elec => Reply::text(elec(ctx)),
    }
}

/// zabd's `elec`: one line per remembered election, oldest first, each `sid=N` and then the
/// record's `key=value` pairs (see `status::history`). Nothing while there was none (standalone).
fn elec(ctx: &Context<'_>) -> String {
    let mut out = String::new();
    for election in ctx.status.elections.iter() {
        let _ = writeln!(out, "sid={} {}", ctx.config.my_id, election.line());
    }
    out
}

/// ZooKeeper's `Double.toString` of an average rounded to 4 decimals (AvgMinMaxCounter).
pub fn java_double(v: f64) -> String {
    if !v.is_finite() {
        return if v.is_nan() {
            "NaN".to_string()
        } else if v > 0.0 {
            "Infinity".to_string()
        } else {
            "-Infinity".to_string()
        };
    }
    let v = (v * 10_000.0).round() / 10_000.0;
    if v == 0.0 {
        return "0.0".to_string();
    }
    let abs = v.abs();
    if (1e-3..1e7).contains(&abs) {
        let s = format!("{v}");
        if s.contains('.') {
            s
        } else {
            format!("{s}.0")
        }
    } else {
        // Java's computerized scientific notation: 1.0E-4, 1.25E7.
        let s = format!("{v:e}");
        match s.split_once('e') {
            Some((mantissa, exp)) if mantissa.contains('.') => format!("{mantissa}E{exp}"),
            Some((mantissa, exp)) => format!("{mantissa}.0E{exp}"),
            None => s,
        }
    }
}

fn latency_line(l: &LatencySummary) -> String {
    format!("{}/{}/{}", l.min_ms, java_double(l.avg_ms), l.max_ms)
}

/// `Proposal sizes last/min/max:` / BufferStats: -1 for each while no proposal was made.
pub fn proposal_sizes(status: &NodeStatus) -> (i64, i64, i64) {
    match status.proposals.sizes {
        None => (-1, -1, -1),
        Some(s) => (clamp_i64(s.last), clamp_i64(s.min), clamp_i64(s.max)),
    }
}

fn clamp_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// ` /ip:port[interest](queued=0,recved=N,sent=N)` (ServerCnxn.dumpConnectionInfo; zabd has
/// no sessions yet, so never the session part).
/// ZooKeeper's `ServerCnxn.dumpConnectionInfo`: `brief` for `stat`, the long form (with the
/// session's details once it has one) for `cons`.
fn connection_line(out: &mut String, c: &ConnInfo, brief: bool) {
    let interest = if c.interest == 0 {
        "0".to_string()
    } else {
        format!("{:x}", c.interest)
    };
    let _ = write!(
        out,
        " /{}[{}](queued=0,recved={},sent={}",
        c.remote, interest, c.recved, c.sent
    );
    if !brief && c.session_id != 0 {
        let _ = write!(
            out,
            ",sid=0x{:x},lop={},est={},to={}",
            c.session_id, c.last_op, c.established_ms, c.timeout_ms
        );
        if c.last_cxid >= 0 {
            let _ = write!(out, ",lcxid=0x{:x}", c.last_cxid);
        }
        let avg = c.total_latency_ms.checked_div(c.latency_count).unwrap_or(0);
        let _ = write!(
            out,
            ",lzxid=0x{:x},lresp={},llat={},minlat={},avglat={},maxlat={}",
            c.last_zxid,
            c.last_response_ms,
            c.last_latency_ms,
            c.min_latency_ms,
            avg,
            c.max_latency_ms
        );
    }
    out.push(')');
}

fn srvr(ctx: &Context<'_>, with_clients: bool) -> String {
    let s = ctx.status;
    let c = ctx.counters;
    let mut out = String::new();
    let _ = writeln!(out, "Zookeeper version: {}", version_string());
    if with_clients {
        out.push_str("Clients:\n");
        for conn in ctx.connections {
            connection_line(&mut out, conn, true);
            out.push('\n');
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "Latency min/avg/max: {}",
        latency_line(&c.request_latency.summary())
    );
    let _ = writeln!(out, "Received: {}", Counters::get(&c.packets_received));
    let _ = writeln!(out, "Sent: {}", Counters::get(&c.packets_sent));
    let _ = writeln!(out, "Connections: {}", Counters::get(&c.alive_connections));
    // No client requests are processed yet, so none can be outstanding.
    out.push_str("Outstanding: 0\n");
    let _ = writeln!(out, "Zxid: {}", s.zxid);
    let _ = writeln!(out, "Mode: {}", s.serving.mode_str().unwrap_or("unknown"));
    let _ = writeln!(out, "Node count: {}", s.node_count);
    if s.serving == Serving::Leader {
        let (last, min, max) = proposal_sizes(s);
        let _ = writeln!(out, "Proposal sizes last/min/max: {last}/{min}/{max}");
    }
    out
}

/// The `mntr` keys zabd emits, in ZooKeeper 3.8's order (zabd's own keys follow at the end).
/// Each has a live value, or one that is constant in zabd today (no sessions, watches, client
/// requests or client responses exist yet). Some appear only in some roles; see [`mntr`].
pub const MNTR_KEYS: &[&str] = &[
    "zk_version",
    "zk_server_state",
    "zk_peer_state",
    "zk_observer_master_id",
    "zk_ephemerals_count",
    "zk_num_alive_connections",
    "zk_avg_latency",
    "zk_min_proposal_size",
    "zk_outstanding_requests",
    "zk_znode_count",
    "zk_global_sessions",
    "zk_last_client_response_size",
    "zk_packets_sent",
    "zk_packets_received",
    "zk_max_proposal_size",
    "zk_max_client_response_size",
    "zk_synced_followers",
    "zk_watch_count",
    "zk_synced_non_voting_followers",
    "zk_synced_observers",
    "zk_min_latency",
    "zk_max_file_descriptor_count",
    "zk_approximate_data_size",
    "zk_open_file_descriptor_count",
    "zk_last_proposal_size",
    "zk_pending_syncs",
    "zk_leader_uptime",
    "zk_local_sessions",
    "zk_uptime",
    "zk_max_latency",
    "zk_learners",
    "zk_min_client_response_size",
    "zk_quorum_size",
    "zk_proposal_count",
    "zk_looking_count",
    "zk_bytes_received_count",
    "zk_diff_count",
    "zk_snap_count",
    // zabd's own
    "zk_digest",
    "zk_current_epoch",
    "zk_accepted_epoch",
    "zk_elections_started",
    "zk_elections_won",
    "zk_notifications_sent",
    "zk_notifications_received",
    "zk_notifications_dropped",
    "zk_quorum_auth_refused",
    "zk_notification_bytes_sent",
    "zk_notification_bytes_received",
    "zk_log_fsyncs",
    "zk_txns_committed",
];

/// Leader-only `mntr` keys (LeaderZooKeeperServer's gauges).
const LEADER_ONLY: &[&str] = &[
    "zk_min_proposal_size",
    "zk_max_proposal_size",
    "zk_synced_followers",
    "zk_synced_non_voting_followers",
    "zk_synced_observers",
    "zk_last_proposal_size",
    "zk_pending_syncs",
    "zk_leader_uptime",
    "zk_learners",
];

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

/// One `mntr` value, typed so that the admin server's JSON keeps numbers as numbers; its
/// `Display` is exactly what the four-letter word prints.
#[derive(Debug, Clone, PartialEq)]
pub enum MntrValue {
    Int(i64),
    UInt(u64),
    Float(f64),
    Text(String),
}

impl std::fmt::Display for MntrValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MntrValue::Int(n) => write!(f, "{n}"),
            MntrValue::UInt(n) => write!(f, "{n}"),
            MntrValue::Float(v) => f.write_str(&java_double(*v)),
            MntrValue::Text(s) => f.write_str(s),
        }
    }
}

fn mntr(ctx: &Context<'_>) -> String {
    let mut out = String::new();
    for (key, value) in mntr_values(ctx) {
        let _ = writeln!(out, "{key}\t{value}");
    }
    out
}

/// The `mntr` keys and values for this server's role, in [`MNTR_KEYS`] order.
pub fn mntr_values(ctx: &Context<'_>) -> Vec<(&'static str, MntrValue)> {
    use MntrValue::{Float, Int, Text, UInt};
    let count = |counter: &std::sync::atomic::AtomicU64| UInt(Counters::get(counter));
    let s = ctx.status;
    let c = ctx.counters;
    let latency = c.request_latency.summary();
    let (last_prop, min_prop, max_prop) = proposal_sizes(s);
    let leader = s.serving == Serving::Leader;
    let standalone = s.serving == Serving::Standalone;
    let quorum_size = quorum_size(ctx.config);
    let leader_uptime = s
        .leading_since
        .map(|t| ms(ctx.now.saturating_duration_since(t)))
        .unwrap_or(0);

    let mut out = Vec::with_capacity(MNTR_KEYS.len());
    for &key in MNTR_KEYS {
        if LEADER_ONLY.contains(&key) && !leader {
            continue;
        }
        let value = match key {
            "zk_version" => Text(version_string()),
            "zk_server_state" => Text(s.serving.mode_str().unwrap_or("unknown").to_string()),
            // A standalone ZooKeeperServer is no quorum peer and has no peer state.
            "zk_peer_state" if standalone => continue,
            "zk_peer_state" => Text(format!("{} - {}", s.peer_state, s.phase.as_str())),
            "zk_observer_master_id" => match (s.serving, s.leader) {
                (Serving::Observer, Some(sid)) => UInt(sid.0),
                (Serving::Observer, None) => Int(-1),
                _ => continue,
            },
            "zk_ephemerals_count" => UInt(s.ephemerals),
            "zk_watch_count" => UInt(ctx.clients.watch_summary.2 as u64),
            "zk_global_sessions" => UInt(ctx.clients.sessions.len() as u64),
            "zk_outstanding_requests" | "zk_local_sessions" | "zk_synced_non_voting_followers" => {
                Int(0)
            }
            "zk_num_alive_connections" => count(&c.alive_connections),
            "zk_avg_latency" => Float(latency.avg_ms),
            "zk_min_latency" => UInt(latency.min_ms),
            "zk_max_latency" => UInt(latency.max_ms),
            "zk_min_proposal_size" => Int(min_prop),
            "zk_max_proposal_size" => Int(max_prop),
            "zk_last_proposal_size" => Int(last_prop),
            "zk_znode_count" => UInt(s.node_count),
            // BufferStats of client responses: -1 until the first (there are none yet).
            "zk_last_client_response_size"
            | "zk_max_client_response_size"
            | "zk_min_client_response_size" => Int(-1),
            "zk_packets_sent" => count(&c.packets_sent),
            "zk_packets_received" => count(&c.packets_received),
            "zk_synced_followers" => UInt(s.learners.synced_followers),
            "zk_synced_observers" => UInt(s.learners.synced_observers),
            "zk_pending_syncs" => UInt(s.learners.pending_syncs),
            "zk_learners" => UInt(s.learners.learners),
            "zk_max_file_descriptor_count" => match ctx.facts.max_fds {
                Some(n) => UInt(n),
                None => continue,
            },
            "zk_open_file_descriptor_count" => match ctx.facts.open_fds {
                Some(n) => UInt(n),
                None => continue,
            },
            "zk_approximate_data_size" => UInt(s.approximate_data_size),
            "zk_leader_uptime" => UInt(saturate(leader_uptime)),
            "zk_uptime" => UInt(saturate(ms(ctx.now.saturating_duration_since(ctx.started)))),
            "zk_quorum_size" => UInt(quorum_size as u64),
            "zk_proposal_count" => UInt(s.proposals.count),
            "zk_looking_count" => count(&c.elections_started),
            "zk_bytes_received_count" => count(&c.bytes_received),
            "zk_digest" => UInt(s.digest),
            "zk_current_epoch" => UInt(s.current_epoch.0.into()),
            "zk_accepted_epoch" => UInt(s.accepted_epoch.0.into()),
            "zk_elections_started" => count(&c.elections_started),
            "zk_elections_won" => count(&c.elections_won),
            "zk_notifications_sent" => count(&c.notifications_sent),
            "zk_notifications_received" => count(&c.notifications_received),
            "zk_notifications_dropped" => count(&c.notifications_dropped),
            "zk_quorum_auth_refused" => count(&c.quorum_auth_refused),
            "zk_notification_bytes_sent" => count(&c.notification_bytes_sent),
            "zk_notification_bytes_received" => count(&c.notification_bytes_received),
            "zk_log_fsyncs" => count(&c.log_fsyncs),
            "zk_diff_count" => count(&c.diff_syncs),
            "zk_snap_count" => count(&c.snap_syncs),
            "zk_txns_committed" => count(&c.txns_committed),
            _ => continue,
        };
        out.push((key, value));
    }
    out
}

/// `zk_quorum_size`: the voters of the ensemble (1 standalone).
pub fn quorum_size(config: &Config) -> usize {
    if config.servers.is_empty() {
        1
    } else {
        config.voters().count()
    }
}

fn saturate(n: u128) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// The data and log directories as conf/dirs print them, from the facts or, failing those,
/// from the configuration with size 0 (what ZooKeeper reports for a directory it cannot read).
pub fn dirs(ctx: &Context<'_>) -> (DirFacts, DirFacts) {
    let fallback = |p: &PathBuf| DirFacts {
        path: p.join("version-2"),
        size: 0,
    };
    (
        ctx.facts
            .data_dir
            .clone()
            .unwrap_or_else(|| fallback(&ctx.config.data_dir)),
        ctx.facts
            .log_dir
            .clone()
            .unwrap_or_else(|| fallback(&ctx.config.data_log_dir)),
    )
}

/// `[v6]` as ZooKeeper's delimitedHostString.
fn delimited_host(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// A server as ZooKeeper's `QuorumServer.toString` prints it (conf's membership, the admin
/// server's voting_view): `host:quorumPort:electionPort:role[;clientHost:clientPort]`.
pub fn server_line(spec: &ServerSpec) -> String {
    let mut out = format!(
        "{}:{}:{}:{}",
        delimited_host(&spec.host),
        spec.quorum_port,
        spec.election_port,
        spec.role.as_str()
    );
    if let Some(port) = spec.client_port {
        let client_host = spec.client_host.as_deref().unwrap_or("0.0.0.0");
        let _ = write!(out, ";{}:{}", delimited_host(client_host), port);
    }
    out
}

fn conf(ctx: &Context<'_>) -> String {
    let cfg = ctx.config;
    let (data, log) = dirs(ctx);
    let mut out = String::new();
    let _ = writeln!(out, "clientPort={}", ctx.client_port);
    out.push_str("secureClientPort=-1\n");
    let _ = writeln!(out, "dataDir={}", data.path.display());
    let _ = writeln!(out, "dataDirSize={}", data.size);
    let _ = writeln!(out, "dataLogDir={}", log.path.display());
    let _ = writeln!(out, "dataLogSize={}", log.size);
    let _ = writeln!(out, "tickTime={}", cfg.tick_time.as_millis());
    let _ = writeln!(out, "maxClientCnxns={}", cfg.max_client_cnxns);
    let _ = writeln!(
        out,
        "minSessionTimeout={}",
        cfg.min_session_timeout.as_millis()
    );
    let _ = writeln!(
        out,
        "maxSessionTimeout={}",
        cfg.max_session_timeout.as_millis()
    );
    out.push_str("clientPortListenBacklog=-1\n");
    if cfg.is_standalone() {
        // ZooKeeperServer.dumpConf: a standalone server's id is 0 and the reply ends here,
        // with its newline.
        out.push_str("serverId=0\n");
        return out;
    }
    let _ = writeln!(out, "serverId={}", cfg.my_id);
    let _ = writeln!(out, "initLimit={}", cfg.init_limit);
    let _ = writeln!(out, "syncLimit={}", cfg.sync_limit);
    out.push_str("electionAlg=3\n");
    let (election_port, quorum_port) = match cfg.me() {
        Some(me) => (i64::from(me.election_port), i64::from(me.quorum_port)),
        None => (-1, -1),
    };
    let _ = writeln!(out, "electionPort={election_port}");
    let _ = writeln!(out, "quorumPort={quorum_port}");
    let peer_type = match cfg.peer_type {
        LearnerType::Participant => 0,
        LearnerType::Observer => 1,
    };
    let _ = writeln!(out, "peerType={peer_type}");
    out.push_str("membership: \n");
    for spec in cfg.servers.values() {
        let _ = writeln!(out, "server.{}={}", spec.id, server_line(spec));
    }
    // The dynamic-configuration version: zabd has no reconfig, so always 0. No newline.
    out.push_str("version=0");
    out
}

fn envi(ctx: &Context<'_>) -> String {
    let mut out = String::from("Environment:\n");
    for (key, value) in envi_values(ctx) {
        let _ = writeln!(out, "{key}={value}");
    }
    out
}

/// The `envi` entries, in order (`<NA>` for what could not be read).
pub fn envi_values(ctx: &Context<'_>) -> Vec<(&'static str, String)> {
    let env = ctx.facts.env.clone().unwrap_or_default();
    let na = |v: Option<String>| v.unwrap_or_else(|| "<NA>".to_string());
    let mb = |v: Option<u64>| match v {
        Some(b) => format!("{}MB", b / (1024 * 1024)),
        None => "<NA>".to_string(),
    };
    vec![
        ("zookeeper.version", version_string()),
        ("host.name", na(env.host_name)),
        ("os.name", na(env.os_name)),
        ("os.arch", na(env.os_arch)),
        ("os.version", na(env.os_version)),
        ("user.name", na(env.user_name)),
        ("user.home", na(env.user_home)),
        ("user.dir", na(env.user_dir)),
        ("process.memory.rss", mb(env.rss_bytes)),
        ("process.memory.peak", mb(env.peak_rss_bytes)),
    ]
}

fn cons(ctx: &Context<'_>) -> String {
    let mut out = String::new();
    for conn in ctx.connections {
        connection_line(&mut out, conn, false);
        out.push('\n');
    }
    out.push('\n');
    out
}

fn dump(ctx: &Context<'_>) -> String {
    let mut out = String::from("SessionTracker dump:\n");
    // A learner prints its LearnerSessionTracker's table; a leader (and a standalone server)
    // ZooKeeper's expiry buckets. Those buckets live in zabd's peer loop, not here, so a
    // leader with sessions prints the learner's table too (exact only when there are none).
    let sessions = &ctx.clients.sessions;
    let learner = matches!(ctx.status.serving, Serving::Follower | Serving::Observer);
    if learner || !sessions.is_empty() {
        let _ = writeln!(out, "Global Sessions({}):", sessions.len());
        for (session, timeout_ms) in sessions {
            let _ = writeln!(out, "0x{session:x}\t{timeout_ms}ms");
        }
    } else {
        out.push_str("Session Sets (0)/(0):\n");
    }
    out.push_str("ephemeral nodes dump:\n");
    let _ = writeln!(
        out,
        "Sessions with Ephemerals ({}):",
        ctx.clients.ephemerals.len()
    );
    for (session, paths) in &ctx.clients.ephemerals {
        let _ = writeln!(out, "0x{session:x}:");
        for path in paths {
            let _ = writeln!(out, "\t{path}");
        }
    }
    out.push_str("Connections dump:\n");
    // NIOServerCnxnFactory's connection expiry queue: sets of connections by expiry second.
    let mut sets: Vec<(u64, Vec<&ConnInfo>)> = Vec::new();
    for conn in ctx.connections {
        let secs = conn
            .expires_at
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() + u64::from(d.subsec_nanos() > 0))
            .unwrap_or(0);
        match sets.iter_mut().find(|(t, _)| *t == secs) {
            Some((_, members)) => members.push(conn),
            None => sets.push((secs, vec![conn])),
        }
    }
    sets.sort_by_key(|(t, _)| *t);
    let _ = writeln!(
        out,
        "Connections Sets ({})/({}):",
        sets.len(),
        ctx.connections.len()
    );
    for (secs, members) in &sets {
        let _ = writeln!(out, "{} expire at {}:", members.len(), java_date_utc(*secs));
        for conn in members {
            let _ = writeln!(
                out,
                "\tip: /{} sessionId: 0x{:x}",
                conn.remote, conn.session_id
            );
        }
    }
    out
}

/// Java's `Date.toString()` in UTC: `Mon Nov 23 00:30:55 UTC 2026`.
pub fn java_date_utc(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    let weekday = DAYS.get((days % 7) as usize).copied().unwrap_or("???");
    let month_name = MONTHS
        .get((month as usize).wrapping_sub(1))
        .copied()
        .unwrap_or("???");
    format!(
        "{weekday} {month_name} {day:02} {:02}:{:02}:{:02} UTC {year}",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

/// (year, month 1-12, day 1-31) of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
pub(crate) mod tests;
