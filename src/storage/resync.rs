//! Quarantine of a voter whose transaction log holds a corrupt complete record.
//!
//! Such a record may have been acknowledged and counted toward a commit, so the server must not
//! vote or acknowledge as if it never existed. Instead of refusing to start, it:
//! 1. durably marks itself as needing a resync ([`mark`]: the marker survives a crash, so a
//!    restart during the resync is still non-voting);
//! 2. sets its log segments aside ([`set_aside_log`]: renamed, never deleted, for diagnosis),
//!    keeping its snapshots, which hold only committed state;
//! 3. runs as a non-voting learner (an observer to the leader, and a voter that says it may not
//!    vote in elections) until a leader elected without it has synced it;
//! 4. then clears the marker ([`clear`]) and rejoins as a voter.
//!
//! A leader elected without this server's vote holds every committed transaction (ZAB's
//! guarantee), so after step 3 the server again holds everything it ever acknowledged that
//! mattered.

use super::disk::Disk;
use std::io;
use std::path::{Path, PathBuf};

/// The marker file, in `dataDir/version-2` next to the epoch files.
pub const MARKER: &str = "zabd-resync-required";
/// Appended to a set-aside log segment's name (the log ignores names it does not parse).
pub const SET_ASIDE_SUFFIX: &str = ".corrupt";

/// Durably record that this server must be resynced before it votes again.
pub fn mark(disk: &dyn Disk, epoch_dir: &Path, why: &str) -> io::Result<()> {
    disk.create_dir_all(epoch_dir)?;
    let text = format!(
        "This server found a corrupt record in its transaction log and set the log aside.\n\
         It runs as a non-voting learner until a leader has resynced it; zabd removes this\n\
         file then. Cause: {why}\n"
    );
    disk.write_atomic(&epoch_dir.join(MARKER), text.as_bytes())
}

pub fn is_marked(disk: &dyn Disk, epoch_dir: &Path) -> io::Result<bool> {
    Ok(disk.read(&epoch_dir.join(MARKER))?.is_some())
}

/// The resync is complete (and durable): this server may vote again.
pub fn clear(disk: &dyn Disk, epoch_dir: &Path) -> io::Result<()> {
    super::disk::remove_if_exists(disk, &epoch_dir.join(MARKER))?;
    disk.sync_dir(epoch_dir)
}

/// Rename every log segment in `log_dir` out of the log's way; returns the new names.
pub fn set_aside_log(disk: &dyn Disk, log_dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut moved = Vec::new();
    for name in disk.list_dir(log_dir)? {
        if !name.starts_with("log.") || name.ends_with(SET_ASIDE_SUFFIX) {
            continue;
        }
        let to = log_dir.join(format!("{name}{SET_ASIDE_SUFFIX}"));
        disk.rename(&log_dir.join(&name), &to)?;
        moved.push(to);
    }
    disk.sync_dir(log_dir)?;
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{Epoch, Zxid};
    use crate::storage::MemDisk;
    use crate::storage::{LogOptions, TxnLog};
    use std::sync::Arc;

    #[test]
    fn the_marker_survives_a_crash_and_clears() {
        let disk = MemDisk::new();
        let dir = Path::new("/data/version-2");
        assert!(!is_marked(&disk, dir).unwrap());
        mark(&disk, dir, "test").unwrap();
        disk.crash();
        assert!(is_marked(&disk, dir).unwrap());
        clear(&disk, dir).unwrap();
        disk.crash();
        assert!(!is_marked(&disk, dir).unwrap());
    }

    #[test]
    fn a_set_aside_log_opens_empty_and_keeps_the_files() {
        let disk = Arc::new(MemDisk::new());
        let dir = Path::new("/log/version-2");
        {
            let (mut log, _) = TxnLog::open(dir, disk.clone(), LogOptions::default()).unwrap();
            for c in 1..=3 {
                log.append(Zxid::new(Epoch(1), c), b"txn").unwrap();
            }
            log.sync().unwrap();
        }
        let moved = set_aside_log(&*disk, dir).unwrap();
        assert_eq!(moved.len(), 1);
        let (log, recovery) = TxnLog::open(dir, disk.clone(), LogOptions::default()).unwrap();
        assert_eq!(recovery.records, 0);
        assert_eq!(log.last_zxid(), Zxid(0));
        assert!(disk
            .list_dir(dir)
            .unwrap()
            .iter()
            .any(|n| n.ends_with(SET_ASIDE_SUFFIX)));
    }
}
