//! `acceptedEpoch` and `currentEpoch`, each one ASCII decimal number in its own file under
//! `dataDir/version-2/`, as ZooKeeper keeps them.
//!
//! `acceptedEpoch` is the last epoch this server promised to a prospective leader;
//! `currentEpoch` the epoch of the last NEWLEADER it acknowledged. Each is written atomically
//! and durably *before* the in-memory value changes and before any message that depends on it
//! is sent (ZOOKEEPER-2307): a promise forgotten in a crash could let one server back two
//! leaders of one epoch.

use super::disk::Disk;
use crate::ids::Epoch;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const ACCEPTED_EPOCH_FILE: &str = "acceptedEpoch";
pub const CURRENT_EPOCH_FILE: &str = "currentEpoch";

#[derive(Debug, thiserror::Error)]
pub enum EpochError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not an epoch number: {content:?}")]
    Corrupt { path: PathBuf, content: String },
    #[error(
        "{dir}: acceptedEpoch {accepted} is below currentEpoch {current}; the epoch files are \
         inconsistent (restore them from a backup, or wipe this server's data so it resyncs)"
    )]
    AcceptedBelowCurrent {
        dir: PathBuf,
        accepted: Epoch,
        current: Epoch,
    },
}

/// The two epoch files of one server.
#[derive(Debug)]
pub struct EpochStore {
    dir: PathBuf,
    disk: Arc<dyn Disk>,
    accepted: Epoch,
    current: Epoch,
}

impl EpochStore {
    /// Open (creating `dir` if needed) and check `acceptedEpoch >= currentEpoch`. Missing files
    /// mean epoch 0, as for a brand-new server.
    pub fn open(dir: &Path, disk: Arc<dyn Disk>) -> Result<EpochStore, EpochError> {
        disk.create_dir_all(dir).map_err(|source| EpochError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let current = read_epoch(&*disk, &dir.join(CURRENT_EPOCH_FILE))?;
        let accepted = read_epoch(&*disk, &dir.join(ACCEPTED_EPOCH_FILE))?;
        if accepted < current {
            return Err(EpochError::AcceptedBelowCurrent {
                dir: dir.to_path_buf(),
                accepted,
                current,
            });
        }
        Ok(EpochStore {
            dir: dir.to_path_buf(),
            disk,
            accepted,
            current,
        })
    }

    pub fn accepted(&self) -> Epoch {
        self.accepted
    }

    pub fn current(&self) -> Epoch {
        self.current
    }

    /// Durably promise `epoch`; only then does the in-memory value change.
    pub fn set_accepted(&mut self, epoch: Epoch) -> Result<(), EpochError> {
        self.write(ACCEPTED_EPOCH_FILE, epoch)?;
        self.accepted = epoch;
        Ok(())
    }

    /// Durably record that `epoch`'s NEWLEADER was acknowledged.
    pub fn set_current(&mut self, epoch: Epoch) -> Result<(), EpochError> {
        self.write(CURRENT_EPOCH_FILE, epoch)?;
        self.current = epoch;
        Ok(())
    }

    fn write(&self, name: &str, epoch: Epoch) -> Result<(), EpochError> {
        let path = self.dir.join(name);
        self.disk
            .write_atomic(&path, epoch.0.to_string().as_bytes())
            .map_err(|source| EpochError::Io { path, source })
    }
}

fn read_epoch(disk: &dyn Disk, path: &Path) -> Result<Epoch, EpochError> {
    let bytes = disk.read(path).map_err(|source| EpochError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let Some(bytes) = bytes else {
        return Ok(Epoch(0));
    };
    let text = String::from_utf8_lossy(&bytes);
    text.trim()
        .parse::<u32>()
        .map(Epoch)
        .map_err(|_| EpochError::Corrupt {
            path: path.to_path_buf(),
            content: text.chars().take(40).collect(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::disk::RealDisk;

    fn open(dir: &Path) -> Result<EpochStore, EpochError> {
        EpochStore::open(dir, Arc::new(RealDisk))
    }

    #[test]
    fn epochs_survive_a_reopen() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("version-2");
        let mut store = open(&dir).expect("open");
        assert_eq!((store.accepted(), store.current()), (Epoch(0), Epoch(0)));
        store.set_accepted(Epoch(3)).expect("accepted");
        store.set_current(Epoch(3)).expect("current");
        let store = open(&dir).expect("reopen");
        assert_eq!((store.accepted(), store.current()), (Epoch(3), Epoch(3)));
        let text = std::fs::read_to_string(dir.join("currentEpoch")).expect("file");
        assert_eq!(text, "3");
    }

    #[test]
    fn accepted_below_current_refuses_to_start() {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::write(tmp.path().join("acceptedEpoch"), "2").expect("write");
        std::fs::write(tmp.path().join("currentEpoch"), "5").expect("write");
        let err = open(tmp.path()).expect_err("must refuse");
        assert!(err
            .to_string()
            .contains("acceptedEpoch 2 is below currentEpoch 5"));
    }

    #[test]
    fn a_corrupt_epoch_file_is_a_clear_error() {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::write(tmp.path().join("currentEpoch"), "x7").expect("write");
        let err = open(tmp.path()).expect_err("must refuse");
        assert!(err.to_string().contains("not an epoch number"), "{err}");
    }
}
