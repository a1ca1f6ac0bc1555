//! The challenge-response itself, as two pure state machines: [`Dialler`] (the side that opened
//! the connection) and [`Acceptor`]. They take frames and return frames to send; they never
//! touch a socket, a clock or a random source (nonces are passed in), so every rule below is
//! unit-tested without I/O.
//!
//! ```text
//! dialler                                              acceptor
//!   MAGIC ‖ Hello{version, port, sid_d, nonce_d}  ──►
//!                                                 ◄──  Challenge{sid_a, nonce_a, proof_a}   (auth on)
//!                                                 ◄──  Off                                  (auth off)
//!   Proof{proof_d}                                ──►
//!                                                 ◄──  Welcome | Refused
//! ```
//!
//! `proof_x = HMAC-SHA256(secret, LABEL ‖ role_x ‖ port ‖ sid_d ‖ sid_a ‖ nonce_d ‖ nonce_a)`.
//! Both nonces make every proof fresh (a recorded proof is worthless on the next connection);
//! the role byte makes the acceptor's proof useless as a dialler's proof (no reflection); the
//! port byte keeps an election-port proof off the quorum port; the sids bind the proof to the
//! ids each side claims. Proofs are compared in constant time (`Mac::verify_slice`). The
//! acceptor proves itself first, and a dialler that gets a bad acceptor proof stops there: it
//! neither votes with nor syncs from an impostor, and has proved nothing to it.
//!
//! The hello starts with [`MAGIC`], which can be neither an election `Handshake` (its first
//! four bytes are the protocol version, 1) nor a `QuorumMessage` (a small variant index): that
//! is how an acceptor tells an authenticating dialler from a plain one on the same port.

use crate::auth::{Policy, Secret};
use crate::ids::Sid;
use crate::net::codec::{self, CodecError};
use bytes::Bytes;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::collections::BTreeSet;
use std::sync::Arc;

/// The first bytes of an authenticating dialler's first frame.
pub const MAGIC: [u8; 8] = *b"ZABDAUTH";
/// Bumped when the exchange changes incompatibly.
pub const AUTH_VERSION: u32 = 1;
/// Authentication frames are tiny; anything bigger is refused before it is read.
pub const AUTH_FRAME_LIMIT: usize = 1024;
/// Domain separation for the HMAC input.
const LABEL: &[u8] = b"zabd quorum auth v1\0";

pub type Nonce = [u8; 32];
type Proof = [u8; 32];

/// Which peer port a connection is on (part of every proof).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PortKind {
    Election,
    Quorum,
}

impl PortKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PortKind::Election => "election",
            PortKind::Quorum => "quorum",
        }
    }

    fn byte(self) -> u8 {
        match self {
            PortKind::Election => 1,
            PortKind::Quorum => 2,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Dialler,
    Acceptor,
}

/// The frames of the exchange (bincode, as every peer frame).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthMessage {
    Hello {
        version: u32,
        port: PortKind,
        sid: Sid,
        nonce: Nonce,
    },
    /// "Authentication is off on this server; go on in the clear."
    Off,
    Challenge {
        sid: Sid,
        nonce: Nonce,
        proof: Proof,
    },
    Proof {
        proof: Proof,
    },
    Welcome,
    /// The dialler's proof did not verify (no reason given to a possible intruder).
    Refused,
}

