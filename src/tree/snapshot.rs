//! Snapshot images of the tree: everything needed to resume applying txns.
//!
//! Layout: the 8-byte magic `ZABDTREE`, a big-endian `u32` format version, then a bincode 2
//! body (big-endian, fixed-width integers, like every other encoding in the crate) holding the
//! last applied zxid, the digest, the sessions and every node in path order. Only persisted
//! fields are stored; children, counts and the per-node digests are rebuilt on load, and the
//! loader refuses anything this module could not have produced (paths out of order, missing
//! parents, children of ephemerals, ephemerals of unknown sessions, undefined owner values,
//! a digest that does not match the rebuilt tree).
//!
//! Taking a snapshot while writes continue: `let snap = tree.clone();` (O(1), the maps are
//! persistent) and call `snap.serialize_snapshot()` on another thread.

use super::datatree::{DataTree, Name, Node};
use super::path::{split, validate_path, MAX_DATA_LEN, SPECIAL_PATHS};
use super::stat::NodeKind;
use super::txn::{bytes, Acl};
use super::TreeError;
use crate::ids::Zxid;
use imbl::OrdMap;
use serde::ser::SerializeSeq;
use serde::{Deserialize, Serialize, Serializer};
use std::sync::Arc;

const MAGIC: [u8; 8] = *b"ZABDTREE";
const FORMAT_VERSION: u32 = 1;
const HEADER_LEN: usize = MAGIC.len() + 4;

fn config() -> bincode::config::Configuration<bincode::config::BigEndian, bincode::config::Fixint> {
    bincode::config::standard()
        .with_big_endian()
        .with_fixed_int_encoding()
}

#[derive(Serialize)]
struct SnapshotOut<'a> {
    last_applied: Zxid,
    digest: u64,
    sessions: Vec<(i64, i32)>,
    nodes: NodesOut<'a>,
}

/// Streams the nodes straight out of the map, without an intermediate `Vec`.
struct NodesOut<'a>(&'a OrdMap<Name, Arc<Node>>);

impl Serialize for NodesOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for (path, n) in self.0.iter() {
            seq.serialize_element(&NodeOut {
                path,
                data: &n.data,
                acl: &n.acl,
                czxid: n.stat.czxid,
                mzxid: n.stat.mzxid,
                ctime: n.stat.ctime,
                mtime: n.stat.mtime,
                version: n.stat.version,
                cversion: n.creates,
                aversion: n.stat.aversion,
                ephemeral_owner: n.kind.owner(),
                pzxid: n.stat.pzxid,
            })?;
        }
        seq.end()
    }
}

/// ZooKeeper's persisted node: data, ACL and `StatPersisted` (cversion = creations, owner =
/// the kind encoding).
#[derive(Serialize)]
struct NodeOut<'a> {
    path: &'a str,
    #[serde(serialize_with = "bytes::serialize")]
    data: &'a [u8],
    acl: &'a [Acl],
    czxid: Zxid,
    mzxid: Zxid,
    ctime: i64,
    mtime: i64,
    version: i32,
    cversion: i32,
    aversion: i32,
    ephemeral_owner: i64,
    pzxid: Zxid,
}

#[derive(Deserialize)]
struct SnapshotIn {
    last_applied: Zxid,
    digest: u64,
    sessions: Vec<(i64, i32)>,
    nodes: Vec<NodeIn>,
}

#[derive(Deserialize)]
struct NodeIn {
    path: String,
    #[serde(with = "bytes")]
    data: Vec<u8>,
    acl: Vec<Acl>,
    czxid: Zxid,
    mzxid: Zxid,
    ctime: i64,
    mtime: i64,
    version: i32,
    cversion: i32,
    aversion: i32,
    ephemeral_owner: i64,
    pzxid: Zxid,
}

impl DataTree {
    /// Encode the whole tree. Clone the tree first to do this off the apply thread.
    pub fn serialize_snapshot(&self) -> Result<Vec<u8>, TreeError> {
        let body = SnapshotOut {
            last_applied: self.last_applied,
            digest: self.digest(),
            sessions: self.sessions(),
            nodes: NodesOut(&self.nodes),
        };
        let mut out = Vec::with_capacity(HEADER_LEN + self.approximate_data_size() as usize);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
        bincode::serde::encode_into_std_write(&body, &mut out, config())?;
        Ok(out)
    }

