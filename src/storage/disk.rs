//! All file I/O goes through [`Disk`], so that a simulated disk can keep only fsynced bytes at
//! a crash and prove that no promise depended on unsynced data (a kill -9 cannot show that: the
//! page cache survives it).
//!
//! The trait is deliberately small: whole-file reads, streaming reads, append handles, and the
//! few namespace operations an append-only log and atomic file replacement need. Durability is
//! explicit everywhere: nothing is durable until [`DiskFile::sync`] (content) and
//! [`Disk::sync_dir`] (the directory entry) say so, except [`Disk::truncate`] and
//! [`Disk::write_atomic`], which are durable by contract. [`super::MemDisk`] models exactly
//! these rules.

use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Arc;

/// A file opened for writing at its end.
pub trait DiskFile: Send + std::fmt::Debug {
    /// Append `bytes` at the end of the file. Not durable until [`DiskFile::sync`].
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Make every byte written so far durable (fdatasync: content and the size, which is all an
    /// append needs; the directory entry of a new file needs [`Disk::sync_dir`] as well).
    fn sync(&mut self) -> io::Result<()>;
    /// The file's length including unsynced writes.
    fn len(&self) -> u64;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// A handle that makes every byte written *so far* durable when run, from another thread,
    /// while this handle goes on appending (an fsync that overlaps the next batch's writes).
    fn sync_handle(&self) -> io::Result<Box<dyn SyncHandle>>;
    /// Hint that the file's *synced* content will not be read again soon, so the OS may drop
    /// it from the page cache. Write-once files (snapshots) call this after their fsync: on a
    /// VM whose free memory is handed back to the host, every never-reused page the cache
    /// grows into costs a host fault, which made writing a large snapshot several times more
    /// expensive than recycling the pages of the previous one. Advisory; errors are ignored.
    fn release_cache(&self) {}
}

/// One pending fsync of a file, runnable off the thread that writes it. It promises durability
/// of what was written before [`DiskFile::sync_handle`] was called, no more.
pub trait SyncHandle: Send + std::fmt::Debug {
    fn sync(self: Box<Self>) -> io::Result<()>;
}

pub trait Disk: Send + Sync + std::fmt::Debug {
    /// The whole file, or `None` if it does not exist.
    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>>;
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;

    /// Create a new empty file and open it for appending; fails with `AlreadyExists` rather
    /// than clobber a file (a name collision means a bug, and truncating could destroy data).
    /// Neither the content nor the directory entry is durable until `sync` and `sync_dir`.
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn DiskFile>>;
    /// Open an existing file for appending at its end.
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn DiskFile>>;
    /// Stream a file from its start (what is written, synced or not, as the page cache would
    /// show it). Callers wrap it in a `BufReader`.
    fn open_read(&self, path: &Path) -> io::Result<Box<dyn Read + Send>>;
    /// Names of the entries in `dir` (not paths). Names that are not UTF-8 are skipped: this
    /// crate never creates them.
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Unlink a file. Durable only after `sync_dir` of its directory.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Set a file's length and fsync it before returning: used to cut a torn tail or to
    /// TRUNC a log, both of which must survive a crash before anything depends on them.
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()>;
    /// Rename (replacing `to` if it exists). Durable only after `sync_dir`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// fsync a directory, making creations, renames and removals in it durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;

    /// How long the next group-commit fsync of the log should take in *simulated* time. The
    /// peer waits this out (its loop blocked, as a real fsync blocks it) before the fsync, so a
    /// simulated slow disk leaves logged proposals unsynced for a while and a crash can land in
    /// that window. Real disks answer zero: their fsync takes real time by itself.
    fn sync_latency(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }

    /// Replace `path` with `bytes` atomically and durably: write a temp file, fsync it, rename
    /// it over `path`, fsync the directory. After this returns, a crash leaves either the old or
    /// the new content, never a mix, and never loses the new content.
    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let dir = parent_of(path);
        let tmp = tmp_path(path)?;
        remove_if_exists(self, &tmp)?;
        let mut file = self.create_new(&tmp)?;
        file.write_all(bytes)?;
        file.sync()?;
        drop(file);
        self.rename(&tmp, path)?;
        self.sync_dir(dir)
    }
}

