//! The transaction log: the replicated transactions, in zxid order, in segment files under
//! `dataLogDir/version-2`, laid out like ZooKeeper's `FileTxnLog` (but not byte-compatible).
//!
//! # On-disk format (all integers big-endian)
//!
//! A segment is named `log.<zxid of its first record, lower-case hex>` and holds:
//!
//! ```text
//! segment header (20 bytes): magic "ZBLG" | version u32 = 1 | first zxid u64 | crc32 u32
//!                            (crc32 of the 16 bytes before it)
//! record, repeated:          payload length u32 | zxid u64 | crc32(zxid ‖ payload) u32 |
//!                            crc32 of the previous 16 bytes u32 | payload
//! ```
//!
//! The record header has its own checksum so that a bit flip in the *length* of a complete
//! record is detected as corruption; without it, a flip that makes the length point past the
//! end of the file would look like a torn write and the record would be silently cut.
//!
//! # What survives a crash, and what recovery does
//!
//! A record is durable once [`TxnLog::sync`] has returned; nothing may be acknowledged before.
//! Because of that, the only damage a crash can do is at the end of the *last* segment: a record
//! that was never completely written (short header, short payload, or a zero-filled tail where
//! the file size reached the disk but the data did not). Such a *torn tail* was never
//! acknowledged, so [`TxnLog::open`] cuts it (durably) and reports it. Anything else — a complete
//! record whose checksum fails, zxids out of order, a damaged segment that is not the last — may
//! have been acknowledged and counted toward a commit, so it is [`LogError::Corrupt`] and the
//! server must not start as if the record had never existed.
//!
//! Two rules keep "only the last segment can be torn" true: rolling to a new segment first
//! fsyncs the old one, and a new segment's header and directory entry are fsynced before any
//! record goes into it.
//!
//! Segments are not preallocated (ZooKeeper preallocates 64 MiB of zeros to make fdatasync
//! cheaper). Recovery still treats a zero-filled tail as torn, since some file systems show one
//! after a crash that persisted the size but not the data; a real record header can never be
//! all zeros because its checksum would not match.

use super::disk::{Disk, DiskFile, SyncHandle};
use crate::ids::Zxid;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Segment files are `log.<hex zxid>`.
pub const SEGMENT_PREFIX: &str = "log.";
const SEGMENT_MAGIC: [u8; 4] = *b"ZBLG";
const FORMAT_VERSION: u32 = 1;
/// Bytes of the per-segment header.
pub const SEGMENT_HEADER_LEN: u64 = 20;
/// Bytes of the per-record header.
pub const RECORD_HEADER_LEN: u64 = 20;
/// The largest payload a record may carry. Far above a 1 MiB znode plus a multi-op's overhead;
/// it exists so a corrupt length can never make recovery allocate without bound.
pub const MAX_PAYLOAD_LEN: usize = 64 << 20;
/// ZooKeeper's default log file size.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;
/// Appends accumulate in memory up to this much before being written (not synced) to the file.
const WRITE_BUFFER_BYTES: usize = 256 << 10;
const READ_BUFFER_BYTES: usize = 64 << 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogOptions {
    /// Roll to a new segment once the current one has at least this many bytes. Smaller
    /// segments let purging free space sooner; each roll costs two extra fsyncs.
    pub segment_bytes: u64,
    /// Records up to this zxid are in the snapshot recovery starts from. [`TxnLog::open`] does
    /// not read a segment that holds nothing else (the next segment starts at or below it), as
    /// ZooKeeper reads only the log from its snapshot's zxid on: with the default
    /// `autopurge.purgeInterval=0` old segments stay forever, and validating all of them made
    /// a start-up read the whole log (a snapshot and 10,000 later transactions on 1 GiB of old
    /// log: 618 ms before, 123 ms after, cold; BENCHMARKS.md "Storage"). Nothing reads such
    /// records again: DIFFs come from memory, and a TRUNC never goes below the snapshot. The
    /// last two segments are always read (see `open`).
    pub covered_through: Zxid,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            covered_through: Zxid(0),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "{file}: corrupt transaction log at byte {offset}: {detail}. A complete record may have \
         been acknowledged, so this server must not start as if it never existed: move the \
         transaction log and snapshots of this server aside (keep them for diagnosis) and \
         restart it so that the leader resyncs it with a SNAP; never do this on a quorum of \
         servers at once"
    )]
    Corrupt {
        file: PathBuf,
        offset: u64,
        detail: String,
    },
    #[error("zxid {zxid} is not above the last logged zxid {last}")]
    OutOfOrder { zxid: Zxid, last: Zxid },
    #[error("a {len}-byte transaction exceeds the {max}-byte record limit")]
    TooLarge { len: usize, max: usize },
    #[error(
        "the transaction log in {dir} failed an earlier write or fsync, so what is on disk is \
         unknown; restart the server so that it recovers from the disk"
    )]
    Poisoned { dir: PathBuf },
}