/// Why a connection was refused. Logged with the peer's address and claimed id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "the peer{} did not authenticate and this server requires it (quorum.auth.require)",
        ClaimedAs(*.0)
    )]
    NotAuthenticated(Option<Sid>),
    #[error("the peer has quorum authentication off and this server requires it")]
    PeerAuthOff,
    #[error("server {0}'s proof does not verify (wrong or missing shared secret)")]
    BadProof(Sid),
    #[error("the peer refused our proof (the two servers' secrets differ)")]
    RefusedByPeer,
    #[error(
        "server {0} closed the connection instead of proving the secret (its secret differs?)"
    )]
    NoProof(Sid),
    #[error("server id {0} is not in this ensemble's server list")]
    UnknownId(Sid),
    #[error("server id {0} is my own id")]
    OwnId(Sid),
    #[error("expected server {expected}, but server {got} answered")]
    WrongPeer { expected: Sid, got: Sid },
    #[error("a {got} port hello arrived on the {expected} port")]
    WrongPort {
        expected: &'static str,
        got: &'static str,
    },
    #[error("authentication version {0}, this server speaks {AUTH_VERSION}")]
    Version(u32),
    #[error("malformed authentication frame: {0}")]
    Malformed(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("unexpected {0} frame")]
    Unexpected(&'static str),
}

/// ` (claiming to be server N)` when a plain peer's first frame named its id.
struct ClaimedAs(Option<Sid>);

impl std::fmt::Display for ClaimedAs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(sid) => write!(f, " (claiming to be server {sid})"),
            None => Ok(()),
        }
    }
}

impl From<CodecError> for Refusal {
    fn from(err: CodecError) -> Refusal {
        Refusal::Malformed(err.to_string())
    }
}

impl AuthMessage {
    fn name(&self) -> &'static str {
        match self {
            AuthMessage::Hello { .. } => "Hello",
            AuthMessage::Off => "Off",
            AuthMessage::Challenge { .. } => "Challenge",
            AuthMessage::Proof { .. } => "Proof",
            AuthMessage::Welcome => "Welcome",
            AuthMessage::Refused => "Refused",
        }
    }
}

fn encode(msg: &AuthMessage) -> Result<Bytes, Refusal> {
    Ok(codec::encode::<_, AUTH_FRAME_LIMIT>(msg)?)
}

fn decode(frame: &[u8]) -> Result<AuthMessage, Refusal> {
    Ok(codec::decode::<_, AUTH_FRAME_LIMIT>(frame)?)
}

/// The HMAC over one exchange's facts, for one role, before finalisation.
fn mac(
    secret: &Secret,
    role: Role,
    port: PortKind,
    dialler: Sid,
    acceptor: Sid,
    dialler_nonce: &Nonce,
    acceptor_nonce: &Nonce,
) -> Result<Hmac<Sha256>, Refusal> {
    // HMAC accepts keys of any length; the error exists only for fixed-key MACs.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.bytes())
        .map_err(|_| Refusal::Malformed("unusable secret".into()))?;
    mac.update(LABEL);
    mac.update(&[
        match role {
            Role::Dialler => b'D',
            Role::Acceptor => b'A',
        },
        port.byte(),
    ]);
    mac.update(&dialler.0.to_be_bytes());
    mac.update(&acceptor.0.to_be_bytes());
    mac.update(dialler_nonce);
    mac.update(acceptor_nonce);
    Ok(mac)
}

struct Exchange<'a> {
    secret: &'a Secret,
    port: PortKind,
    dialler: Sid,
    acceptor: Sid,
    dialler_nonce: &'a Nonce,
    acceptor_nonce: &'a Nonce,
}

impl Exchange<'_> {
    fn prove(&self, role: Role) -> Result<Proof, Refusal> {
        let mac = self.mac(role)?;
        Ok(mac.finalize().into_bytes().into())
    }

    /// Constant-time check of the other side's proof.
    fn verify(&self, role: Role, proof: &Proof, claimed: Sid) -> Result<(), Refusal> {
        self.mac(role)?
            .verify_slice(proof)
            .map_err(|_| Refusal::BadProof(claimed))
    }

    fn mac(&self, role: Role) -> Result<Hmac<Sha256>, Refusal> {
        mac(
            self.secret,
            role,
            self.port,
            self.dialler,
            self.acceptor,
            self.dialler_nonce,
            self.acceptor_nonce,
        )
    }
}

