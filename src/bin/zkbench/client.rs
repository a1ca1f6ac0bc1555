//! A minimal synchronous-style ZooKeeper client session over the shared jute codec.
//!
//! It behaves like the Java client (`ClientCnxn`) in the ways that matter for a benchmark:
//! one TCP connection per session with `TCP_NODELAY`, a `ConnectRequest` with a 16-byte zero
//! password for a new session, a ping whenever nothing was sent for a third of the negotiated
//! session timeout (also while a request is outstanding), a connection declared lost when
//! nothing arrives for two thirds of it, and, after a loss, a reconnect to the *next* server
//! with the same session id, password and last zxid seen. A `ConnectResponse` with a timeout
//! of 0 or less means the session expired; the client then starts a new session.
//!
//! Unlike the Java client it does not sleep a random 0-1 s before reconnecting (that would
//! swamp the server-side failover it is meant to measure): it tries each server once in a row
//! and waits only `backoff` after a full unsuccessful round.
//!
//! Only one request is outstanding at a time (there is no pipelining), so replies are matched
//! by xid alone; ping replies (xid -2) and watch notifications (xid -1) are skipped.

use bytes::{Buf, BytesMut};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{sleep_until, timeout, Instant};
use zabd::server::jute::{
    decode_connect_response, decode_response, encode_connect_request, encode_request, frame_len,
    op, xid, ConnectRequest, ReplyHeader, Request, RequestHeader, Response,
};

/// Java's `ClientCnxn` sends a 16-byte zero password for a new session.
const NEW_SESSION_PASSWD: [u8; 16] = [0; 16];

/// `--trace-conn`: print every connection event (with the time since start) to stderr, to see
/// *why* writes paused (refused, closed before the handshake, expired, ...).
static TRACE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

/// Turn connection tracing on; times are printed relative to this call.
pub fn enable_trace() {
    let _ = TRACE.set(Instant::now());
}

pub fn trace(what: std::fmt::Arguments<'_>) {
    if let Some(start) = TRACE.get() {
        eprintln!(
            "zkbench: trace {:.3} s {what}",
            start.elapsed().as_secs_f64()
        );
    }
}

/// Why a call did not produce a reply: the connection is gone (and the client must reconnect
/// before the next call), or the bytes received made no sense (a codec or server bug; the
/// connection is dropped too).
#[derive(Debug)]
pub enum CallError {
    Lost(String),
    Protocol(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Lost(why) => write!(f, "connection lost: {why}"),
            CallError::Protocol(why) => write!(f, "protocol error: {why}"),
        }
    }
}

/// Why one connection attempt did not give a connection.
#[derive(Debug)]
enum HandshakeError {
    /// The server answered that the session expired; the client now holds a fresh one.
    Expired,
    Failed(String),
}

/// Connection-level events one client went through (for the report).
#[derive(Debug, Default, Clone, Copy)]
pub struct ConnEvents {
    /// Established connections after the first one.
    pub reconnects: u64,
    /// Connection attempts that failed (refused, closed before the handshake, timed out).
    pub failed_attempts: u64,
    /// Connections that broke after the handshake.
    pub losses: u64,
    /// Sessions the server said had expired on reconnect (a new one was created).
    pub expirations: u64,
    /// Received payloads the codec could not decode, or replies with an unexpected xid.
    pub protocol_errors: u64,
    /// Pings sent.
    pub pings: u64,
}

/// One live TCP connection carrying the session.
struct Conn {
    stream: TcpStream,
    buf: BytesMut,
    last_send: Instant,
    last_recv: Instant,
}

/// A session that survives connection losses by reconnecting (see the module comment).
pub struct Client {
    servers: Vec<SocketAddr>,
    /// Index of the server the current (or next) connection goes to.
    server: usize,
    requested_timeout_ms: i32,
    /// Negotiated by the server; drives ping interval and read timeout.
    timeout_ms: i32,
    session_id: i64,
    passwd: Vec<u8>,
    last_zxid: i64,
    next_xid: i32,
    conn: Option<Conn>,
    backoff: Duration,
    /// Whether a connection was established at least once (reconnects count after that).
    connected_once: bool,
    pub events: ConnEvents,
}

