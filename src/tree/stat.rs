//! A znode's `Stat` and what kind of node it is.

use crate::ids::Zxid;
use serde::{Deserialize, Serialize};

/// ZooKeeper's `Stat`, as a client sees it.
///
/// Two fields differ from what ZooKeeper persists (`StatPersisted`), and they are kept the way a
/// client sees them so that reads need no translation:
/// - `cversion` counts child creations *and* deletions. ZooKeeper persists only the number of
///   creations and reports `2 * creations - numChildren`; the tree keeps the creation count
///   separately because sequential names come from it. (This is why a fresh `/` shows
///   `cversion = -1`: its `zookeeper` child was added without a creation.)
/// - `ephemeral_owner` is the owning session for an ephemeral node and 0 for everything else,
///   including containers and TTL nodes, whose persisted owner field encodes their kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Stat {
    /// The zxid of the txn that created the node.
    pub czxid: Zxid,
    /// The zxid of the txn that last changed the node's data.
    pub mzxid: Zxid,
    /// Leader time (ms since the epoch) of the creation.
    pub ctime: i64,
    /// Leader time of the last data change.
    pub mtime: i64,
    /// Number of data changes.
    pub version: i32,
    /// Number of child changes (creations + deletions), see above.
    pub cversion: i32,
    /// Number of ACL changes.
    pub aversion: i32,
    pub ephemeral_owner: i64,
    pub data_length: i32,
    pub num_children: i32,
    /// The zxid of the txn that last created or deleted a child.
    pub pzxid: Zxid,
}

/// The persisted owner value of a container node (ZooKeeper's `CONTAINER_EPHEMERAL_OWNER`).
pub(crate) const CONTAINER_OWNER: i64 = i64::MIN;
const EXTENDED_MASK: u64 = 0xff00_0000_0000_0000;
const RESERVED_BITS_MASK: u64 = 0x00ff_ff00_0000_0000;
/// The largest TTL ZooKeeper can encode in the owner field: 2^40 - 1 ms (about 34 years).
pub const MAX_TTL_MS: i64 = 0x0000_00ff_ffff_ffff;

/// What kind of node this is. ZooKeeper encodes it in the persisted `ephemeralOwner` (0 for
/// persistent, `i64::MIN` for containers, `0xff..` + TTL for TTL nodes, else the session);
/// that encoding is what snapshots store and the digest covers, so a session id is only valid
/// if it cannot be mistaken for one of the other kinds (see [`NodeKind::from_owner`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeKind {
    Persistent,
    /// Deleted when its session closes; cannot have children.
    Ephemeral {
        session: i64,
    },
    /// Deleted by the leader once its last child has gone (see `container_candidates`).
    Container,
    /// Deleted by the leader once it has had no children and no data change for `ttl_ms`
    /// (see `ttl_candidates`).
    Ttl {
        ttl_ms: i64,
    },
}

impl NodeKind {
    /// ZooKeeper's persisted `ephemeralOwner` for this kind.
    pub fn owner(self) -> i64 {
        match self {
            NodeKind::Persistent => 0,
            NodeKind::Ephemeral { session } => session,
            NodeKind::Container => CONTAINER_OWNER,
            // `EXTENDED_MASK | ttl` as an i64: the top byte set, the TTL in the low 40 bits.
            NodeKind::Ttl { ttl_ms } => (EXTENDED_MASK as i64) | (ttl_ms & MAX_TTL_MS),
        }
    }

    /// Decode a persisted owner. `None` for a value no valid node can carry: an extended-type
    /// value with reserved bits set or a zero/negative TTL.
    pub fn from_owner(owner: i64) -> Option<NodeKind> {
        let bits = owner as u64;
        if owner == 0 {
            Some(NodeKind::Persistent)
        } else if owner == CONTAINER_OWNER {
            Some(NodeKind::Container)
        } else if bits & EXTENDED_MASK == EXTENDED_MASK {
            let ttl_ms = owner & MAX_TTL_MS;
            (bits & RESERVED_BITS_MASK == 0 && ttl_ms > 0).then_some(NodeKind::Ttl { ttl_ms })
        } else {
            Some(NodeKind::Ephemeral { session: owner })
        }
    }

    /// What a client sees in `Stat.ephemeralOwner` (ZooKeeper's `getClientEphemeralOwner`).
    pub fn client_owner(self) -> i64 {
        match self {
            NodeKind::Ephemeral { session } => session,
            _ => 0,
        }
    }

    /// A session id is usable only if its owner encoding means "ephemeral of this session";
    /// ZooKeeper guarantees this by limiting server ids to 254 when TTL nodes are enabled.
    pub fn is_valid_session_id(session: i64) -> bool {
        NodeKind::from_owner(session) == Some(NodeKind::Ephemeral { session })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_encoding_round_trips() {
        for kind in [
            NodeKind::Persistent,
            NodeKind::Container,
            NodeKind::Ephemeral {
                session: 0x0100_0000_0000_0001,
            },
            NodeKind::Ephemeral {
                session: 0x8100_0000_0000_0001_u64 as i64,
            },
            NodeKind::Ttl { ttl_ms: 1 },
            NodeKind::Ttl { ttl_ms: MAX_TTL_MS },
        ] {
            assert_eq!(NodeKind::from_owner(kind.owner()), Some(kind), "{kind:?}");
        }
        assert_eq!(
            NodeKind::Ttl { ttl_ms: 5 }.owner() as u64,
            0xff00_0000_0000_0005
        );
        assert_eq!(NodeKind::Container.client_owner(), 0);
        assert_eq!(NodeKind::Ttl { ttl_ms: 5 }.client_owner(), 0);
    }

    #[test]
    fn reserved_owner_values_are_not_sessions() {
        assert!(!NodeKind::is_valid_session_id(0));
        assert!(!NodeKind::is_valid_session_id(i64::MIN));
        assert!(!NodeKind::is_valid_session_id(
            0xff00_0000_0000_0005_u64 as i64
        ));
        assert!(!NodeKind::is_valid_session_id(-1)); // 0xffff...: an extended type
        assert!(NodeKind::is_valid_session_id(0x0100_0000_0000_0001));
        assert_eq!(NodeKind::from_owner(0xff01_0000_0000_0005_u64 as i64), None);
        assert_eq!(NodeKind::from_owner(0xff00_0000_0000_0000_u64 as i64), None);
    }
}
