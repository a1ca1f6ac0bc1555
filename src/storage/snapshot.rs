//! Snapshots of the data tree in `dataDir/version-2`, as ZooKeeper's `FileSnap` keeps them: one
//! file per snapshot, named by the last zxid applied to the tree it holds, written atomically,
//! and checked end to end on read so that a truncated or damaged file is skipped in favour of an
//! older one (the transaction log still holds what is needed to replay from there, because
//! purging keeps the log from the oldest retained snapshot on).
//!
//! # On-disk format (big-endian)
//!
//! ```text
//! snapshot.<zxid lower-case hex>:
//!   header (24 bytes):  magic "ZBSN" | version u32 = 1 | zxid u64 | payload length u64
//!   payload:            opaque bytes (the data tree serializes itself)
//!   trailer (12 bytes): payload length u64 | crc32 of everything before the crc
//! ```
//!
//! The length is stored at both ends so a file cut short is recognised as such even if the
//! cut happens to land where a trailer could be (ZooKeeper's `Util.isValidSnapshot` relies on
//! a trailing length the same way), and a file with bytes after the trailer is rejected.

use super::disk::{remove_if_exists, tmp_path, Disk, DiskFile};
use super::txnlog::{read_full, Fields};
use crate::ids::Zxid;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const SNAPSHOT_PREFIX: &str = "snapshot.";
const SNAP_MAGIC: [u8; 4] = *b"ZBSN";
const FORMAT_VERSION: u32 = 1;
const HEADER_LEN: usize = 24;
const TRAILER_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum SnapError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{file}: invalid snapshot: {detail}")]
    Invalid { file: PathBuf, detail: String },
    #[error(
        "{dir}: none of the {found} snapshots is valid; the data tree cannot be rebuilt from \
         this server's disk. Move the snapshots and transaction log aside (keep them for \
         diagnosis) and restart this server so that the leader resyncs it with a SNAP"
    )]
    NoValidSnapshot { dir: PathBuf, found: usize },
}

/// What [`SnapStore::purge`] did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SnapPurge {
    /// Snapshots deleted, oldest first.
    pub removed: Vec<Zxid>,
    /// The zxid of the oldest snapshot kept: pass it to
    /// [`TxnLog::purge_before`](super::TxnLog::purge_before) to free the log segments no kept
    /// snapshot needs. `None` when no valid snapshot exists (then nothing may be purged).
    pub log_purge_point: Option<Zxid>,
}

/// The snapshot directory of one server.
#[derive(Debug, Clone)]
pub struct SnapStore {
    dir: PathBuf,
    disk: Arc<dyn Disk>,
}

