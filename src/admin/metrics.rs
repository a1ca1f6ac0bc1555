//! Prometheus metrics (`GET /metrics`), encoded by the `prometheus-client` crate in the
//! OpenMetrics text format, which Prometheus scrapes natively.
//!
//! Nothing is registered ahead of time: each scrape copies the live state (the same status
//! snapshot, counters and facts `mntr` reads) into a [`Scrape`] and encodes it, so a metric can
//! never drift from what the four-letter words say. A scrape costs one status copy, a pass over
//! the session table and two small /proc reads; scrapes come seconds apart.
//!
//! Metrics ZooKeeper's Prometheus provider also exports keep its names (`znode_count`,
//! `num_alive_connections`, ...), so dashboards built for ZooKeeper work; zabd's own are
//! prefixed `zabd_`. Every metric is listed in [`METRICS`] with its help text.

use crate::server::fourlw::{self, ClientFacts, Facts};
use crate::status::{Counters, HistogramSnapshot, NodeStatus, Serving};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::time::{Duration, Instant};

/// The Content-Type of [`encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Every metric: (name as registered, type, help). Counters appear with a `_total` suffix and
/// the histogram as `_bucket`/`_sum`/`_count` series, as OpenMetrics writes them.
pub const METRICS: &[(&str, MetricType, &str)] = &[
    // ZooKeeper's names.
    ("znode_count", MetricType::Gauge, "Znodes in the data tree."),
    ("approximate_data_size", MetricType::Gauge, "Approximate bytes of znode paths and data in the data tree."),
    ("ephemerals_count", MetricType::Gauge, "Ephemeral znodes in the data tree."),
    ("watch_count", MetricType::Gauge, "Watches set by this server's client connections."),
    ("global_sessions", MetricType::Gauge, "Client sessions of the ensemble, as the replicated tree knows them."),
    ("num_alive_connections", MetricType::Gauge, "Open client-port connections (four-letter-word connections included)."),
    ("packets_received", MetricType::Gauge, "Client-port packets received since start or the last srst (a gauge: srst resets it, as in ZooKeeper)."),
    ("packets_sent", MetricType::Gauge, "Client-port packets sent since start or the last srst (a gauge: srst resets it, as in ZooKeeper)."),
    ("min_latency", MetricType::Gauge, "Smallest client request latency in ms since start or the last srst."),
    ("avg_latency", MetricType::Gauge, "Mean client request latency in ms since start or the last srst."),
    ("max_latency", MetricType::Gauge, "Largest client request latency in ms since start or the last srst."),
    ("quorum_size", MetricType::Gauge, "Voters in the ensemble (1 when standalone)."),
    ("synced_followers", MetricType::Gauge, "Voting followers in sync with this leader (0 unless leading)."),
    ("synced_observers", MetricType::Gauge, "Observers in sync with this leader (0 unless leading)."),
    ("learners", MetricType::Gauge, "Learners connected to this leader (0 unless leading)."),
    ("pending_syncs", MetricType::Gauge, "Learners connected to this leader but not yet synchronised (0 unless leading)."),
    ("uptime", MetricType::Gauge, "Milliseconds since the process started."),
    ("leader_uptime", MetricType::Gauge, "Milliseconds since this server started leading (0 unless leading)."),
    ("open_file_descriptor_count", MetricType::Gauge, "Open file descriptors of the process (absent where unreadable)."),
    ("max_file_descriptor_count", MetricType::Gauge, "The soft limit on open file descriptors (absent where unreadable or unlimited)."),
    // zabd's own.
    ("zabd_build_info", MetricType::Gauge, "Always 1; the labels name the zabd version and git commit."),
    ("zabd_server_state", MetricType::Gauge, "1 for the state this server is in (not_serving, leader, follower, observer, standalone), 0 for the others."),
    ("zabd_serving", MetricType::Gauge, "1 while the server serves clients in a quorum (or standalone), else 0: the admin `ready` command as a metric."),
    ("zabd_current_epoch", MetricType::Gauge, "The epoch this server last acknowledged as established (currentEpoch)."),
    ("zabd_accepted_epoch", MetricType::Gauge, "The newest epoch this server promised to follow (acceptedEpoch)."),
    ("zabd_last_zxid", MetricType::Gauge, "The last zxid applied to the data tree (epoch << 32 | counter)."),
    ("zabd_elections", MetricType::Counter, "Leader elections this server started (ZooKeeper's looking_count)."),
    ("zabd_elections_won", MetricType::Counter, "Elections after which this server led."),
    ("zabd_notifications_sent", MetricType::Counter, "Election notifications sent to other servers."),
    ("zabd_notifications_received", MetricType::Counter, "Election notifications received from other servers."),
    ("zabd_notifications_dropped", MetricType::Counter, "Election notifications dropped (queue full or undecodable)."),
    ("zabd_quorum_auth_refused", MetricType::Counter, "Peer connections refused by quorum authentication."),
    ("zabd_notification_bytes_sent", MetricType::Counter, "Bytes of election notifications sent, frame prefix included."),
    ("zabd_notification_bytes_received", MetricType::Counter, "Bytes of election notifications received, frame prefix included."),
    ("zabd_proposals", MetricType::Counter, "Proposals this server made as leader."),
    ("zabd_log_fsyncs", MetricType::Counter, "Transaction-log fsyncs (one per group commit)."),
    ("zabd_txns_committed", MetricType::Counter, "Transactions committed and applied to the data tree."),
    ("zabd_bytes_received", MetricType::Counter, "Bytes received on the client port."),
    ("zabd_request_latency_seconds", MetricType::Histogram, "Client request latency (whole milliseconds, as ZooKeeper measures), never reset by srst."),
    ("zabd_fsync_seconds", MetricType::Histogram, "Time each transaction-log fsync (group commit) took."),
];