/// What [`TxnLog::open`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// The last record's zxid, `Zxid(0)` for an empty log.
    pub last_zxid: Zxid,
    /// The first record's zxid, `None` for an empty log.
    pub first_zxid: Option<Zxid>,
    /// Records read and validated (not those of the unread segments).
    pub records: u64,
    pub segments: usize,
    /// Segments not read because the snapshot covers them ([`LogOptions::covered_through`]).
    pub unread_segments: usize,
    /// The torn tail that was cut, if any.
    pub torn: Option<TornTail>,
}

/// A cut made by recovery: bytes of a record (or of a new segment's header) that were never
/// completely written, so never acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    pub file: PathBuf,
    /// Where the cut was made (the file's new length).
    pub offset: u64,
    pub bytes_cut: u64,
    pub reason: String,
    /// The segment held no complete record and was removed altogether.
    pub removed_file: bool,
}

#[derive(Debug, Clone)]
struct Segment {
    base: Zxid,
    path: PathBuf,
}

/// An append-only, segmented, checksummed log of opaque transactions keyed by zxid.
///
/// Not thread-safe by design: the one writer owns it. Readers ([`TxnLog::iter_from`]) get an
/// independent iterator that can move to another thread.
#[derive(Debug)]
pub struct TxnLog {
    dir: PathBuf,
    disk: Arc<dyn Disk>,
    options: LogOptions,
    /// In zxid order; only the last one is written to.
    segments: Vec<Segment>,
    writer: Option<Box<dyn DiskFile>>,
    /// Length of the last segment including `buf`.
    file_len: u64,
    /// Encoded records appended but not yet written to the file.
    buf: Vec<u8>,
    last_appended: Zxid,
    last_synced: Zxid,
    /// Set after any failed write or fsync: after a failed fsync the kernel may have dropped
    /// the dirty pages and cleared the error, so retrying could report success for data that is
    /// gone (the PostgreSQL "fsyncgate" lesson). Only a restart, which rereads the disk, is safe.
    poisoned: bool,
    /// Bumped by every truncation, so that a [`PendingSync`] begun before one cannot mark
    /// records durable that the truncation replaced.
    history: u64,
}

/// An fsync begun by [`TxnLog::begin_sync`], to be run anywhere (typically a blocking thread)
/// while the log goes on taking appends; hand its outcome to [`TxnLog::finish_sync`].
#[derive(Debug)]
pub struct PendingSync {
    handle: Box<dyn SyncHandle>,
    path: PathBuf,
    synced: Synced,
}

/// What a finished [`PendingSync`] made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Synced {
    /// Every record up to this zxid.
    pub upto: Zxid,
    history: u64,
}

impl PendingSync {
    /// The zxid this sync makes durable once it has run.
    pub fn upto(&self) -> Zxid {
        self.synced.upto
    }

    /// The fsync itself (blocking).
    pub fn run(self) -> Result<Synced, LogError> {
        let path = self.path;
        self.handle
            .sync()
            .map_err(|source| LogError::Io { path, source })?;
        Ok(self.synced)
    }
}

impl TxnLog {
    /// Open the log in `dir` (created if missing), validate every record, cut a torn tail and
    /// make everything that is kept durable (a previous process killed before its fsync may
    /// have left records that are readable in the page cache but not yet on disk; they must be
    /// durable before this server reports them to anyone).
    pub fn open(
        dir: &Path,
        disk: Arc<dyn Disk>,
        options: LogOptions,
    ) -> Result<(TxnLog, Recovery), LogError> {
        let io_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| LogError::Io { path, source }
        };
        disk.create_dir_all(dir).map_err(io_err(dir))?;
        let listed = list_segments(&*disk, dir)?;
        let mut segments: Vec<Segment> = Vec::new();
        let mut last = Zxid(0);
        let mut records = 0u64;
        let mut unread = 0usize;
        let mut torn: Option<TornTail> = None;

