//! The admin and metrics servers over real loopback sockets (ports from the OS).

use super::*;
use crate::config::MetricsConfig;
use crate::ids::{Epoch, Zxid};
use crate::server::fourlw::tests::ensemble_config;
use crate::status::{Counters, NodeStatus, Serving, ZabPhase};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A generous bound so that a hang fails the test instead of stalling the suite.
const TEST_TIMEOUT: Duration = Duration::from_secs(20);

fn board() -> Arc<StatusBoard> {
    Arc::new(StatusBoard::new(NodeStatus::new(
        Zxid::new(Epoch(2), 0),
        Epoch(2),
        Epoch(2),
    )))
}

fn serve(board: &Arc<StatusBoard>) -> Sources {
    Sources {
        board: Arc::clone(board),
        config: Arc::new(ensemble_config(1, false)),
        client_port: None,
    }
}

fn follow(board: &StatusBoard) {
    board.update(|s| {
        s.serving = Serving::Follower;
        s.peer_state = "following";
        s.phase = ZabPhase::Broadcast;
    });
}

/// Both servers on 127.0.0.1, ports from the OS.
async fn start_both(sources: Sources) -> Running {
    let mut config = (*sources.config).clone();
    config.admin.enabled = true;
    config.admin.address = [127, 0, 0, 1].into();
    config.admin.port = 0;
    config.metrics = Some(MetricsConfig {
        host: [127, 0, 0, 1].into(),
        port: 0,
    });
    let running = start(Sources {
        config: Arc::new(config),
        ..sources
    })
    .await;
    assert!(running.admin_addr().is_some() && running.metrics_addr().is_some());
    running
}

struct HttpReply {
    status: u16,
    content_type: String,
    body: String,
}

/// One HTTP/1.1 request on its own connection; the whole response.
async fn http(addr: SocketAddr, method: &str, path: &str) -> HttpReply {
    let run = async {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        let request =
            format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        s.write_all(request.as_bytes()).await.expect("write");
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.expect("read");
        String::from_utf8(raw).expect("utf-8")
    };
    let raw = tokio::time::timeout(TEST_TIMEOUT, run)
        .await
        .expect("reply in time");
    let (head, body) = raw.split_once("\r\n\r\n").expect("headers end");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .expect("status line");
    let content_type = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    HttpReply {
        status,
        content_type,
        body: body.to_string(),
    }
}

async fn get_json(addr: SocketAddr, path: &str) -> (u16, Value) {
    let reply = http(addr, "GET", path).await;
    assert_eq!(reply.content_type, "application/json", "{path}");
    let json = serde_json::from_str(&reply.body)
        .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {}", reply.body));
    (reply.status, json)
}

#[tokio::test]
async fn commands_are_listed_and_each_answers_json() {
    let board = board();
    follow(&board);
    let running = start_both(serve(&board)).await;
    let addr = running.admin_addr().unwrap();

    let (status, list) = get_json(addr, "/commands").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = list["commands"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|c| c["name"].as_str().expect("a name"))
        .collect();
    for wanted in [
        "server_stats",
        "stats",
        "monitor",
        "configuration",
        "environment",
        "is_read_only",
        "connections",
        "watch_summary",
        "ruok",
        "leader",
        "voting_view",
        "zabstate",
        "ready",
        "elections",
    ] {
        assert!(names.contains(&wanted), "{wanted} missing from {names:?}");
    }
    assert_eq!(get_json(addr, "/commands/").await.0, 200);

    for command in commands::COMMANDS {
        for name in std::iter::once(command.name).chain(command.aliases.iter().copied()) {
            let (status, body) = get_json(addr, &format!("/commands/{name}")).await;
            assert_eq!(status, 200, "{name}: {body}");
            assert_eq!(body["command"], command.name, "{name}");
            assert_eq!(body["error"], Value::Null, "{name}: {body}");
        }
    }
}

#[tokio::test]
async fn monitor_has_every_mntr_key_with_numbers_as_numbers() {
    let board = board();
    follow(&board);
    Counters::add(&board.counters.packets_received, 7);
    board.update(|s| s.node_count = 42);
    let running = start_both(serve(&board)).await;
    let (status, mntr) = get_json(running.admin_addr().unwrap(), "/commands/mntr").await;
    assert_eq!(status, 200);
    assert_eq!(mntr["packets_received"], 7);
    assert_eq!(mntr["znode_count"], 42);
    assert_eq!(mntr["server_state"], "follower");
    assert_eq!(mntr["peer_state"], "following - broadcast");
    assert!(mntr["avg_latency"].is_number());
    assert!(mntr["uptime"].is_u64());
    assert!(mntr["open_file_descriptor_count"].is_u64());
    for key in [
        "num_alive_connections",
        "outstanding_requests",
        "znode_count",
        "watch_count",
        "ephemerals_count",
        "approximate_data_size",
        "quorum_size",
        "current_epoch",
        "elections_started",
        "notifications_received",
        "digest",
    ] {
        assert!(mntr[key].is_number(), "{key}: {}", mntr[key]);
    }
}

