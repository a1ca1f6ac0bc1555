//! Runs the [`core`](super::core) exchange over a real connection (tokio's or turmoil's) and
//! hands the connection on as a [`PeerStream`], with whatever the exchange read ahead.

use super::core::{AcceptStep, Acceptor, DialStep, Dialler, Nonce, Refusal};
use super::prefixed::Prefixed;
use super::{PeerAuth, PortKind};
use crate::ids::Sid;
use crate::net::codec::{self, ELECTION_FRAME_LIMIT, QUORUM_FRAME_LIMIT};
use crate::net::PeerStream;
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use rand::RngCore;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{Framed, LengthDelimitedCodec};

/// The whole exchange must finish within this (as the election handshake).
pub const AUTH_TIMEOUT: Duration = Duration::from_secs(5);

/// Who the peer proved to be: `Some(sid)` when it proved the secret, `None` for a plain
/// connection this server's policy allows.
pub type Authenticated = Option<Sid>;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{0}")]
    Refused(#[from] Refusal),
    #[error("connection failed during authentication: {0}")]
    Io(String),
    #[error("closed during authentication")]
    Closed,
    #[error("no authentication within {AUTH_TIMEOUT:?}")]
    Timeout,
}

impl AuthError {
    /// A refusal on grounds of identity or credentials (logged at warn and counted), as
    /// opposed to a connection that merely broke.
    pub fn is_refusal(&self) -> bool {
        matches!(self, AuthError::Refused(_))
    }
}

fn frame_limit(port: PortKind) -> usize {
    match port {
        PortKind::Election => ELECTION_FRAME_LIMIT,
        PortKind::Quorum => QUORUM_FRAME_LIMIT,
    }
}

/// A fresh random nonce. Under the simulation it comes from the OS too: a nonce never reaches
/// a log or a trace and never changes a frame's size, so the runs stay byte-deterministic.
fn nonce() -> Result<Nonce, AuthError> {
    let mut n = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut n)
        .map_err(|err| AuthError::Io(format!("no randomness for a nonce: {err}")))?;
    Ok(n)
}

type AuthConn<S> = Framed<S, LengthDelimitedCodec>;

async fn next_frame<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut AuthConn<S>,
) -> Result<BytesMut, AuthError> {
    match conn.next().await {
        None => Err(AuthError::Closed),
        Some(Err(err)) => Err(AuthError::Refused(Refusal::Malformed(err.to_string()))),
        Some(Ok(frame)) => Ok(frame),
    }
}

async fn send<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut AuthConn<S>,
    frame: Bytes,
) -> Result<(), AuthError> {
    conn.send(frame)
        .await
        .map_err(|err| AuthError::Io(err.to_string()))
}

/// The connection with the bytes the codec read ahead (and `first`, a frame already taken
/// that the next reader must still see) put back in front.
fn hand_on<S>(conn: AuthConn<S>, first: Option<&[u8]>) -> PeerStream
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let parts = conn.into_parts();
    let mut prefix = BytesMut::new();
    if let Some(frame) = first {
        // Re-frame it exactly as the peer sent it: a 4-byte big-endian length, then the bytes.
        prefix.put_u32(u32::try_from(frame.len()).unwrap_or(u32::MAX));
        prefix.put_slice(frame);
    }
    prefix.put_slice(&parts.read_buf);
    Box::new(Prefixed::new(prefix.freeze(), parts.io))
}

/// A failed TLS handshake: a certificate problem (the peer's or, as its alert says, ours) is a
/// refusal; anything else a broken connection.
fn tls_error(err: std::io::Error) -> AuthError {
    match err.kind() {
        std::io::ErrorKind::InvalidData => Refusal::Tls(err.to_string()).into(),
        std::io::ErrorKind::UnexpectedEof => AuthError::Closed,
        _ => AuthError::Io(err.to_string()),
    }
}

/// Authenticate a connection this server dialled to `peer`: TLS first when on
/// (`sslQuorum`), then the shared-secret exchange when on. With both off the connection is
/// returned as it is.
pub async fn dial<S>(
    io: S,
    auth: &PeerAuth,
    port: PortKind,
    peer: Sid,
) -> Result<(PeerStream, Authenticated), AuthError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Some(tls) = &auth.policy.tls else {
        return dial_secret(io, auth, port, peer).await;
    };
    let name = super::tls::QuorumTls::peer_name().map_err(AuthError::Io)?;
    let io = tokio::time::timeout(AUTH_TIMEOUT, tls.connector.connect(name, io))
        .await
        .map_err(|_| AuthError::Timeout)?
        .map_err(tls_error)?;
    dial_secret(io, auth, port, peer).await
}

