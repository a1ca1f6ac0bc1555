//! Quorum authentication: who may speak on the election and quorum ports.
//!
//! Without it, anything that can reach a peer port and claims a configured server id can vote,
//! sync a copy of the data, or (as a fake leader) feed a learner. With a shared secret
//! (`quorum.auth.secretFile`), every connection on those ports starts with a mutual
//! challenge-response ([`core`]): each side sends a fresh random nonce and proves that it
//! knows the secret with an HMAC-SHA256 over both nonces, both server ids, the port and its own
//! role. The secret never crosses the wire, a proof is never valid twice (fresh nonces on both
//! sides), and a proof cannot be reflected back (the role and the port are in it).
//!
//! What it does not do: encrypt or integrity-protect the traffic after the handshake. An
//! active man-in-the-middle between two honest servers can still relay and then tamper; the
//! shared-secret mode keeps out servers that are not in the ensemble, it is not TLS.
//!
//! Mutual TLS ([`tls`], `sslQuorum`) wraps the connection first when on; the shared-secret
//! exchange (if also on) then runs inside it and adds what a certificate does not: the proof
//! that the peer is the server id it claims. A TLS server and a plain one cannot talk, so TLS
//! has no rolling switch.
//!
//! The rolling switch (ZooKeeper's `quorum.auth.enableSasl` / `*RequireSasl` model):
//! `quorum.auth.enable` makes a server authenticate every connection it dials and answer
//! authentication on connections it accepts; `quorum.auth.require` makes it refuse a peer that
//! does not authenticate (in either direction). A server with authentication off still
//! recognises a dialler's authentication hello and answers "off here", so that an enabled
//! dialler that does not require it carries on in the clear; an enabled acceptor that does not
//! require it still takes a plain connection. See [`Policy`] and the README.
//!
//! The layout follows the rest of the crate: [`core`] is pure (frames in, frames out, no I/O),
//! [`shell`] drives it over any `AsyncRead + AsyncWrite` stream (tokio's or turmoil's), and
//! [`prefixed`] hands the connection on with any bytes the handshake read ahead.

pub mod core;
pub mod prefixed;
pub mod secret;
pub mod shell;
pub mod tls;

pub use self::core::{PortKind, Refusal};
pub use secret::{Secret, SecretError};
pub use shell::{accept, dial, AuthError, Authenticated};

use crate::ids::Sid;
use crate::status::Counters;
use std::collections::BTreeSet;
use std::sync::Arc;

/// How this server treats authentication on its peer ports (from `quorum.auth.*` and
/// `sslQuorum`/`ssl.quorum.*`).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Policy {
    /// The shared secret; `Some` exactly when shared-secret authentication is enabled.
    pub secret: Option<Arc<Secret>>,
    /// Refuse peers that do not prove the secret. Only meaningful with a secret.
    pub require: bool,
    /// Mutual TLS under everything else (`sslQuorum=true`): always required once on.
    pub tls: Option<Arc<tls::QuorumTls>>,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("enabled", &self.enabled())
            .field("require", &self.require)
            .field("tls", &self.tls)
            .finish()
    }
}

impl Policy {
    /// Authentication off: plain connections both ways (an enabled dialler is told so).
    pub fn off() -> Policy {
        Policy::default()
    }

    pub fn enabled(&self) -> bool {
        self.secret.is_some()
    }

    /// For logs: the shared secret's state (`off`, `enabled`, `required`), and `+tls`.
    pub fn describe(&self) -> String {
        let secret = match (self.enabled(), self.require) {
            (false, _) => "off",
            (true, false) => "enabled",
            (true, true) => "required",
        };
        match self.tls {
            Some(_) => format!("secret {secret}, tls"),
            None => format!("secret {secret}"),
        }
    }
}

/// What one server needs to authenticate its peer connections.
#[derive(Debug, Clone)]
pub struct PeerAuth {
    pub policy: Policy,
    pub me: Sid,
    /// Every other server of the ensemble: only these ids may authenticate.
    pub members: Arc<BTreeSet<Sid>>,
}

impl PeerAuth {
    /// No authentication (tests, standalone).
    pub fn off(me: Sid, members: Arc<BTreeSet<Sid>>) -> PeerAuth {
        PeerAuth {
            policy: Policy::off(),
            me,
            members,
        }
    }
}

/// Log a failed exchange: a refusal (wrong or missing credentials, an unknown id) at warn with
/// the peer's address and counted in `zk_quorum_auth_refused`; a connection that merely broke
/// at debug, as other connection failures are.
pub fn report(counters: &Counters, port: PortKind, peer_addr: &str, err: &AuthError) {
    match err {
        AuthError::Refused(_) => {
            Counters::add(&counters.quorum_auth_refused, 1);
            tracing::warn!(port = port.as_str(), %peer_addr, reason = %err, "peer connection refused by quorum authentication");
        }
        AuthError::Timeout => {
            tracing::warn!(port = port.as_str(), %peer_addr, reason = %err, "peer connection dropped during quorum authentication");
        }
        AuthError::Closed | AuthError::Io(_) => {
            tracing::debug!(port = port.as_str(), %peer_addr, reason = %err, "peer connection failed during quorum authentication");
        }
    }
}