#[tokio::test]
async fn unknown_commands_and_paths_are_json_404s() {
    let board = board();
    follow(&board);
    let running = start_both(serve(&board)).await;
    let addr = running.admin_addr().unwrap();
    let (status, body) = get_json(addr, "/commands/nosuch").await;
    assert_eq!(status, 404);
    assert_eq!(body["command"], "nosuch");
    assert_eq!(body["error"], "Unknown command: nosuch");
    for path in ["/", "/commandsx", "/other/mntr", "/commands/mntr/extra"] {
        let (status, body) = get_json(addr, path).await;
        assert_eq!(status, 404, "{path}");
        assert!(body["error"].is_string(), "{path}: {body}");
    }
    let reply = http(addr, "POST", "/commands/ruok").await;
    assert_eq!(reply.status, 405);
    // A request that is not HTTP at all closes that one connection; the server goes on.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"\x00\x01garbage\r\n\r\n").await.unwrap();
    let mut sink = Vec::new();
    let _ = tokio::time::timeout(TEST_TIMEOUT, s.read_to_end(&mut sink)).await;
    assert_eq!(get_json(addr, "/commands/ruok").await.0, 200);
}

#[tokio::test]
async fn ready_follows_the_serving_state() {
    let board = board();
    let running = start_both(serve(&board)).await;
    let addr = running.admin_addr().unwrap();
    let (status, body) = get_json(addr, "/commands/ready").await;
    assert_eq!((status, &body["ready"]), (503, &Value::Bool(false)));
    assert_eq!(body["error"], Value::Null);
    // Words that need a serving server say so, as ZooKeeper's AdminServer does.
    let (status, body) = get_json(addr, "/commands/mntr").await;
    assert_eq!(status, 503);
    assert_eq!(
        body["error"],
        "This ZooKeeper instance is not currently serving requests"
    );

    follow(&board);
    let (status, body) = get_json(addr, "/commands/ready").await;
    assert_eq!((status, &body["ready"]), (200, &Value::Bool(true)));
    assert_eq!(body["server_state"], "follower");

    board.update(|s| s.serving = Serving::NotServing);
    assert_eq!(get_json(addr, "/commands/ready").await.0, 503);
}

