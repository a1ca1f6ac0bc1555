//! Who a connection is, and what ZooKeeper's ACLs let it do. Pure: no sockets, no tree locks.
//!
//! ZooKeeper checks ACLs in the leader's `PrepRequestProcessor`, with the authentication of the
//! connection forwarded along. zabd checks them on the server that holds the connection,
//! against its own tree just before the request is submitted (and again for reads), because the
//! connection's identities live there. A request that fails is proposed as an error txn, so the
//! session's order of replies is kept.
//!
//! Schemes: `world` (only `anyone`), `digest` (`user:base64(sha1(user:password))`, the identity
//! `addauth digest user:password` gives) and `ip` (the client's address, or a CIDR range in an
//! ACL). The `auth` pseudo-scheme in an ACL means "every identity this connection has
//! authenticated as", as in ZooKeeper. Anything else is `INVALIDACL` in an ACL and `AUTHFAILED`
//! for `addauth`.

use crate::tree::{Acl, ErrorCode, Id};
use base64::Engine;
use sha1::{Digest, Sha1};
use std::net::IpAddr;

/// The identities one connection holds: always its `ip`, plus every `digest` it added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthInfo {
    ids: Vec<Id>,
}

impl AuthInfo {
    /// A new connection from `remote`: identified by its address only.
    pub fn new(remote: IpAddr) -> AuthInfo {
        AuthInfo {
            ids: vec![Id {
                scheme: "ip".to_owned(),
                id: remote.to_string(),
            }],
        }
    }

    pub fn ids(&self) -> &[Id] {
        &self.ids
    }

    /// `addauth scheme auth`. Only `digest` is supported (`user:password`, at least one colon);
    /// anything else fails with `AUTHFAILED`, after which ZooKeeper closes the connection.
    pub fn add(&mut self, scheme: &str, auth: &[u8]) -> Result<(), ErrorCode> {
        if scheme != "digest" {
            return Err(ErrorCode::AuthFailed);
        }
        let text = std::str::from_utf8(auth).map_err(|_| ErrorCode::AuthFailed)?;
        let id = digest_id(text).ok_or(ErrorCode::AuthFailed)?;
        let id = Id {
            scheme: "digest".to_owned(),
            id,
        };
        if !self.ids.contains(&id) {
            self.ids.push(id);
        }
        Ok(())
    }

    /// ZooKeeper's `checkACL`: may this connection do `perm` on a node with `acl`?
    pub fn allows(&self, acl: &[Acl], perm: i32) -> bool {
        acl.iter()
            .filter(|a| a.perms & perm != 0)
            .any(|a| match a.id.scheme.as_str() {
                "world" => a.id.id == "anyone",
                "digest" => self
                    .ids
                    .iter()
                    .any(|i| i.scheme == "digest" && i.id == a.id.id),
                "ip" => self
                    .ids
                    .iter()
                    .filter(|i| i.scheme == "ip")
                    .any(|i| ip_matches(&a.id.id, &i.id)),
                _ => false,
            })
    }

    /// ZooKeeper's `fixupACL`: validate each entry's scheme and id, and expand `auth` to this
    /// connection's authenticated (non-`ip`) identities. An empty result is `INVALIDACL`.
    pub fn fixup(&self, acl: &[Acl]) -> Result<Vec<Acl>, ErrorCode> {
        let mut out = Vec::with_capacity(acl.len());
        for a in acl {
            match a.id.scheme.as_str() {
                "world" if a.id.id == "anyone" => out.push(a.clone()),
                "digest" if valid_digest_id(&a.id.id) => out.push(a.clone()),
                "ip" if parse_cidr(&a.id.id).is_some() => out.push(a.clone()),
                "auth" => {
                    let mut any = false;
                    for id in self.ids.iter().filter(|i| i.scheme != "ip") {
                        any = true;
                        out.push(Acl {
                            perms: a.perms,
                            id: id.clone(),
                        });
                    }
                    if !any {
                        return Err(ErrorCode::InvalidAcl);
                    }
                }
                _ => return Err(ErrorCode::InvalidAcl),
            }
        }
        if out.is_empty() {
            return Err(ErrorCode::InvalidAcl);
        }
        Ok(out)
    }
}

/// `user:password` → `user:base64(sha1("user:password"))`, ZooKeeper's
/// `DigestAuthenticationProvider.generateDigest` (the user is everything before the first
/// colon).
pub fn digest_id(user_password: &str) -> Option<String> {
    let (user, _) = user_password.split_once(':')?;
    let hash = Sha1::digest(user_password.as_bytes());
    Some(format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    ))
}

