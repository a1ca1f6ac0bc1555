//! One client session over ZooKeeper's binary protocol: the connect handshake, then requests
//! answered in order, with watch notifications interleaved.
//!
//! Three parts per connection:
//! - the handshake ([`connect`]): a new session is a replicated `CreateSession`; a reconnect
//!   presents its id and password, and is refused (timeout 0, as ZooKeeper answers) when the
//!   session is unknown to the ensemble or the password is wrong;
//! - the request loop ([`Session::run`]): one request at a time, so replies keep the session's
//!   order and a read sees the session's own earlier writes; reads are answered from the local
//!   tree, writes submitted to the leader and answered once applied here;
//! - a writer task ([`write_loop`]) draining the connection's [`Outbound`] queue, so that
//!   notifications from the apply path never wait for the socket.
//!
//! The connection closes when the client closes it or sends something undecodable, when its
//! session is closed or expires, when this server stops serving in the role it had (as
//! ZooKeeper closes every connection when its server restarts), or when the client stops
//! reading (see [`super::hub`]).

use super::acl::AuthInfo;
use super::conns::ConnGuard;
use super::handshake;
use super::hub::{Outbound, QueueCounter, Registration};
use super::jute::{
    self, decode_connect_request, decode_request, decode_request_header, encode_connect_response,
    encode_notification, encode_response, frame_len, op, xid, ConnectResponse, JuteError,
    ReplyHeader, Request, Response, WatcherEvent, MAX_FRAME_LEN,
};
use super::requests::{self, Answer};
use super::watches::{WatchKind, WatcherType};
use super::Shared;
use crate::api::SubmitError;
use crate::net::TcpStream;
use crate::status::{Counters, Serving};
use crate::tree::{ErrorCode, Op};
use futures_util::StreamExt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::time::Instant;
use tokio_util::codec::{FramedRead, LengthDelimitedCodec};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

/// How long a replicated request (session creation, a write, a sync) may take before the
/// connection is closed and the client told nothing (it sees a connection loss and retries,
/// as with ZooKeeper).
const SUBMIT_TIMEOUT: Duration = Duration::from_secs(30);
/// ZooKeeper's `KeeperState.SyncConnected`.
const SYNC_CONNECTED: i32 = 3;

/// Serve a client session whose connect request length is `head`.
pub(super) async fn serve(stream: TcpStream, head: [u8; 4], conn: ConnGuard, shared: Arc<Shared>) {
    let remote = conn.remote();
    let (mut reader, writer) = tokio::io::split(stream);
    let payload = match read_connect(&mut reader, head).await {
        Ok(p) => p,
        Err(why) => {
            debug!(%why, "not a client connect request; closing");
            return;
        }
    };
    Counters::add(&shared.board.counters.bytes_received, payload.len() as u64);
    let request = match decode_connect_request(&payload) {
        Ok(r) => r,
        Err(err) => {
            debug!(%err, "malformed connect request; closing");
            return;
        }
    };
    let serving = shared.board.snapshot().serving;
    if serving == Serving::NotServing {
        debug!("not serving; closing the new client connection");
        return;
    }
    let cancel = CancellationToken::new();
    let (out, rx) = Outbound::new(cancel.clone());
    let writer_task = tokio::spawn(write_loop(
        writer,
        rx,
        out.clone_counter(),
        cancel.clone(),
        shared.clone(),
    ));
    let outcome = connect(&request, &shared).await;
    let reply = match &outcome {
        Ok((session, timeout_ms)) => ConnectResponse {
            protocol_version: 0,
            time_out: *timeout_ms,
            session_id: *session,
            passwd: handshake::password(*session),
            read_only: request.read_only.map(|_| false),
        },
        Err(Refusal::Expired) => ConnectResponse {
            protocol_version: 0,
            time_out: 0,
            session_id: 0,
            passwd: vec![0; handshake::PASSWORD_LEN],
            read_only: request.read_only.map(|_| false),
        },
        Err(Refusal::Close(why)) => {
            info!(%why, "refusing the client session");
            cancel.cancel();
            let _ = writer_task.await;
            return;
        }
    };
    out.push(encode_connect_response(&reply));
    let Ok((session, timeout_ms)) = outcome else {
        // Expired: the reply is queued; closing the queue lets the writer send it and close.
        drop(out);
        let _ = writer_task.await;
        return;
    };
    conn.update(|c| {
        c.session_id = session;
        c.timeout_ms = timeout_ms;
    });
    let conn_id = shared.hub.next_conn_id();
    let registration = shared
        .hub
        .register(conn_id, session, out.clone(), cancel.clone());
    debug!(
        session = format_args!("0x{session:x}"),
        timeout_ms, "session established"
    );
    let frames = FramedRead::new(
        reader,
        LengthDelimitedCodec::builder()
            .big_endian()
            .length_field_length(4)
            .max_frame_length(MAX_FRAME_LEN)
            .new_codec(),
    );
    let mut session_loop = Session {
        shared: shared.clone(),
        conn,
        registration,
        session,
        timeout_ms,
        auth: AuthInfo::new(remote.ip()),
        out,
        cancel: cancel.clone(),
        last_touch: Instant::now(),
        serving,
    };
    session_loop.run(frames).await;
    shared.hub.unregister(conn_id);
    // Let the writer flush what is queued (a CloseSession reply), unless we were cancelled.
    drop(session_loop);
    let _ = writer_task.await;
}