        for (i, (base, path)) in listed.iter().enumerate() {
            let is_last = i + 1 == listed.len();
            // Every record of this segment comes before the next one's base. The last two are
            // read even so: if the last turns out torn away, the one before becomes the end of
            // the log, whose last zxid and length must be known.
            let covered = i + 2 < listed.len() && listed[i + 1].0 <= options.covered_through;
            if covered {
                segments.push(Segment {
                    base: *base,
                    path: path.clone(),
                });
                unread += 1;
                continue;
            }
            let mut reader = SegmentReader::open(&*disk, path)?;
            if let HeaderStep::Torn { bytes, reason } = reader.header(*base)? {
                if !is_last {
                    return Err(
                        reader.corrupt(0, format!("{reason}, in a segment that is not the last"))
                    );
                }
                torn = Some(TornTail {
                    file: path.clone(),
                    offset: 0,
                    bytes_cut: bytes,
                    reason,
                    removed_file: true,
                });
                break;
            }
            let mut seg_last: Option<Zxid> = None;
            loop {
                match reader.next()? {
                    Step::Record { offset, zxid, .. } => {
                        if seg_last.is_none() && zxid != *base {
                            return Err(reader.corrupt(
                                offset,
                                format!("first record is {zxid} but the file name says {base}"),
                            ));
                        }
                        if zxid <= last {
                            return Err(reader
                                .corrupt(offset, format!("zxid {zxid} does not follow {last}")));
                        }
                        last = zxid;
                        seg_last = Some(zxid);
                        records += 1;
                    }
                    Step::End => break,
                    Step::Torn {
                        offset,
                        bytes,
                        reason,
                    } => {
                        if !is_last {
                            return Err(reader.corrupt(
                                offset,
                                format!("{reason}, in a segment that is not the last"),
                            ));
                        }
                        torn = Some(TornTail {
                            file: path.clone(),
                            offset,
                            bytes_cut: bytes,
                            reason,
                            removed_file: false,
                        });
                        break;
                    }
                }
            }
            match seg_last {
                Some(_) => segments.push(Segment {
                    base: *base,
                    path: path.clone(),
                }),
                None if is_last => {
                    // Created right before its first record, which never made it: the name
                    // claims a zxid the log does not hold, so the file must go.
                    let cut = torn.take().map_or(0, |t| t.bytes_cut);
                    torn = Some(TornTail {
                        file: path.clone(),
                        offset: 0,
                        bytes_cut: SEGMENT_HEADER_LEN + cut,
                        reason: "the newest segment holds no complete record".to_string(),
                        removed_file: true,
                    });
                }
                None => {
                    return Err(reader.corrupt(
                        SEGMENT_HEADER_LEN,
                        "segment holds no record but is not the last".to_string(),
                    ))
                }
            }
        }

        if let Some(t) = &torn {
            if t.removed_file {
                disk.remove_file(&t.file).map_err(io_err(&t.file))?;
            } else {
                disk.truncate(&t.file, t.offset).map_err(io_err(&t.file))?;
            }
            disk.sync_dir(dir).map_err(io_err(dir))?;
            tracing::warn!(
                file = %t.file.display(),
                offset = t.offset,
                bytes = t.bytes_cut,
                reason = %t.reason,
                "cut a torn tail from the transaction log (never completely written, so never acknowledged)"
            );
        }

        let (writer, file_len) = match segments.last() {
            Some(seg) => {
                let mut w = disk.open_append(&seg.path).map_err(io_err(&seg.path))?;
                w.sync().map_err(io_err(&seg.path))?;
                disk.sync_dir(dir).map_err(io_err(dir))?;
                let len = w.len();
                (Some(w), len)
            }
            None => (None, 0),
        };
        let recovery = Recovery {
            last_zxid: last,
            first_zxid: segments.first().map(|s| s.base),
            records,
            segments: segments.len(),
            unread_segments: unread,
            torn,
        };
        tracing::info!(
            dir = %dir.display(),
            last_zxid = %last,
            records,
            segments = segments.len(),
            unread_segments = unread,
            "transaction log opened"
        );
        let log = TxnLog {
            dir: dir.to_path_buf(),
            disk,
            options,
            segments,
            writer,
            file_len,
            buf: Vec::new(),
            last_appended: last,
            last_synced: last,
            history: 0,
            poisoned: false,
        };
        Ok((log, recovery))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The last appended zxid (durable or not); `Zxid(0)` for an empty log.
    pub fn last_zxid(&self) -> Zxid {
        self.last_appended
    }

    /// The last zxid made durable: the highest zxid that may be acknowledged.
    pub fn last_synced(&self) -> Zxid {
        self.last_synced
    }

