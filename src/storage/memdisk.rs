//! An in-memory [`Disk`] that remembers what is durable, so tests and the simulator can crash a
//! node and see what a real power loss would leave.
//!
//! # The crash model
//!
//! Simple, and stricter than most real file systems, so that anything correct here is correct
//! there:
//!
//! - **File content** has a *current* version (what reads see, like the page cache) and a
//!   *durable* version (as of the last [`DiskFile::sync`] or [`Disk::truncate`] of that file).
//!   A crash reverts every file to its durable version: unsynced appends vanish and an unsynced
//!   truncation comes back. Writes are never partially kept; partial (torn) writes are injected
//!   explicitly with [`MemDisk::tear`].
//! - **The namespace** (which name points to which file) likewise has a current and a durable
//!   version, *per directory*: [`Disk::sync_dir`] makes the current entries of that directory
//!   durable. A crash reverts every directory to its durable entries, so a created file whose
//!   directory was not fsynced disappears (even if its content was synced), an unsynced rename
//!   is undone, and an unsynced removal is undone.
//! - **Directories** themselves are durable as soon as [`Disk::create_dir_all`] returns (the
//!   real implementation fsyncs the parent; deeper ancestors are not modelled).
//! - Handles opened before a crash are dead after it: every operation on them fails, as the
//!   process that held them would be gone.
//!
//! Fault hooks: [`MemDisk::flip_bit`] (media corruption, in both versions),
//! [`MemDisk::tear`] (a torn write: the file, in both versions, ends early), and
//! [`MemDisk::fail_next_syncs`] (fsync reports EIO). Counters of file and directory syncs let a
//! test check group commit.
//!
//! Slow disks: [`MemDisk::set_sync_latency`] gives the log's fsyncs a seeded simulated latency
//! (see [`Disk::sync_latency`]), and [`MemDisk::sync_pending`] tells a fault schedule that one
//! is under way, so that it can crash the node inside the window.

use super::disk::{parent_of, Disk, DiskFile, SyncHandle};
use super::latency::SyncLatency;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// A cheap-to-clone handle on one shared in-memory disk: a test keeps a clone, hands another to
/// the code under test, and later crashes it and reopens from the same disk.
#[derive(Clone, Default)]
pub struct MemDisk {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    /// Bumped by every crash; handles of an older generation are dead.
    generation: u64,
    next_inode: u64,
    inodes: HashMap<u64, Inode>,
    /// Open append handles per inode, so unlinked files are freed once nobody holds them.
    open: HashMap<u64, usize>,
    live: BTreeMap<PathBuf, u64>,
    durable: BTreeMap<PathBuf, u64>,
    dirs: BTreeSet<PathBuf>,
    file_syncs: u64,
    dir_syncs: u64,
    fail_syncs: u32,
    /// Simulated fsync latency; `None` is an instantaneous disk.
    latency: Option<SyncLatency>,
    /// A log fsync's latency was handed out and no file fsync has happened since.
    sync_pending: bool,
}

#[derive(Default)]
struct Inode {
    data: Vec<u8>,
    durable: Vec<u8>,
    /// The lowest offset changed since the last sync (`usize::MAX` when clean). Below it `data`
    /// and `durable` agree, so a sync copies only the changed suffix: O(appended), not
    /// O(file).
    dirty_from: usize,
}

impl Inode {
    fn new() -> Inode {
        Inode {
            data: Vec::new(),
            durable: Vec::new(),
            dirty_from: usize::MAX,
        }
    }

    /// Make the first `len` bytes durable (all of them with `usize::MAX`). A sync handle taken
    /// when the file was `len` long promises no more: the least a real fsync started then does.
    fn sync_prefix(&mut self, len: usize) {
        let len = len.min(self.data.len());
        if len == self.data.len() {
            // Everything: the durable content becomes the current one (shorter too, after a
            // truncation).
            let keep = self.dirty_from.min(self.durable.len()).min(self.data.len());
            self.durable.truncate(keep);
            self.durable
                .extend_from_slice(self.data.get(keep..).unwrap_or(&[]));
            self.dirty_from = usize::MAX;
            return;
        }
        if self.dirty_from >= len {
            return; // below dirty_from data and durable already agree
        }
        let keep = self.dirty_from.min(self.durable.len());
        self.durable.truncate(keep);
        self.durable
            .extend_from_slice(self.data.get(keep..len).unwrap_or(&[]));
        self.dirty_from = len;
    }
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{}: no such file", path.display()),
    )
}

