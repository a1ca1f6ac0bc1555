//! A minimal blocking ZooKeeper client for process tests, built on zabd's jute codec: connect
//! (new or resumed session), one request at a time, and notifications collected as they
//! arrive. Deliberately small: kazoo (tests/kazoo) is the real-client acceptance suite.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;
use zabd::server::jute::{
    decode_connect_response, decode_response, encode_connect_request, encode_request, xid,
    ConnectRequest, CreateRequest, ReplyHeader, Request, RequestHeader, Response, WatcherEvent,
};
use zabd::tree::{Acl, ErrorCode};

pub struct Client {
    stream: TcpStream,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    pub timeout_ms: i32,
    next_xid: i32,
    /// Every notification received so far, in arrival order, with the number of replies
    /// received before it (to check event-before-data ordering).
    pub events: Vec<(usize, WatcherEvent)>,
    replies: usize,
}

/// Why a request did not get a reply.
#[derive(Debug)]
pub enum ClientError {
    Io(std::io::Error),
    Expired,
    Protocol(String),
}

impl From<std::io::Error> for ClientError {
    fn from(e: std::io::Error) -> Self {
        ClientError::Io(e)
    }
}

fn read_frame(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len)?;
    let len = i32::from_be_bytes(len);
    if !(0..=16 << 20).contains(&len) {
        return Err(std::io::Error::other(format!("bad frame length {len}")));
    }
    let mut payload = vec![0u8; len as usize];
    stream.read_exact(&mut payload)?;
    Ok(payload)
}

impl Client {
    /// A new session (`session = None`) or a resumed one.
    pub fn connect(
        addr: SocketAddr,
        timeout_ms: i32,
        session: Option<(i64, Vec<u8>)>,
    ) -> Result<Client, ClientError> {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.set_nodelay(true)?;
        let (session_id, passwd) = session.unwrap_or((0, vec![0; 16]));
        stream.write_all(&encode_connect_request(&ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            time_out: timeout_ms,
            session_id,
            passwd,
            read_only: Some(false),
        }))?;
        let resp = decode_connect_response(&read_frame(&mut stream)?)
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        if resp.time_out <= 0 {
            return Err(ClientError::Expired);
        }
        Ok(Client {
            stream,
            session_id: resp.session_id,
            passwd: resp.passwd,
            timeout_ms: resp.time_out,
            next_xid: 1,
            events: Vec::new(),
            replies: 0,
        })
    }

    /// Send one request and wait for its reply (collecting notifications on the way).
    pub fn call(&mut self, request: &Request) -> Result<(ReplyHeader, Response), ClientError> {
        let xid = match request {
            Request::Ping => xid::PING,
            _ => {
                self.next_xid += 1;
                self.next_xid
            }
        };
        let header = RequestHeader {
            xid,
            op: request.op_code(),
        };
        self.stream.write_all(&encode_request(&header, request))?;
        loop {
            let payload = read_frame(&mut self.stream)?;
            let (reply, body) = decode_response(&payload, header.op)
                .map_err(|e| ClientError::Protocol(e.to_string()))?;
            if reply.xid == xid::NOTIFICATION {
                if let Response::Event(e) = body {
                    self.events.push((self.replies, e));
                }
                continue;
            }
            self.replies += 1;
            if reply.xid != xid {
                return Err(ClientError::Protocol(format!(
                    "reply for xid {} while waiting for {xid}",
                    reply.xid
                )));
            }
            return Ok((reply, body));
        }
    }

    pub fn create(&mut self, path: &str, data: &[u8], flags: i32) -> Result<String, ErrorCode> {
        let request = Request::Create(CreateRequest {
            path: path.into(),
            data: data.to_vec(),
            acl: Acl::open_unsafe(),
            flags,
            ttl: None,
        });
        match self.call(&request) {
            Ok((h, Response::Path(p))) if h.err.is_ok() => Ok(p),
            Ok((h, _)) => Err(h.err),
            Err(_) => Err(ErrorCode::ConnectionLoss),
        }
    }

    pub fn get(&mut self, path: &str, watch: bool) -> Result<Vec<u8>, ErrorCode> {
        match self.call(&Request::GetData {
            path: path.into(),
            watch,
        }) {
            Ok((h, Response::GetData { data, .. })) if h.err.is_ok() => Ok(data),
            Ok((h, _)) => Err(h.err),
            Err(_) => Err(ErrorCode::ConnectionLoss),
        }
    }

    pub fn set(&mut self, path: &str, data: &[u8]) -> Result<(), ErrorCode> {
        match self.call(&Request::SetData {
            path: path.into(),
            data: data.to_vec(),
            version: -1,
        }) {
            Ok((h, _)) if h.err.is_ok() => Ok(()),
            Ok((h, _)) => Err(h.err),
            Err(_) => Err(ErrorCode::ConnectionLoss),
        }
    }

    pub fn children(&mut self, path: &str) -> Result<Vec<String>, ErrorCode> {
        match self.call(&Request::GetChildren {
            path: path.into(),
            watch: false,
        }) {
            Ok((h, Response::GetChildren { children })) if h.err.is_ok() => Ok(children),
            Ok((h, _)) => Err(h.err),
            Err(_) => Err(ErrorCode::ConnectionLoss),
        }
    }

    pub fn sync(&mut self, path: &str) -> Result<(), ErrorCode> {
        match self.call(&Request::Sync { path: path.into() }) {
            Ok((h, _)) if h.err.is_ok() => Ok(()),
            Ok((h, _)) => Err(h.err),
            Err(_) => Err(ErrorCode::ConnectionLoss),
        }
    }

    pub fn close(mut self) {
        let _ = self.call(&Request::CloseSession);
    }

    /// The raw stream, to misbehave on purpose.
    pub fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }
}

/// Create flags.
pub const PERSISTENT: i32 = 0;
pub const EPHEMERAL: i32 = 1;