    /// The oldest zxid still in the log (after purges), `None` when empty. A snapshot at zxid
    /// `z` can be brought up to date from this log only if this is at most `z`'s successor.
    pub fn first_zxid(&self) -> Option<Zxid> {
        self.segments.first().map(|s| s.base)
    }

    /// Append one transaction. Buffered: not durable, and must not be acknowledged, until
    /// [`TxnLog::sync`] returns a zxid at or above it.
    pub fn append(&mut self, zxid: Zxid, payload: &[u8]) -> Result<(), LogError> {
        self.usable()?;
        if zxid <= self.last_appended {
            return Err(LogError::OutOfOrder {
                zxid,
                last: self.last_appended,
            });
        }
        if payload.len() > MAX_PAYLOAD_LEN {
            return Err(LogError::TooLarge {
                len: payload.len(),
                max: MAX_PAYLOAD_LEN,
            });
        }
        let result = self.append_inner(zxid, payload);
        self.poison_on_err(result)
    }

    fn append_inner(&mut self, zxid: Zxid, payload: &[u8]) -> Result<(), LogError> {
        if self.writer.is_none() || self.file_len >= self.options.segment_bytes {
            self.roll(zxid)?;
        }
        let before = self.buf.len();
        encode_record(&mut self.buf, zxid, payload);
        self.file_len += (self.buf.len() - before) as u64;
        self.last_appended = zxid;
        if self.buf.len() >= WRITE_BUFFER_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    /// Make everything appended durable with one fsync (group commit) and return the last
    /// durable zxid. Cheap when there is nothing new.
    pub fn sync(&mut self) -> Result<Zxid, LogError> {
        self.usable()?;
        if self.last_synced == self.last_appended && self.buf.is_empty() {
            return Ok(self.last_synced);
        }
        let result = self.flush().and_then(|()| self.sync_writer());
        self.poison_on_err(result)?;
        self.last_synced = self.last_appended;
        Ok(self.last_synced)
    }

    /// Start a group commit without waiting for it: write what is buffered and return the
    /// fsync to run elsewhere, covering every record appended so far (`None` when all is
    /// durable already). Appends may go on meanwhile; they need a later sync.
    pub fn begin_sync(&mut self) -> Result<Option<PendingSync>, LogError> {
        self.usable()?;
        if self.last_synced == self.last_appended && self.buf.is_empty() {
            return Ok(None);
        }
        let result = self.flush();
        self.poison_on_err(result)?;
        let path = self.current_path();
        let Some(writer) = self.writer.as_ref() else {
            return Ok(None);
        };
        let handle = writer.sync_handle().map_err(|source| LogError::Io {
            path: path.clone(),
            source,
        });
        let handle = self.poison_on_err(handle)?;
        Ok(Some(PendingSync {
            handle,
            path,
            synced: Synced {
                upto: self.last_appended,
                history: self.history,
            },
        }))
    }

    /// Record the outcome of a [`PendingSync`]; returns the last durable zxid. A failed fsync
    /// poisons the log as [`TxnLog::sync`] does. A sync begun before a truncation counts for
    /// nothing (what it covered may have been replaced).
    pub fn finish_sync(&mut self, outcome: Result<Synced, LogError>) -> Result<Zxid, LogError> {
        let synced = self.poison_on_err(outcome)?;
        if synced.history == self.history && synced.upto > self.last_synced {
            self.last_synced = synced.upto.min(self.last_appended);
        }
        Ok(self.last_synced)
    }

    /// Records with zxid > `after`, up to the last appended one (durable or not: the caller
    /// decides what it may send). Starts at the segment that can hold `after`'s successor, found
    /// by file name. The iterator reads the files independently of this log; records appended
    /// after this call are not included, and a concurrent [`TxnLog::truncate_after`] or
    /// [`TxnLog::purge_before`] can make it end with an error.
    pub fn iter_from(&mut self, after: Zxid) -> Result<LogIter, LogError> {
        self.usable()?;
        let result = self.flush();
        self.poison_on_err(result)?;
        let start = self
            .segments
            .iter()
            .rposition(|s| s.base <= after)
            .unwrap_or(0);
        let pending: Vec<(Zxid, PathBuf)> = self
            .segments
            .iter()
            .skip(start)
            .map(|s| (s.base, s.path.clone()))
            .collect();
        Ok(LogIter {
            disk: Arc::clone(&self.disk),
            pending: pending.into_iter(),
            current: None,
            after,
            up_to: self.last_appended,
            seen: Zxid(0),
            done: false,
        })
    }

    /// Remove every record above `zxid` (ZAB's TRUNC), durably, before returning. Afterwards
    /// [`TxnLog::last_zxid`] is the last record kept, which is at most `zxid`.
    ///
    /// Later segments are removed newest first and only then is the segment holding `zxid`
    /// cut, so a crash part-way leaves a log with a suffix missing, never a hole in the middle
    /// (journaling file systems make directory operations durable in order).
    pub fn truncate_after(&mut self, zxid: Zxid) -> Result<(), LogError> {
        self.usable()?;
        if zxid >= self.last_appended {
            return Ok(());
        }
        let result = self.truncate_inner(zxid);
        self.poison_on_err(result)
    }

    fn truncate_inner(&mut self, zxid: Zxid) -> Result<(), LogError> {
        self.history += 1;
        self.flush()?;
        self.writer = None;
        while let Some(seg) = self.segments.last() {
            if seg.base <= zxid {
                break;
            }
            self.disk
                .remove_file(&seg.path)
                .map_err(|source| LogError::Io {
                    path: seg.path.clone(),
                    source,
                })?;
            self.segments.pop();
        }
        self.sync_dir()?;
        let Some(seg) = self.segments.last() else {
            self.file_len = 0;
            self.last_appended = Zxid(0);
            self.last_synced = Zxid(0);
            return Ok(());
        };
        let mut reader = SegmentReader::open(&*self.disk, &seg.path)?;
        if let HeaderStep::Torn { reason, .. } = reader.header(seg.base)? {
            return Err(reader.corrupt(0, reason));
        }
        let mut keep: Option<(u64, Zxid)> = None;
        loop {
            match reader.next()? {
                Step::Record { zxid: z, .. } if z <= zxid => keep = Some((reader.offset, z)),
                Step::Record { .. } | Step::End => break,
                Step::Torn { offset, reason, .. } => return Err(reader.corrupt(offset, reason)),
            }
        }
        let Some((end, kept)) = keep else {
            return Err(reader.corrupt(
                SEGMENT_HEADER_LEN,
                format!("no record at or below {zxid} although the file name says so"),
            ));
        };
        let io_err = |source| LogError::Io {
            path: seg.path.clone(),
            source,
        };
        // Durable, and it also syncs any unsynced records kept in this segment; the segments
        // before it were synced when the log rolled past them.
        self.disk.truncate(&seg.path, end).map_err(io_err)?;
        self.writer = Some(self.disk.open_append(&seg.path).map_err(io_err)?);
        self.file_len = end;
        self.last_appended = kept;
        self.last_synced = kept;
        tracing::info!(zxid = %zxid, kept = %kept, "truncated the transaction log");
        Ok(())
    }

    /// Delete whole segments that are not needed to replay anything after `zxid` (typically the
    /// zxid of the oldest snapshot kept). As ZooKeeper's purge does, the segment whose first zxid
    /// is the greatest one at or below `zxid` is kept, since it may hold records after `zxid`;
    /// the segment being written is never deleted. Oldest first, so a crash part-way leaves a
    /// contiguous log. Returns the files removed.
    pub fn purge_before(&mut self, zxid: Zxid) -> Result<Vec<PathBuf>, LogError> {
        self.usable()?;
        let Some(keep_from) = self.segments.iter().rposition(|s| s.base <= zxid) else {
            return Ok(Vec::new());
        };
        let keep_from = keep_from.min(self.segments.len().saturating_sub(1));
        let mut removed = Vec::new();
        for _ in 0..keep_from {
            let seg = self.segments.remove(0);
            if let Err(source) = self.disk.remove_file(&seg.path) {
                self.segments.insert(0, seg.clone());
                return Err(LogError::Io {
                    path: seg.path,
                    source,
                });
            }
            removed.push(seg.path);
        }
        if !removed.is_empty() {
            self.sync_dir()?;
            tracing::info!(files = removed.len(), below = %zxid, "purged transaction log segments");
        }
        Ok(removed)
    }

    fn usable(&self) -> Result<(), LogError> {
        if self.poisoned {
            return Err(LogError::Poisoned {
                dir: self.dir.clone(),
            });
        }
        Ok(())
    }

    fn poison_on_err<T>(&mut self, result: Result<T, LogError>) -> Result<T, LogError> {
        if let Err(err) = &result {
            tracing::error!(error = %err, "transaction log write failed; refusing further writes");
            self.poisoned = true;
        }
        result
    }

    fn current_path(&self) -> PathBuf {
        self.segments
            .last()
            .map_or_else(|| self.dir.clone(), |s| s.path.clone())
    }

    /// Write the buffer to the file (no fsync).
    fn flush(&mut self) -> Result<(), LogError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let path = self.current_path();
        let writer = self.writer.as_mut().ok_or_else(|| LogError::Io {
            path: path.clone(),
            source: io::Error::other("no segment open for writing"),
        })?;
        writer
            .write_all(&self.buf)
            .map_err(|source| LogError::Io { path, source })?;
        self.buf.clear();
        Ok(())
    }