impl Client {
    /// A client that will connect to `servers[first % len]` first. No I/O until
    /// [`Client::ensure_connected`] or a call.
    pub fn new(
        servers: Vec<SocketAddr>,
        first: usize,
        session_timeout_ms: i32,
        backoff: Duration,
    ) -> Client {
        let server = first % servers.len().max(1);
        Client {
            servers,
            server,
            requested_timeout_ms: session_timeout_ms,
            timeout_ms: session_timeout_ms,
            session_id: 0,
            passwd: NEW_SESSION_PASSWD.to_vec(),
            last_zxid: 0,
            next_xid: 1,
            conn: None,
            backoff,
            connected_once: false,
            events: ConnEvents::default(),
        }
    }

    pub fn negotiated_timeout_ms(&self) -> i32 {
        self.timeout_ms
    }

    /// The server the session is (or will be) connected to.
    pub fn server(&self) -> SocketAddr {
        self.servers[self.server]
    }

    /// Java: ping after `readTimeout / 2` of no sends, `readTimeout = 2/3 session timeout`.
    fn ping_interval(&self) -> Duration {
        Duration::from_millis((self.timeout_ms.max(300) / 3) as u64)
    }

    fn read_timeout(&self) -> Duration {
        Duration::from_millis((self.timeout_ms.max(300) * 2 / 3) as u64)
    }

    /// Java's connect timeout: the session timeout shared out over the servers.
    fn connect_timeout(&self) -> Duration {
        let n = self.servers.len().max(1) as u64;
        Duration::from_millis(self.requested_timeout_ms.max(300) as u64 / n)
    }

    /// Connect (or reconnect) unless connected, trying servers in turn from the current one,
    /// until `deadline`. If the deadline passes first, the error is the last attempt's.
    pub async fn ensure_connected(&mut self, deadline: Instant) -> Result<(), String> {
        let mut tried_in_round = 0usize;
        let mut last_failure = String::from("deadline already passed");
        while self.conn.is_none() {
            if Instant::now() >= deadline {
                return Err(last_failure);
            }
            match self.handshake(deadline).await {
                Ok(conn) => {
                    trace(format_args!(
                        "{} session {:#x} established (timeout {} ms)",
                        self.server(),
                        self.session_id,
                        self.timeout_ms
                    ));
                    if self.connected_once {
                        self.events.reconnects += 1;
                    }
                    self.connected_once = true;
                    self.conn = Some(conn);
                }
                // A new session on the same server, at once.
                Err(HandshakeError::Expired) => {
                    trace(format_args!("{} session expired", self.server()));
                }
                Err(HandshakeError::Failed(why)) => {
                    trace(format_args!("{} attempt failed: {why}", self.server()));
                    last_failure = why;
                    self.events.failed_attempts += 1;
                    self.server = (self.server + 1) % self.servers.len();
                    tried_in_round += 1;
                    if tried_in_round >= self.servers.len() {
                        tried_in_round = 0;
                        tokio::time::sleep(
                            self.backoff
                                .min(deadline.saturating_duration_since(Instant::now())),
                        )
                        .await;
                    }
                }
            }
        }
        Ok(())
    }