/// The directory holding `path` (`.` for a bare name).
pub(crate) fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// `path` with `.tmp` appended to its file name: where atomic writes stage their content.
pub(crate) fn tmp_path(path: &Path) -> io::Result<std::path::PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let mut tmp_name = name.to_os_string();
    tmp_name.push(".tmp");
    Ok(parent_of(path).join(tmp_name))
}

/// Remove a stale file left by a crash; absent is fine.
pub(crate) fn remove_if_exists<D: Disk + ?Sized>(disk: &D, path: &Path) -> io::Result<()> {
    match disk.remove_file(path) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// The real disk: std::fs plus fsync.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealDisk;

/// An append handle on a real file. It tracks the length itself so `len` needs no syscall.
/// The descriptor is shared with the [`SyncHandle`]s it hands out: a group commit used to
/// `dup` the descriptor for its fsync thread and close the copy afterwards, two extra syscalls
/// per fsync (hundreds per second under load) for nothing.
#[derive(Debug)]
struct RealFile {
    file: Arc<std::fs::File>,
    len: u64,
}

impl DiskFile for RealFile {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        (&*self.file).write_all(bytes)?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn sync_handle(&self) -> io::Result<Box<dyn SyncHandle>> {
        // The same open file: fdatasync flushes its pages, including everything written
        // through `self` before this call.
        Ok(Box::new(RealSyncHandle(self.file.clone())))
    }

    fn release_cache(&self) {
        // DONTNEED drops only clean pages, which after the caller's fsync is all of them.
        let _ = rustix::fs::fadvise(&self.file, 0, None, rustix::fs::Advice::DontNeed);
    }
}

#[derive(Debug)]
struct RealSyncHandle(Arc<std::fs::File>);

impl SyncHandle for RealSyncHandle {
    fn sync(self: Box<Self>) -> io::Result<()> {
        self.0.sync_data()
    }
}

impl Disk for RealDisk {
    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        match std::fs::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
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

    fn create_new(&self, path: &Path) -> io::Result<Box<dyn DiskFile>> {
        let file = std::fs::OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(path)?;
        Ok(Box::new(RealFile {
            file: Arc::new(file),
            len: 0,
        }))
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn DiskFile>> {
        let file = std::fs::OpenOptions::new().append(true).open(path)?;
        let len = file.metadata()?.len();
        Ok(Box::new(RealFile {
            file: Arc::new(file),
            len,
        }))
    }

    fn open_read(&self, path: &Path) -> io::Result<Box<dyn Read + Send>> {
        Ok(Box::new(std::fs::File::open(path)?))
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            if let Ok(name) = entry?.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let file = std::fs::OpenOptions::new().write(true).open(path)?;
        file.set_len(len)?;
        file.sync_all()
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        std::fs::File::open(dir)?.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_disk_append_truncate_rename_list() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let disk = RealDisk;
        let a = tmp.path().join("a");
        let mut f = disk.create_new(&a).expect("create");
        f.write_all(b"hello ").expect("write");
        f.write_all(b"world").expect("write");
        f.sync().expect("sync");
        assert_eq!(f.len(), 11);
        assert!(disk.create_new(&a).is_err(), "create_new must not clobber");
        let mut f = disk.open_append(&a).expect("reopen");
        assert_eq!(f.len(), 11);
        f.write_all(b"!").expect("write");
        drop(f);
        disk.truncate(&a, 5).expect("truncate");
        let mut text = String::new();
        disk.open_read(&a)
            .expect("open")
            .read_to_string(&mut text)
            .expect("read");
        assert_eq!(text, "hello");
        let b = tmp.path().join("b");
        disk.rename(&a, &b).expect("rename");
        disk.sync_dir(tmp.path()).expect("sync dir");
        assert_eq!(disk.list_dir(tmp.path()).expect("list"), vec!["b"]);
        disk.write_atomic(&a, b"x").expect("atomic");
        assert_eq!(disk.read(&a).expect("read"), Some(b"x".to_vec()));
        disk.remove_file(&b).expect("remove");
        assert_eq!(disk.read(&b).expect("read"), None);
    }
}
