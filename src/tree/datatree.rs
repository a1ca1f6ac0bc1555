//! The znode tree and the deterministic application of transactions to it.
//!
//! All state lives in persistent (structural-sharing) `imbl` maps, so `clone()` is O(1): a
//! snapshot is taken by cloning the tree and serializing the clone on another thread while
//! writes go on, and a multi is applied to a clone that either replaces the tree (all ops
//! succeeded) or is dropped (one failed) — all or nothing without an undo log. Keys and values
//! are `Arc`s so that the B-tree's path copying only bumps reference counts.

use super::code::ErrorCode;
use super::digest::{data_digest, node_digest, DigestFields};
use super::path::{is_special, split, validate_path, validate_sequential_prefix, MAX_DATA_LEN};
use super::snapshot::node_len;
use super::stat::{NodeKind, Stat, MAX_TTL_MS};
use super::txn::{Acl, ChangeEvent, CreateMode, Op, OpResult, Txn, TxnHeader, TxnResult};
use super::TreeError;
use crate::ids::Zxid;
use imbl::{OrdMap, OrdSet};
use std::sync::Arc;

/// Interned path or child name.
pub(crate) type Name = Arc<str>;

/// One znode. `stat` is kept in its client-visible form; `creates` (the persisted cversion)
/// and `kind` (the persisted owner) are the sources it is derived from.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) data: Arc<[u8]>,
    pub(crate) acl: Arc<[Acl]>,
    pub(crate) stat: Stat,
    pub(crate) kind: NodeKind,
    /// Child creations ever: ZooKeeper's persisted `cversion`, the sequential-name counter.
    pub(crate) creates: i32,
    pub(crate) children: OrdSet<Name>,
    data_digest: u64,
    digest: u64,
}

impl Node {
    pub(crate) fn new(data: &[u8], acl: Arc<[Acl]>, kind: NodeKind, zxid: Zxid, time: i64) -> Node {
        Node {
            data: Arc::from(data),
            acl,
            stat: Stat {
                czxid: zxid,
                mzxid: zxid,
                ctime: time,
                mtime: time,
                pzxid: zxid,
                ..Stat::default()
            },
            kind,
            creates: 0,
            children: OrdSet::new(),
            data_digest: data_digest(data),
            digest: 0,
        }
    }

    pub(crate) fn set_data(&mut self, data: &[u8]) {
        self.data = Arc::from(data);
        self.data_digest = data_digest(data);
    }

    /// Recompute everything derived: the client-visible stat fields and the digest.
    fn refresh(&mut self, path: &str) {
        let num_children = i32::try_from(self.children.len()).unwrap_or(i32::MAX);
        self.stat.num_children = num_children;
        self.stat.data_length = i32::try_from(self.data.len()).unwrap_or(i32::MAX);
        self.stat.cversion = self.creates.wrapping_mul(2).wrapping_sub(num_children);
        self.stat.ephemeral_owner = self.kind.client_owner();
        self.digest = node_digest(&DigestFields {
            path,
            data_len: self.data.len(),
            data_digest: self.data_digest,
            acl: &self.acl,
            czxid: self.stat.czxid.0,
            mzxid: self.stat.mzxid.0,
            pzxid: self.stat.pzxid.0,
            ctime: self.stat.ctime,
            mtime: self.stat.mtime,
            version: self.stat.version,
            creates: self.creates,
            aversion: self.stat.aversion,
            owner: self.kind.owner(),
        });
    }
}

/// One node's share of the totals the tree keeps current (digest, `approximate_data_size`,
/// snapshot length), taken before and after every change.
#[derive(Debug, Clone, Copy)]
struct NodeTotals {
    digest: u64,
    /// Path plus data bytes, as ZooKeeper's `approximateDataSize` counts them.
    data_size: u64,
    snapshot_len: u64,
}

