//! `quorum.auth.*` and `sslQuorum`/`ssl.quorum.*`: authentication on the election and quorum
//! ports (see `crate::auth`).
//!
//! Modelled on ZooKeeper's SASL switches (`quorum.auth.enableSasl`, `*RequireSasl`), with one
//! `require` key for both directions and a secret file instead of a JAAS login:
//! `quorum.auth.enable` (default false), `quorum.auth.require` (default false; needs enable),
//! `quorum.auth.secretFile` (required with enable; read now, so a missing or short file stops
//! start-up instead of failing every connection later). ZooKeeper's SASL keys themselves are
//! refused with a pointer here: silently ignoring a security setting would leave an operator
//! believing the quorum is protected when it is not.
//!
//! TLS takes ZooKeeper's own keys: `sslQuorum=true`, `ssl.quorum.keyStore.location` (PEM:
//! certificate chain and private key), `ssl.quorum.trustStore.location` (PEM: CA
//! certificates); `*.type` may only say PEM, passwords (encrypted keys) and host name
//! verification are refused rather than ignored, for the same reason.

use super::{ConfigError, Raw};
use crate::auth::tls::{QuorumTls, TlsError};
use crate::auth::{Policy, Secret};
use std::path::Path;
use std::sync::Arc;

/// Keys read here (for `KNOWN_KEYS`).
pub(super) const KEYS: &[&str] = &[
    "quorum.auth.enable",
    "quorum.auth.require",
    "quorum.auth.secretFile",
    "quorum.auth.enableSasl",
    "quorum.auth.learnerRequireSasl",
    "quorum.auth.serverRequireSasl",
    "sslQuorum",
    "ssl.quorum.keyStore.location",
    "ssl.quorum.keyStore.type",
    "ssl.quorum.keyStore.password",
    "ssl.quorum.trustStore.location",
    "ssl.quorum.trustStore.type",
    "ssl.quorum.trustStore.password",
    "ssl.quorum.hostnameVerification",
    "sslQuorumReloadCertFiles",
];

/// ZooKeeper's keys that zabd does not implement; set to true they are an error.
const ZOOKEEPER_SASL_KEYS: &[&str] = &[
    "quorum.auth.enableSasl",
    "quorum.auth.learnerRequireSasl",
    "quorum.auth.serverRequireSasl",
];