    /// One connection attempt to the current server: TCP connect, `ConnectRequest`, answer.
    /// An expired session is replaced by a new one on the same server.
    async fn handshake(&mut self, deadline: Instant) -> Result<Conn, HandshakeError> {
        let addr = self.server();
        let limit = self.connect_timeout().min(
            deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1)),
        );
        let failed = HandshakeError::Failed;
        let stream = timeout(limit, TcpStream::connect(addr))
            .await
            .map_err(|_| failed(format!("connect to {addr} timed out")))?
            .map_err(|e| failed(format!("connect to {addr}: {e}")))?;
        stream
            .set_nodelay(true)
            .map_err(|e| failed(e.to_string()))?;
        let mut conn = Conn {
            stream,
            buf: BytesMut::with_capacity(4096),
            last_send: Instant::now(),
            last_recv: Instant::now(),
        };
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: self.last_zxid,
            time_out: self.requested_timeout_ms,
            session_id: self.session_id,
            passwd: self.passwd.clone(),
            read_only: Some(false),
        };
        let frame = encode_connect_request(&req);
        let payload = timeout(limit, async {
            conn.stream
                .write_all(&frame)
                .await
                .map_err(|e| e.to_string())?;
            read_frame(&mut conn).await
        })
        .await
        .map_err(|_| failed(format!("handshake with {addr} timed out")))?
        .map_err(failed)?;
        let resp = decode_connect_response(&payload).map_err(|e| {
            self.events.protocol_errors += 1;
            failed(format!("bad ConnectResponse from {addr}: {e}"))
        })?;
        if resp.time_out <= 0 {
            // The server says the session is gone: start afresh, as the Java client's owner
            // would after an Expired event.
            self.events.expirations += 1;
            self.session_id = 0;
            self.passwd = NEW_SESSION_PASSWD.to_vec();
            self.last_zxid = 0;
            return Err(HandshakeError::Expired);
        }
        self.session_id = resp.session_id;
        self.passwd = resp.passwd;
        self.timeout_ms = resp.time_out;
        Ok(conn)
    }

    /// Send one request and wait for its reply (pinging if the wait is long, giving up after
    /// the read timeout). Needs a connection ([`Client::ensure_connected`]); on any error the
    /// connection is dropped and the next `ensure_connected` moves to the next server.
    pub async fn call(&mut self, request: &Request) -> Result<(ReplyHeader, Response), CallError> {
        let result = self.call_inner(request).await;
        if let Err(err) = &result {
            trace(format_args!("{} call failed: {err}", self.server()));
            match err {
                CallError::Lost(_) => self.events.losses += 1,
                CallError::Protocol(_) => self.events.protocol_errors += 1,
            }
            self.conn = None;
            self.server = (self.server + 1) % self.servers.len();
        }
        result
    }

    async fn call_inner(
        &mut self,
        request: &Request,
    ) -> Result<(ReplyHeader, Response), CallError> {
        let ping_interval = self.ping_interval();
        let read_timeout = self.read_timeout();
        let Some(conn) = self.conn.as_mut() else {
            return Err(CallError::Lost("not connected".into()));
        };
        let op_code = request.op_code();
        let my_xid = if op_code == op::PING {
            xid::PING
        } else {
            let x = self.next_xid;
            self.next_xid = self.next_xid.wrapping_add(1).max(1);
            x
        };
        let frame = encode_request(
            &RequestHeader {
                xid: my_xid,
                op: op_code,
            },
            request,
        );
        send(conn, &frame, read_timeout).await?;
        loop {
            while let Some(payload) = take_frame(&mut conn.buf)? {
                let reply_xid = payload
                    .get(..4)
                    .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                    .ok_or_else(|| CallError::Protocol("reply shorter than its xid".into()))?;
                let decode_op = if reply_xid == xid::PING {
                    op::PING
                } else {
                    op_code
                };
                let (header, body) = decode_response(&payload, decode_op).map_err(|e| {
                    CallError::Protocol(format!("cannot decode reply (op {decode_op}): {e}"))
                })?;
                if header.xid == my_xid {
                    if header.zxid > 0 {
                        self.last_zxid = header.zxid;
                    }
                    return Ok((header, body));
                }
                if header.xid != xid::PING && header.xid != xid::NOTIFICATION {
                    return Err(CallError::Protocol(format!(
                        "reply for xid {} while waiting for xid {my_xid}",
                        header.xid
                    )));
                }
            }
            let wake = (conn.last_send + ping_interval).min(conn.last_recv + read_timeout);
            tokio::select! {
                // read_buf is cancel-safe: nothing is lost if the timer wins.
                n = conn.stream.read_buf(&mut conn.buf) => match n {
                    Ok(0) => return Err(CallError::Lost("closed by server".into())),
                    Ok(_) => conn.last_recv = Instant::now(),
                    Err(e) => return Err(CallError::Lost(e.to_string())),
                },
                _ = sleep_until(wake) => {
                    let now = Instant::now();
                    if now >= conn.last_recv + read_timeout {
                        return Err(CallError::Lost(format!(
                            "nothing received for {} ms",
                            read_timeout.as_millis()
                        )));
                    }
                    if now >= conn.last_send + ping_interval {
                        let ping = encode_request(
                            &RequestHeader { xid: xid::PING, op: op::PING },
                            &Request::Ping,
                        );
                        send(conn, &ping, read_timeout).await?;
                        self.events.pings += 1;
                    }
                }
            }
        }
    }

    /// Keep the session alive while idle: one ping round trip.
    pub async fn ping(&mut self) -> Result<(), CallError> {
        self.events.pings += 1;
        self.call(&Request::Ping).await.map(|_| ())
    }

    /// How long the caller may stay idle before it should [`Client::ping`].
    pub fn idle_allowance(&self) -> Duration {
        self.ping_interval()
    }

    /// Close the session (best effort, bounded by `limit`) and the connection.
    pub async fn close(&mut self, limit: Duration) {
        if self.conn.is_some() {
            let _ = timeout(limit, self.call(&Request::CloseSession)).await;
        }
        self.conn = None;
    }
}