/// Everything one scrape reports, copied out of the live state.
#[derive(Debug)]
pub struct Scrape {
    pub status: NodeStatus,
    pub quorum_size: u64,
    pub uptime: Duration,
    /// 0 unless leading.
    pub leader_uptime: Duration,
    pub packets_received: u64,
    pub packets_sent: u64,
    pub bytes_received: u64,
    pub alive_connections: u64,
    pub elections_started: u64,
    pub elections_won: u64,
    pub notifications_sent: u64,
    pub notifications_received: u64,
    pub notifications_dropped: u64,
    pub quorum_auth_refused: u64,
    pub notification_bytes_sent: u64,
    pub notification_bytes_received: u64,
    pub log_fsyncs: u64,
    pub txns_committed: u64,
    pub latency_min_ms: u64,
    pub latency_avg_ms: f64,
    pub latency_max_ms: u64,
    /// In milliseconds.
    pub latency: HistogramSnapshot,
    /// In microseconds.
    pub fsync: HistogramSnapshot,
    pub watches: u64,
    pub sessions: u64,
    pub open_fds: Option<u64>,
    pub max_fds: Option<u64>,
}

impl Scrape {
    /// Copy what the metrics report. `now` and `started` give the uptimes.
    pub fn take(
        status: NodeStatus,
        counters: &Counters,
        config: &crate::config::Config,
        clients: &ClientFacts,
        facts: &Facts,
        started: Instant,
        now: Instant,
    ) -> Scrape {
        let get = Counters::get;
        let latency = counters.request_latency.summary();
        Scrape {
            quorum_size: fourlw::quorum_size(config) as u64,
            uptime: now.saturating_duration_since(started),
            leader_uptime: match (status.serving, status.leading_since) {
                (Serving::Leader, Some(since)) => now.saturating_duration_since(since),
                _ => Duration::ZERO,
            },
            packets_received: get(&counters.packets_received),
            packets_sent: get(&counters.packets_sent),
            bytes_received: get(&counters.bytes_received),
            alive_connections: get(&counters.alive_connections),
            elections_started: get(&counters.elections_started),
            elections_won: get(&counters.elections_won),
            notifications_sent: get(&counters.notifications_sent),
            notifications_received: get(&counters.notifications_received),
            notifications_dropped: get(&counters.notifications_dropped),
            quorum_auth_refused: get(&counters.quorum_auth_refused),
            notification_bytes_sent: get(&counters.notification_bytes_sent),
            notification_bytes_received: get(&counters.notification_bytes_received),
            log_fsyncs: get(&counters.log_fsyncs),
            txns_committed: get(&counters.txns_committed),
            latency_min_ms: latency.min_ms,
            latency_avg_ms: latency.avg_ms,
            latency_max_ms: latency.max_ms,
            latency: counters.request_latency.histogram(),
            fsync: counters.log_fsync_time.snapshot(),
            watches: clients.watch_summary.2 as u64,
            sessions: clients.sessions.len() as u64,
            open_fds: facts.open_fds,
            max_fds: facts.max_fds,
            // Leader-only values read 0 elsewhere (ZooKeeper drops them; a series that comes
            // and goes with leadership is harder to graph).
            status: if status.serving == Serving::Leader {
                status
            } else {
                NodeStatus {
                    learners: Default::default(),
                    ..status
                }
            },
        }
    }
}

/// The OpenMetrics text of one scrape.
pub fn encode(scrape: Scrape) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(scrape));
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry)?;
    Ok(out)
}

fn help(name: &str) -> &'static str {
    METRICS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map_or("", |(_, _, help)| help)
}

fn gauge<T>(encoder: &mut DescriptorEncoder, name: &str, value: T) -> Result<(), std::fmt::Error>
where
    T: prometheus_client::encoding::EncodeGaugeValue + Clone + std::fmt::Debug + Send + Sync,
{
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help(name), None, metric.metric_type())?)
}

fn counter(encoder: &mut DescriptorEncoder, name: &str, value: u64) -> Result<(), std::fmt::Error> {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help(name), None, metric.metric_type())?)
}

