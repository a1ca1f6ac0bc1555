//! The transaction ZAB replicates, and what applying it produced.
//!
//! A `Txn` carries the *request*, not a precomputed effect: every condition (versions,
//! existence, parents, sequential numbers) is evaluated when the txn is applied. That is
//! deterministic because every replica applies the same txns in the same zxid order, and it
//! keeps the leader free of ZooKeeper's "outstanding changes" bookkeeping. What the tree cannot
//! know (the connection's authentication, hence ACL permission checks and `auth`/`digest` ACL
//! expansion, and session ownership) is the leader's job before it proposes; a request that
//! fails those checks is proposed as [`Op::Error`] (or as an `Error` inside a multi).

use super::code::ErrorCode;
use super::stat::Stat;
use crate::ids::Zxid;
use serde::{Deserialize, Serialize};

/// An ACL identity: `scheme:id`, e.g. `world:anyone`, `digest:user:hash`, `ip:10.0.0.0/8`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Id {
    pub scheme: String,
    pub id: String,
}

/// One ACL entry: a permission bit set (see [`perms`]) granted to an identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Acl {
    pub perms: i32,
    pub id: Id,
}

/// ZooKeeper's `ZooDefs.Perms` bits.
pub mod perms {
    pub const READ: i32 = 1;
    pub const WRITE: i32 = 1 << 1;
    pub const CREATE: i32 = 1 << 2;
    pub const DELETE: i32 = 1 << 3;
    pub const ADMIN: i32 = 1 << 4;
    pub const ALL: i32 = READ | WRITE | CREATE | DELETE | ADMIN;
}

impl Acl {
    /// `world:anyone` with the given permissions.
    pub fn world(perms: i32) -> Acl {
        Acl {
            perms,
            id: Id {
                scheme: "world".to_owned(),
                id: "anyone".to_owned(),
            },
        }
    }

    /// ZooKeeper's `OPEN_ACL_UNSAFE`: anyone may do anything.
    pub fn open_unsafe() -> Vec<Acl> {
        vec![Acl::world(perms::ALL)]
    }

    /// ZooKeeper's `READ_ACL_UNSAFE`: anyone may read (used for `/zookeeper/config`).
    pub fn read_unsafe() -> Vec<Acl> {
        vec![Acl::world(perms::READ)]
    }
}

/// How a node is created (ZooKeeper's `CreateMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CreateMode {
    Persistent,
    Ephemeral,
    PersistentSequential,
    EphemeralSequential,
    /// Deleted by the leader after its last child is deleted (see `container_candidates`).
    Container,
    /// A persistent node that the leader deletes once it has been childless and unmodified for
    /// this many ms. The TTL is stored in the node (and its persisted owner field); the tree
    /// only reports candidates (`ttl_candidates(now)`) since expiry needs a clock, and the
    /// deletion itself is an ordinary replicated txn ([`Op::DeleteContainer`]).
    PersistentWithTtl(i64),
    PersistentSequentialWithTtl(i64),
}

impl CreateMode {
    pub fn is_sequential(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentSequential
                | CreateMode::EphemeralSequential
                | CreateMode::PersistentSequentialWithTtl(_)
        )
    }

    pub fn is_ephemeral(self) -> bool {
        matches!(
            self,
            CreateMode::Ephemeral | CreateMode::EphemeralSequential
        )
    }

    pub fn is_container(self) -> bool {
        self == CreateMode::Container
    }

    pub fn ttl_ms(self) -> Option<i64> {
        match self {
            CreateMode::PersistentWithTtl(t) | CreateMode::PersistentSequentialWithTtl(t) => {
                Some(t)
            }
            _ => None,
        }
    }
}

/// Stamped by the leader when it proposes: the time is part of the txn so that every replica
/// writes the same `ctime`/`mtime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnHeader {
    /// The session that issued the request (for `CreateSession`/`CloseSession`, the session
    /// being created or closed; 0 for server-internal txns such as container deletion).
    pub session_id: i64,
    /// The client's request number within its session, echoed in the reply.
    pub cxid: i32,
    pub zxid: Zxid,
    /// Leader wall-clock time in ms since the Unix epoch.
    pub time_ms: i64,
}

/// One state-machine operation. Versions are "expected version", with -1 meaning "any".
///
/// Variant order is the bincode encoding: append new variants at the end. The first seven are
/// the ones a multi may contain, and decoding a multi accepts only those, so a crafted log record cannot nest multis deeply enough to overflow the
/// stack while it is decoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    Create {
        path: String,
        #[serde(with = "bytes")]
        data: Vec<u8>,
        acl: Vec<Acl>,
        mode: CreateMode,
    },
    Delete {
        path: String,
        version: i32,
    },
    SetData {
        path: String,
        #[serde(with = "bytes")]
        data: Vec<u8>,
        version: i32,
    },
    Check {
        path: String,
        version: i32,
    },
    SetAcl {
        path: String,
        acl: Vec<Acl>,
        version: i32,
    },
    /// ZooKeeper's `deleteContainer`, issued by the leader for a container or an expired TTL
    /// node. Unlike `Delete` it refuses (BADVERSION) to delete anything that is not a
    /// container or TTL node, so a candidate that was deleted and re-created as another kind
    /// between the leader's scan and the apply survives.
    DeleteContainer {
        path: String,
    },
    /// A request the leader already failed (a permission check, a session check, ...). Inside
    /// a multi it fails the whole multi with this code.
    Error {
        code: ErrorCode,
    },
    /// Registers the header's session with its negotiated timeout.
    CreateSession {
        timeout_ms: i32,
    },
    /// Forgets the header's session and deletes all of its ephemeral nodes.
    CloseSession,
    /// All or nothing: either every op succeeds, or nothing changes and the result says why.
    Multi(#[serde(deserialize_with = "multi_ops::deserialize")] Vec<Op>),
}