async fn read_connect<R: AsyncRead + Unpin>(
    reader: &mut R,
    head: [u8; 4],
) -> Result<Vec<u8>, String> {
    use tokio::io::AsyncReadExt;
    let len = frame_len(head).map_err(|e| e.to_string())?;
    let mut payload = vec![0u8; len];
    tokio::time::timeout(super::FIRST_BYTES_TIMEOUT, reader.read_exact(&mut payload))
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|e| e.to_string())?;
    Ok(payload)
}

enum Refusal {
    /// Answer with timeout 0 (the client reports the session expired), then close.
    Expired,
    /// Close without an answer (the client retries, possibly elsewhere).
    Close(String),
}

/// Create or revalidate the session: `(session id, timeout ms)`.
async fn connect(request: &jute::ConnectRequest, shared: &Shared) -> Result<(i64, i32), Refusal> {
    let api = &shared.api;
    let last_applied = || api.read(|t| t.last_applied().0 as i64);
    if request.last_zxid_seen > last_applied() {
        // The client has seen more than this server applied: catch up first, as a follower
        // would after a sync; refuse if it is still behind (ZooKeeper refuses at once).
        let _ = api.sync(SUBMIT_TIMEOUT).await;
        if request.last_zxid_seen > last_applied() {
            return Err(Refusal::Close(format!(
                "client has seen zxid 0x{:x}, our last zxid is 0x{:x}",
                request.last_zxid_seen,
                last_applied()
            )));
        }
    }
    let config = &shared.config;
    if request.session_id == 0 {
        let timeout_ms = handshake::negotiate_timeout(
            request.time_out,
            config.min_session_timeout,
            config.max_session_timeout,
        );
        return match api.create_session(timeout_ms, SUBMIT_TIMEOUT).await {
            Ok(session) => Ok((session, timeout_ms)),
            Err(err) => Err(Refusal::Close(format!("cannot create a session: {err}"))),
        };
    }
    let session = request.session_id;
    if !handshake::password_matches(session, &request.passwd) {
        debug!(
            session = format_args!("0x{session:x}"),
            "wrong session password"
        );
        return Err(Refusal::Expired);
    }
    // Catch up first, so that a session created or closed through another server just before
    // is seen as the ensemble sees it (ZooKeeper asks the leader to revalidate the session).
    if let Err(err) = api.sync(SUBMIT_TIMEOUT).await {
        return Err(Refusal::Close(format!(
            "cannot revalidate the session: {err}"
        )));
    }
    match api.read(|t| t.session_timeout(session)) {
        Some(timeout_ms) => {
            api.touch(session);
            api.claim(session).await;
            Ok((session, timeout_ms))
        }
        None => Err(Refusal::Expired),
    }
}