impl State {
    /// An fsync of the first `len` bytes of inode `id` (may fail by injected fault).
    fn sync_file(&mut self, id: u64, len: usize) -> io::Result<()> {
        self.take_sync_fault()?;
        let inode = self
            .inodes
            .get_mut(&id)
            .ok_or_else(|| io::Error::other("inode vanished"))?;
        inode.sync_prefix(len);
        self.file_syncs += 1;
        self.sync_pending = false;
        Ok(())
    }

    fn inode_of(&self, path: &Path) -> io::Result<u64> {
        self.live.get(path).copied().ok_or_else(|| not_found(path))
    }

    fn check_dir(&self, dir: &Path) -> io::Result<()> {
        if self.dirs.contains(dir) {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{}: no such directory", dir.display()),
            ))
        }
    }

    fn take_sync_fault(&mut self) -> io::Result<()> {
        if self.fail_syncs > 0 {
            self.fail_syncs -= 1;
            return Err(io::Error::other("injected fsync failure"));
        }
        Ok(())
    }

    /// Free inodes nobody can reach any more: no current or durable name, no open handle.
    fn gc(&mut self) {
        let reachable: BTreeSet<u64> = self
            .live
            .values()
            .chain(self.durable.values())
            .chain(self.open.keys())
            .copied()
            .collect();
        self.inodes.retain(|id, _| reachable.contains(id));
    }

    fn new_inode(&mut self) -> u64 {
        let id = self.next_inode;
        self.next_inode += 1;
        self.inodes.insert(id, Inode::new());
        id
    }
}

impl MemDisk {
    pub fn new() -> MemDisk {
        MemDisk::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock can only come from a bug in this file; the state is
        // still usable for the test that reports it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Power loss: keep only what was made durable (see the module docs).
    pub fn crash(&self) {
        let mut s = self.lock();
        s.generation += 1;
        s.open.clear();
        s.sync_pending = false;
        s.live = s.durable.clone();
        s.gc();
        for inode in s.inodes.values_mut() {
            inode.data = inode.durable.clone();
            inode.dirty_from = usize::MAX;
        }
    }

    /// Flip one bit of a file, in both the current and the durable content (media corruption).
    pub fn flip_bit(&self, path: &Path, offset: u64, bit: u8) -> io::Result<()> {
        let mut s = self.lock();
        let id = s.inode_of(path)?;
        let inode = s.inodes.get_mut(&id).ok_or_else(|| not_found(path))?;
        let mask = 1u8 << (bit % 8);
        let at = usize::try_from(offset).unwrap_or(usize::MAX);
        let Some(byte) = inode.data.get_mut(at) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "offset past the end of the file",
            ));
        };
        *byte ^= mask;
        if let Some(byte) = inode.durable.get_mut(at) {
            *byte ^= mask;
        }
        Ok(())
    }

    /// Cut a file to `len` bytes in both its current and durable content: what a torn write
    /// leaves after a crash.
    pub fn tear(&self, path: &Path, len: u64) -> io::Result<()> {
        let mut s = self.lock();
        let id = s.inode_of(path)?;
        let inode = s.inodes.get_mut(&id).ok_or_else(|| not_found(path))?;
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        inode.data.truncate(len);
        inode.durable.truncate(len);
        Ok(())
    }

    /// Make the next `n` fsyncs (of files or directories) fail with an I/O error.
    pub fn fail_next_syncs(&self, n: u32) {
        self.lock().fail_syncs = n;
    }

    /// Make this a slow disk: every log fsync takes the next latency of `latency` in simulated
    /// time.
    pub fn set_sync_latency(&self, latency: SyncLatency) {
        self.lock().latency = Some(latency);
    }

    /// Is a log fsync under way: its latency handed out (the peer is waiting it out) and no
    /// file fsync done since? Approximate by design (any file's fsync ends it); a fault
    /// schedule uses it to aim crashes into the window where logged data is not yet durable.
    pub fn sync_pending(&self) -> bool {
        self.lock().sync_pending
    }

    /// How many file fsyncs (including durable truncations) have succeeded.
    pub fn file_syncs(&self) -> u64 {
        self.lock().file_syncs
    }

    /// How many directory fsyncs have succeeded.
    pub fn dir_syncs(&self) -> u64 {
        self.lock().dir_syncs
    }

    /// The current length of a file, if it exists.
    pub fn len_of(&self, path: &Path) -> Option<u64> {
        let s = self.lock();
        let id = s.live.get(path)?;
        s.inodes.get(id).map(|i| i.data.len() as u64)
    }
}

