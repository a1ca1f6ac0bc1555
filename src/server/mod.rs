//! The client port: ZooKeeper's four-letter words and its binary client protocol on one port.
//!
//! Per connection: read the first 4 bytes (within [`FIRST_BYTES_TIMEOUT`]); a known word gets
//! its reply ([`fourlw`]), then the server half-closes, drains what the client still sends (so
//! that closing never resets the connection under an unread reply) and closes. Anything else
//! is the length of a client's `ConnectRequest`: the connection becomes a client session
//! ([`client`]). Whatever arrives, only that one connection is harmed.

pub mod acl;
pub mod fourlw;
pub mod handshake;
pub mod hub;
pub mod jute;
pub mod requests;
pub mod watches;

mod client;
mod conns;
mod sysinfo;

use crate::api::ZabClient;
use crate::config::Config;
use crate::net::{TcpListener, TcpStream};
use crate::status::{Counters, StatusBoard};
use conns::{ConnGuard, ConnTable};
use fourlw::{Context, Disposition, Effect, Facts, Needs, Word};
use std::io;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinSet;
use tokio::time::{timeout, timeout_at, Instant};
use tracing::{debug, warn, Instrument};

/// How long a new connection may take to send its first four bytes (and `stmk` its mask).
pub const FIRST_BYTES_TIMEOUT: Duration = Duration::from_secs(5);
/// How long writing a reply may take.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// After a reply, how long (and how much) to read what the client still sends before closing.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_MAX_BYTES: usize = 64 * 1024;
/// Pause after a failed accept (e.g. out of file descriptors) so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What every connection task shares.
struct Shared {
    board: Arc<StatusBoard>,
    config: Arc<Config>,
    table: Arc<ConnTable>,
    /// The port actually bound (`clientPort` of `conf`).
    client_port: u16,
    api: ZabClient,
    hub: Arc<hub::Hub>,
}

/// Serve the client port on `listener` until this future is dropped (or its task aborted),
/// which also ends every connection it has open.
pub async fn serve(
    listener: TcpListener,
    board: Arc<StatusBoard>,
    config: Arc<Config>,
    api: ZabClient,
    hub: Arc<hub::Hub>,
) {
    ClientPort::new(listener, board, config, api, hub)
        .serve()
        .await
}

/// A bound client port, not yet serving: [`ClientPort::view`] hands its live tables to the
/// admin server before [`ClientPort::serve`] takes the listener.
pub struct ClientPort {
    listener: TcpListener,
    shared: Arc<Shared>,
}

impl ClientPort {
    pub fn new(
        listener: TcpListener,
        board: Arc<StatusBoard>,
        config: Arc<Config>,
        api: ZabClient,
        hub: Arc<hub::Hub>,
    ) -> ClientPort {
        let client_port = listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or(config.client_port);
        let shared = Arc::new(Shared {
            board,
            config,
            table: Arc::new(ConnTable::default()),
            client_port,
            api,
            hub,
        });
        ClientPort { listener, shared }
    }

    pub fn view(&self) -> ClientPortView {
        ClientPortView(Arc::clone(&self.shared))
    }

    /// Serve until this future is dropped (see [`serve`]).
    pub async fn serve(self) {
        let span = tracing::info_span!(
            "client_port",
            sid = %self.shared.config.my_id,
            port = self.shared.client_port
        );
        accept_loop(self.listener, self.shared)
            .instrument(span)
            .await
    }
}

/// What the four-letter words read from the client port (its connections, sessions and
/// watches), for the admin server, which answers the same questions over HTTP.
#[derive(Clone)]
pub struct ClientPortView(Arc<Shared>);

impl ClientPortView {
    /// The port the client listener is bound to.
    pub fn port(&self) -> u16 {
        self.0.client_port
    }

    /// Every open client-port connection.
    pub fn connections(&self) -> Vec<fourlw::ConnInfo> {
        self.0.table.snapshot()
    }

    /// Sessions, ephemerals and watches, gathered only when `word` prints them.
    pub fn client_facts(&self, word: Word) -> fourlw::ClientFacts {
        client_facts(word, &self.0)
    }
}

/// Read the system facts `needs` asks for (blocking I/O: call it off the async threads).
pub fn collect_facts(needs: Needs, config: &Config) -> Facts {
    sysinfo::collect(needs, config)
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    // Owning the connection tasks here means dropping `serve` aborts them too.
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    let max = shared.config.max_client_cnxns as usize;
                    if max > 0 && shared.table.count_from(remote.ip()) >= max {
                        warn!(%remote, max, "too many connections from this address; closing");
                        drop(stream);
                        continue;
                    }
                    let conn = shared.table.register(
                        &shared.board,
                        remote,
                        SystemTime::now() + FIRST_BYTES_TIMEOUT,
                    );
                    let span = tracing::debug_span!("client", %remote);
                    tasks.spawn(handle(stream, conn, Arc::clone(&shared)).instrument(span));
                }
                Err(err) => {
                    warn!(%err, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                if let Err(err) = done {
                    if err.is_panic() {
                        warn!(%err, "a client connection task panicked");
                    }
                }
            }
        }
    }
}

#[derive(Debug)]
enum ReadFailure {
    TimedOut,
    Io(io::Error),
}

impl std::fmt::Display for ReadFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadFailure::TimedOut => write!(f, "timed out"),
            ReadFailure::Io(err) if err.kind() == io::ErrorKind::UnexpectedEof => {
                write!(f, "closed early")
            }
            ReadFailure::Io(err) => write!(f, "{err}"),
        }
    }
}