/// Drain the connection's queue onto the socket, flushing whenever the queue is empty.
async fn write_loop<W: AsyncWrite + Unpin>(
    writer: W,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
    queued: QueueCounter,
    cancel: CancellationToken,
    shared: Arc<Shared>,
) {
    let mut writer = BufWriter::with_capacity(64 * 1024, writer);
    let result: std::io::Result<()> = async {
        loop {
            let frame = tokio::select! {
                biased;
                _ = cancel.cancelled() => return Ok(()),
                frame = rx.recv() => frame,
            };
            let Some(frame) = frame else { break };
            let mut batch = vec![frame];
            while let Ok(more) = rx.try_recv() {
                batch.push(more);
                if batch.len() >= 256 {
                    break;
                }
            }
            let write = async {
                for frame in &batch {
                    writer.write_all(frame).await?;
                }
                writer.flush().await
            };
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return Ok(()),
                done = write => done?,
            }
            let bytes: usize = batch.iter().map(Vec::len).sum();
            queued.written(bytes);
            Counters::add(&shared.board.counters.packets_sent, batch.len() as u64);
        }
        writer.shutdown().await
    }
    .await;
    if let Err(err) = result {
        debug!(%err, "writing to the client failed");
    }
    // Whatever ended the writer ends the session loop too.
    cancel.cancel();
}

struct Session {
    shared: Arc<Shared>,
    conn: ConnGuard,
    registration: Registration,
    session: i64,
    timeout_ms: i32,
    auth: AuthInfo,
    out: Outbound,
    cancel: CancellationToken,
    last_touch: Instant,
    /// The role this server served in when the session connected.
    serving: Serving,
}

/// Go on with the session, or close the connection (after what is queued is written).
enum Next {
    Continue,
    Close,
}