impl SnapStore {
    /// Open (creating `dir` if needed).
    pub fn open(dir: &Path, disk: Arc<dyn Disk>) -> Result<SnapStore, SnapError> {
        disk.create_dir_all(dir).map_err(|source| SnapError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(SnapStore {
            dir: dir.to_path_buf(),
            disk,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path_of(&self, zxid: Zxid) -> PathBuf {
        self.dir.join(format!("{SNAPSHOT_PREFIX}{:x}", zxid.0))
    }

    /// Write the snapshot of the tree as of `zxid`, atomically and durably: a temp file,
    /// fsynced, renamed into place, then the directory fsynced. A crash at any point leaves
    /// either no `snapshot.<zxid>` or a complete one. Replaces an existing snapshot of the
    /// same zxid.
    pub fn write(&self, zxid: Zxid, payload: &[u8]) -> Result<PathBuf, SnapError> {
        self.write_streamed(zxid, payload.len() as u64, |out| out.write_all(payload))
    }

    /// [`SnapStore::write`] for a payload produced piecewise by `fill`, which must write
    /// exactly `len` bytes. The payload goes to the file through a small buffer, so a tree of
    /// hundreds of megabytes is never held in memory as one image (allocating and first
    /// touching that much memory for every snapshot cost more CPU than encoding the tree).
    pub fn write_streamed(
        &self,
        zxid: Zxid,
        len: u64,
        fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> Result<PathBuf, SnapError> {
        let path = self.path_of(zxid);
        let tmp = tmp_path(&path).map_err(|source| SnapError::Io {
            path: path.clone(),
            source,
        })?;
        let result = self.write_via(&tmp, &path, zxid, len, fill);
        if result.is_err() {
            // Best effort: a stale temp file is ignored by every reader and replaced next time.
            let _ = self.disk.remove_file(&tmp);
        }
        result?;
        tracing::info!(zxid = %zxid, file = %path.display(), bytes = len, "wrote snapshot");
        Ok(path)
    }

    fn write_via(
        &self,
        tmp: &Path,
        path: &Path,
        zxid: Zxid,
        len: u64,
        fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> Result<(), SnapError> {
        let io_err = |p: &Path| {
            let p = p.to_path_buf();
            move |source| SnapError::Io { path: p, source }
        };
        remove_if_exists(&*self.disk, tmp).map_err(io_err(tmp))?;
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(&SNAP_MAGIC);
        header.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
        header.extend_from_slice(&zxid.0.to_be_bytes());
        header.extend_from_slice(&len.to_be_bytes());

        let file = self.disk.create_new(tmp).map_err(io_err(tmp))?;
        let mut out = ChecksummedWriter::new(file);
        out.write_all(&header).map_err(io_err(tmp))?;
        fill(&mut out).map_err(io_err(tmp))?;
        let written = out.written - HEADER_LEN as u64;
        if written != len {
            return Err(SnapError::Io {
                path: tmp.to_path_buf(),
                source: io::Error::other(format!(
                    "snapshot payload was announced as {len} bytes but {written} were written"
                )),
            });
        }
        out.write_all(&len.to_be_bytes()).map_err(io_err(tmp))?;
        let (mut file, crc) = out.finish().map_err(io_err(tmp))?;
        file.write_all(&crc.to_be_bytes()).map_err(io_err(tmp))?;
        file.sync().map_err(io_err(tmp))?;
        file.release_cache();
        drop(file);
        self.disk.rename(tmp, path).map_err(io_err(path))?;
        self.disk.sync_dir(&self.dir).map_err(io_err(&self.dir))
    }

    /// The zxids of all snapshot files (valid or not), oldest first. Temp files and other names
    /// are ignored.
    pub fn list(&self) -> Result<Vec<Zxid>, SnapError> {
        let names = self
            .disk
            .list_dir(&self.dir)
            .map_err(|source| SnapError::Io {
                path: self.dir.clone(),
                source,
            })?;
        let mut zxids: Vec<Zxid> = names.iter().filter_map(|n| parse_name(n)).collect();
        zxids.sort();
        zxids.dedup();
        Ok(zxids)
    }

    /// Read and fully validate the snapshot of `zxid`.
    pub fn read(&self, zxid: Zxid) -> Result<Vec<u8>, SnapError> {
        let path = self.path_of(zxid);
        match self.check(&path, zxid, true)? {
            Ok(payload) => Ok(payload.unwrap_or_default()),
            Err(detail) => Err(SnapError::Invalid { file: path, detail }),
        }
    }

    /// The newest snapshot that validates, skipping (with a warning) newer ones that do not, as
    /// ZooKeeper falls back to older snapshots. `Ok(None)` only when there is no snapshot file
    /// at all (a new server); if there are some but none validates, that is
    /// [`SnapError::NoValidSnapshot`], because starting from an empty tree would silently drop
    /// everything those snapshots held. I/O errors are returned, not skipped: a failing disk
    /// should be seen.
    pub fn newest_valid(&self) -> Result<Option<(Zxid, Vec<u8>)>, SnapError> {
        let zxids = self.list()?;
        for &zxid in zxids.iter().rev() {
            let path = self.path_of(zxid);
            match self.check(&path, zxid, true)? {
                Ok(payload) => return Ok(Some((zxid, payload.unwrap_or_default()))),
                Err(detail) => tracing::warn!(
                    file = %path.display(),
                    %detail,
                    "skipping an invalid snapshot; falling back to an older one"
                ),
            }
        }
        if zxids.is_empty() {
            Ok(None)
        } else {
            Err(SnapError::NoValidSnapshot {
                dir: self.dir.clone(),
                found: zxids.len(),
            })
        }
    }

    /// The newest `keep` valid snapshots (at least one is always asked for), newest first.
    /// Validation streams each file; nothing large is held in memory.
    pub fn retained(&self, keep: usize) -> Result<Vec<Zxid>, SnapError> {
        let keep = keep.max(1);
        let mut kept = Vec::new();
        for &zxid in self.list()?.iter().rev() {
            if kept.len() == keep {
                break;
            }
            if self.check(&self.path_of(zxid), zxid, false)?.is_ok() {
                kept.push(zxid);
            }
        }
        Ok(kept)
    }

    /// The zxid below which log segments are not needed if only the newest `keep` valid
    /// snapshots are retained: the oldest retained snapshot's zxid (see
    /// [`SnapPurge::log_purge_point`]).
    pub fn log_purge_point(&self, keep: usize) -> Result<Option<Zxid>, SnapError> {
        Ok(self.retained(keep)?.last().copied())
    }

    /// `autopurge.snapRetainCount` semantics: keep the newest `keep` valid snapshots (at least
    /// one; ZooKeeper insists on three) and delete every snapshot, valid or not, older than the
    /// oldest of them, plus stale temp files of such zxids. Invalid snapshots newer than that
    /// are left for an operator to look at. The log half is the caller's:
    /// `log.purge_before(result.log_purge_point)`.
    pub fn purge(&self, keep: usize) -> Result<SnapPurge, SnapError> {
        let retained = self.retained(keep)?;
        let Some(&oldest_kept) = retained.last() else {
            return Ok(SnapPurge::default());
        };
        let names = self
            .disk
            .list_dir(&self.dir)
            .map_err(|source| SnapError::Io {
                path: self.dir.clone(),
                source,
            })?;
        let mut doomed: Vec<(Zxid, String)> = names
            .into_iter()
            .filter_map(|name| {
                let base = name.strip_suffix(".tmp").unwrap_or(&name);
                let zxid = parse_name(base)?;
                (zxid < oldest_kept).then_some((zxid, name))
            })
            .collect();
        doomed.sort();
        let mut removed = Vec::new();
        for (zxid, name) in doomed {
            let path = self.dir.join(&name);
            self.disk
                .remove_file(&path)
                .map_err(|source| SnapError::Io { path, source })?;
            if !name.ends_with(".tmp") {
                removed.push(zxid);
            }
        }
        self.disk
            .sync_dir(&self.dir)
            .map_err(|source| SnapError::Io {
                path: self.dir.clone(),
                source,
            })?;
        if !removed.is_empty() {
            tracing::info!(removed = removed.len(), oldest_kept = %oldest_kept, "purged snapshots");
        }
        Ok(SnapPurge {
            removed,
            log_purge_point: Some(oldest_kept),
        })
    }

    /// Validate one snapshot by streaming it. The outer `Result` is I/O trouble, the inner one
    /// says what is wrong with the content. With `keep_payload` the payload is returned.
    #[allow(clippy::type_complexity)]
    fn check(
        &self,
        path: &Path,
        zxid: Zxid,
        keep_payload: bool,
    ) -> Result<Result<Option<Vec<u8>>, String>, SnapError> {
        let io_err = |source| SnapError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = self.disk.open_read(path).map_err(io_err)?;
        let mut r = BufReader::with_capacity(64 << 10, file);
        validate(&mut r, zxid, keep_payload).map_err(io_err)
    }
}

/// Only the canonical spelling `snapshot.<lower-case hex, no leading zeros>` counts, so that
/// every listed zxid maps back to exactly one file ([`SnapStore::path_of`]).
fn parse_name(name: &str) -> Option<Zxid> {
    let hex = name.strip_prefix(SNAPSHOT_PREFIX)?;
    let zxid = u64::from_str_radix(hex, 16).ok()?;
    (format!("{zxid:x}") == hex).then_some(Zxid(zxid))
}

#[allow(clippy::type_complexity)]
fn validate(
    r: &mut impl Read,
    zxid: Zxid,
    keep_payload: bool,
) -> io::Result<Result<Option<Vec<u8>>, String>> {
    let mut header = [0u8; HEADER_LEN];
    let n = read_full(r, &mut header)?;
    if n < HEADER_LEN {
        return Ok(Err(format!(
            "truncated: {n} bytes, shorter than the header"
        )));
    }
    let mut f = Fields(&header);
    let magic: [u8; 4] = f.take();
    let version = f.u32();
    let file_zxid = Zxid(f.u64());
    let len = f.u64();
    if magic != SNAP_MAGIC {
        return Ok(Err("not a zabd snapshot (bad magic)".to_string()));
    }
    if version != FORMAT_VERSION {
        return Ok(Err(format!(
            "format version {version}; this build reads version {FORMAT_VERSION}"
        )));
    }
    if file_zxid != zxid {
        return Ok(Err(format!(
            "header says zxid {file_zxid} but the file name says {zxid}"
        )));
    }
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&header);
    let mut payload = Vec::new();
    let mut remaining = len;
    let mut chunk = vec![0u8; 64 << 10];
    while remaining > 0 {
        let want = usize::try_from(remaining)
            .unwrap_or(usize::MAX)
            .min(chunk.len());
        let got = read_full(r, &mut chunk[..want])?;
        let bytes = &chunk[..got];
        hasher.update(bytes);
        if keep_payload {
            payload.extend_from_slice(bytes);
        }
        remaining -= got as u64;
        if got < want {
            return Ok(Err(format!(
                "truncated: payload ends after {} of {len} bytes",
                len - remaining
            )));
        }
    }
    let mut trailer = [0u8; TRAILER_LEN];
    let n = read_full(r, &mut trailer)?;
    if n < TRAILER_LEN {
        return Ok(Err("truncated: the trailer is missing".to_string()));
    }
    let mut f = Fields(&trailer);
    let trailer_len = f.u64();
    let crc = f.u32();
    if trailer_len != len {
        return Ok(Err(format!(
            "length {len} in the header but {trailer_len} in the trailer"
        )));
    }
    hasher.update(&trailer_len.to_be_bytes());
    if crc != hasher.finalize() {
        return Ok(Err("checksum mismatch".to_string()));
    }
    if read_full(r, &mut [0u8; 1])? != 0 {
        return Ok(Err("bytes after the trailer".to_string()));
    }
    Ok(Ok(keep_payload.then_some(payload)))
}

/// Buffers writes to a [`DiskFile`] (snapshot encoders write field by field) and keeps the
/// CRC-32 and the count of everything that went through it.
struct ChecksummedWriter {
    file: Box<dyn DiskFile>,
    buf: Vec<u8>,
    crc: crc32fast::Hasher,
    written: u64,
    /// Bytes handed to the file since its last fsync.
    unsynced: u64,
}

impl ChecksummedWriter {
    const BUFFER_BYTES: usize = 256 << 10;
    const DIRECT_BYTES: usize = 32 << 10;
    /// fsync the snapshot every this many bytes instead of only at the end. The transaction
    /// log shares the file system: on ext4 (ordered data) a log fdatasync can wait for the
    /// journal to write out other files' newly allocated data, so one final fsync of a 100 MB
    /// snapshot showed up as 60-80 ms stalls of every write. Paced, a log fsync waits for at
    /// most this much snapshot data. The pages are released as they become clean, too.
    const SYNC_EVERY_BYTES: u64 = 2 << 20;

    fn new(file: Box<dyn DiskFile>) -> Self {
        ChecksummedWriter {
            file,
            buf: Vec::with_capacity(Self::BUFFER_BYTES),
            crc: crc32fast::Hasher::new(),
            written: 0,
            unsynced: 0,
        }
    }

    fn drain(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.crc.update(&self.buf);
        self.file.write_all(&self.buf)?;
        self.paced(self.buf.len())?;
        self.buf.clear();
        Ok(())
    }

    /// Count `n` bytes just written to the file; fsync once enough have piled up.
    fn paced(&mut self, n: usize) -> io::Result<()> {
        self.unsynced += n as u64;
        if self.unsynced >= Self::SYNC_EVERY_BYTES {
            self.file.sync()?;
            self.file.release_cache();
            self.unsynced = 0;
        }
        Ok(())
    }

    /// Write out what is buffered; the file and the CRC of everything written.
    fn finish(mut self) -> io::Result<(Box<dyn DiskFile>, u32)> {
        self.drain()?;
        Ok((self.file, self.crc.finalize()))
    }
}

impl Write for ChecksummedWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if bytes.len() >= Self::DIRECT_BYTES {
            // Large pieces skip the buffer (one copy fewer), after what it holds.
            self.drain()?;
            self.crc.update(bytes);
            self.file.write_all(bytes)?;
            self.paced(bytes.len())?;
        } else {
            if self.buf.len() + bytes.len() > Self::BUFFER_BYTES {
                self.drain()?;
            }
            self.buf.extend_from_slice(bytes);
        }
        self.written += bytes.len() as u64;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.drain()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{LogOptions, MemDisk, RealDisk, TxnLog};

    fn dir() -> PathBuf {
        PathBuf::from("/data/version-2")
    }

    fn store(disk: &MemDisk) -> SnapStore {
        SnapStore::open(&dir(), Arc::new(disk.clone())).expect("open")
    }

    /// Records what a writer does to its file: bytes written and the file size at each sync.
    #[derive(Debug, Default)]
    struct RecordingFile {
        len: u64,
        synced_at: Arc<std::sync::Mutex<Vec<u64>>>,
    }

    impl DiskFile for RecordingFile {
        fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
            self.len += bytes.len() as u64;
            Ok(())
        }
        fn sync(&mut self) -> io::Result<()> {
            self.synced_at.lock().expect("lock").push(self.len);
            Ok(())
        }
        fn len(&self) -> u64 {
            self.len
        }
        fn sync_handle(&self) -> io::Result<Box<dyn crate::storage::disk::SyncHandle>> {
            Err(io::Error::other("not used"))
        }
    }

    /// A large snapshot is fsynced as it is written, never with more than
    /// `SYNC_EVERY_BYTES` (plus one write) outstanding, so a log fsync never waits for all of it.
    #[test]
    fn a_large_snapshot_is_synced_in_paced_steps() {
        let synced_at = Arc::default();
        let file = RecordingFile {
            len: 0,
            synced_at: Arc::clone(&synced_at),
        };
        let mut out = ChecksummedWriter::new(Box::new(file));
        let every = ChecksummedWriter::SYNC_EVERY_BYTES;
        let total = 5 * every + 12345;
        // Both paths: small pieces through the buffer, and large ones straight through.
        let (small, large) = (vec![7u8; 1000], vec![9u8; 64 << 10]);
        let mut written = 0;
        while written < total {
            let piece = if (written / 1000) % 3 == 0 {
                &small
            } else {
                &large
            };
            out.write_all(piece).expect("write");
            written += piece.len() as u64;
        }
        let (mut file, _) = out.finish().expect("finish");
        file.sync().expect("final sync");
        let synced_at = synced_at.lock().expect("lock").clone();
        assert!(synced_at.len() >= 5, "{synced_at:?}");
        let mut previous = 0;
        for at in synced_at {
            assert!(at - previous <= every + (64 << 10), "{previous} -> {at}");
            previous = at;
        }
        assert_eq!(previous, written);
    }

    #[test]
    fn write_read_round_trip_survives_a_crash() {
        let disk = MemDisk::new();
        let snaps = store(&disk);
        assert_eq!(snaps.newest_valid().expect("empty"), None);
        snaps.write(Zxid(0x100000005), b"tree at 5").expect("write");
        snaps.write(Zxid(0x100000009), b"tree at 9").expect("write");
        disk.crash();
        let snaps = store(&disk);
        assert_eq!(
            snaps.list().expect("list"),
            vec![Zxid(0x100000005), Zxid(0x100000009)]
        );
        assert_eq!(
            snaps.newest_valid().expect("newest"),
            Some((Zxid(0x100000009), b"tree at 9".to_vec()))
        );
        assert_eq!(snaps.read(Zxid(0x100000005)).expect("read"), b"tree at 5");
        let names = disk.list_dir(&dir()).expect("list");
        assert!(
            names.contains(&"snapshot.100000009".to_string()),
            "{names:?}"
        );
    }

    #[test]
    fn a_streamed_snapshot_is_byte_identical_to_a_one_shot_one() {
        // Pieces of every size around the writer's thresholds, so drains and direct writes mix.
        let pieces: Vec<Vec<u8>> = [
            7usize,
            32 << 10,
            3,
            (32 << 10) - 5,
            12,
            300 << 10,
            1,
            255 << 10,
            5,
        ]
        .iter()
        .enumerate()
        .map(|(i, &n)| (0..n).map(|b| (b * 31 + i) as u8).collect())
        .collect();
        let payload = pieces.concat();
        let disk = MemDisk::new();
        let snaps = store(&disk);
        let one_shot = snaps.write(Zxid(5), &payload).expect("write");
        let streamed = snaps
            .write_streamed(Zxid(9), payload.len() as u64, |out| {
                pieces.iter().try_for_each(|p| out.write_all(p))
            })
            .expect("write");
        let a = disk.read(&one_shot).expect("read").expect("exists");
        let b = disk.read(&streamed).expect("read").expect("exists");
        // Only the zxid in the header (bytes 8..16) differs.
        assert_eq!(a.len(), b.len());
        assert_eq!(a[..8], b[..8]);
        assert_eq!(a[16..a.len() - 4], b[16..b.len() - 4]);
        assert_eq!(snaps.read(Zxid(9)).expect("valid"), payload);
    }

    #[test]
    fn a_streamed_snapshot_of_the_wrong_length_is_refused_and_leaves_nothing() {
        let disk = MemDisk::new();
        let snaps = store(&disk);
        for announced in [4u64, 6] {
            let err = snaps
                .write_streamed(Zxid(9), announced, |out| out.write_all(b"abcde"))
                .expect_err("length mismatch");
            assert!(err.to_string().contains("announced"), "{err}");
        }
        assert_eq!(snaps.list().expect("list"), Vec::<Zxid>::new());
        assert_eq!(disk.list_dir(&dir()).expect("ls"), Vec::<String>::new());
    }

    #[test]
    fn a_corrupt_newest_snapshot_falls_back_to_an_older_one() {
        let disk = MemDisk::new();
        let snaps = store(&disk);
        snaps.write(Zxid(5), b"old").expect("write");
        let newest = snaps.write(Zxid(9), b"new tree").expect("write");
        let len = disk.len_of(&newest).expect("exists");
        for offset in 0..len {
            let copy = MemDisk::new();
            let snaps_copy = store(&copy);
            snaps_copy.write(Zxid(5), b"old").expect("write");
            let p = snaps_copy.write(Zxid(9), b"new tree").expect("write");
            copy.flip_bit(&p, offset, (offset % 8) as u8).expect("flip");
            assert_eq!(
                snaps_copy.newest_valid().expect("fallback"),
                Some((Zxid(5), b"old".to_vec())),
                "flip at {offset}"
            );
            assert!(matches!(
                snaps_copy.read(Zxid(9)),
                Err(SnapError::Invalid { .. })
            ));
        }
    }

    #[test]
    fn a_truncated_snapshot_is_detected_at_every_length() {
        let payload = vec![7u8; 100];
        let full = (HEADER_LEN + payload.len() + TRAILER_LEN) as u64;
        for cut in 0..full {
            let disk = MemDisk::new();
            let snaps = store(&disk);
            snaps.write(Zxid(1), b"first").expect("write");
            let p = snaps.write(Zxid(2), &payload).expect("write");
            disk.tear(&p, cut).expect("tear");
            let err = snaps.read(Zxid(2)).expect_err("truncated");
            assert!(err.to_string().contains("invalid snapshot"), "{err}");
            assert_eq!(
                snaps.newest_valid().expect("fallback").map(|s| s.0),
                Some(Zxid(1))
            );
        }
    }

    #[test]
    fn trailing_garbage_is_invalid() {
        let disk = MemDisk::new();
        let snaps = store(&disk);
        let p = snaps.write(Zxid(2), b"abc").expect("write");
        let mut f = disk.open_append(&p).expect("open");
        f.write_all(b"x").expect("write");
        let err = snaps.read(Zxid(2)).expect_err("garbage");
        assert!(err.to_string().contains("after the trailer"), "{err}");
    }

    #[test]
    fn all_snapshots_invalid_is_an_error_not_an_empty_tree() {
        let disk = MemDisk::new();
        let snaps = store(&disk);
        let p = snaps.write(Zxid(2), b"abc").expect("write");
        disk.flip_bit(&p, 30, 1).expect("flip");
        let err = snaps.newest_valid().expect_err("no valid snapshot");
        assert!(
            matches!(err, SnapError::NoValidSnapshot { found: 1, .. }),
            "{err}"
        );
    }

    #[test]
    fn a_crash_mid_write_leaves_only_a_temp_file_that_is_ignored() {
        let disk = MemDisk::new();
        let snaps = store(&disk);
        snaps.write(Zxid(1), b"one").expect("write");
        // A writer that died before its rename: synced temp file, no snapshot.2.
        let mut f = disk
            .create_new(&dir().join("snapshot.2.tmp"))
            .expect("create");
        f.write_all(b"partial").expect("write");
        f.sync().expect("sync");
        disk.sync_dir(&dir()).expect("sync dir");
        disk.crash();
        let snaps = store(&disk);
        assert_eq!(snaps.list().expect("list"), vec![Zxid(1)]);
        assert_eq!(
            snaps.newest_valid().expect("newest").map(|s| s.0),
            Some(Zxid(1))
        );
        // The next write of that zxid replaces the stale temp file.
        snaps.write(Zxid(2), b"two").expect("write");
        assert_eq!(snaps.read(Zxid(2)).expect("read"), b"two");
    }

    #[test]
    fn purge_keeps_the_newest_valid_snapshots() {
        let disk = MemDisk::new();
        let snaps = store(&disk);
        for z in 1..=6u64 {
            snaps
                .write(Zxid(z * 10), format!("tree {z}").as_bytes())
                .expect("write");
        }
        // The newest is corrupt: it does not count toward the retained three.
        disk.flip_bit(&snaps.path_of(Zxid(60)), 25, 0)
            .expect("flip");
        disk.create_new(&dir().join("snapshot.a.tmp"))
            .expect("stale tmp");
        assert_eq!(
            snaps.retained(3).expect("retained"),
            vec![Zxid(50), Zxid(40), Zxid(30)]
        );
        let purge = snaps.purge(3).expect("purge");
        assert_eq!(purge.removed, vec![Zxid(10), Zxid(20)]);
        assert_eq!(purge.log_purge_point, Some(Zxid(30)));
        disk.crash();
        let snaps = store(&disk);
        assert_eq!(
            snaps.list().expect("list"),
            vec![Zxid(30), Zxid(40), Zxid(50), Zxid(60)]
        );
        // Other spellings are not snapshots.
        for name in ["snapshot.0a", "snapshot.A", "snapshot.+a", "snapshot."] {
            disk.create_new(&dir().join(name)).expect("stray");
        }
        assert_eq!(snaps.list().expect("list").len(), 4);
        assert!(!disk
            .list_dir(&dir())
            .expect("list")
            .contains(&"snapshot.a.tmp".to_string()));
        // keep = 0 still keeps one.
        assert_eq!(
            snaps.purge(0).expect("purge").removed,
            vec![Zxid(30), Zxid(40)]
        );
        assert_eq!(
            snaps.newest_valid().expect("newest").map(|s| s.0),
            Some(Zxid(50))
        );
    }

    #[test]
    fn purging_with_the_log_keeps_replay_from_the_oldest_snapshot_possible() {
        let disk = MemDisk::new();
        let arc: Arc<dyn Disk> = Arc::new(disk.clone());
        let snaps = SnapStore::open(&PathBuf::from("/data/snap"), Arc::clone(&arc)).expect("snaps");
        let (mut log, _) = TxnLog::open(
            &PathBuf::from("/data/log"),
            Arc::clone(&arc),
            LogOptions {
                segment_bytes: 100,
                ..LogOptions::default()
            },
        )
        .expect("log");
        for z in 1..=40u64 {
            log.append(Zxid(z), &[z as u8; 30]).expect("append");
            if z % 10 == 0 {
                log.sync().expect("sync");
                snaps.write(Zxid(z), b"tree").expect("snap");
            }
        }
        let purge = snaps.purge(2).expect("purge");
        assert_eq!(purge.log_purge_point, Some(Zxid(30)));
        let removed = log.purge_before(Zxid(30)).expect("purge log");
        assert!(!removed.is_empty());
        let replay: Vec<Zxid> = log
            .iter_from(Zxid(30))
            .expect("iter")
            .map(|r| r.expect("record").0)
            .collect();
        assert_eq!(replay, (31..=40).map(Zxid).collect::<Vec<_>>());
        assert!(log.first_zxid().expect("non-empty") <= Zxid(31));
    }

    #[test]
    fn real_disk_round_trip_and_truncation() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("version-2");
        let snaps = SnapStore::open(&dir, Arc::new(RealDisk)).expect("open");
        snaps.write(Zxid(3), b"three").expect("write");
        let p = snaps.write(Zxid(4), b"four").expect("write");
        assert_eq!(snaps.read(Zxid(4)).expect("read"), b"four");
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&p)
            .expect("open");
        f.set_len(10).expect("truncate");
        assert_eq!(
            snaps.newest_valid().expect("newest"),
            Some((Zxid(3), b"three".to_vec()))
        );
    }
}