async fn read_exact_by(
    stream: &mut TcpStream,
    buf: &mut [u8],
    deadline: Instant,
) -> Result<(), ReadFailure> {
    match timeout_at(deadline, stream.read_exact(buf)).await {
        Err(_) => Err(ReadFailure::TimedOut),
        Ok(Err(err)) => Err(ReadFailure::Io(err)),
        Ok(Ok(_)) => Ok(()),
    }
}

/// One connection, from accept to close. `conn` drops (and uncounts it) on every return path.
async fn handle(mut stream: TcpStream, conn: ConnGuard, shared: Arc<Shared>) {
    let deadline = Instant::now() + FIRST_BYTES_TIMEOUT;
    let mut head = [0u8; 4];
    if let Err(why) = read_exact_by(&mut stream, &mut head, deadline).await {
        debug!(%why, "no first four bytes; closing");
        return;
    }
    Counters::add(&shared.board.counters.bytes_received, head.len() as u64);
    match Word::parse(&head) {
        Some(word) => answer_word(stream, word, deadline, &conn, &shared).await,
        None => client::serve(stream, head, conn, shared).await,
    }
}

async fn answer_word(
    mut stream: TcpStream,
    word: Word,
    deadline: Instant,
    conn: &ConnGuard,
    shared: &Shared,
) {
    let board = &shared.board;
    Counters::add(&board.counters.packets_received, 1);
    conn.update(|c| {
        c.recved += 1;
        c.interest = 0;
    });
    let status = board.snapshot();
    let disposition = fourlw::disposition(word, &shared.config.whitelist, status.serving);

    let mut stmk_mask = None;
    if word.argument_len() > 0 && disposition != Disposition::Refused {
        let mut arg = [0u8; 8];
        if let Err(why) = read_exact_by(&mut stream, &mut arg, deadline).await {
            debug!(%why, word = word.as_str(), "no argument; closing");
            return;
        }
        Counters::add(&board.counters.bytes_received, arg.len() as u64);
        stmk_mask = Some(i64::from_be_bytes(arg));
    }

    let needs = fourlw::needs(word, disposition);
    let facts = if needs == Needs::default() {
        Facts::default()
    } else {
        let config = Arc::clone(&shared.config);
        tokio::task::spawn_blocking(move || sysinfo::collect(needs, &config))
            .await
            .unwrap_or_default()
    };
    let connections = shared.table.snapshot();
    let ctx = Context {
        config: &shared.config,
        status: &status,
        counters: &board.counters,
        started: board.started,
        now: std::time::Instant::now(),
        trace_mask: board.trace_mask(),
        client_port: shared.client_port,
        connections: &connections,
        facts: &facts,
        clients: &client_facts(word, shared),
    };
    let reply = fourlw::answer(word, stmk_mask, &ctx);
    match reply.effect {
        None => {}
        Some(Effect::ResetServerStats) => {
            board.counters.reset_server_stats();
            board.update(|s| s.proposals.sizes = None);
        }
        Some(Effect::ResetConnectionStats) => shared.table.reset_stats(),
        Some(Effect::SetTraceMask(mask)) => board.set_trace_mask(mask),
    }
    debug!(word = word.as_str(), ?disposition, "four-letter word");

    let written = timeout(REPLY_TIMEOUT, async {
        stream.write_all(&reply.bytes).await?;
        stream.flush().await?;
        stream.shutdown().await
    })
    .await;
    match written {
        Ok(Ok(())) => {
            Counters::add(&board.counters.packets_sent, 1);
            conn.update(|c| c.sent += 1);
        }
        Ok(Err(err)) => {
            debug!(%err, "writing the reply failed");
            return;
        }
        Err(_) => {
            debug!("writing the reply timed out");
            return;
        }
    }
    linger(&mut stream).await;
}

/// Sessions, ephemerals and watches, gathered only for the words that print them.
fn client_facts(word: Word, shared: &Shared) -> fourlw::ClientFacts {
    if !matches!(
        word,
        Word::Dump | Word::Wchs | Word::Wchc | Word::Wchp | Word::Mntr
    ) {
        return fourlw::ClientFacts::default();
    }
    let conn_sessions = shared.hub.sessions();
    let session_of = |conn: &u64| conn_sessions.get(conn).copied().unwrap_or(0);
    let (watch_summary, watches_by_session, watches_by_path) = {
        let table = shared.hub.watches();
        (
            table.summary(),
            table
                .by_connection()
                .into_iter()
                .map(|(conn, paths)| (session_of(&conn), paths))
                .collect(),
            table
                .by_path()
                .into_iter()
                .map(|(path, conns)| (path, conns.iter().map(session_of).collect()))
                .collect(),
        )
    };
    let (sessions, ephemerals) = shared.api.read(|tree| {
        let sessions = tree.sessions();
        let ephemerals = sessions
            .iter()
            .map(|(s, _)| (*s, tree.ephemerals(*s)))
            .filter(|(_, paths)| !paths.is_empty())
            .collect();
        (sessions, ephemerals)
    });
    fourlw::ClientFacts {
        watch_summary,
        watches_by_session,
        watches_by_path,
        sessions,
        ephemerals,
    }
}

/// Read and discard what the client still sends, until it closes (bounded in time and bytes):
/// closing a socket with unread input sends a reset, which can destroy the reply in flight
/// (`echo srvr | nc` sends a newline after the word).
async fn linger(stream: &mut TcpStream) {
    let mut buf = [0u8; 512];
    let mut total = 0usize;
    let _ = timeout(LINGER, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    total += n;
                    if total >= LINGER_MAX_BYTES {
                        break;
                    }
                }
            }
        }
    })
    .await;
}

#[cfg(all(test, not(feature = "sim")))]
mod tests;