#[tokio::test]
async fn elections_shows_what_the_peer_recorded_on_the_board() {
    use crate::election::{Decision, Vote};
    use crate::ids::{ServerState, Sid};
    let board = board();
    let running = start_both(serve(&board)).await;
    let addr = running.admin_addr().unwrap();
    board.election_started(&"start-up");
    let (status, body) = get_json(addr, "/commands/elections").await;
    assert_eq!(status, 200, "answers while looking: {body}");
    assert_eq!(body["elections"][0]["state"], "looking");
    assert_eq!(body["elections"][0]["prior_epoch"], 2);
    board.election_decided(&Decision {
        state: ServerState::Following,
        vote: Vote {
            epoch: Epoch(2),
            zxid: Zxid::new(Epoch(2), 0),
            leader: Sid(3),
        },
        round: 2,
        rounds: 1,
        notifications_received: 3,
        joined_established: true,
        distinct_votes: 2,
    });
    board.update(|s| {
        s.zxid = Zxid::epoch_start(Epoch(3));
    });
    follow(&board);
    let (_, body) = get_json(addr, "/commands/elec").await;
    let e = &body["elections"][0];
    assert_eq!(body["total"], 1);
    assert_eq!(
        (
            &e["state"],
            &e["leader"],
            &e["epoch"],
            &e["joined_established"]
        ),
        (
            &Value::from("following"),
            &Value::from(3),
            &Value::from(3),
            &Value::Bool(true)
        )
    );
    assert!(e["took_ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{e}");
    assert!(e["start_unix_ms"]
        .as_u64()
        .is_some_and(|ms| ms > 1_600_000_000_000));
}

#[tokio::test]
async fn a_custom_command_url_moves_the_commands() {
    let board = board();
    follow(&board);
    let mut config = ensemble_config(1, false);
    config.admin.command_url = "/zk".into();
    let running = start_both(Sources {
        config: Arc::new(config),
        ..serve(&board)
    })
    .await;
    let addr = running.admin_addr().unwrap();
    assert_eq!(get_json(addr, "/zk/ruok").await.0, 200);
    let (_, list) = get_json(addr, "/zk").await;
    assert_eq!(list["commands"][0]["url"], "/zk/configuration");
    assert_eq!(get_json(addr, "/commands/ruok").await.0, 404);
}

#[tokio::test]
async fn a_port_in_use_is_a_warning_and_the_other_server_still_starts() {
    let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = taken.local_addr().unwrap().port();
    let mut config = ensemble_config(1, false);
    config.admin.enabled = true;
    config.admin.address = [127, 0, 0, 1].into();
    config.admin.port = port;
    config.metrics = Some(MetricsConfig {
        host: [127, 0, 0, 1].into(),
        port: 0,
    });
    let running = start(Sources {
        config: Arc::new(config),
        ..serve(&board())
    })
    .await;
    assert_eq!(running.admin_addr(), None);
    let metrics = running.metrics_addr().expect("metrics still run");
    assert_eq!(http(metrics, "GET", "/metrics").await.status, 200);
}

#[tokio::test]
async fn both_servers_stay_off_unless_configured() {
    let running = start(serve(&board())).await;
    assert_eq!(running.admin_addr(), None);
    assert_eq!(running.metrics_addr(), None);
}

#[tokio::test]
async fn connections_come_from_the_client_port() {
    let board = board();
    follow(&board);
    let config = Arc::new(ensemble_config(1, false));
    let listener = crate::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client_addr = listener.local_addr().unwrap();
    let (commands, _) = tokio::sync::mpsc::channel(1);
    let tree = Arc::new(std::sync::RwLock::new(crate::tree::DataTree::new()));
    let api = crate::api::ZabClient::new(commands, tree, 1);
    let port = crate::server::ClientPort::new(
        listener,
        Arc::clone(&board),
        Arc::clone(&config),
        api,
        crate::server::hub::Hub::new(),
    );
    let sources = Sources {
        board: Arc::clone(&board),
        config,
        client_port: Some(port.view()),
    };
    let serving = tokio::spawn(port.serve());
    let running = start_both(sources).await;
    let addr = running.admin_addr().unwrap();

    // A client that connected and has not said anything yet.
    let _idle = TcpStream::connect(client_addr).await.unwrap();
    let deadline = tokio::time::Instant::now() + TEST_TIMEOUT;
    loop {
        let (_, cons) = get_json(addr, "/commands/cons").await;
        let conns = cons["connections"].as_array().cloned().unwrap_or_default();
        if conns.len() == 1 {
            assert_eq!(conns[0]["session_id"], 0);
            let (_, conf) = get_json(addr, "/commands/conf").await;
            assert_eq!(conf["client_port"], client_addr.port());
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no connection: {cons}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    serving.abort();
}

/// Parse with a Prometheus text parser (as a scraper would).
async fn scrape(addr: SocketAddr) -> prometheus_parse::Scrape {
    let reply = http(addr, "GET", "/metrics").await;
    assert_eq!(reply.status, 200);
    assert!(
        reply
            .content_type
            .starts_with("application/openmetrics-text"),
        "{}",
        reply.content_type
    );
    assert!(reply.body.ends_with("# EOF\n"), "{}", reply.body);
    let lines = reply.body.lines().map(|l| Ok(l.to_string()));
    prometheus_parse::Scrape::parse(lines).expect("Prometheus text")
}

fn value(scrape: &prometheus_parse::Scrape, name: &str, label: Option<(&str, &str)>) -> f64 {
    let sample = scrape
        .samples
        .iter()
        .find(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
        .unwrap_or_else(|| panic!("no {name} {label:?}"));
    match sample.value {
        prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Untyped(v) => v,
        ref other => panic!("{name}: unexpected {other:?}"),
    }
}

#[tokio::test]
async fn metrics_move_with_the_counters() {
    let board = board();
    let running = start_both(serve(&board)).await;
    let addr = running.metrics_addr().unwrap();

    let before = scrape(addr).await;
    assert_eq!(value(&before, "zabd_serving", None), 0.0);
    assert_eq!(
        value(&before, "zabd_server_state", Some(("state", "not_serving"))),
        1.0
    );
    assert_eq!(value(&before, "quorum_size", None), 3.0);
    assert_eq!(value(&before, "zabd_elections_total", None), 0.0);
    assert_eq!(value(&before, "znode_count", None), 0.0);
    assert!(before.docs.contains_key("znode_count"));
    for (name, _, help) in metrics::METRICS {
        assert!(!help.is_empty(), "{name} has no help");
        assert!(
            before.docs.contains_key(*name) || name.ends_with("descriptor_count"),
            "{name} not exported"
        );
    }

    Counters::add(&board.counters.elections_started, 3);
    Counters::add(&board.counters.notifications_received, 11);
    Counters::add(&board.counters.notification_bytes_sent, 512);
    Counters::add(&board.counters.log_fsyncs, 2);
    board.counters.request_latency.record(3);
    board.counters.request_latency.record(700);
    board.update(|s| {
        s.serving = Serving::Leader;
        s.current_epoch = Epoch(5);
        s.zxid = Zxid::new(Epoch(5), 4);
        s.node_count = 9;
        s.learners.synced_followers = 2;
    });

    let after = scrape(addr).await;
    assert_eq!(value(&after, "zabd_elections_total", None), 3.0);
    assert_eq!(
        value(&after, "zabd_notifications_received_total", None),
        11.0
    );
    assert_eq!(value(&after, "zabd_log_fsyncs_total", None), 2.0);
    assert_eq!(
        value(&after, "zabd_notification_bytes_sent_total", None),
        512.0
    );
    assert_eq!(value(&after, "zabd_serving", None), 1.0);
    assert_eq!(
        value(&after, "zabd_server_state", Some(("state", "leader"))),
        1.0
    );
    assert_eq!(
        value(&after, "zabd_server_state", Some(("state", "not_serving"))),
        0.0
    );
    assert_eq!(value(&after, "zabd_current_epoch", None), 5.0);
    assert_eq!(
        value(&after, "zabd_last_zxid", None),
        Zxid::new(Epoch(5), 4).0 as f64
    );
    assert_eq!(value(&after, "znode_count", None), 9.0);
    assert_eq!(value(&after, "synced_followers", None), 2.0);
    assert_eq!(value(&after, "max_latency", None), 700.0);

    let histogram = after
        .samples
        .iter()
        .find(|s| s.metric == "zabd_request_latency_seconds")
        .expect("the latency histogram");
    match &histogram.value {
        prometheus_parse::Value::Histogram(buckets) => {
            let le = |bound: f64| {
                buckets
                    .iter()
                    .find(|b| b.less_than == bound || (b.less_than - bound).abs() < 1e-9)
                    .map(|b| b.count)
                    .unwrap_or_else(|| panic!("no bucket {bound}"))
            };
            assert_eq!(le(0.002), 0.0);
            assert_eq!(le(0.005), 1.0);
            assert_eq!(le(0.5), 1.0);
            assert_eq!(le(1.0), 2.0);
            assert_eq!(le(f64::INFINITY), 2.0);
        }
        other => panic!("not a histogram: {other:?}"),
    }
    assert_eq!(
        value(&after, "zabd_request_latency_seconds_count", None),
        2.0
    );
    assert!((value(&after, "zabd_request_latency_seconds_sum", None) - 0.703).abs() < 1e-9);
    assert_eq!(value(&before, "zabd_fsync_seconds_count", None), 0.0);
    board
        .counters
        .log_fsync_time
        .record(Duration::from_micros(1500));
    let fsynced = scrape(addr).await;
    assert_eq!(value(&fsynced, "zabd_fsync_seconds_count", None), 1.0);
    assert!((value(&fsynced, "zabd_fsync_seconds_sum", None) - 0.0015).abs() < 1e-9);

    assert_eq!(http(addr, "GET", "/other").await.status, 404);
}

#[test]
fn routes() {
    assert_eq!(route("/commands", "/commands"), Route::List);
    assert_eq!(route("/commands", "/commands/"), Route::List);
    assert_eq!(
        route("/commands", "/commands/mntr"),
        Route::Command("mntr".into())
    );
    assert_eq!(
        route("/commands", "/commands/mntr/"),
        Route::Command("mntr".into())
    );
    assert_eq!(route("/commands", "/commandsmntr"), Route::NotFound);
    assert_eq!(route("/commands", "/"), Route::NotFound);
    assert_eq!(route("", "/"), Route::List);
    assert_eq!(route("", "/mntr"), Route::Command("mntr".into()));
}