impl Session {
    async fn run<R: AsyncRead + Unpin>(&mut self, mut frames: FramedRead<R, LengthDelimitedCodec>) {
        let mut serving = self.shared.board.serving_changes();
        loop {
            let frame = tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return,
                changed = serving.changed() => {
                    if changed.is_err() || *serving.borrow_and_update() != self.serving {
                        debug!("this server stopped serving; closing the client connection");
                        self.cancel.cancel();
                        return;
                    }
                    continue;
                }
                frame = frames.next() => frame,
            };
            let payload = match frame {
                None => return,
                Some(Err(err)) => {
                    info!(%err, "bad client packet; closing the connection");
                    return;
                }
                Some(Ok(payload)) => payload,
            };
            let counters = &self.shared.board.counters;
            Counters::add(&counters.packets_received, 1);
            Counters::add(&counters.bytes_received, payload.len() as u64 + 4);
            self.conn.update(|c| c.recved += 1);
            let started = Instant::now();
            let next = self.handle(&payload).await;
            let latency = started.elapsed();
            self.conn.update(|c| c.record_latency(latency));
            self.shared
                .board
                .counters
                .request_latency
                .record(u64::try_from(latency.as_millis()).unwrap_or(u64::MAX));
            if matches!(next, Next::Close) {
                return;
            }
        }
    }

    fn touch(&mut self) {
        // The leader expires a session only after `timeout` without a touch; one touch per
        // tenth of it is plenty and keeps the peer loop free of per-request traffic.
        let every = Duration::from_millis(u64::try_from(self.timeout_ms / 10).unwrap_or(0));
        if self.last_touch.elapsed() >= every {
            self.last_touch = Instant::now();
            self.shared.api.touch(self.session);
        }
    }

    fn last_zxid(&self) -> i64 {
        self.shared.api.read(|t| t.last_applied().0 as i64)
    }

    fn reply(&self, xid: i32, zxid: i64, (err, body): Answer) {
        self.out
            .push(encode_response(&ReplyHeader { xid, zxid, err }, &body));
        self.conn.update(|c| {
            c.sent += 1;
            c.last_cxid = xid;
            c.last_zxid = zxid;
        });
    }

    async fn handle(&mut self, payload: &[u8]) -> Next {
        let (header, request) = match decode_request(payload) {
            Ok(decoded) => decoded,
            Err(err) => return self.undecodable(payload, err),
        };
        self.touch();
        self.conn.update(|c| c.last_op = op_name(header.op));
        match request {
            Request::Ping => {
                self.reply(xid::PING, self.last_zxid(), ok());
                Next::Continue
            }
            Request::Auth(packet) => match self.auth.add(&packet.scheme, &packet.auth) {
                Ok(()) => {
                    self.reply(xid::AUTH, self.last_zxid(), ok());
                    Next::Continue
                }
                Err(code) => {
                    info!(scheme = %packet.scheme, "authentication failed; closing");
                    self.reply(xid::AUTH, self.last_zxid(), (code, Response::Empty));
                    Next::Close
                }
            },
            Request::SetWatches(sw) | Request::SetWatches2(sw) => {
                let conn = self.registration.conn;
                self.shared.api.read(|tree| {
                    let (register, fire) = requests::set_watches(tree, &sw);
                    let mut table = self.shared.hub.watches();
                    for (kind, path) in register {
                        table.add(conn, kind, &path);
                    }
                    drop(table);
                    for (event_type, path) in fire {
                        self.out.push(encode_notification(&WatcherEvent {
                            event_type,
                            state: SYNC_CONNECTED,
                            path,
                        }));
                    }
                    self.reply(header.xid, tree.last_applied().0 as i64, ok());
                });
                Next::Continue
            }
            Request::AddWatch { path, mode } => {
                let kind = match mode {
                    0 => Some(WatchKind::Persistent),
                    1 => Some(WatchKind::PersistentRecursive),
                    _ => None,
                };
                let answer = match kind {
                    Some(kind) => {
                        self.shared
                            .hub
                            .watches()
                            .add(self.registration.conn, kind, &path);
                        ok()
                    }
                    None => (ErrorCode::BadArguments, Response::Empty),
                };
                self.reply(header.xid, self.last_zxid(), answer);
                Next::Continue
            }
            Request::CheckWatches { path, watch_type }
            | Request::RemoveWatches { path, watch_type } => {
                let remove = header.op == op::REMOVE_WATCHES;
                let answer = match WatcherType::from_code(watch_type) {
                    None => (ErrorCode::BadArguments, Response::Empty),
                    Some(which) => {
                        let mut table = self.shared.hub.watches();
                        let conn = self.registration.conn;
                        let found = match remove {
                            true => table.remove_matching(conn, &path, which),
                            false => table.has(conn, &path, which),
                        };
                        match found {
                            true => ok(),
                            false => (ErrorCode::NoWatcher, Response::Empty),
                        }
                    }
                };
                self.reply(header.xid, self.last_zxid(), answer);
                Next::Continue
            }
            Request::Sync { path } => {
                let synced = self.wait(self.shared.api.sync(SUBMIT_TIMEOUT)).await;
                match synced {
                    Some(Ok(zxid)) => {
                        let zxid = (zxid.0 as i64).max(self.last_zxid());
                        self.reply(header.xid, zxid, (ErrorCode::Ok, Response::Path(path)));
                        Next::Continue
                    }
                    Some(Err(err)) => self.lost(err),
                    None => Next::Close,
                }
            }
            Request::CloseSession => {
                self.registration
                    .closing_self
                    .store(true, Ordering::Release);
                let submitted = self.shared.api.submit(
                    self.session,
                    header.xid,
                    Op::CloseSession,
                    SUBMIT_TIMEOUT,
                );
                match self.wait(submitted).await {
                    Some(Ok(result)) => {
                        self.reply(header.xid, result.zxid.0 as i64, ok());
                    }
                    Some(Err(err)) => {
                        self.lost(err);
                    }
                    None => {}
                }
                Next::Close
            }
            request if requests::is_read(&request) => {
                let conn = self.registration.conn;
                let hub = &self.shared.hub;
                self.shared.api.read(|tree| {
                    let mut table = None;
                    let answer =
                        requests::read(tree, &self.auth, self.session, &request, &mut |k, p| {
                            table.get_or_insert_with(|| hub.watches()).add(conn, k, p)
                        });
                    drop(table);
                    // Queued under the read lock: see the hub's ordering rule.
                    self.reply(header.xid, tree.last_applied().0 as i64, answer);
                });
                Next::Continue
            }
            request => self.write(header.xid, &request).await,
        }
    }

    /// A write: checked here, replicated, answered once applied on this server.
    async fn write(&mut self, xid: i32, request: &Request) -> Next {
        let planned = self
            .shared
            .api
            .read(|tree| requests::write_op(tree, &self.auth, request));
        let (op, shape) = match planned {
            Ok(planned) => planned,
            Err(code) => {
                self.reply(xid, self.last_zxid(), (code, Response::Empty));
                return Next::Continue;
            }
        };
        let submitted = self
            .shared
            .api
            .submit(self.session, xid, op, SUBMIT_TIMEOUT);
        match self.wait(submitted).await {
            Some(Ok(result)) if result.err() == ErrorCode::SessionMoved => {
                // The client reconnected elsewhere; this is a stale connection of its
                // session. ZooKeeper closes it without an answer.
                info!("session moved to another server; closing its old connection");
                Next::Close
            }
            Some(Ok(result)) => {
                let answer = requests::answer(&shape, &result.result);
                self.reply(xid, result.zxid.0 as i64, answer);
                Next::Continue
            }
            Some(Err(err)) => self.lost(err),
            None => Next::Close,
        }
    }

    /// Await `f` unless the connection is cancelled first (then `None`).
    async fn wait<T>(&self, f: impl std::future::Future<Output = T>) -> Option<T> {
        tokio::select! {
            biased;
            _ = self.cancel.cancelled() => None,
            v = f => Some(v),
        }
    }

    /// A replicated request could not complete: close, so the client reconnects (possibly to
    /// another server) and retries, as it would after ZooKeeper closed its connection.
    fn lost(&self, err: SubmitError) -> Next {
        info!(%err, "a request could not complete; closing the client connection");
        Next::Close
    }

    /// The header decoded but not the body: answer what ZooKeeper answers; anything worse
    /// closes this connection only.
    fn undecodable(&mut self, payload: &[u8], err: JuteError) -> Next {
        let code = match err {
            JuteError::UnknownOp(_) => ErrorCode::Unimplemented,
            JuteError::BadCreateFlags(_) | JuteError::BadTtl { .. } => ErrorCode::BadArguments,
            other => {
                info!(err = %other, "malformed request; closing the connection");
                return Next::Close;
            }
        };
        match decode_request_header(payload) {
            Ok(header) => {
                self.reply(header.xid, self.last_zxid(), (code, Response::Empty));
                Next::Continue
            }
            Err(_) => Next::Close,
        }
    }
}