    /// Rebuild a tree from [`DataTree::serialize_snapshot`]'s output. Garbage, truncation and
    /// well-formed but inconsistent images are all errors; none can panic, and none can make
    /// the decoder allocate much more than the input's size.
    pub fn from_snapshot(bytes: &[u8]) -> Result<DataTree, TreeError> {
        let (magic, rest) = bytes
            .split_at_checked(MAGIC.len())
            .ok_or(TreeError::BadMagic)?;
        if magic != MAGIC {
            return Err(TreeError::BadMagic);
        }
        let (version, body) = rest.split_first_chunk::<4>().ok_or_else(|| {
            bincode::error::DecodeError::UnexpectedEnd {
                additional: 4usize.saturating_sub(rest.len()),
            }
        })?;
        let version = u32::from_be_bytes(*version);
        if version != FORMAT_VERSION {
            return Err(TreeError::UnsupportedVersion(version));
        }
        let (snap, used) = decode_body(body)?;
        if used != body.len() {
            return Err(TreeError::TrailingBytes(body.len() - used));
        }
        rebuild(snap)
    }
}

/// Decode with bincode's limit set to the smallest tier (x4 steps from 1 MiB) that holds the
/// input: every length claim in the body must fit in the limit, so a lying length can cost at
/// most a few times the input size before the short read is noticed. The limit is a const
/// generic in bincode 2, hence the tiers.
fn decode_body(body: &[u8]) -> Result<(SnapshotIn, usize), TreeError> {
    macro_rules! tiers {
        ($($limit:expr),*) => {
            $(
                if body.len() <= $limit {
                    return Ok(bincode::serde::decode_from_slice(
                        body,
                        config().with_limit::<{ $limit }>(),
                    )?);
                }
            )*
        };
    }
    tiers!(1 << 20, 1 << 22, 1 << 24, 1 << 26, 1 << 28, 1 << 30);
    #[cfg(target_pointer_width = "64")]
    tiers!(1 << 32, 1 << 34, 1 << 36, 1 << 38, 1 << 40);
    Err(TreeError::SnapshotTooLarge(body.len()))
}

fn bad(why: String) -> TreeError {
    TreeError::Inconsistent(why)
}

fn rebuild(snap: SnapshotIn) -> Result<DataTree, TreeError> {
    let mut tree = DataTree::empty();
    let mut prev_session: Option<i64> = None;
    for (id, timeout) in snap.sessions {
        if !NodeKind::is_valid_session_id(id) {
            return Err(bad(format!("invalid session id {id:#x}")));
        }
        if prev_session.is_some_and(|p| p >= id) {
            return Err(bad("sessions not strictly increasing".to_owned()));
        }
        prev_session = Some(id);
        tree.sessions.insert(id, timeout);
    }

    let mut prev_path: Option<Name> = None;
    for n in snap.nodes {
        validate_path(&n.path).map_err(|e| bad(format!("node path {:?}: {e}", n.path)))?;
        if prev_path.as_deref().is_some_and(|p| p >= n.path.as_str()) {
            return Err(bad(format!("node {:?} out of order", n.path)));
        }
        let kind = NodeKind::from_owner(n.ephemeral_owner)
            .ok_or_else(|| bad(format!("node {:?}: invalid ephemeral owner", n.path)))?;
        if let NodeKind::Ephemeral { session } = kind {
            if !tree.sessions.contains_key(&session) {
                return Err(bad(format!("ephemeral {:?} of unknown session", n.path)));
            }
        }
        if n.data.len() > MAX_DATA_LEN {
            return Err(bad(format!("node {:?}: data too large", n.path)));
        }
        if n.acl.is_empty() {
            return Err(bad(format!("node {:?}: empty ACL", n.path)));
        }
        let path: Name = n.path.into();
        if let Some((parent, name)) = split(&path) {
            let parent_kind = tree
                .nodes
                .get(parent)
                .map(|p| p.kind)
                .ok_or_else(|| bad(format!("node {path:?} without its parent")))?;
            if matches!(parent_kind, NodeKind::Ephemeral { .. }) {
                return Err(bad(format!("node {path:?} under an ephemeral")));
            }
            let name: Name = name.into();
            tree.modify(parent, |p| {
                p.children.insert(name);
            });
        }
        let mut node = Node::new(&n.data, Arc::from(n.acl), kind, n.czxid, n.ctime);
        node.stat.mzxid = n.mzxid;
        node.stat.mtime = n.mtime;
        node.stat.version = n.version;
        node.stat.aversion = n.aversion;
        node.stat.pzxid = n.pzxid;
        node.creates = n.cversion;
        tree.put_node(path.clone(), node);
        tree.register(&path, kind);
        prev_path = Some(path);
    }
    for special in SPECIAL_PATHS {
        if !tree.exists(special) {
            return Err(bad(format!("missing {special}")));
        }
    }
    tree.last_applied = snap.last_applied;
    if tree.digest() != snap.digest {
        return Err(bad(format!(
            "digest {:#x} of the rebuilt tree differs from the recorded {:#x}",
            tree.digest(),
            snap.digest
        )));
    }
    Ok(tree)
}