    fn sync_writer(&mut self) -> Result<(), LogError> {
        let path = self.current_path();
        match self.writer.as_mut() {
            Some(w) => w.sync().map_err(|source| LogError::Io { path, source }),
            None => Ok(()),
        }
    }

    fn sync_dir(&self) -> Result<(), LogError> {
        self.disk
            .sync_dir(&self.dir)
            .map_err(|source| LogError::Io {
                path: self.dir.clone(),
                source,
            })
    }

    /// Start a segment for `zxid`. The old segment is fsynced first (so only the newest segment
    /// can ever be torn), and the new one's header and directory entry are fsynced before any
    /// record goes into it.
    fn roll(&mut self, zxid: Zxid) -> Result<(), LogError> {
        if self.writer.is_some() {
            self.flush()?;
            self.sync_writer()?;
            self.last_synced = self.last_appended;
        }
        self.writer = None;
        let path = self.dir.join(segment_name(zxid));
        let io_err = |source| LogError::Io {
            path: path.clone(),
            source,
        };
        let mut w = self.disk.create_new(&path).map_err(io_err)?;
        w.write_all(&segment_header(zxid)).map_err(io_err)?;
        w.sync().map_err(io_err)?;
        self.sync_dir()?;
        self.segments.push(Segment {
            base: zxid,
            path: path.clone(),
        });
        self.writer = Some(w);
        self.file_len = SEGMENT_HEADER_LEN;
        tracing::debug!(file = %path.display(), "started a transaction log segment");
        Ok(())
    }
}

