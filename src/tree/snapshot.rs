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

use super::datatree::{shared_acl, DataTree, Name, Node};
use super::path::{split, validate_path, MAX_DATA_LEN, SPECIAL_PATHS};
use super::stat::NodeKind;
use super::txn::{bytes, Acl};
use super::TreeError;
use crate::ids::Zxid;
use serde::{Deserialize, Serialize};

const MAGIC: [u8; 8] = *b"ZABDTREE";
const FORMAT_VERSION: u32 = 1;
const HEADER_LEN: usize = MAGIC.len() + 4;

fn config() -> bincode::config::Configuration<bincode::config::BigEndian, bincode::config::Fixint> {
    bincode::config::standard()
        .with_big_endian()
        .with_fixed_int_encoding()
}

/// Everything before the nodes. The image is `bincode(SnapshotHead)`, then the node count
/// (u64) and the nodes, each laid out exactly as bincode encodes [`NodeIn`] (which decodes
/// it): the whole body is therefore one bincode value, `SnapshotIn`.
#[derive(Serialize)]
struct SnapshotHead {
    last_applied: Zxid,
    digest: u64,
    sessions: Vec<(i64, i32)>,
}

/// Bytes of a node record's fixed-width fields: czxid, mzxid, ctime, mtime (8 each),
/// version, cversion, aversion (4 each), ephemeralOwner and pzxid (8 each).
const NODE_FIXED_LEN: usize = 4 * 8 + 3 * 4 + 2 * 8;

/// The encoded length of one node record (see [`encode_node`]) at a path this long.
pub(super) fn node_len(path_len: usize, n: &Node) -> usize {
    let acl: usize = n
        .acl
        .iter()
        .map(|a| 4 + 8 + a.id.scheme.len() + 8 + a.id.id.len())
        .sum();
    8 + path_len + 8 + n.data.len() + 8 + acl + NODE_FIXED_LEN
}

/// Nodes encoded per batch by [`DataTree::write_snapshot`]. In a large tree a node, its path
/// and its data are three heap blocks scattered over memory, so encoding one node after the
/// other waits for about three cache misses per node, one after another (the copies stalled on
/// them were 40% of a snapshot's samples). A batch first loads every path and node in it, then
/// every node's data, so that the misses overlap.
const PREFETCH_BATCH: usize = 16;

/// Load the first byte at `bytes` and discard it: independent loads like this, one per node of
/// a batch, are in flight together, so the cache misses they take overlap. (A prefetch
/// instruction would do the same without waiting for the loads, but needs `unsafe`.)
#[inline(always)]
fn touch(bytes: &[u8]) -> u8 {
    bytes.first().copied().unwrap_or(0)
}

/// Append one node record: bincode's big-endian fixed-int layout of [`NodeIn`], written by
/// hand because the serde encoder's per-field calls made snapshots of large trees the
/// biggest CPU cost of a busy server. Tests check it byte for byte against serde.
fn encode_node(out: &mut Vec<u8>, path: &str, n: &Node) {
    fn bytes(out: &mut Vec<u8>, b: &[u8]) {
        out.extend_from_slice(&(b.len() as u64).to_be_bytes());
        out.extend_from_slice(b);
    }
    bytes(out, path.as_bytes());
    bytes(out, &n.data);
    out.extend_from_slice(&(n.acl.len() as u64).to_be_bytes());
    for a in n.acl.iter() {
        out.extend_from_slice(&a.perms.to_be_bytes());
        bytes(out, a.id.scheme.as_bytes());
        bytes(out, a.id.id.as_bytes());
    }
    out.extend_from_slice(&n.stat.czxid.0.to_be_bytes());
    out.extend_from_slice(&n.stat.mzxid.0.to_be_bytes());
    out.extend_from_slice(&n.stat.ctime.to_be_bytes());
    out.extend_from_slice(&n.stat.mtime.to_be_bytes());
    out.extend_from_slice(&n.stat.version.to_be_bytes());
    out.extend_from_slice(&n.creates.to_be_bytes());
    out.extend_from_slice(&n.stat.aversion.to_be_bytes());
    out.extend_from_slice(&n.kind.owner().to_be_bytes());
    out.extend_from_slice(&n.stat.pzxid.0.to_be_bytes());
}