impl std::fmt::Debug for MemDisk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.lock();
        f.debug_struct("MemDisk")
            .field("files", &s.live.len())
            .field("generation", &s.generation)
            .finish()
    }
}

/// An append handle on a [`MemDisk`] file; dead after a crash.
struct MemFile {
    disk: MemDisk,
    inode: u64,
    generation: u64,
}

impl std::fmt::Debug for MemFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemFile")
            .field("inode", &self.inode)
            .finish()
    }
}

impl MemFile {
    fn with<T>(&self, op: impl FnOnce(&mut State, u64) -> io::Result<T>) -> io::Result<T> {
        let mut s = self.disk.lock();
        if s.generation != self.generation {
            return Err(io::Error::other("handle opened before a simulated crash"));
        }
        op(&mut s, self.inode)
    }
}

impl DiskFile for MemFile {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.with(|s, id| {
            let inode = s
                .inodes
                .get_mut(&id)
                .ok_or_else(|| io::Error::other("inode vanished"))?;
            inode.dirty_from = inode.dirty_from.min(inode.data.len());
            inode.data.extend_from_slice(bytes);
            Ok(())
        })
    }

    fn sync(&mut self) -> io::Result<()> {
        self.with(|s, id| s.sync_file(id, usize::MAX))
    }

    fn len(&self) -> u64 {
        self.with(|s, id| Ok(s.inodes.get(&id).map_or(0, |i| i.data.len() as u64)))
            .unwrap_or(0)
    }

    fn sync_handle(&self) -> io::Result<Box<dyn SyncHandle>> {
        let len = self.with(|s, id| Ok(s.inodes.get(&id).map_or(0, |i| i.data.len())))?;
        Ok(Box::new(MemSyncHandle {
            disk: self.disk.clone(),
            inode: self.inode,
            generation: self.generation,
            len,
        }))
    }
}

/// A pending fsync of a [`MemDisk`] file: makes durable only what was written before it was
/// taken, so a crash while it "runs" loses everything after.
struct MemSyncHandle {
    disk: MemDisk,
    inode: u64,
    generation: u64,
    len: usize,
}

impl std::fmt::Debug for MemSyncHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemSyncHandle")
            .field("inode", &self.inode)
            .field("len", &self.len)
            .finish()
    }
}

impl SyncHandle for MemSyncHandle {
    fn sync(self: Box<Self>) -> io::Result<()> {
        let mut s = self.disk.lock();
        if s.generation != self.generation {
            return Err(io::Error::other(
                "sync handle taken before a simulated crash",
            ));
        }
        s.sync_file(self.inode, self.len)
    }
}

impl Drop for MemFile {
    fn drop(&mut self) {
        let mut s = self.disk.lock();
        if s.generation != self.generation {
            return;
        }
        if let Some(count) = s.open.get_mut(&self.inode) {
            *count -= 1;
            if *count == 0 {
                s.open.remove(&self.inode);
                s.gc();
            }
        }
    }
}

impl MemDisk {
    fn handle(&self, s: &mut State, inode: u64) -> Box<dyn DiskFile> {
        *s.open.entry(inode).or_insert(0) += 1;
        Box::new(MemFile {
            disk: self.clone(),
            inode,
            generation: s.generation,
        })
    }
}