impl Raw<'_> {
    pub(super) fn quorum_auth(&mut self) -> Result<Policy, ConfigError> {
        let tls = self.quorum_tls()?;
        let (secret, require) = self.shared_secret()?;
        Ok(Policy {
            secret,
            require,
            tls,
        })
    }

    /// `quorum.auth.*`: the shared secret (when enabled) and whether it is required.
    fn shared_secret(&mut self) -> Result<(Option<Arc<Secret>>, bool), ConfigError> {
        for key in ZOOKEEPER_SASL_KEYS {
            if self.bool(key)? == Some(true) {
                return Err(self.err(
                    key,
                    format!(
                        "SASL is not supported; zabd authenticates servers with a shared secret: \
                         set {} and {} (see README, Quorum authentication)",
                        self.example("quorum.auth.enable", "true", false),
                        self.example("quorum.auth.secretFile", "/etc/zabd/quorum.secret", true)
                    ),
                ));
            }
        }
        let enable = self.bool("quorum.auth.enable")?.unwrap_or(false);
        let require = self.bool("quorum.auth.require")?.unwrap_or(false);
        let file = self.string("quorum.auth.secretFile", "/etc/zabd/quorum.secret")?;
        if !enable {
            if require {
                return Err(self.err(
                    "quorum.auth.require",
                    format!(
                        "requires quorum.auth.enable; add {}",
                        self.example("quorum.auth.enable", "true", false)
                    ),
                ));
            }
            if file.is_some() {
                tracing::warn!(
                    file = %self.path.display(),
                    "quorum.auth.secretFile is set but quorum.auth.enable is not: peer \
                     connections are not authenticated"
                );
            }
            return Ok((None, false));
        }
        let Some(file) = file else {
            return Err(self.err(
                "quorum.auth.enable",
                format!(
                    "authentication needs the shared secret; add {} (a file of at least 16 \
                     bytes, the same on every server, readable only by zabd)",
                    self.example("quorum.auth.secretFile", "/etc/zabd/quorum.secret", true)
                ),
            ));
        };
        let secret = Secret::read(Path::new(&file))
            .map_err(|err| self.err("quorum.auth.secretFile", err.to_string()))?;
        Ok((Some(Arc::new(secret)), require))
    }

    /// `sslQuorum` and `ssl.quorum.*`: mutual TLS, loaded now so that a bad file stops
    /// start-up.
    fn quorum_tls(&mut self) -> Result<Option<Arc<QuorumTls>>, ConfigError> {
        let on = self.bool("sslQuorum")?.unwrap_or(false);
        for key in ["ssl.quorum.keyStore.type", "ssl.quorum.trustStore.type"] {
            if let Some(kind) = self.string(key, "PEM")? {
                if !kind.eq_ignore_ascii_case("PEM") {
                    return Err(self.err(
                        key,
                        format!(
                            "{kind} stores are not supported (JKS and PKCS12 neither); convert                              the store to PEM and set {}",
                            self.example(key, "PEM", true)
                        ),
                    ));
                }
            }
        }
        for key in [
            "ssl.quorum.keyStore.password",
            "ssl.quorum.trustStore.password",
        ] {
            if self.take(key).is_some_and(|v| !v.to_string().is_empty()) {
                return Err(self.err(
                    key,
                    "encrypted PEM keys are not supported; give an unencrypted key in a file                      only zabd can read, and remove the password",
                ));
            }
        }
        if self.bool("ssl.quorum.hostnameVerification")? == Some(true) {
            return Err(self.err(
                "ssl.quorum.hostnameVerification",
                format!(
                    "host name verification is not supported: any certificate the trust store                      vouches for is accepted; set {} or remove the key",
                    self.example("ssl.quorum.hostnameVerification", "false", false)
                ),
            ));
        }
        if self.bool("sslQuorumReloadCertFiles")? == Some(true) {
            tracing::warn!(
                file = %self.path.display(),
                "sslQuorumReloadCertFiles is not supported: restart zabd to load new certificates"
            );
        }
        let key_store = self.string("ssl.quorum.keyStore.location", "/etc/zabd/server.pem")?;
        let trust_store = self.string("ssl.quorum.trustStore.location", "/etc/zabd/ca.pem")?;
        if !on {
            if key_store.is_some() || trust_store.is_some() {
                tracing::warn!(
                    file = %self.path.display(),
                    "ssl.quorum stores are set but sslQuorum is not true: peer connections are                      not encrypted"
                );
            }
            return Ok(None);
        }
        let Some(key_store) = key_store else {
            return Err(self.missing(
                "ssl.quorum.keyStore.location",
                "/etc/zabd/server.pem",
                true,
                "sslQuorum needs this server's certificate and private key, PEM",
            ));
        };
        let Some(trust_store) = trust_store else {
            return Err(self.missing(
                "ssl.quorum.trustStore.location",
                "/etc/zabd/ca.pem",
                true,
                "sslQuorum needs the CA certificate(s) that sign the servers' certificates, PEM",
            ));
        };
        let tls =
            QuorumTls::load(Path::new(&key_store), Path::new(&trust_store)).map_err(|err| {
                let key = match &err {
                    TlsError::Unreadable { path, .. }
                    | TlsError::NoCertificate { path, .. }
                    | TlsError::Unusable { path, .. }
                        if *path == trust_store =>
                    {
                        "ssl.quorum.trustStore.location"
                    }
                    _ => "ssl.quorum.keyStore.location",
                };
                self.err(key, err.to_string())
            })?;
        Ok(Some(Arc::new(tls)))
    }
}
