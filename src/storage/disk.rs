//! All file I/O goes through [`Disk`], so that a simulated disk can keep only fsynced bytes at
//! a crash and prove that no promise depended on unsynced data (a kill -9 cannot show that: the
//! page cache survives it).

use std::io::{self, Write};
use std::path::Path;

pub trait Disk: Send + Sync + std::fmt::Debug {
    /// The whole file, or `None` if it does not exist.
    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>>;
    /// Replace `path` with `bytes` atomically and durably: write a temp file, fsync it, rename
    /// it over `path`, fsync the directory. After this returns, a crash leaves either the old or
    /// the new content, never a mix, and never loses the new content.
    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> io::Result<()>;
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
}

/// The real disk: std::fs plus fsync.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealDisk;

impl Disk for RealDisk {
    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        match std::fs::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }

    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
        let mut tmp_name = name.to_os_string();
        tmp_name.push(".tmp");
        let tmp = dir.join(tmp_name);
        {
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
        }
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)?;
        if let Some(parent) = path.parent() {
            // Make the new directory entry itself durable.
            if let Ok(dir) = std::fs::File::open(parent) {
                dir.sync_all()?;
            }
        }
        Ok(())
    }
}