impl NodeTotals {
    fn of(path_len: usize, node: &Node) -> NodeTotals {
        NodeTotals {
            digest: node.digest,
            data_size: (path_len + node.data.len()) as u64,
            snapshot_len: node_len(path_len, node) as u64,
        }
    }
}

/// The replicated znode tree plus the sessions that own its ephemerals.
#[derive(Debug, Clone)]
pub struct DataTree {
    pub(crate) nodes: OrdMap<Name, Arc<Node>>,
    /// Session id → its ephemeral paths.
    ephemerals: OrdMap<i64, OrdSet<Name>>,
    containers: OrdSet<Name>,
    ttls: OrdSet<Name>,
    /// Session id → negotiated timeout (ZooKeeper keeps this beside the tree and snapshots it).
    pub(crate) sessions: OrdMap<i64, i32>,
    pub(crate) last_applied: Zxid,
    digest: u64,
    data_size: u64,
    /// Bytes the nodes take in a snapshot image, kept like the digest so that a snapshot
    /// knows its length (written first, in the file's header) without a pass over the tree.
    snapshot_nodes_len: u64,
}

impl Default for DataTree {
    fn default() -> Self {
        DataTree::new()
    }
}

impl DataTree {
    /// A fresh tree as ZooKeeper's `DataTree()` builds it: `/`, `/zookeeper`,
    /// `/zookeeper/quota` and `/zookeeper/config`, all empty with zeroed stats, open ACLs
    /// except `/zookeeper/config` (read-only for everyone, and `aversion = -1` because ZooKeeper
    /// sets that ACL with version -1). The children are attached without counting as
    /// creations, so `/` shows cversion -1 and `/zookeeper` -2, as in ZooKeeper.
    pub fn new() -> DataTree {
        let mut tree = DataTree::empty();
        let open: Arc<[Acl]> = Arc::from(Acl::open_unsafe());
        let zero = Zxid(0);
        tree.put_node(
            "/".into(),
            Node::new(&[], open.clone(), NodeKind::Persistent, zero, 0),
        );
        for (parent, path) in [
            ("/", "/zookeeper"),
            ("/zookeeper", "/zookeeper/quota"),
            ("/zookeeper", "/zookeeper/config"),
        ] {
            let mut node = Node::new(&[], open.clone(), NodeKind::Persistent, zero, 0);
            if path == "/zookeeper/config" {
                node.acl = Arc::from(Acl::read_unsafe());
                node.stat.aversion = -1;
            }
            tree.put_node(path.into(), node);
            if let Some((_, name)) = split(path) {
                let name: Name = name.into();
                tree.modify(parent, |p| {
                    p.children.insert(name);
                });
            }
        }
        tree
    }

    /// A tree without even a root; only for building one up (here and from a snapshot).
    pub(crate) fn empty() -> DataTree {
        DataTree {
            nodes: OrdMap::new(),
            ephemerals: OrdMap::new(),
            containers: OrdSet::new(),
            ttls: OrdSet::new(),
            sessions: OrdMap::new(),
            last_applied: Zxid(0),
            digest: 0,
            data_size: 0,
            snapshot_nodes_len: 0,
        }
    }

    // ---- reads ----

    /// The node's data and stat.
    pub fn get(&self, path: &str) -> Option<(&[u8], &Stat)> {
        self.nodes.get(path).map(|n| (&n.data[..], &n.stat))
    }

    pub fn stat(&self, path: &str) -> Option<&Stat> {
        self.nodes.get(path).map(|n| &n.stat)
    }

    pub fn exists(&self, path: &str) -> bool {
        self.nodes.contains_key(path)
    }

    /// The node's child names (not paths), sorted by their UTF-8 bytes.
    pub fn children(&self, path: &str) -> Option<Vec<String>> {
        self.nodes
            .get(path)
            .map(|n| n.children.iter().map(|c| c.to_string()).collect())
    }

    pub fn acl(&self, path: &str) -> Option<&[Acl]> {
        self.nodes.get(path).map(|n| &n.acl[..])
    }