impl Disk for MemDisk {
    fn sync_latency(&self) -> std::time::Duration {
        let mut s = self.lock();
        let latency = s
            .latency
            .as_mut()
            .map(SyncLatency::next_latency)
            .unwrap_or_default();
        s.sync_pending = !latency.is_zero();
        latency
    }

    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        let s = self.lock();
        Ok(s.live
            .get(path)
            .and_then(|id| s.inodes.get(id))
            .map(|i| i.data.clone()))
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut s = self.lock();
        let mut p = Some(path);
        while let Some(dir) = p {
            if dir.as_os_str().is_empty() {
                break;
            }
            s.dirs.insert(dir.to_path_buf());
            p = dir.parent();
        }
        Ok(())
    }

    fn create_new(&self, path: &Path) -> io::Result<Box<dyn DiskFile>> {
        let mut s = self.lock();
        s.check_dir(parent_of(path))?;
        if s.live.contains_key(path) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{}: already exists", path.display()),
            ));
        }
        let id = s.new_inode();
        s.live.insert(path.to_path_buf(), id);
        Ok(self.handle(&mut s, id))
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn DiskFile>> {
        let mut s = self.lock();
        let id = s.inode_of(path)?;
        Ok(self.handle(&mut s, id))
    }

    fn open_read(&self, path: &Path) -> io::Result<Box<dyn Read + Send>> {
        let bytes = self.read(path)?.ok_or_else(|| not_found(path))?;
        Ok(Box::new(io::Cursor::new(bytes)))
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let s = self.lock();
        s.check_dir(dir)?;
        let files = s.live.keys().filter(|p| parent_of(p) == dir);
        let subdirs = s.dirs.iter().filter(|p| p.parent() == Some(dir));
        Ok(files
            .chain(subdirs)
            .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
            .collect())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut s = self.lock();
        s.live.remove(path).ok_or_else(|| not_found(path))?;
        s.gc();
        Ok(())
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let mut s = self.lock();
        let id = s.inode_of(path)?;
        s.take_sync_fault()?;
        let inode = s.inodes.get_mut(&id).ok_or_else(|| not_found(path))?;
        let len = usize::try_from(len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "length too large"))?;
        inode.dirty_from = inode.dirty_from.min(len).min(inode.data.len());
        inode.data.resize(len, 0);
        inode.sync_prefix(usize::MAX);
        s.file_syncs += 1;
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut s = self.lock();
        s.check_dir(parent_of(to))?;
        let id = s.live.remove(from).ok_or_else(|| not_found(from))?;
        s.live.insert(to.to_path_buf(), id);
        s.gc();
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut s = self.lock();
        s.check_dir(dir)?;
        s.take_sync_fault()?;
        s.durable.retain(|p, _| parent_of(p) != dir);
        let entries: Vec<(PathBuf, u64)> = s
            .live
            .iter()
            .filter(|(p, _)| parent_of(p) == dir)
            .map(|(p, id)| (p.clone(), *id))
            .collect();
        s.durable.extend(entries);
        s.dir_syncs += 1;
        s.gc();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        PathBuf::from("/data/version-2")
    }

    #[test]
    fn a_slow_disk_hands_out_latencies_and_marks_the_window_until_the_fsync() {
        use std::time::Duration;
        let disk = MemDisk::new();
        assert_eq!(
            disk.sync_latency(),
            Duration::ZERO,
            "instantaneous by default"
        );
        assert!(!disk.sync_pending());
        let ms = Duration::from_millis(7);
        disk.set_sync_latency(SyncLatency::new(1, ms, ms));
        disk.create_dir_all(&dir()).expect("dir");
        let mut f = disk.create_new(&dir().join("log.1")).expect("create");
        f.write_all(b"proposal").expect("write");
        assert_eq!(disk.sync_latency(), ms);
        assert!(disk.sync_pending(), "inside the window");
        f.sync().expect("sync");
        assert!(!disk.sync_pending(), "the fsync closes the window");
        disk.sync_latency();
        disk.crash();
        assert!(!disk.sync_pending(), "a crash ends the window too");
    }

    #[test]
    fn crash_keeps_synced_content_only() {
        let disk = MemDisk::new();
        disk.create_dir_all(&dir()).expect("mkdir");
        let path = dir().join("f");
        let mut f = disk.create_new(&path).expect("create");
        f.write_all(b"abc").expect("write");
        f.sync().expect("sync");
        disk.sync_dir(&dir()).expect("sync dir");
        f.write_all(b"def").expect("write");
        assert_eq!(disk.read(&path).expect("read"), Some(b"abcdef".to_vec()));
        disk.crash();
        assert_eq!(disk.read(&path).expect("read"), Some(b"abc".to_vec()));
        assert!(f.write_all(b"x").is_err(), "a pre-crash handle is dead");
        assert!(f.sync().is_err());
    }

    #[test]
    fn a_file_whose_directory_was_not_synced_vanishes() {
        let disk = MemDisk::new();
        disk.create_dir_all(&dir()).expect("mkdir");
        let path = dir().join("f");
        let mut f = disk.create_new(&path).expect("create");
        f.write_all(b"abc").expect("write");
        f.sync().expect("sync");
        disk.crash();
        assert_eq!(disk.read(&path).expect("read"), None);
        assert!(disk.list_dir(&dir()).expect("list").is_empty());
    }

    #[test]
    fn unsynced_rename_and_remove_are_undone() {
        let disk = MemDisk::new();
        disk.create_dir_all(&dir()).expect("mkdir");
        let a = dir().join("a");
        let b = dir().join("b");
        disk.write_atomic(&a, b"one").expect("write");
        disk.rename(&a, &b).expect("rename");
        disk.crash();
        assert_eq!(disk.read(&a).expect("read"), Some(b"one".to_vec()));
        assert_eq!(disk.read(&b).expect("read"), None);
        disk.remove_file(&a).expect("remove");
        disk.crash();
        assert_eq!(disk.read(&a).expect("read"), Some(b"one".to_vec()));
        disk.remove_file(&a).expect("remove");
        disk.sync_dir(&dir()).expect("sync dir");
        disk.crash();
        assert_eq!(disk.read(&a).expect("read"), None);
    }

    #[test]
    fn write_atomic_is_durable_and_replaces() {
        let disk = MemDisk::new();
        disk.create_dir_all(&dir()).expect("mkdir");
        let a = dir().join("a");
        disk.write_atomic(&a, b"one").expect("write");
        disk.write_atomic(&a, b"two").expect("write");
        disk.crash();
        assert_eq!(disk.read(&a).expect("read"), Some(b"two".to_vec()));
        assert_eq!(disk.list_dir(&dir()).expect("list"), vec!["a"]);
    }

    #[test]
    fn truncate_is_durable_and_faults_apply_to_durable_content() {
        let disk = MemDisk::new();
        disk.create_dir_all(&dir()).expect("mkdir");
        let a = dir().join("a");
        disk.write_atomic(&a, b"abcdef").expect("write");
        disk.truncate(&a, 4).expect("truncate");
        disk.flip_bit(&a, 0, 0).expect("flip");
        disk.crash();
        assert_eq!(disk.read(&a).expect("read"), Some(b"`bcd".to_vec()));
        disk.tear(&a, 2).expect("tear");
        disk.crash();
        assert_eq!(disk.read(&a).expect("read"), Some(b"`b".to_vec()));
        assert!(disk.flip_bit(&a, 9, 0).is_err());
    }

    #[test]
    fn a_sync_handle_makes_durable_what_was_written_before_it_and_never_less() {
        let disk = MemDisk::new();
        disk.create_dir_all(&dir()).expect("mkdir");
        disk.sync_dir(&dir()).expect("sync dir");
        let a = dir().join("a");
        let mut f = disk.create_new(&a).expect("create");
        disk.sync_dir(&dir()).expect("sync dir");
        f.write_all(b"first").expect("write");
        let handle = f.sync_handle().expect("handle");
        f.write_all(b"-second").expect("write");
        handle.sync().expect("sync");
        disk.crash();
        assert_eq!(disk.read(&a).expect("read"), Some(b"first".to_vec()));

        // A full sync after the handle was taken is not undone by the handle running late.
        let mut f = disk.open_append(&a).expect("open");
        f.write_all(b"+more").expect("write");
        let handle = f.sync_handle().expect("handle");
        f.write_all(b"+rest").expect("write");
        f.sync().expect("sync");
        handle.sync().expect("late sync");
        disk.crash();
        assert_eq!(
            disk.read(&a).expect("read"),
            Some(b"first+more+rest".to_vec())
        );
    }

    #[test]
    fn injected_sync_failures_fail_and_keep_nothing() {
        let disk = MemDisk::new();
        disk.create_dir_all(&dir()).expect("mkdir");
        let a = dir().join("a");
        let mut f = disk.create_new(&a).expect("create");
        disk.sync_dir(&dir()).expect("sync dir");
        f.write_all(b"abc").expect("write");
        disk.fail_next_syncs(1);
        assert!(f.sync().is_err());
        disk.crash();
        assert_eq!(disk.read(&a).expect("read"), Some(Vec::new()));
    }

    #[test]
    fn unlinked_files_are_freed_when_unreachable() {
        let disk = MemDisk::new();
        disk.create_dir_all(&dir()).expect("mkdir");
        let a = dir().join("a");
        let mut f = disk.create_new(&a).expect("create");
        disk.remove_file(&a).expect("remove");
        f.write_all(b"still writable while open").expect("write");
        drop(f);
        assert!(disk.lock().inodes.is_empty());
    }
}