async fn send(conn: &mut Conn, frame: &[u8], limit: Duration) -> Result<(), CallError> {
    match timeout(limit, conn.stream.write_all(frame)).await {
        Ok(Ok(())) => {
            conn.last_send = Instant::now();
            Ok(())
        }
        Ok(Err(e)) => Err(CallError::Lost(e.to_string())),
        Err(_) => Err(CallError::Lost("send timed out".into())),
    }
}

/// Split one complete frame's payload off the front of `buf`, if it holds one.
fn take_frame(buf: &mut BytesMut) -> Result<Option<BytesMut>, CallError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = frame_len([buf[0], buf[1], buf[2], buf[3]])
        .map_err(|e| CallError::Protocol(format!("bad frame length: {e}")))?;
    if buf.len() < 4 + len {
        buf.reserve(4 + len - buf.len());
        return Ok(None);
    }
    buf.advance(4);
    Ok(Some(buf.split_to(len)))
}

/// Read one whole frame (used for the handshake, where nothing else can arrive).
async fn read_frame(conn: &mut Conn) -> Result<BytesMut, String> {
    loop {
        if let Some(payload) = take_frame(&mut conn.buf).map_err(|e| e.to_string())? {
            conn.last_recv = Instant::now();
            return Ok(payload);
        }
        match conn.stream.read_buf(&mut conn.buf).await {
            Ok(0) => return Err("closed before the ConnectResponse".into()),
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    //! The client against scripted fake servers on loopback (the server side of the same codec).
    use super::*;
    use tokio::net::TcpListener;
    use zabd::server::jute::{
        decode_connect_request, decode_request, encode_connect_response, encode_response,
        ConnectResponse,
    };
    use zabd::tree::ErrorCode;

    async fn read_payload(s: &mut TcpStream) -> Option<Vec<u8>> {
        let mut prefix = [0u8; 4];
        s.read_exact(&mut prefix).await.ok()?;
        let mut payload = vec![0; frame_len(prefix).ok()?];
        s.read_exact(&mut payload).await.ok()?;
        Some(payload)
    }

    /// Accept one connection, answer its ConnectRequest; returns the stream and the request.
    async fn accept_session(
        l: &TcpListener,
        time_out: i32,
        session_id: i64,
    ) -> (TcpStream, ConnectRequest) {
        let (mut s, _) = l.accept().await.unwrap();
        let req = decode_connect_request(&read_payload(&mut s).await.unwrap()).unwrap();
        let resp = ConnectResponse {
            protocol_version: 0,
            time_out,
            session_id,
            passwd: vec![7; 16],
            read_only: req.read_only,
        };
        s.write_all(&encode_connect_response(&resp)).await.unwrap();
        (s, req)
    }

    fn ok_reply(xid: i32, zxid: i64) -> Vec<u8> {
        let h = ReplyHeader {
            xid,
            zxid,
            err: ErrorCode::Ok,
        };
        encode_response(&h, &Response::Empty)
    }

    #[tokio::test]
    async fn pings_while_a_reply_is_slow_and_matches_the_xid() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let server = tokio::spawn(async move {
            // 900 ms session: ping after 300 ms without sending.
            let (mut s, req) = accept_session(&l, 900, 42).await;
            assert_eq!(req.session_id, 0);
            assert_eq!(req.passwd, vec![0; 16]);
            let (h, _) = decode_request(&read_payload(&mut s).await.unwrap()).unwrap();
            assert_eq!(h.op, op::DELETE);
            // Hold the reply back until the client pings; answer the ping first.
            let (p, _) = decode_request(&read_payload(&mut s).await.unwrap()).unwrap();
            assert_eq!((p.xid, p.op), (xid::PING, op::PING));
            s.write_all(&ok_reply(xid::PING, 0)).await.unwrap();
            s.write_all(&ok_reply(h.xid, 77)).await.unwrap();
            read_payload(&mut s).await // the CloseSession
        });
        let mut c = Client::new(vec![addr], 0, 900, Duration::from_millis(10));
        c.ensure_connected(Instant::now() + Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(c.negotiated_timeout_ms(), 900);
        let req = Request::Delete {
            path: "/x".into(),
            version: -1,
        };
        let (h, _) = c.call(&req).await.unwrap();
        assert!(h.err.is_ok());
        assert_eq!(c.last_zxid, 77);
        assert_eq!(c.events.pings, 1);
        c.close(Duration::from_secs(1)).await;
        let close = server.await.unwrap().unwrap();
        let (h, r) = decode_request(&close).unwrap();
        assert_eq!((h.op, r), (op::CLOSE_SESSION, Request::CloseSession));
    }

    #[tokio::test]
    async fn reconnects_to_the_next_server_with_the_same_session_and_renews_an_expired_one() {
        let a = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let b = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addrs = vec![a.local_addr().unwrap(), b.local_addr().unwrap()];
        let server_a = tokio::spawn(async move {
            let (mut s, _) = accept_session(&a, 4000, 42).await;
            // Read one request, then drop the connection without answering.
            let (h, _) = decode_request(&read_payload(&mut s).await.unwrap()).unwrap();
            s.write_all(&ok_reply(h.xid, 5)).await.unwrap();
            read_payload(&mut s).await.unwrap();
        });
        let server_b = tokio::spawn(async move {
            let (_s, req) = accept_session(&b, 0, 0).await;
            // The reconnect carries the session, its password and the last zxid seen.
            assert_eq!(
                (req.session_id, req.passwd.clone(), req.last_zxid_seen),
                (42, vec![7; 16], 5)
            );
            let (s2, req2) = accept_session(&b, 4000, 43).await;
            assert_eq!((req2.session_id, req2.passwd), (0, vec![0; 16]));
            s2
        });
        let mut c = Client::new(addrs.clone(), 0, 4000, Duration::from_millis(10));
        let far = Instant::now() + Duration::from_secs(5);
        c.ensure_connected(far).await.unwrap();
        // Delete: a reply without a body, which is what the fake server sends.
        let del = Request::Delete {
            path: "/x".into(),
            version: -1,
        };
        c.call(&del).await.unwrap();
        assert!(matches!(c.call(&del).await, Err(CallError::Lost(_))));
        server_a.await.unwrap();
        c.ensure_connected(far).await.unwrap();
        assert_eq!(c.server(), addrs[1]);
        assert_eq!(c.session_id, 43);
        assert_eq!(
            (c.events.losses, c.events.expirations, c.events.reconnects),
            (1, 1, 1)
        );
        drop(server_b.await.unwrap());
    }
}