    pub fn node_kind(&self, path: &str) -> Option<NodeKind> {
        self.nodes.get(path).map(|n| n.kind)
    }

    /// The session's ephemeral paths, sorted (empty for an unknown session).
    pub fn ephemerals(&self, session_id: i64) -> Vec<String> {
        self.ephemerals
            .get(&session_id)
            .map(|s| s.iter().map(|p| p.to_string()).collect())
            .unwrap_or_default()
    }

    /// The number of znodes. ZooKeeper's `zk_znode_count` is one more: its node map holds the
    /// root under both "" and "/".
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Sum of path lengths and data lengths over all nodes, in bytes (ZooKeeper's
    /// `approximateDataSize`, which also counts the root a second time under "" and measures
    /// paths in UTF-16 units).
    pub fn approximate_data_size(&self) -> u64 {
        self.data_size
    }

    pub fn ephemeral_count(&self) -> usize {
        self.ephemerals.values().map(|s| s.len()).sum()
    }

    /// Live sessions and their timeouts (ms), sorted by session id.
    pub fn sessions(&self) -> Vec<(i64, i32)> {
        self.sessions.iter().map(|(s, t)| (*s, *t)).collect()
    }

    pub fn session_timeout(&self, session_id: i64) -> Option<i32> {
        self.sessions.get(&session_id).copied()
    }

    /// The order-independent digest of every node (see the `digest` module). Two replicas
    /// that applied the same txns have the same digest.
    pub fn digest(&self) -> u64 {
        self.digest
    }

    /// The zxid of the last txn applied (0 for a fresh tree).
    pub fn last_applied(&self) -> Zxid {
        self.last_applied
    }

    /// Container nodes the leader should delete (with [`Op::DeleteContainer`]): no children,
    /// and at least one child ever (ZooKeeper's `ContainerManager` spares a container that
    /// never had a child so that it is not deleted right after being created). Sorted.
    pub fn container_candidates(&self) -> Vec<String> {
        self.containers
            .iter()
            .filter(|p| {
                self.nodes
                    .get(&***p)
                    .is_some_and(|n| n.children.is_empty() && n.creates > 0)
            })
            .map(|p| p.to_string())
            .collect()
    }

    /// TTL nodes that have expired at `now_ms` (leader time): no children, and not modified
    /// for longer than their TTL (ZooKeeper's `ContainerManager.getCandidates`). Sorted.
    pub fn ttl_candidates(&self, now_ms: i64) -> Vec<String> {
        self.ttls
            .iter()
            .filter(|p| {
                self.nodes.get(&**p).is_some_and(|n| match n.kind {
                    NodeKind::Ttl { ttl_ms } => {
                        n.children.is_empty() && now_ms.saturating_sub(n.stat.mtime) > ttl_ms
                    }
                    _ => false,
                })
            })
            .map(|p| p.to_string())
            .collect()
    }

    // ---- apply ----

    /// Apply one txn. Conditions are evaluated here, against this tree, so the outcome is the
    /// same on every replica. A failed op (any ZooKeeper error code) is still an applied txn: it
    /// changes nothing but `last_applied`. The only `Err` is a txn out of zxid order, which is
    /// a bug in the caller and leaves the tree untouched.
    pub fn apply(&mut self, txn: &Txn) -> Result<TxnResult, TreeError> {
        let h = &txn.header;
        if h.zxid <= self.last_applied {
            return Err(TreeError::ZxidNotAfterLastApplied {
                zxid: h.zxid,
                last_applied: self.last_applied,
            });
        }
        let mut events = Vec::new();
        let result = match self.apply_op(h, &txn.op, false, &mut events) {
            Ok(r) => r,
            Err(code) => {
                events.clear();
                OpResult::Error(code)
            }
        };
        self.last_applied = h.zxid;
        Ok(TxnResult {
            session_id: h.session_id,
            cxid: h.cxid,
            zxid: h.zxid,
            result,
            events,
        })
    }

    /// Apply one op. On `Err` nothing has changed: every check comes before the first write.
    fn apply_op(
        &mut self,
        h: &TxnHeader,
        op: &Op,
        in_multi: bool,
        events: &mut Vec<ChangeEvent>,
    ) -> Result<OpResult, ErrorCode> {
        match op {
            Op::Create {
                path,
                data,
                acl,
                mode,
            } => self.create(h, path, data, acl, *mode, events),
            Op::Delete { path, version } => {
                self.delete(h, path, Some(*version), false, events)?;
                Ok(OpResult::Deleted)
            }
            Op::DeleteContainer { path } => {
                self.delete(h, path, None, true, events)?;
                Ok(OpResult::Deleted)
            }
            Op::SetData {
                path,
                data,
                version,
            } => self.set_data(h, path, data, *version, events),
            Op::Check { path, version } => {
                checked_path(path)?;
                let node = self.nodes.get(path.as_str()).ok_or(ErrorCode::NoNode)?;
                check_and_inc(node.stat.version, *version)?;
                Ok(OpResult::Checked)
            }
            Op::SetAcl { path, acl, version } => self.set_acl(path, acl, *version),
            Op::Error { code } => Err(*code),
            // Sessions and nesting are not multi ops in ZooKeeper; the decoder cannot even
            // produce them, but the type can.
            Op::CreateSession { .. } | Op::CloseSession | Op::Multi(_) if in_multi => {
                Err(ErrorCode::BadArguments)
            }
            Op::CreateSession { timeout_ms } => {
                if !NodeKind::is_valid_session_id(h.session_id) {
                    return Err(ErrorCode::BadArguments);
                }
                self.sessions.insert(h.session_id, *timeout_ms);
                Ok(OpResult::SessionCreated)
            }
            Op::CloseSession => {
                self.close_session(h, events);
                Ok(OpResult::SessionClosed)
            }
            Op::Multi(ops) => Ok(self.multi(h, ops, events)),
        }
    }

    fn multi(&mut self, h: &TxnHeader, ops: &[Op], events: &mut Vec<ChangeEvent>) -> OpResult {
        let mut scratch = self.clone();
        let mut scratch_events = Vec::new();
        let mut results = Vec::with_capacity(ops.len());
        for (i, op) in ops.iter().enumerate() {
            match scratch.apply_op(h, op, true, &mut scratch_events) {
                Ok(r) => results.push(r),
                Err(code) => {
                    let failed = (0..ops.len())
                        .map(|j| {
                            OpResult::Error(match j.cmp(&i) {
                                std::cmp::Ordering::Less => ErrorCode::Ok,
                                std::cmp::Ordering::Equal => code,
                                std::cmp::Ordering::Greater => ErrorCode::RuntimeInconsistency,
                            })
                        })
                        .collect();
                    return OpResult::Multi(failed);
                }
            }
        }
        *self = scratch;
        events.append(&mut scratch_events);
        OpResult::Multi(results)
    }

    /// ZooKeeper's create checks, in its order where it matters to a client: TTL and
    /// session, path, ACL, parent (NONODE), the name (NODEEXISTS), the parent's kind
    /// (NOCHILDRENFOREPHEMERALS).
    fn create(
        &mut self,
        h: &TxnHeader,
        path: &str,
        data: &[u8],
        acl: &[Acl],
        mode: CreateMode,
        events: &mut Vec<ChangeEvent>,
    ) -> Result<OpResult, ErrorCode> {
        if data.len() > MAX_DATA_LEN {
            return Err(ErrorCode::BadArguments);
        }
        let kind = match mode.ttl_ms() {
            Some(ttl_ms) if ttl_ms <= 0 || ttl_ms > MAX_TTL_MS => {
                return Err(ErrorCode::BadArguments)
            }
            Some(ttl_ms) => NodeKind::Ttl { ttl_ms },
            None if mode.is_container() => NodeKind::Container,
            None if mode.is_ephemeral() => {
                // An ephemeral of a session this tree does not know could never be removed.
                if !self.sessions.contains_key(&h.session_id) {
                    return Err(ErrorCode::SessionExpired);
                }
                NodeKind::Ephemeral {
                    session: h.session_id,
                }
            }
            None => NodeKind::Persistent,
        };
        let valid = if mode.is_sequential() {
            validate_sequential_prefix(path)
        } else {
            validate_path(path)
        };
        valid.map_err(|_| ErrorCode::BadArguments)?;
        let acl = normalize_acl(acl)?;
        if path == "/" && !mode.is_sequential() {
            return Err(ErrorCode::NodeExists);
        }
        // The parent is everything before the last '/' of the requested path; a sequential
        // "/q/" names a child of "/q" whose name is just the counter.
        let slash = path.rfind('/').ok_or(ErrorCode::BadArguments)?;
        let parent_path = if slash == 0 { "/" } else { &path[..slash] };
        let parent = self.nodes.get(parent_path).ok_or(ErrorCode::NoNode)?;
        let final_path = if mode.is_sequential() {
            // `%010d` of the parent's persisted cversion; Rust and Java agree on the sign
            // position for a (wrapped) negative counter.
            format!("{path}{:010}", parent.creates)
        } else {
            path.to_owned()
        };
        // ZooKeeper checks NODEEXISTS first, but an ephemeral parent has no children, so the
        // order cannot matter here.
        if matches!(parent.kind, NodeKind::Ephemeral { .. }) {
            return Err(ErrorCode::NoChildrenForEphemerals);
        }

        let final_path: Name = final_path.into();
        let zxid = h.zxid;
        let node = Node::new(data, acl, kind, zxid, h.time_ms);
        let stat = self
            .put_new_node(final_path.clone(), node)
            .ok_or(ErrorCode::NodeExists)?;
        let name: Name = final_path[slash + 1..].into();
        self.modify(parent_path, |p| {
            p.creates = p.creates.wrapping_add(1);
            p.stat.pzxid = zxid;
            p.children.insert(name);
        });
        self.register(&final_path, kind);
        events.push(ChangeEvent::NodeCreated(final_path.to_string()));
        events.push(ChangeEvent::NodeChildrenChanged(parent_path.to_owned()));
        Ok(OpResult::Created {
            path: final_path.to_string(),
            stat,
        })
    }

    /// `Delete` (with a version) and `DeleteContainer` (without; refuses anything but a
    /// container or TTL node with BADVERSION, as ZooKeeper refuses ephemerals).
    fn delete(
        &mut self,
        h: &TxnHeader,
        path: &str,
        version: Option<i32>,
        container_only: bool,
        events: &mut Vec<ChangeEvent>,
    ) -> Result<(), ErrorCode> {
        checked_path(path)?;
        if is_special(path) {
            return Err(ErrorCode::BadArguments);
        }
        let (parent_path, _) = split(path).ok_or(ErrorCode::BadArguments)?;
        if !self.nodes.contains_key(parent_path) {
            return Err(ErrorCode::NoNode);
        }
        let node = self.nodes.get(path).ok_or(ErrorCode::NoNode)?;
        if let Some(expected) = version {
            check_and_inc(node.stat.version, expected)?;
        }
        if !node.children.is_empty() {
            return Err(ErrorCode::NotEmpty);
        }
        if container_only && !matches!(node.kind, NodeKind::Container | NodeKind::Ttl { .. }) {
            return Err(ErrorCode::BadVersion);
        }
        self.remove_leaf(path, h.zxid, events);
        Ok(())
    }

    fn set_data(
        &mut self,
        h: &TxnHeader,
        path: &str,
        data: &[u8],
        version: i32,
        events: &mut Vec<ChangeEvent>,
    ) -> Result<OpResult, ErrorCode> {
        checked_path(path)?;
        if data.len() > MAX_DATA_LEN {
            return Err(ErrorCode::BadArguments);
        }
        let node = self.nodes.get(path).ok_or(ErrorCode::NoNode)?;
        let new_version = check_and_inc(node.stat.version, version)?;
        let (zxid, time) = (h.zxid, h.time_ms);
        let stat = self.modify(path, |n| {
            n.set_data(data);
            n.stat.version = new_version;
            n.stat.mzxid = zxid;
            n.stat.mtime = time;
        });
        events.push(ChangeEvent::NodeDataChanged(path.to_owned()));
        stat.map(|stat| OpResult::DataSet { stat })
            .ok_or(ErrorCode::NoNode)
    }

    /// ZooKeeper changes only the ACL and `aversion` (not `mzxid`), and fires no watch.
    fn set_acl(&mut self, path: &str, acl: &[Acl], version: i32) -> Result<OpResult, ErrorCode> {
        checked_path(path)?;
        let acl = normalize_acl(acl)?;
        let node = self.nodes.get(path).ok_or(ErrorCode::NoNode)?;
        let new_aversion = check_and_inc(node.stat.aversion, version)?;
        self.modify(path, |n| {
            n.acl = acl;
            n.stat.aversion = new_aversion;
        })
        .map(|stat| OpResult::AclSet { stat })
        .ok_or(ErrorCode::NoNode)
    }

    /// Forget the session and delete its ephemerals in path order (ZooKeeper's order is its
    /// hash set's; any fixed order gives the same tree, this one also fixes the event order).
    fn close_session(&mut self, h: &TxnHeader, events: &mut Vec<ChangeEvent>) {
        self.sessions.remove(&h.session_id);
        if let Some(paths) = self.ephemerals.remove(&h.session_id) {
            for p in paths.iter() {
                self.remove_leaf(p, h.zxid, events);
            }
        }
    }

    /// Remove a node known to exist and to have no children, updating its parent as
    /// ZooKeeper's `deleteNode`: the child leaves the parent's set and the parent's pzxid
    /// moves to this zxid. The persisted cversion is unchanged; the client-visible one rises
    /// by one because the parent has one child fewer.
    fn remove_leaf(&mut self, path: &str, zxid: Zxid, events: &mut Vec<ChangeEvent>) {
        let Some((parent_path, name)) = split(path) else {
            return;
        };
        self.modify(parent_path, |p| {
            p.children.remove(name);
            if zxid > p.stat.pzxid {
                p.stat.pzxid = zxid;
            }
        });
        if let Some(node) = self.take_node(path) {
            self.unregister(path, node.kind);
        }
        events.push(ChangeEvent::NodeDeleted(path.to_owned()));
        events.push(ChangeEvent::NodeChildrenChanged(parent_path.to_owned()));
    }

    // ---- bookkeeping: every node change goes through these three, which keep the digest
    // and the data size current ----

    /// Insert a node (its derived fields are computed here) and return its stat.
    pub(crate) fn put_node(&mut self, path: Name, mut node: Node) -> Stat {
        node.refresh(&path);
        let (totals, stat, path_len) = (NodeTotals::of(path.len(), &node), node.stat, path.len());
        self.count_in(totals);
        if let Some(old) = self.nodes.insert(path, Arc::new(node)) {
            // Never happens (callers check), but keep the counters right if it does.
            self.count_out(NodeTotals::of(path_len, &old));
        }
        stat
    }

    /// Insert a node at a path that must be free, in one B-tree traversal (a create used to
    /// look the path up and then insert it, and tree lookups are a large part of a create's
    /// cost in a big tree). `None`, with the tree unchanged, if the path was taken.
    fn put_new_node(&mut self, path: Name, mut node: Node) -> Option<Stat> {
        node.refresh(&path);
        let (totals, stat) = (NodeTotals::of(path.len(), &node), node.stat);
        if let Some(old) = self.nodes.insert(path.clone(), Arc::new(node)) {
            self.nodes.insert(path, old);
            return None;
        }
        self.count_in(totals);
        Some(stat)
    }

    /// Change a node in place (copying it first if a snapshot still shares it) and return
    /// its new stat; `None` if there is no such node.
    pub(crate) fn modify(&mut self, path: &str, f: impl FnOnce(&mut Node)) -> Option<Stat> {
        let slot = self.nodes.get_mut(path)?;
        let node = Arc::make_mut(slot);
        let before = NodeTotals::of(path.len(), node);
        f(node);
        node.refresh(path);
        let (after, stat) = (NodeTotals::of(path.len(), node), node.stat);
        self.count_out(before);
        self.count_in(after);
        Some(stat)
    }

    fn take_node(&mut self, path: &str) -> Option<Arc<Node>> {
        let node = self.nodes.remove(path)?;
        self.count_out(NodeTotals::of(path.len(), &node));
        Some(node)
    }

    /// A node's share of the tree-wide totals has been added.
    fn count_in(&mut self, t: NodeTotals) {
        self.digest = self.digest.wrapping_add(t.digest);
        self.data_size = self.data_size.wrapping_add(t.data_size);
        self.snapshot_nodes_len = self.snapshot_nodes_len.wrapping_add(t.snapshot_len);
    }

    /// A node's share of the tree-wide totals has gone.
    fn count_out(&mut self, t: NodeTotals) {
        self.digest = self.digest.wrapping_sub(t.digest);
        self.data_size = self.data_size.wrapping_sub(t.data_size);
        self.snapshot_nodes_len = self.snapshot_nodes_len.wrapping_sub(t.snapshot_len);
    }

    /// Bytes of every node's record in a snapshot image (see `tree::snapshot`).
    pub(crate) fn snapshot_nodes_len(&self) -> u64 {
        self.snapshot_nodes_len
    }

    pub(crate) fn register(&mut self, path: &Name, kind: NodeKind) {
        match kind {
            NodeKind::Persistent => {}
            NodeKind::Ephemeral { session } => {
                self.ephemerals
                    .entry(session)
                    .or_default()
                    .insert(path.clone());
            }
            NodeKind::Container => {
                self.containers.insert(path.clone());
            }
            NodeKind::Ttl { .. } => {
                self.ttls.insert(path.clone());
            }
        }
    }

    fn unregister(&mut self, path: &str, kind: NodeKind) {
        match kind {
            NodeKind::Persistent => {}
            NodeKind::Ephemeral { session } => {
                let now_empty = match self.ephemerals.get_mut(&session) {
                    Some(set) => {
                        set.remove(path);
                        set.is_empty()
                    }
                    None => false,
                };
                if now_empty {
                    self.ephemerals.remove(&session);
                }
            }
            NodeKind::Container => {
                self.containers.remove(path);
            }
            NodeKind::Ttl { .. } => {
                self.ttls.remove(path);
            }
        }
    }

    /// Recompute every derived value from scratch and compare with the maintained ones.
    /// Tests call this after every step; it panics with the first inconsistency.
    #[cfg(test)]
    pub(crate) fn assert_consistent(&self) {
        let mut digest = 0u64;
        let mut size = 0u64;
        let mut snapshot_len = 0u64;
        let mut ephemerals: OrdMap<i64, OrdSet<Name>> = OrdMap::new();
        let mut containers = OrdSet::new();
        let mut ttls = OrdSet::new();
        for (path, node) in self.nodes.iter() {
            let mut fresh = (**node).clone();
            fresh.data_digest = data_digest(&fresh.data);
            fresh.refresh(path);
            assert_eq!(fresh.stat, node.stat, "derived stat of {path}");
            assert_eq!(fresh.digest, node.digest, "digest of {path}");
            digest = digest.wrapping_add(fresh.digest);
            size += (path.len() + node.data.len()) as u64;
            snapshot_len += node_len(path.len(), node) as u64;
            for c in node.children.iter() {
                let child = if &**path == "/" {
                    format!("/{c}")
                } else {
                    format!("{path}/{c}")
                };
                assert!(self.nodes.contains_key(child.as_str()), "child {child}");
            }
            if let Some((parent, name)) = split(path) {
                let p = self.nodes.get(parent).expect("parent exists");
                assert!(p.children.contains(name), "{path} listed in its parent");
                assert!(!matches!(p.kind, NodeKind::Ephemeral { .. }));
            }
            match node.kind {
                NodeKind::Ephemeral { session } => {
                    assert!(self.sessions.contains_key(&session), "owner of {path}");
                    ephemerals.entry(session).or_default().insert(path.clone());
                }
                NodeKind::Container => {
                    containers.insert(path.clone());
                }
                NodeKind::Ttl { .. } => {
                    ttls.insert(path.clone());
                }
                NodeKind::Persistent => {}
            }
        }
        assert_eq!(digest, self.digest, "tree digest");
        assert_eq!(size, self.data_size, "data size");
        assert_eq!(snapshot_len, self.snapshot_nodes_len, "snapshot length");
        assert_eq!(ephemerals, self.ephemerals, "ephemerals");
        assert_eq!(containers, self.containers, "containers");
        assert_eq!(ttls, self.ttls, "ttls");
    }
}

/// Path check for ops on an existing node (ZooKeeper's `validatePath` → BADARGUMENTS).
fn checked_path(path: &str) -> Result<(), ErrorCode> {
    validate_path(path).map_err(|_| ErrorCode::BadArguments)
}

/// ZooKeeper's `checkAndIncVersion`: -1 matches any version; the next version skips -1
/// (after wrapping past `i32::MAX`) so that a client can always name it (ZOOKEEPER-4743).
fn check_and_inc(current: i32, expected: i32) -> Result<i32, ErrorCode> {
    if expected != -1 && expected != current {
        return Err(ErrorCode::BadVersion);
    }
    let next = current.wrapping_add(1);
    Ok(if next == -1 { 0 } else { next })
}

/// The part of ZooKeeper's `fixupACL` that needs no connection: a node must have an ACL
/// (INVALIDACL otherwise) and duplicates are dropped, keeping the first. Scheme checks and
/// `auth` expansion need the client's identity and are the leader's job.
/// ZooKeeper's `OPEN_ACL_UNSAFE`, shared by every node that has it (in most deployments nearly
/// all of them): one allocation for the whole process instead of an ACL and its two strings per
/// node, about 100 bytes of a small znode's RSS. ZooKeeper interns every distinct ACL
/// (`ReferenceCountedACLCache`); this covers the common one without reference bookkeeping.
static OPEN_ACL: std::sync::LazyLock<Arc<[Acl]>> =
    std::sync::LazyLock::new(|| Arc::from(Acl::open_unsafe()));

/// `acl` as a node keeps it: the shared [`OPEN_ACL`] when it is that one.
pub(crate) fn shared_acl(acl: Vec<Acl>) -> Arc<[Acl]> {
    if acl[..] == OPEN_ACL[..] {
        OPEN_ACL.clone()
    } else {
        Arc::from(acl)
    }
}

fn normalize_acl(acl: &[Acl]) -> Result<Arc<[Acl]>, ErrorCode> {
    if acl == &OPEN_ACL[..] {
        return Ok(OPEN_ACL.clone());
    }
    let mut out: Vec<Acl> = Vec::with_capacity(acl.len());
    for a in acl {
        if !out.contains(a) {
            out.push(a.clone());
        }
    }
    if out.is_empty() {
        return Err(ErrorCode::InvalidAcl);
    }
    Ok(shared_acl(out))
}