/// A digest ACL id is `user:hash`: exactly one colon, as ZooKeeper's `isValid` requires.
fn valid_digest_id(id: &str) -> bool {
    id.split(':').count() == 2
}

/// `a.b.c.d`, `a.b.c.d/bits` (or IPv6 equivalents).
fn parse_cidr(text: &str) -> Option<(IpAddr, u32)> {
    let (addr, bits) = match text.split_once('/') {
        Some((a, b)) => (a, Some(b.parse::<u32>().ok()?)),
        None => (text, None),
    };
    let addr: IpAddr = addr.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(max);
    (bits <= max).then_some((addr, bits))
}

/// Does the client address `client` fall in the ACL's `pattern` (address or CIDR)?
fn ip_matches(pattern: &str, client: &str) -> bool {
    let (Some((net, bits)), Ok(addr)) = (parse_cidr(pattern), client.parse::<IpAddr>()) else {
        return false;
    };
    match (net, addr) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::perms;

    fn local() -> AuthInfo {
        AuthInfo::new("127.0.0.1".parse().unwrap())
    }

    fn acl(perms: i32, scheme: &str, id: &str) -> Acl {
        Acl {
            perms,
            id: Id {
                scheme: scheme.into(),
                id: id.into(),
            },
        }
    }

    #[test]
    fn digest_matches_zookeepers_generate_digest() {
        // Printed by ZooKeeper 3.8's own `DigestAuthenticationProvider super:superpw
        // alice:secret` (its main method).
        assert_eq!(
            digest_id("super:superpw").unwrap(),
            "super:g9oN2HttPfn8MMWJZ2r45Np/LIA="
        );
        assert_eq!(
            digest_id("alice:secret").unwrap(),
            "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E="
        );
        assert_eq!(digest_id("no-colon"), None);
    }

    #[test]
    fn world_anyone_allows_its_bits_only() {
        let a = local();
        let read_only = vec![acl(perms::READ, "world", "anyone")];
        assert!(a.allows(&read_only, perms::READ));
        assert!(!a.allows(&read_only, perms::WRITE));
        assert!(!a.allows(&[acl(perms::ALL, "world", "someone")], perms::READ));
    }

    #[test]
    fn digest_acl_needs_the_matching_addauth() {
        let id = digest_id("alice:secret").unwrap();
        let node = vec![acl(perms::ALL, "digest", &id)];
        let mut a = local();
        assert!(!a.allows(&node, perms::READ));
        a.add("digest", b"alice:wrong").unwrap();
        assert!(!a.allows(&node, perms::READ));
        a.add("digest", b"alice:secret").unwrap();
        assert!(a.allows(&node, perms::DELETE));
    }

    #[test]
    fn unsupported_schemes_fail_addauth() {
        let mut a = local();
        assert_eq!(a.add("sasl", b"x"), Err(ErrorCode::AuthFailed));
        assert_eq!(a.add("digest", b"nocolon"), Err(ErrorCode::AuthFailed));
    }

    #[test]
    fn ip_acls_match_addresses_and_ranges() {
        let a = local();
        assert!(a.allows(&[acl(perms::READ, "ip", "127.0.0.1")], perms::READ));
        assert!(a.allows(&[acl(perms::READ, "ip", "127.0.0.0/8")], perms::READ));
        assert!(!a.allows(&[acl(perms::READ, "ip", "10.0.0.0/8")], perms::READ));
        assert!(!a.allows(&[acl(perms::READ, "ip", "garbage")], perms::READ));
    }

    #[test]
    fn fixup_expands_auth_and_rejects_bad_entries() {
        let mut a = local();
        assert_eq!(
            a.fixup(&[acl(perms::ALL, "auth", "")]),
            Err(ErrorCode::InvalidAcl)
        );
        a.add("digest", b"bob:pw").unwrap();
        let fixed = a.fixup(&[acl(perms::ALL, "auth", "")]).unwrap();
        assert_eq!(
            fixed,
            vec![acl(perms::ALL, "digest", &digest_id("bob:pw").unwrap())]
        );
        for bad in [
            acl(perms::ALL, "world", "nobody"),
            acl(perms::ALL, "digest", "no-hash"),
            acl(perms::ALL, "ip", "999.1.1.1"),
            acl(perms::ALL, "kerberos", "x"),
        ] {
            assert_eq!(
                a.fixup(std::slice::from_ref(&bad)),
                Err(ErrorCode::InvalidAcl),
                "{bad:?}"
            );
        }
        assert_eq!(a.fixup(&[]), Err(ErrorCode::InvalidAcl));
    }
}