/// What the dialler does next.
#[derive(Debug, PartialEq, Eq)]
pub enum DialStep {
    /// Send this frame and wait for the next one.
    Send(Bytes),
    /// The peer has authentication off and we do not require it: carry on in the clear.
    Plain,
    /// Both sides proved the secret.
    Authenticated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DialState {
    SentHello,
    SentProof,
    Done,
}

/// The side that opened the connection. Built only when authentication is enabled; a server
/// with it off dials in the clear.
pub struct Dialler {
    secret: Arc<Secret>,
    require: bool,
    port: PortKind,
    me: Sid,
    peer: Sid,
    nonce: Nonce,
    state: DialState,
}

impl Dialler {
    /// `peer` is the server we meant to reach; `None` when `policy` has authentication off.
    pub fn new(
        policy: &Policy,
        port: PortKind,
        me: Sid,
        peer: Sid,
        nonce: Nonce,
    ) -> Option<Dialler> {
        Some(Dialler {
            secret: policy.secret.clone()?,
            require: policy.require,
            port,
            me,
            peer,
            nonce,
            state: DialState::SentHello,
        })
    }

    /// The first frame: [`MAGIC`] then the hello.
    pub fn hello(&self) -> Result<Bytes, Refusal> {
        let body = encode(&AuthMessage::Hello {
            version: AUTH_VERSION,
            port: self.port,
            sid: self.me,
            nonce: self.nonce,
        })?;
        let mut frame = Vec::with_capacity(MAGIC.len() + body.len());
        frame.extend_from_slice(&MAGIC);
        frame.extend_from_slice(&body);
        Ok(Bytes::from(frame))
    }

    /// The acceptor's next frame.
    pub fn on_frame(&mut self, frame: &[u8]) -> Result<DialStep, Refusal> {
        let msg = decode(frame)?;
        match (self.state, msg) {
            (DialState::SentHello, AuthMessage::Off) => {
                self.state = DialState::Done;
                if self.require {
                    Err(Refusal::PeerAuthOff)
                } else {
                    Ok(DialStep::Plain)
                }
            }
            (DialState::SentHello, AuthMessage::Challenge { sid, nonce, proof }) => {
                self.state = DialState::Done;
                if sid != self.peer {
                    return Err(Refusal::WrongPeer {
                        expected: self.peer,
                        got: sid,
                    });
                }
                let exchange = Exchange {
                    secret: &self.secret,
                    port: self.port,
                    dialler: self.me,
                    acceptor: sid,
                    dialler_nonce: &self.nonce,
                    acceptor_nonce: &nonce,
                };
                exchange.verify(Role::Acceptor, &proof, sid)?;
                let mine = exchange.prove(Role::Dialler)?;
                self.state = DialState::SentProof;
                Ok(DialStep::Send(encode(&AuthMessage::Proof { proof: mine })?))
            }
            (DialState::SentProof, AuthMessage::Welcome) => {
                self.state = DialState::Done;
                Ok(DialStep::Authenticated)
            }
            (DialState::SentProof, AuthMessage::Refused) => {
                self.state = DialState::Done;
                Err(Refusal::RefusedByPeer)
            }
            (_, other) => {
                self.state = DialState::Done;
                Err(Refusal::Unexpected(other.name()))
            }
        }
    }
}

/// What the acceptor does next.
#[derive(Debug, PartialEq, Eq)]
pub enum AcceptStep {
    /// A plain connection (allowed): this frame was already the peer's first plain frame and
    /// must be handed on with the connection.
    Plain,
    /// Authentication is off here: send `Off`, then the connection goes on in the clear.
    Off(Bytes),
    /// Send this frame and wait for the next one.
    Send(Bytes),
    /// The peer proved the secret as this server id: send `Welcome`, then hand the connection
    /// on.
    Authenticated { peer: Sid, welcome: Bytes },
}

enum AcceptState {
    Start,
    Challenged { peer: Sid, peer_nonce: Nonce },
    Done,
}

/// The side that accepted the connection.
pub struct Acceptor {
    policy: Policy,
    port: PortKind,
    me: Sid,
    members: Arc<BTreeSet<Sid>>,
    nonce: Nonce,
    state: AcceptState,
}

impl Acceptor {
    /// `members` are the other servers' ids (only they may authenticate).
    pub fn new(
        policy: Policy,
        port: PortKind,
        me: Sid,
        members: Arc<BTreeSet<Sid>>,
        nonce: Nonce,
    ) -> Acceptor {
        Acceptor {
            policy,
            port,
            me,
            members,
            nonce,
            state: AcceptState::Start,
        }
    }

