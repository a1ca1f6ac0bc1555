//! ZooKeeper's client wire format ("jute"), pure: bytes in, values out; no sockets.
//!
//! Every client packet is a 4-byte big-endian length and a payload ([`frame_len`], at most
//! [`MAX_FRAME_LEN`]). The first payload of a connection is a [`ConnectRequest`] (answered by a
//! [`ConnectResponse`]); every later one is a [`RequestHeader`] and a body ([`decode_request`]),
//! answered by a [`ReplyHeader`] and a body ([`encode_response`]). Watch notifications are
//! replies with xid -1 and a [`WatcherEvent`] body.
//!
//! Trailing bytes: ZooKeeper's server reads records from a buffer and never checks that it was
//! consumed, but no real client sends more than the record. So extra bytes after a request are an
//! error ([`JuteError::TrailingBytes`]), with one exception real clients need: the
//! `ConnectRequest`'s final `readOnly` flag may be absent (clients before 3.4). Extra bytes
//! after the flag are still an error.
//!
//! Null (-1 length) strings, buffers and vectors are read as empty: zabd has no null data, a null
//! path then fails path validation with `BadArguments`, and a null ACL list fails with
//! `InvalidAcl`, which is how ZooKeeper answers those requests too.

mod codec;
mod records;

#[cfg(test)]
mod tests;

pub use codec::{frame, frame_len, Reader, Writer, JUTE_MAX_BUFFER, MAX_FRAME_LEN};
pub use records::{
    create_mode, op, read_stat, write_stat, xid, AuthPacket, ClientInfo, ConnectRequest,
    ConnectResponse, CreateRequest, MultiOp, MultiResult, ReplyHeader, Request, RequestHeader,
    Response, SetWatches, WatcherEvent,
};

/// Why a payload could not be decoded. Apart from [`JuteError::UnknownOp`] (answer
/// `Unimplemented`) and the create-mode errors (answer `BadArguments`), a decode error means the
/// stream can no longer be trusted and the connection should be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JuteError {
    #[error("input ends early: {needed} bytes needed, {remaining} left")]
    Truncated { needed: usize, remaining: usize },
    #[error("negative length or count {0}")]
    NegativeLength(i32),
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    FrameTooLarge { len: usize, max: usize },
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    #[error("{0} trailing bytes after the record")]
    TrailingBytes(usize),
    /// The request's op code is not one zabd decodes; the header was valid, so the server can
    /// answer this xid with `Unimplemented`.
    #[error("unknown or unsupported op code {0}")]
    UnknownOp(i32),
    #[error("op type {0} is not allowed in a multi")]
    BadMultiOp(i32),
    #[error("a multi mixes read and write operations")]
    MixedMulti,
    #[error("unknown ZooKeeper error code {0}")]
    UnknownErrorCode(i32),
    #[error("invalid create flags {0}")]
    BadCreateFlags(i32),
    #[error("invalid TTL {ttl} for create flags {flags}")]
    BadTtl { flags: i32, ttl: i64 },
}

/// Decode one (unframed) request payload after the handshake: header, then the body for its op
/// code, with nothing left over.
///
/// An unknown op code gives `UnknownOp` (the header's xid is then in the first 4 bytes of the
/// payload; [`decode_request_header`] reads it alone so the server can still answer).
pub fn decode_request(payload: &[u8]) -> Result<(RequestHeader, Request), JuteError> {
    let mut r = Reader::new(payload);
    let header = RequestHeader::read(&mut r)?;
    let request = Request::read(header.op, &mut r)?;
    r.finish()?;
    Ok((header, request))
}

/// Only the header of a request payload: lets the server reply to a request whose body failed
/// to decode with an error for the right xid.
pub fn decode_request_header(payload: &[u8]) -> Result<RequestHeader, JuteError> {
    RequestHeader::read(&mut Reader::new(payload))
}

/// A framed request (what a client sends). `request` must match `header.op` for a server to
/// read it back; tests and tools build requests through this.
pub fn encode_request(header: &RequestHeader, request: &Request) -> Vec<u8> {
    let mut w = Writer::framed();
    header.write(&mut w);
    request.write(&mut w);
    w.into_frame()
}

/// A framed reply. ZooKeeper sends no body with an error code, so `body` is ignored unless
/// `header.err` is `Ok`.
pub fn encode_response(header: &ReplyHeader, body: &Response) -> Vec<u8> {
    let mut w = Writer::framed();
    header.write(&mut w);
    if header.err.is_ok() {
        body.write(&mut w);
    }
    w.into_frame()
}

/// A framed watch notification: reply xid -1, zxid -1, `Ok`, then the event (as ZooKeeper's
/// `NIOServerCnxn.process` sends it).
pub fn encode_notification(event: &WatcherEvent) -> Vec<u8> {
    let header = ReplyHeader {
        xid: xid::NOTIFICATION,
        zxid: -1,
        err: crate::tree::ErrorCode::Ok,
    };
    encode_response(&header, &Response::Event(event.clone()))
}

/// Decode an (unframed) reply payload to a request with `op_code` (notifications, xid -1, are
/// recognised by their xid whatever `op_code` says). The client side of [`encode_response`].
pub fn decode_response(payload: &[u8], op_code: i32) -> Result<(ReplyHeader, Response), JuteError> {
    let mut r = Reader::new(payload);
    let header = ReplyHeader::read(&mut r)?;
    let body = if header.xid == xid::NOTIFICATION {
        Response::read(op::NOTIFICATION, &mut r)?
    } else if header.err.is_ok() {
        Response::read(op_code, &mut r)?
    } else {
        Response::Empty
    };
    r.finish()?;
    Ok((header, body))
}

/// Decode the first (unframed) payload of a connection. The trailing `readOnly` flag is
/// optional; anything after it is an error.
pub fn decode_connect_request(payload: &[u8]) -> Result<ConnectRequest, JuteError> {
    let mut r = Reader::new(payload);
    let req = ConnectRequest::read(&mut r)?;
    r.finish()?;
    Ok(req)
}

pub fn encode_connect_request(req: &ConnectRequest) -> Vec<u8> {
    let mut w = Writer::framed();
    req.write(&mut w);
    w.into_frame()
}

/// A framed connect response; the `readOnly` flag is written only if `resp.read_only` is `Some`
/// (mirror the request's: old clients do not expect it).
pub fn encode_connect_response(resp: &ConnectResponse) -> Vec<u8> {
    let mut w = Writer::framed();
    resp.write(&mut w);
    w.into_frame()
}

pub fn decode_connect_response(payload: &[u8]) -> Result<ConnectResponse, JuteError> {
    let mut r = Reader::new(payload);
    let resp = ConnectResponse::read(&mut r)?;
    r.finish()?;
    Ok(resp)
}
