use super::fourlw::tests::ensemble_config;
use super::fourlw::NOT_SERVING;
use super::*;
use crate::config::Whitelist;
use crate::ids::{Epoch, Zxid};
use crate::status::{NodeStatus, Serving, ZabPhase};
use std::net::SocketAddr;

/// A generous bound so that a hang fails the test instead of stalling the suite.
const TEST_TIMEOUT: Duration = Duration::from_secs(20);

async fn start() -> (SocketAddr, Arc<StatusBoard>, tokio::task::JoinHandle<()>) {
    let board = Arc::new(StatusBoard::new(NodeStatus::new(
        Zxid::new(Epoch(2), 0),
        Epoch(2),
        Epoch(2),
    )));
    let mut config = ensemble_config(1, false);
    config.whitelist = Whitelist::All;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    // No peer behind this client port: sessions cannot be created (these tests speak words).
    let (commands, _) = tokio::sync::mpsc::channel(1);
    let tree = Arc::new(std::sync::RwLock::new(crate::tree::DataTree::new()));
    let api = ZabClient::new(commands, tree, 1);
    let task = tokio::spawn(serve(
        listener,
        Arc::clone(&board),
        Arc::new(config),
        api,
        hub::Hub::new(),
    ));
    (addr, board, task)
}

/// Send `bytes`, half-close, and read the reply to EOF (a reset counts as the end).
async fn ask(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let run = async {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(bytes).await.expect("write");
        s.shutdown().await.expect("shutdown");
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out).await;
        out
    };
    timeout(TEST_TIMEOUT, run).await.expect("reply in time")
}

async fn ask_text(addr: SocketAddr, bytes: &[u8]) -> String {
    String::from_utf8(ask(addr, bytes).await).expect("utf-8")
}