    /// The id the peer claimed in its hello, once known (for logs).
    pub fn claimed(&self) -> Option<Sid> {
        match self.state {
            AcceptState::Challenged { peer, .. } => Some(peer),
            _ => None,
        }
    }

    /// What to tell a dialler whose proof failed (None before a challenge was sent).
    pub fn refusal_frame(&self) -> Option<Bytes> {
        match self.state {
            AcceptState::Challenged { .. } => encode(&AuthMessage::Refused).ok(),
            _ => None,
        }
    }

    pub fn on_frame(&mut self, frame: &[u8]) -> Result<AcceptStep, Refusal> {
        match std::mem::replace(&mut self.state, AcceptState::Done) {
            AcceptState::Start => self.on_first(frame),
            AcceptState::Challenged { peer, peer_nonce } => {
                let proof = match decode(frame)? {
                    AuthMessage::Proof { proof } => proof,
                    other => return Err(Refusal::Unexpected(other.name())),
                };
                let secret = self
                    .policy
                    .secret
                    .clone()
                    .ok_or(Refusal::Unexpected("Proof"))?;
                Exchange {
                    secret: &secret,
                    port: self.port,
                    dialler: peer,
                    acceptor: self.me,
                    dialler_nonce: &peer_nonce,
                    acceptor_nonce: &self.nonce,
                }
                .verify(Role::Dialler, &proof, peer)?;
                Ok(AcceptStep::Authenticated {
                    peer,
                    welcome: encode(&AuthMessage::Welcome)?,
                })
            }
            AcceptState::Done => Err(Refusal::Unexpected("frame after the exchange")),
        }
    }

    fn on_first(&mut self, frame: &[u8]) -> Result<AcceptStep, Refusal> {
        let Some(body) = frame.strip_prefix(&MAGIC[..]) else {
            return if self.policy.enabled() && self.policy.require {
                Err(Refusal::NotAuthenticated(None))
            } else {
                Ok(AcceptStep::Plain)
            };
        };
        let (version, port, sid, nonce) = match decode(body)? {
            AuthMessage::Hello {
                version,
                port,
                sid,
                nonce,
            } => (version, port, sid, nonce),
            other => return Err(Refusal::Unexpected(other.name())),
        };
        let Some(secret) = self.policy.secret.clone() else {
            // Off here: say so, so that a dialler that does not require it goes on plainly.
            return Ok(AcceptStep::Off(encode(&AuthMessage::Off)?));
        };
        if version != AUTH_VERSION {
            return Err(Refusal::Version(version));
        }
        if port != self.port {
            return Err(Refusal::WrongPort {
                expected: self.port.as_str(),
                got: port.as_str(),
            });
        }
        if sid == self.me {
            return Err(Refusal::OwnId(sid));
        }
        if !self.members.contains(&sid) {
            return Err(Refusal::UnknownId(sid));
        }
        let proof = Exchange {
            secret: &secret,
            port: self.port,
            dialler: sid,
            acceptor: self.me,
            dialler_nonce: &nonce,
            acceptor_nonce: &self.nonce,
        }
        .prove(Role::Acceptor)?;
        self.state = AcceptState::Challenged {
            peer: sid,
            peer_nonce: nonce,
        };
        Ok(AcceptStep::Send(encode(&AuthMessage::Challenge {
            sid: self.me,
            nonce: self.nonce,
            proof,
        })?))
    }
}

#[cfg(test)]
mod tests;