fn ok() -> Answer {
    (ErrorCode::Ok, Response::Empty)
}

/// ZooKeeper's names for the last operation (`cons`' `lop`).
fn op_name(code: i32) -> &'static str {
    match code {
        op::CREATE | op::CREATE2 | op::CREATE_CONTAINER | op::CREATE_TTL => "CREA",
        op::DELETE => "DELE",
        op::EXISTS => "EXIS",
        op::GET_DATA => "GETD",
        op::SET_DATA => "SETD",
        op::GET_ACL => "GETA",
        op::SET_ACL => "SETA",
        op::GET_CHILDREN => "GETC",
        op::GET_CHILDREN2 => "GETC",
        op::SYNC => "SYNC",
        op::PING => "PING",
        op::CHECK => "CHEC",
        op::MULTI => "MULT",
        op::MULTI_READ => "MLTR",
        op::CLOSE_SESSION => "CLOS",
        op::SET_WATCHES | op::SET_WATCHES2 => "SETW",
        op::AUTH => "AUTH",
        op::ADD_WATCH => "ADDW",
        op::CHECK_WATCHES => "CHKW",
        op::REMOVE_WATCHES => "REMW",
        op::GET_EPHEMERALS => "GETE",
        op::GET_ALL_CHILDREN_NUMBER => "GETACN",
        op::WHO_AM_I => "HOMI",
        _ => "UNKNOWN",
    }
}