/// Records of a [`TxnLog`] in zxid order; ends at the first error.
pub struct LogIter {
    disk: Arc<dyn Disk>,
    pending: std::vec::IntoIter<(Zxid, PathBuf)>,
    current: Option<SegmentReader<BufReader<Box<dyn Read + Send>>>>,
    after: Zxid,
    up_to: Zxid,
    /// The last zxid read; reading stops at `up_to` so a record being written concurrently is
    /// never looked at.
    seen: Zxid,
    done: bool,
}

impl std::fmt::Debug for LogIter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogIter")
            .field("after", &self.after)
            .field("up_to", &self.up_to)
            .field("seen", &self.seen)
            .finish()
    }
}

impl LogIter {
    fn advance(&mut self) -> Result<Option<(Zxid, Vec<u8>)>, LogError> {
        loop {
            if self.seen >= self.up_to {
                return Ok(None);
            }
            let reader = match self.current.as_mut() {
                Some(r) => r,
                None => {
                    let Some((base, path)) = self.pending.next() else {
                        return Ok(None);
                    };
                    let mut r = SegmentReader::open(&*self.disk, &path)?;
                    if let HeaderStep::Torn { reason, .. } = r.header(base)? {
                        return Err(r.corrupt(0, reason));
                    }
                    self.current.insert(r)
                }
            };
            match reader.next()? {
                Step::Record { zxid, payload, .. } => {
                    self.seen = zxid;
                    if zxid > self.up_to {
                        return Ok(None);
                    }
                    if zxid > self.after {
                        return Ok(Some((zxid, payload)));
                    }
                }
                Step::End => self.current = None,
                Step::Torn { offset, reason, .. } => return Err(reader.corrupt(offset, reason)),
            }
        }
    }
}

impl Iterator for LogIter {
    type Item = Result<(Zxid, Vec<u8>), LogError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.advance() {
            Ok(Some(record)) => Some(Ok(record)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(err) => {
                self.done = true;
                Some(Err(err))
            }
        }
    }
}

fn segment_name(zxid: Zxid) -> String {
    format!("{SEGMENT_PREFIX}{:x}", zxid.0)
}

/// Segment files in zxid order. Other names are ignored (as ZooKeeper does), so an operator's
/// `log.5.bak` is harmless; two names for one zxid (`log.5`, `log.05`) are an error.
fn list_segments(disk: &dyn Disk, dir: &Path) -> Result<Vec<(Zxid, PathBuf)>, LogError> {
    let names = disk.list_dir(dir).map_err(|source| LogError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut segments: Vec<(Zxid, PathBuf)> = names
        .iter()
        .filter_map(|name| {
            let hex = name.strip_prefix(SEGMENT_PREFIX)?;
            if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            let zxid = u64::from_str_radix(hex, 16).ok()?;
            Some((Zxid(zxid), dir.join(name)))
        })
        .collect();
    segments.sort();
    if let Some(pair) = segments.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(LogError::Corrupt {
            file: pair[1].1.clone(),
            offset: 0,
            detail: format!("{} names the same first zxid", pair[0].1.display()),
        });
    }
    Ok(segments)
}

