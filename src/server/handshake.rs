//! The pure rules of a client's `ConnectRequest`: session passwords and the negotiated timeout.

use sha1::{Digest, Sha1};
use std::time::Duration;

/// Length of a session password, as in ZooKeeper.
pub const PASSWORD_LEN: usize = 16;

/// The password of `session`. Any server of the ensemble can check it without asking another,
/// because it is derived from the session id alone (as ZooKeeper derives it from the id and a
/// fixed secret). It guards against a client reusing another's session by mistake, not
/// against an attacker who can read the network; ZooKeeper's is no stronger.
pub fn password(session: i64) -> Vec<u8> {
    let mut h = Sha1::new();
    h.update(b"zabd session password v1");
    h.update(session.to_be_bytes());
    h.finalize()[..PASSWORD_LEN].to_vec()
}

/// Does `given` open `session`?
pub fn password_matches(session: i64, given: &[u8]) -> bool {
    given == password(session).as_slice()
}

/// ZooKeeper's negotiation: the client's wish, clamped to `[min, max]`.
pub fn negotiate_timeout(requested_ms: i32, min: Duration, max: Duration) -> i32 {
    let min = i32::try_from(min.as_millis()).unwrap_or(i32::MAX);
    let max = i32::try_from(max.as_millis()).unwrap_or(i32::MAX).max(min);
    requested_ms.clamp(min, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_per_session_and_checked() {
        assert_eq!(password(1).len(), PASSWORD_LEN);
        assert_ne!(password(1), password(2));
        assert!(password_matches(7, &password(7)));
        assert!(!password_matches(7, &password(8)));
        assert!(!password_matches(7, &[0; PASSWORD_LEN]));
    }

    #[test]
    fn timeouts_are_clamped_to_the_configured_range() {
        let (min, max) = (Duration::from_millis(4000), Duration::from_millis(40000));
        assert_eq!(negotiate_timeout(100, min, max), 4000);
        assert_eq!(negotiate_timeout(10_000, min, max), 10_000);
        assert_eq!(negotiate_timeout(i32::MAX, min, max), 40_000);
        assert_eq!(negotiate_timeout(-5, min, max), 4000);
    }
}
