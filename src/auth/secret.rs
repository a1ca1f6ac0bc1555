//! The ensemble's shared secret, read from a file (`quorum.auth.secretFile`).
//!
//! Never from the command line (it would show in `ps`) and never printed: `Debug` is redacted,
//! and nothing else formats it.

use std::path::Path;

/// A secret shorter than this is refused: it could be guessed offline from one recorded
/// handshake (the HMAC of known nonces).
pub const MIN_SECRET_LEN: usize = 16;

/// The shared secret's bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("cannot read {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error(
        "{path} holds {len} bytes (after trailing whitespace is dropped); a secret needs at \
         least {MIN_SECRET_LEN}, e.g. write one with `head -c 32 /dev/urandom | base64 > {path}`"
    )]
    TooShort { path: String, len: usize },
}

impl Secret {
    /// The secret is the file's bytes less trailing whitespace (so `echo secret > file` and an
    /// editor's final newline do not make two servers disagree).
    pub fn from_bytes(bytes: &[u8]) -> Secret {
        let end = bytes
            .iter()
            .rposition(|b| !b.is_ascii_whitespace())
            .map_or(0, |i| i + 1);
        Secret(bytes.get(..end).unwrap_or_default().to_vec())
    }

    pub fn read(path: &Path) -> Result<Secret, SecretError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|err| SecretError::Unreadable {
            path: shown.clone(),
            reason: err.to_string(),
        })?;
        let secret = Secret::from_bytes(&bytes);
        if secret.0.len() < MIN_SECRET_LEN {
            return Err(SecretError::TooShort {
                path: shown,
                len: secret.0.len(),
            });
        }
        Ok(secret)
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_whitespace_is_not_part_of_the_secret() {
        assert_eq!(
            Secret::from_bytes(b"0123456789abcdef\n"),
            Secret::from_bytes(b"0123456789abcdef")
        );
        assert_eq!(Secret::from_bytes(b" \n").bytes(), b"");
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let s = Secret::from_bytes(b"hunter2hunter2hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn missing_and_short_files_are_clear_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("nope");
        assert!(matches!(
            Secret::read(&missing),
            Err(SecretError::Unreadable { .. })
        ));
        let short = dir.path().join("short");
        std::fs::write(&short, "abc\n").expect("write");
        assert!(matches!(
            Secret::read(&short),
            Err(SecretError::TooShort { len: 3, .. })
        ));
        let good = dir.path().join("good");
        std::fs::write(&good, "0123456789abcdef0123\n").expect("write");
        assert_eq!(
            Secret::read(&good).expect("reads").bytes(),
            b"0123456789abcdef0123"
        );
    }
}