fn segment_header(base: Zxid) -> [u8; SEGMENT_HEADER_LEN as usize] {
    let mut h = [0u8; SEGMENT_HEADER_LEN as usize];
    let mut w = Writer(&mut h);
    w.put(&SEGMENT_MAGIC);
    w.put(&FORMAT_VERSION.to_be_bytes());
    w.put(&base.0.to_be_bytes());
    let crc = crc32fast::hash(&h[..16]);
    h[16..].copy_from_slice(&crc.to_be_bytes());
    h
}

fn payload_crc(zxid: Zxid, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&zxid.0.to_be_bytes());
    hasher.update(payload);
    hasher.finalize()
}

/// Append one encoded record; the caller has checked `payload.len() <= MAX_PAYLOAD_LEN`.
fn encode_record(buf: &mut Vec<u8>, zxid: Zxid, payload: &[u8]) {
    let mut h = [0u8; RECORD_HEADER_LEN as usize];
    let mut w = Writer(&mut h);
    w.put(&(payload.len() as u32).to_be_bytes());
    w.put(&zxid.0.to_be_bytes());
    w.put(&payload_crc(zxid, payload).to_be_bytes());
    let crc = crc32fast::hash(&h[..16]);
    h[16..].copy_from_slice(&crc.to_be_bytes());
    buf.extend_from_slice(&h);
    buf.extend_from_slice(payload);
}

/// Fills a fixed header front to back.
struct Writer<'a>(&'a mut [u8]);

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let buf = std::mem::take(&mut self.0);
        let (head, rest) = buf.split_at_mut(bytes.len().min(buf.len()));
        head.copy_from_slice(&bytes[..head.len()]);
        self.0 = rest;
    }
}

/// Reads big-endian fields from a fixed header front to back; never panics (a short input
/// reads as zeros, which callers rule out by reading whole headers first).
pub(crate) struct Fields<'a>(pub(crate) &'a [u8]);

impl Fields<'_> {
    pub(crate) fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        if let Some((head, rest)) = self.0.split_at_checked(N) {
            out.copy_from_slice(head);
            self.0 = rest;
        }
        out
    }

    pub(crate) fn u32(&mut self) -> u32 {
        u32::from_be_bytes(self.take())
    }

    pub(crate) fn u64(&mut self) -> u64 {
        u64::from_be_bytes(self.take())
    }
}

/// Read until `buf` is full or EOF; returns how many bytes were read.
pub(crate) fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(n)
}

/// Consume the rest of `r`; whether it was all zeros, and how many bytes there were.
fn rest_is_zero(r: &mut impl Read) -> io::Result<(bool, u64)> {
    let mut buf = [0u8; 8192];
    let mut all_zero = true;
    let mut total = 0u64;
    loop {
        let n = read_full(r, &mut buf)?;
        if n == 0 {
            return Ok((all_zero, total));
        }
        total += n as u64;
        all_zero &= buf.iter().take(n).all(|&b| b == 0);
    }
}

enum HeaderStep {
    Valid,
    Torn { bytes: u64, reason: String },
}

enum Step {
    Record {
        offset: u64,
        zxid: Zxid,
        payload: Vec<u8>,
    },
    End,
    /// An incomplete record reaching to the end of the file, `bytes` long from `offset`.
    Torn {
        offset: u64,
        bytes: u64,
        reason: String,
    },
}

/// Decodes one segment, classifying every problem as torn (incomplete, reaching EOF) or
/// corrupt (complete but wrong).
struct SegmentReader<R> {
    r: R,
    path: PathBuf,
    /// Bytes consumed so far: the offset of the next record.
    offset: u64,
}

impl SegmentReader<BufReader<Box<dyn Read + Send>>> {
    fn open(disk: &dyn Disk, path: &Path) -> Result<Self, LogError> {
        let file = disk.open_read(path).map_err(|source| LogError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(SegmentReader {
            r: BufReader::with_capacity(READ_BUFFER_BYTES, file),
            path: path.to_path_buf(),
            offset: 0,
        })
    }
}

impl<R: Read> SegmentReader<R> {
    fn corrupt(&self, offset: u64, detail: String) -> LogError {
        LogError::Corrupt {
            file: self.path.clone(),
            offset,
            detail,
        }
    }