/// The reference encoding through serde, which [`encode_node`] must match: the decoder's own
/// types, filled from the tree and encoded by bincode.
#[cfg(test)]
pub(super) mod reference {
    use super::*;

    /// The snapshot image as serde would encode it.
    pub fn serialize(tree: &DataTree) -> Vec<u8> {
        let body = SnapshotIn {
            last_applied: tree.last_applied,
            digest: tree.digest(),
            sessions: tree.sessions(),
            nodes: tree
                .nodes
                .iter()
                .map(|(path, n)| NodeIn {
                    path: path.to_string(),
                    data: n.data.to_vec(),
                    acl: n.acl.to_vec(),
                    czxid: n.stat.czxid,
                    mzxid: n.stat.mzxid,
                    ctime: n.stat.ctime,
                    mtime: n.stat.mtime,
                    version: n.stat.version,
                    cversion: n.creates,
                    aversion: n.stat.aversion,
                    ephemeral_owner: n.kind.owner(),
                    pzxid: n.stat.pzxid,
                })
                .collect(),
        };
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
        bincode::serde::encode_into_std_write(&body, &mut out, config()).expect("encodes");
        out
    }
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize))]
struct SnapshotIn {
    last_applied: Zxid,
    digest: u64,
    sessions: Vec<(i64, i32)>,
    nodes: Vec<NodeIn>,
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize))]
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
        let mut out = Vec::with_capacity(HEADER_LEN + self.approximate_data_size() as usize);
        self.write_snapshot(&mut out)?;
        Ok(out)
    }

    /// [`DataTree::serialize_snapshot`]'s bytes, written to `out` as they are encoded.
    pub fn write_snapshot(&self, out: &mut dyn std::io::Write) -> Result<(), TreeError> {
        const CHUNK: usize = 64 << 10;
        let io = |e| bincode::error::EncodeError::Io { inner: e, index: 0 };
        let mut buf = Vec::with_capacity(2 * CHUNK);
        buf.extend_from_slice(&MAGIC);
        buf.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
        bincode::serde::encode_into_std_write(self.snapshot_head(), &mut buf, config())?;
        buf.extend_from_slice(&(self.nodes.len() as u64).to_be_bytes());
        let mut nodes = self.nodes.iter();
        let mut batch = Vec::with_capacity(PREFETCH_BATCH);
        loop {
            batch.clear();
            batch.extend(nodes.by_ref().take(PREFETCH_BATCH));
            if batch.is_empty() {
                break;
            }
            let mut touched = 0u8;
            for (path, n) in &batch {
                touched ^= touch(path.as_bytes()) ^ (n.creates as u8);
            }
            for (_, n) in &batch {
                touched ^= touch(&n.data);
            }
            std::hint::black_box(touched);
            for (path, n) in &batch {
                encode_node(&mut buf, path, n);
            }
            if buf.len() >= CHUNK {
                out.write_all(&buf).map_err(io)?;
                buf.clear();
            }
        }
        out.write_all(&buf).map_err(io)?;
        Ok(())
    }

    /// The exact length of [`DataTree::serialize_snapshot`]'s output, without a pass over the
    /// nodes (the tree keeps their total as it changes; the snapshot file's header states the
    /// length up front).
    pub fn snapshot_len(&self) -> Result<u64, TreeError> {
        let mut size = bincode::enc::write::SizeWriter::default();
        bincode::serde::encode_into_writer(self.snapshot_head(), &mut size, config())?;
        Ok((HEADER_LEN + size.bytes_written + 8) as u64 + self.snapshot_nodes_len())
    }

    fn snapshot_head(&self) -> SnapshotHead {
        SnapshotHead {
            last_applied: self.last_applied,
            digest: self.digest(),
            sessions: self.sessions(),
        }
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
        let mut node = Node::new(&n.data, shared_acl(n.acl), kind, n.czxid, n.ctime);
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