/// Authenticate a connection this server accepted: TLS first when on, then the shared secret
/// as `auth.policy` demands.
pub async fn accept<S>(
    io: S,
    auth: &PeerAuth,
    port: PortKind,
) -> Result<(PeerStream, Authenticated), AuthError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Some(tls) = &auth.policy.tls else {
        return accept_secret(io, auth, port).await;
    };
    let io = tokio::time::timeout(AUTH_TIMEOUT, tls.acceptor.accept(io))
        .await
        .map_err(|_| AuthError::Timeout)?
        .map_err(tls_error)?;
    accept_secret(io, auth, port).await
}

/// The shared-secret exchange, dialler side (plain when the secret is off).
async fn dial_secret<S>(
    io: S,
    auth: &PeerAuth,
    port: PortKind,
    peer: Sid,
) -> Result<(PeerStream, Authenticated), AuthError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Some(mut dialler) = Dialler::new(&auth.policy, port, auth.me, peer, nonce()?) else {
        return Ok((Box::new(io), None));
    };
    let mut conn = codec::framed(io, frame_limit(port));
    let exchange = async {
        send(&mut conn, dialler.hello()?).await?;
        loop {
            let frame = next_frame(&mut conn).await?;
            match dialler.on_frame(&frame)? {
                DialStep::Send(reply) => send(&mut conn, reply).await?,
                DialStep::Plain => return Ok::<_, AuthError>(None),
                DialStep::Authenticated => return Ok(Some(peer)),
            }
        }
    };
    let proved = tokio::time::timeout(AUTH_TIMEOUT, exchange)
        .await
        .map_err(|_| AuthError::Timeout)??;
    Ok((hand_on(conn, None), proved))
}

/// The id a plain peer's first frame names (its election handshake or LEARNERINFO), for the
/// log line that refuses it; `None` if the frame says none.
fn claimed_sid(port: PortKind, frame: &[u8]) -> Option<Sid> {
    match port {
        PortKind::Election => {
            codec::decode::<crate::net::election::Handshake, ELECTION_FRAME_LIMIT>(frame)
                .ok()
                .map(|hs| hs.sid)
        }
        PortKind::Quorum => {
            match codec::decode::<crate::zab::QuorumMessage, QUORUM_FRAME_LIMIT>(frame) {
                Ok(crate::zab::QuorumMessage::LearnerInfo { sid, .. }) => Some(sid),
                _ => None,
            }
        }
    }
}

/// The shared-secret exchange, acceptor side.
async fn accept_secret<S>(
    io: S,
    auth: &PeerAuth,
    port: PortKind,
) -> Result<(PeerStream, Authenticated), AuthError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut acceptor = Acceptor::new(
        auth.policy.clone(),
        port,
        auth.me,
        auth.members.clone(),
        nonce()?,
    );
    let mut conn = codec::framed(io, frame_limit(port));
    let exchange = async {
        let mut first = true;
        loop {
            let frame = match next_frame(&mut conn).await {
                Ok(frame) => frame,
                // A dialler that saw our proof and left did not know the secret (a dialler
                // with the right one proves it): that is a refusal, not a broken connection.
                Err(AuthError::Closed) => {
                    return Err(match acceptor.claimed() {
                        Some(sid) => Refusal::NoProof(sid).into(),
                        None => AuthError::Closed,
                    })
                }
                Err(err) => return Err(err),
            };
            let step = match acceptor.on_frame(&frame) {
                Ok(step) => step,
                Err(Refusal::NotAuthenticated(_)) => {
                    return Err(Refusal::NotAuthenticated(claimed_sid(port, &frame)).into())
                }
                Err(refusal) => {
                    if let Some(reply) = acceptor.refusal_frame() {
                        let _ = send(&mut conn, reply).await;
                    }
                    return Err(refusal.into());
                }
            };
            match step {
                AcceptStep::Plain if first => return Ok((Some(frame), None)),
                AcceptStep::Plain => return Err(Refusal::Unexpected("plain frame").into()),
                AcceptStep::Off(reply) => {
                    send(&mut conn, reply).await?;
                    return Ok((None, None));
                }
                AcceptStep::Send(reply) => send(&mut conn, reply).await?,
                AcceptStep::Authenticated { peer, welcome } => {
                    send(&mut conn, welcome).await?;
                    return Ok((None, Some(peer)));
                }
            }
            first = false;
        }
    };
    let result = tokio::time::timeout(AUTH_TIMEOUT, exchange).await;
    let (first, proved) = match result {
        Err(_) => return Err(AuthError::Timeout),
        Ok(Err(err)) => return Err(err),
        Ok(Ok(done)) => done,
    };
    Ok((hand_on(conn, first.as_deref()), proved))
}

#[cfg(test)]
mod tests;