    fn io(&self, source: io::Error) -> LogError {
        LogError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn read_full(&mut self, buf: &mut [u8]) -> Result<usize, LogError> {
        let n = read_full(&mut self.r, buf).map_err(|e| self.io(e))?;
        self.offset += n as u64;
        Ok(n)
    }

    /// After an all-zero header: torn if everything to EOF is zero, else corrupt.
    fn zero_tail(&mut self, start: u64, what: &str) -> Result<u64, LogError> {
        let (zero, rest) = rest_is_zero(&mut self.r).map_err(|e| self.io(e))?;
        self.offset += rest;
        if zero {
            Ok(self.offset - start)
        } else {
            Err(self.corrupt(start, format!("zeroed {what} followed by data")))
        }
    }

    fn header(&mut self, base: Zxid) -> Result<HeaderStep, LogError> {
        let mut h = [0u8; SEGMENT_HEADER_LEN as usize];
        let n = self.read_full(&mut h)?;
        if n < h.len() {
            return Ok(HeaderStep::Torn {
                bytes: n as u64,
                reason: format!("segment header has {n} of {SEGMENT_HEADER_LEN} bytes"),
            });
        }
        if h.iter().all(|&b| b == 0) {
            let bytes = self.zero_tail(0, "segment header")?;
            return Ok(HeaderStep::Torn {
                bytes,
                reason: "zero-filled segment".to_string(),
            });
        }
        let mut f = Fields(&h);
        let magic: [u8; 4] = f.take();
        let version = f.u32();
        let first = Zxid(f.u64());
        let crc = f.u32();
        if magic != SEGMENT_MAGIC {
            return Err(self.corrupt(0, "not a zabd log segment (bad magic)".to_string()));
        }
        if crc != crc32fast::hash(&h[..16]) {
            return Err(self.corrupt(0, "segment header checksum mismatch".to_string()));
        }
        if version != FORMAT_VERSION {
            return Err(self.corrupt(
                0,
                format!("format version {version}; this build reads version {FORMAT_VERSION}"),
            ));
        }
        if first != base {
            return Err(self.corrupt(
                0,
                format!("header says first zxid {first} but the file name says {base}"),
            ));
        }
        Ok(HeaderStep::Valid)
    }

    fn next(&mut self) -> Result<Step, LogError> {
        let start = self.offset;
        let mut h = [0u8; RECORD_HEADER_LEN as usize];
        let n = self.read_full(&mut h)?;
        if n == 0 {
            return Ok(Step::End);
        }
        if n < h.len() {
            return Ok(Step::Torn {
                offset: start,
                bytes: n as u64,
                reason: format!("record header has {n} of {RECORD_HEADER_LEN} bytes"),
            });
        }
        if h.iter().all(|&b| b == 0) {
            let bytes = self.zero_tail(start, "record header")?;
            return Ok(Step::Torn {
                offset: start,
                bytes,
                reason: "zero-filled tail".to_string(),
            });
        }
        let mut f = Fields(&h);
        let len = f.u32();
        let zxid = Zxid(f.u64());
        let data_crc = f.u32();
        let header_crc = f.u32();
        if header_crc != crc32fast::hash(&h[..16]) {
            return Err(self.corrupt(start, "record header checksum mismatch".to_string()));
        }
        let len = len as usize;
        if len > MAX_PAYLOAD_LEN {
            return Err(self.corrupt(
                start,
                format!("record {zxid} claims {len} bytes, above the {MAX_PAYLOAD_LEN}-byte limit"),
            ));
        }
        // Grows as bytes arrive, so a large claimed length in a short file allocates little.
        let mut payload = Vec::with_capacity(len.min(READ_BUFFER_BYTES));
        let got = (&mut self.r)
            .take(len as u64)
            .read_to_end(&mut payload)
            .map_err(|e| self.io(e))?;
        self.offset += got as u64;
        if got < len {
            return Ok(Step::Torn {
                offset: start,
                bytes: RECORD_HEADER_LEN + got as u64,
                reason: format!("record {zxid} has {got} of {len} payload bytes"),
            });
        }
        if data_crc != payload_crc(zxid, &payload) {
            return Err(self.corrupt(start, format!("CRC check failed for record {zxid}")));
        }
        Ok(Step::Record {
            offset: start,
            zxid,
            payload,
        })
    }
}

#[cfg(test)]
mod tests;
