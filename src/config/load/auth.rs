//! `quorum.auth.*`: authentication on the election and quorum ports (see `crate::auth`).
//!
//! Modelled on ZooKeeper's SASL switches (`quorum.auth.enableSasl`, `*RequireSasl`), with one
//! `require` key for both directions and a secret file instead of a JAAS login:
//! `quorum.auth.enable` (default false), `quorum.auth.require` (default false; needs enable),
//! `quorum.auth.secretFile` (required with enable; read now, so a missing or short file stops
//! start-up instead of failing every connection later). ZooKeeper's SASL keys themselves are
//! refused with a pointer here: silently ignoring a security setting would leave an operator
//! believing the quorum is protected when it is not.

use super::{ConfigError, Raw};
use crate::auth::{Policy, Secret};
use std::sync::Arc;

/// Keys read here (for `KNOWN_KEYS`).
pub(super) const KEYS: &[&str] = &[
    "quorum.auth.enable",
    "quorum.auth.require",
    "quorum.auth.secretFile",
    "quorum.auth.enableSasl",
    "quorum.auth.learnerRequireSasl",
    "quorum.auth.serverRequireSasl",
];

/// ZooKeeper's keys that zabd does not implement; set to true they are an error.
const ZOOKEEPER_SASL_KEYS: &[&str] = &[
    "quorum.auth.enableSasl",
    "quorum.auth.learnerRequireSasl",
    "quorum.auth.serverRequireSasl",
];

impl Raw<'_> {
    pub(super) fn quorum_auth(&mut self) -> Result<Policy, ConfigError> {
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
            return Ok(Policy::off());
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
        let secret = Secret::read(std::path::Path::new(&file))
            .map_err(|err| self.err("quorum.auth.secretFile", err.to_string()))?;
        Ok(Policy {
            secret: Some(Arc::new(secret)),
            require,
        })
    }
}
