//! Durable state behind a narrow API: the epoch files, the transaction log and snapshots, all
//! doing their I/O through [`Disk`] so that the simulator can crash a node with [`MemDisk`] and
//! keep only what was fsynced.

pub mod disk;
pub mod epoch;
pub mod latency;
pub mod memdisk;
pub mod resync;
pub mod snapshot;
pub mod txnlog;

pub use disk::{Disk, DiskFile, RealDisk, SyncHandle};
pub use epoch::{EpochError, EpochStore};
pub use latency::SyncLatency;
pub use memdisk::MemDisk;
pub use snapshot::{SnapError, SnapPurge, SnapStore};
pub use txnlog::{LogError, LogIter, LogOptions, PendingSync, Recovery, Synced, TornTail, TxnLog};