impl Collector for Scrape {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = &self.status;
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        gauge(&mut e, "znode_count", s.node_count)?;
        gauge(&mut e, "approximate_data_size", s.approximate_data_size)?;
        gauge(&mut e, "ephemerals_count", s.ephemerals)?;
        gauge(&mut e, "watch_count", self.watches)?;
        gauge(&mut e, "global_sessions", self.sessions)?;
        gauge(&mut e, "num_alive_connections", self.alive_connections)?;
        gauge(&mut e, "packets_received", self.packets_received)?;
        gauge(&mut e, "packets_sent", self.packets_sent)?;
        gauge(&mut e, "min_latency", self.latency_min_ms)?;
        gauge(&mut e, "avg_latency", self.latency_avg_ms)?;
        gauge(&mut e, "max_latency", self.latency_max_ms)?;
        gauge(&mut e, "quorum_size", self.quorum_size)?;
        gauge(&mut e, "synced_followers", s.learners.synced_followers)?;
        gauge(&mut e, "synced_observers", s.learners.synced_observers)?;
        gauge(&mut e, "learners", s.learners.learners)?;
        gauge(&mut e, "pending_syncs", s.learners.pending_syncs)?;
        gauge(&mut e, "uptime", ms(self.uptime))?;
        gauge(&mut e, "leader_uptime", ms(self.leader_uptime))?;
        if let Some(n) = self.open_fds {
            gauge(&mut e, "open_file_descriptor_count", n)?;
        }
        if let Some(n) = self.max_fds {
            gauge(&mut e, "max_file_descriptor_count", n)?;
        }

        {
            let name = "zabd_build_info";
            let mut family = e.encode_descriptor(name, help(name), None, MetricType::Gauge)?;
            let labels = [
                ("version", env!("CARGO_PKG_VERSION")),
                ("commit", env!("ZABD_GIT_COMMIT")),
            ];
            ConstGauge::new(1i64).encode(family.encode_family(&labels)?)?;
        }
        {
            let name = "zabd_server_state";
            let mut family = e.encode_descriptor(name, help(name), None, MetricType::Gauge)?;
            for state in [
                Serving::NotServing,
                Serving::Leader,
                Serving::Follower,
                Serving::Observer,
                Serving::Standalone,
            ] {
                let label = [("state", state.mode_str().unwrap_or("not_serving"))];
                let value = i64::from(s.serving == state);
                ConstGauge::new(value).encode(family.encode_family(&label)?)?;
            }
        }
        gauge(
            &mut e,
            "zabd_serving",
            i64::from(s.serving != Serving::NotServing),
        )?;
        gauge(&mut e, "zabd_current_epoch", s.current_epoch.0)?;
        gauge(&mut e, "zabd_accepted_epoch", s.accepted_epoch.0)?;
        gauge(&mut e, "zabd_last_zxid", s.zxid.0)?;
        counter(&mut e, "zabd_elections", self.elections_started)?;
        counter(&mut e, "zabd_elections_won", self.elections_won)?;
        counter(&mut e, "zabd_notifications_sent", self.notifications_sent)?;
        counter(
            &mut e,
            "zabd_notifications_received",
            self.notifications_received,
        )?;
        counter(
            &mut e,
            "zabd_notifications_dropped",
            self.notifications_dropped,
        )?;
        counter(&mut e, "zabd_quorum_auth_refused", self.quorum_auth_refused)?;
        counter(
            &mut e,
            "zabd_notification_bytes_sent",
            self.notification_bytes_sent,
        )?;
        counter(
            &mut e,
            "zabd_notification_bytes_received",
            self.notification_bytes_received,
        )?;
        counter(&mut e, "zabd_proposals", s.proposals.count)?;
        counter(&mut e, "zabd_log_fsyncs", self.log_fsyncs)?;
        counter(&mut e, "zabd_txns_committed", self.txns_committed)?;
        counter(&mut e, "zabd_bytes_received", self.bytes_received)?;
        histogram(&mut e, "zabd_request_latency_seconds", &self.latency, 1e3)?;
        histogram(&mut e, "zabd_fsync_seconds", &self.fsync, 1e6)?;
        Ok(())
    }
}

/// A histogram recorded in units of `1 / per_second` seconds, exported in seconds.
fn histogram(
    encoder: &mut DescriptorEncoder,
    name: &str,
    h: &HistogramSnapshot,
    per_second: f64,
) -> Result<(), std::fmt::Error> {
    let buckets: Vec<(f64, u64)> = h
        .buckets
        .iter()
        .map(|(bound, n)| (bound.map_or(f64::INFINITY, |b| b as f64 / per_second), *n))
        .collect();
    let mut metric = encoder.encode_descriptor(name, help(name), None, MetricType::Histogram)?;
    metric.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
        h.sum as f64 / per_second,
        h.count,
        &buckets,
        None,
    )
}