fn received(srvr: &str) -> u64 {
    srvr.lines()
        .find_map(|l| l.strip_prefix("Received: "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Received in {srvr:?}"))
}

fn lead(board: &StatusBoard) {
    board.update(|s| {
        s.serving = Serving::Leader;
        s.peer_state = "leading";
        s.phase = ZabPhase::Broadcast;
    });
}

#[tokio::test]
async fn answers_words_and_survives_garbage() {
    let (addr, board, task) = start().await;

    assert_eq!(ask_text(addr, b"ruok").await, "imok");
    assert_eq!(ask_text(addr, b"srvr").await, NOT_SERVING);
    assert_eq!(ask_text(addr, b"isro").await, "null");

    lead(&board);
    let first = ask_text(addr, b"srvr").await;
    assert!(first.contains("\nMode: leader\n"), "{first}");
    assert!(first.contains("\nZxid: 0x200000000\n"), "{first}");
    let second = ask_text(addr, b"srvr").await;
    assert_eq!(received(&second), received(&first) + 1);
    assert_eq!(ask_text(addr, b"isro").await, "rw");

    // Garbage, a partial word, and an immediate close: each closes that connection only.
    assert!(ask(addr, &[0x00, 0xff, 0x13, 0x37]).await.is_empty());
    assert_eq!(ask_text(addr, b"ruok").await, "imok");
    assert!(ask(addr, b"ru").await.is_empty());
    assert!(ask(addr, b"").await.is_empty());
    assert_eq!(ask_text(addr, b"ruok").await, "imok");

    // A newline after the word (`echo srvr | nc`) does not spoil the reply.
    assert!(ask_text(addr, b"srvr\n")
        .await
        .starts_with("Zookeeper version: "));

    task.abort();
}

#[tokio::test]
async fn stmk_reads_its_mask_and_gtmk_reports_it() {
    let (addr, board, task) = start().await;
    lead(&board);
    assert_eq!(ask_text(addr, b"gtmk").await, "306");
    let mut req = b"stmk".to_vec();
    req.extend_from_slice(&1234i64.to_be_bytes());
    assert_eq!(ask_text(addr, &req).await, "1234");
    assert_eq!(board.trace_mask(), 1234);
    assert_eq!(ask_text(addr, b"gtmk").await, "1234");
    // A mask cut short closes the connection and changes nothing.
    assert!(ask(addr, b"stmk\x00\x00").await.is_empty());
    assert_eq!(board.trace_mask(), 1234);
    task.abort();
}

#[tokio::test]
async fn stat_lists_the_asking_connection_and_srst_resets() {
    let (addr, board, task) = start().await;
    lead(&board);
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let me = s.local_addr().expect("local addr");
    s.write_all(b"stat").await.expect("write");
    let mut out = String::new();
    timeout(TEST_TIMEOUT, s.read_to_string(&mut out))
        .await
        .expect("in time")
        .expect("read");
    assert!(
        out.contains(&format!(
            "\nClients:\n /{me}[0](queued=0,recved=1,sent=0)\n"
        )),
        "{out}"
    );
    drop(s);

    assert!(received(&ask_text(addr, b"srvr").await) >= 2);
    assert_eq!(ask_text(addr, b"srst").await, "Server stats reset.\n");
    // The reset happened before srst's own reply was counted as sent.
    assert_eq!(received(&ask_text(addr, b"srvr").await), 1);
    assert_eq!(ask_text(addr, b"crst").await, "Connection stats reset.\n");
    let mntr = ask_text(addr, b"mntr").await;
    assert!(mntr.starts_with("zk_version\t3.8.0-zabd-"), "{mntr}");
    assert!(mntr.contains("\nzk_server_state\tleader\n"));
    let conf = ask_text(addr, b"conf").await;
    assert!(
        conf.starts_with(&format!("clientPort={}\n", addr.port())),
        "{conf}"
    );
    assert!(conf.ends_with("version=0"));
    task.abort();
}

#[tokio::test]
async fn connections_are_counted_until_closed() {
    let (addr, board, task) = start().await;
    let alive = || Counters::get(&board.counters.alive_connections);
    let idle = TcpStream::connect(addr).await.expect("connect");
    let deadline = Instant::now() + TEST_TIMEOUT;
    while alive() != 1 {
        assert!(Instant::now() < deadline, "never counted");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(idle);
    assert_eq!(ask_text(addr, b"ruok").await, "imok");
    while alive() != 0 {
        assert!(Instant::now() < deadline, "still {} alive", alive());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    task.abort();
}

/// A client that connects and says nothing is closed after FIRST_BYTES_TIMEOUT (virtual time).
#[tokio::test(start_paused = true)]
async fn silent_clients_are_closed() {
    let (addr, board, task) = start().await;
    let mut silent = TcpStream::connect(addr).await.expect("connect");
    let started = Instant::now();
    let alive = || Counters::get(&board.counters.alive_connections);
    // Each sleep lets the paused clock run; 1000 of them bound the wait to 10 s of virtual time.
    let mut counted = false;
    for _ in 0..1000 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        counted |= alive() == 1;
        if counted && alive() == 0 {
            break;
        }
    }
    assert!(counted, "the connection was never accepted");
    assert_eq!(Counters::get(&board.counters.alive_connections), 0);
    assert!(started.elapsed() >= FIRST_BYTES_TIMEOUT);
    let mut out = Vec::new();
    let _ = silent.read_to_end(&mut out).await;
    assert!(out.is_empty());
    task.abort();
}

#[tokio::test]
async fn aborting_serve_closes_open_connections() {
    let (addr, board, task) = start().await;
    let mut idle = TcpStream::connect(addr).await.expect("connect");
    let deadline = Instant::now() + TEST_TIMEOUT;
    while Counters::get(&board.counters.alive_connections) != 1 {
        assert!(Instant::now() < deadline, "never counted");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    task.abort();
    let mut out = Vec::new();
    let _ = timeout(TEST_TIMEOUT, idle.read_to_end(&mut out))
        .await
        .expect("closed when serve ends");
    assert_eq!(Counters::get(&board.counters.alive_connections), 0);
}
