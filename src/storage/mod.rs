//! Durable state behind a narrow API: the epoch files now, the transaction log and snapshots
//! with replication.

pub mod disk;
pub mod epoch;

pub use disk::{Disk, RealDisk};
pub use epoch::{EpochError, EpochStore};