/// A replicated transaction: who/when plus what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Txn {
    pub header: TxnHeader,
    pub op: Op,
}

#[cfg(test)]
impl Txn {
    /// For tests: a persistent create of `path` with `data` and the open ACL, from session 0,
    /// stamped with `zxid`.
    pub(crate) fn test_create(path: &str, data: &[u8], zxid: crate::ids::Zxid) -> Txn {
        Txn {
            header: TxnHeader {
                session_id: 0,
                cxid: 0,
                zxid,
                time_ms: 0,
            },
            op: Op::Create {
                path: path.to_owned(),
                data: data.to_vec(),
                acl: Acl::open_unsafe(),
                mode: CreateMode::Persistent,
            },
        }
    }
}

/// What one operation did, in the shape of ZooKeeper's `OpResult`s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpResult {
    /// The created path (with the sequential suffix, if any) and the new node's stat.
    Created {
        path: String,
        stat: Stat,
    },
    Deleted,
    DataSet {
        stat: Stat,
    },
    Checked,
    AclSet {
        stat: Stat,
    },
    SessionCreated,
    SessionClosed,
    /// One result per op. When the multi failed, as ZooKeeper's `MultiResponse`: every entry
    /// is an `Error` — `Ok` for the ops before the failing one (they were rolled back), the
    /// failure's code for the failing op, and `RuntimeInconsistency` for the ops after it
    /// (never attempted).
    Multi(Vec<OpResult>),
    Error(ErrorCode),
}

impl OpResult {
    /// ZooKeeper's `ProcessTxnResult.err`: the op's code, or for a multi the first non-OK
    /// code among its ops.
    pub fn err(&self) -> ErrorCode {
        match self {
            OpResult::Error(code) => *code,
            OpResult::Multi(results) => results
                .iter()
                .map(OpResult::err)
                .find(|c| !c.is_ok())
                .unwrap_or(ErrorCode::Ok),
            _ => ErrorCode::Ok,
        }
    }
}

/// A change a watch manager must hear about, in the order ZooKeeper fires watches. A
/// `NodeDeleted` is for both the data and the child watches of that path (ZooKeeper fires it to
/// both); `NodeChildrenChanged` carries the parent's path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ChangeEvent {
    NodeCreated(String),
    NodeDeleted(String),
    NodeDataChanged(String),
    NodeChildrenChanged(String),
}

/// Everything applying one txn produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnResult {
    pub session_id: i64,
    pub cxid: i32,
    pub zxid: Zxid,
    pub result: OpResult,
    /// Empty when the op failed (nothing changed).
    pub events: Vec<ChangeEvent>,
}

impl TxnResult {
    /// The code to answer the client with (see [`OpResult::err`]).
    pub fn err(&self) -> ErrorCode {
        self.result.err()
    }
}

/// `Vec<u8>` as a serde byte string: bincode then writes one length and the bytes, instead of
/// a length and one element per byte, and reads them back with its decode limit applied.
pub(crate) mod bytes {
    use serde::de::{SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};
    use std::fmt;

    pub fn serialize<S: Serializer, T: AsRef<[u8]> + ?Sized>(
        v: &T,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v.as_ref())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        d.deserialize_byte_buf(BytesVisitor)
    }

    struct BytesVisitor;

    impl<'de> Visitor<'de> for BytesVisitor {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a byte string")
        }

        fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }

        fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            // Never trust a declared length for the allocation.
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
            while let Some(b) = seq.next_element::<u8>()? {
                out.push(b);
            }
            Ok(out)
        }
    }
}

/// Decoding of a multi's op list: only the ops a multi may hold, so the decoder never recurses.
/// The mirror enum has the same variant names and order as the first variants of [`Op`], so
/// it reads exactly what `Op`'s derived `Serialize` wrote.
pub(crate) mod multi_ops {
    use super::{bytes, Acl, CreateMode, ErrorCode, Op};
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(rename = "Op")]
    enum SubOp {
        Create {
            path: String,
            #[serde(with = "bytes")]
            data: Vec<u8>,
            acl: Vec<Acl>,
            mode: CreateMode,
        },
        Delete {
            path: String,
            version: i32,
        },
        SetData {
            path: String,
            #[serde(with = "bytes")]
            data: Vec<u8>,
            version: i32,
        },
        Check {
            path: String,
            version: i32,
        },
        SetAcl {
            path: String,
            acl: Vec<Acl>,
            version: i32,
        },
        DeleteContainer {
            path: String,
        },
        Error {
            code: ErrorCode,
        },
    }

    impl From<SubOp> for Op {
        fn from(op: SubOp) -> Op {
            match op {
                SubOp::Create {
                    path,
                    data,
                    acl,
                    mode,
                } => Op::Create {
                    path,
                    data,
                    acl,
                    mode,
                },
                SubOp::Delete { path, version } => Op::Delete { path, version },
                SubOp::SetData {
                    path,
                    data,
                    version,
                } => Op::SetData {
                    path,
                    data,
                    version,
                },
                SubOp::Check { path, version } => Op::Check { path, version },
                SubOp::SetAcl { path, acl, version } => Op::SetAcl { path, acl, version },
                SubOp::DeleteContainer { path } => Op::DeleteContainer { path },
                SubOp::Error { code } => Op::Error { code },
            }
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Op>, D::Error> {
        let ops = Vec::<SubOp>::deserialize(d)?;
        Ok(ops.into_iter().map(Op::from).collect())
    }
}
