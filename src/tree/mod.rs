//! The replicated state machine: ZooKeeper's znode tree.
//!
//! ZAB replicates opaque [`Txn`]s; [`DataTree::apply`] applies them in zxid order. The module
//! is pure — no I/O, clocks or tokio — so every replica that applies the same txns reaches the
//! same tree, stat for stat, and the same [`DataTree::digest`].
//!
//! - `txn`: the transaction type, the per-op results and the change events for watches.
//! - `datatree`: the tree and the apply rules (ZooKeeper's `PrepRequestProcessor` checks plus
//!   `DataTree.processTxn`, evaluated together at apply time).
//! - `digest`: the incrementally maintained, order-independent digest.
//! - `snapshot`: a versioned bincode image of the whole tree, and its validating loader.
//! - `path`, `stat`, `code`: path rules, `Stat` and node kinds, ZooKeeper's error codes.

mod code;
mod datatree;
mod digest;
mod path;
mod snapshot;
mod stat;
mod txn;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use code::ErrorCode;
pub use datatree::DataTree;
pub use path::{is_special, validate_path, PathError, MAX_DATA_LEN, SPECIAL_PATHS};
pub use stat::{NodeKind, Stat, MAX_TTL_MS};
pub(crate) use txn::bytes;
pub use txn::{perms, Acl, ChangeEvent, CreateMode, Id, Op, OpResult, Txn, TxnHeader, TxnResult};

use crate::ids::Zxid;

/// Errors of the tree itself (never a ZooKeeper result code: those are in [`OpResult`]).
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// Txns must be applied in strictly increasing zxid order; this one is a replay or out of
    /// order, and was not applied.
    #[error("txn zxid {zxid} is not after the last applied zxid {last_applied}")]
    ZxidNotAfterLastApplied { zxid: Zxid, last_applied: Zxid },
    #[error("cannot encode the snapshot: {0}")]
    Encode(#[from] bincode::error::EncodeError),
    #[error("malformed snapshot: {0}")]
    Decode(#[from] bincode::error::DecodeError),
    #[error("not a zabd tree snapshot (bad magic)")]
    BadMagic,
    #[error("unsupported snapshot format version {0}")]
    UnsupportedVersion(u32),
    #[error("snapshot of {0} bytes is larger than the supported maximum")]
    SnapshotTooLarge(usize),
    #[error("{0} trailing bytes after the snapshot")]
    TrailingBytes(usize),
    /// The snapshot decoded but does not describe a tree this module could have built.
    #[error("inconsistent snapshot: {0}")]
    Inconsistent(String),
}
