use super::*;
use crate::storage::{MemDisk, RealDisk};
use proptest::prelude::*;

fn dir() -> PathBuf {
    PathBuf::from("/data/version-2")
}

fn opts(segment_bytes: u64) -> LogOptions {
    LogOptions {
        segment_bytes,
        ..LogOptions::default()
    }
}

fn open(disk: &MemDisk, segment_bytes: u64) -> Result<(TxnLog, Recovery), LogError> {
    TxnLog::open(&dir(), Arc::new(disk.clone()), opts(segment_bytes))
}

fn payload(z: u64) -> Vec<u8> {
    let len = (z % 7 + 1) as usize * 5;
    (0..len).map(|i| (z as u8).wrapping_add(i as u8)).collect()
}

fn records(log: &mut TxnLog, after: u64) -> Vec<(Zxid, Vec<u8>)> {
    log.iter_from(Zxid(after))
        .expect("iter")
        .collect::<Result<Vec<_>, _>>()
        .expect("records")
}

fn zxids(log: &mut TxnLog, after: u64) -> Vec<u64> {
    records(log, after).into_iter().map(|(z, _)| z.0).collect()
}

fn expected(range: std::ops::RangeInclusive<u64>) -> Vec<(Zxid, Vec<u8>)> {
    range.map(|z| (Zxid(z), payload(z))).collect()
}

fn segment_names(disk: &dyn Disk, dir: &Path) -> Vec<String> {
    list_segments(disk, dir)
        .expect("list")
        .into_iter()
        .filter_map(|(_, p)| Some(p.file_name()?.to_str()?.to_owned()))
        .collect()
}

/// A log of zxids `1..=n`, synced, with small segments.
fn filled(n: u64, segment_bytes: u64) -> (MemDisk, TxnLog) {
    let disk = MemDisk::new();
    let (mut log, _) = open(&disk, segment_bytes).expect("open");
    for z in 1..=n {
        log.append(Zxid(z), &payload(z)).expect("append");
    }
    assert_eq!(log.sync().expect("sync"), Zxid(n));
    (disk, log)
}

fn round_trip(disk: Arc<dyn Disk>, dir: &Path) {
    let (mut log, rec) = TxnLog::open(dir, Arc::clone(&disk), opts(200)).expect("open");
    assert_eq!(
        (rec.last_zxid, rec.first_zxid, rec.records, rec.torn),
        (Zxid(0), None, 0, None)
    );
    for z in 1..=50 {
        log.append(Zxid(z), &payload(z)).expect("append");
    }
    assert_eq!(log.last_zxid(), Zxid(50));
    assert!(
        log.last_synced() < Zxid(50),
        "appends are not durable by themselves"
    );
    assert_eq!(log.sync().expect("sync"), Zxid(50));
    assert_eq!(log.last_synced(), Zxid(50));
    drop(log);
    let (mut log, rec) = TxnLog::open(dir, Arc::clone(&disk), opts(200)).expect("reopen");
    assert_eq!(rec.last_zxid, Zxid(50));
    assert_eq!(rec.first_zxid, Some(Zxid(1)));
    assert_eq!(rec.records, 50);
    assert!(rec.segments > 3, "{rec:?}");
    assert_eq!(rec.torn, None);
    assert_eq!(records(&mut log, 0), expected(1..=50));
    let names = segment_names(&*disk, dir);
    assert_eq!(names.len(), rec.segments);
    assert_eq!(names.first().map(String::as_str), Some("log.1"));
}

#[test]
fn round_trip_across_segments_on_memdisk() {
    round_trip(Arc::new(MemDisk::new()), &dir());
}

#[test]
fn round_trip_across_segments_on_realdisk() {
    let tmp = tempfile::tempdir().expect("tempdir");
    round_trip(Arc::new(RealDisk), &tmp.path().join("version-2"));
}

#[test]
fn segment_names_are_lower_case_hex_of_the_first_zxid() {
    let disk = MemDisk::new();
    let (mut log, _) = open(&disk, 1).expect("open");
    log.append(Zxid(0x1_0000_00ab), b"x").expect("append");
    log.append(Zxid(0x1_0000_00ac), b"y").expect("append");
    log.sync().expect("sync");
    assert_eq!(
        segment_names(&disk, &dir()),
        vec!["log.1000000ab", "log.1000000ac"]
    );
}

#[test]
fn a_torn_tail_is_cut_at_every_length_and_the_rest_survives() {
    let build = || {
        let (disk, mut log) = filled(4, 1 << 20);
        let path = dir().join("log.1");
        let before = disk.len_of(&path).expect("segment");
        log.append(Zxid(5), b"0123456789").expect("append");
        log.sync().expect("sync");
        let after = disk.len_of(&path).expect("segment");
        (disk, path, before, after)
    };
    let (_, _, before, after) = build();
    assert_eq!(after - before, RECORD_HEADER_LEN + 10);
    for cut in before..after {
        let (disk, path, _, _) = build();
        disk.tear(&path, cut).expect("tear");
        disk.crash();
        let (mut log, rec) = open(&disk, 1 << 20).expect("a torn tail is cut, not refused");
        assert_eq!(rec.last_zxid, Zxid(4), "cut at {cut}");
        assert_eq!(rec.records, 4);
        if cut == before {
            assert_eq!(rec.torn, None);
        } else {
            let torn = rec.torn.expect("reported");
            assert_eq!(torn.offset, before);
            assert_eq!(torn.bytes_cut, cut - before);
            assert!(!torn.removed_file);
        }
        assert_eq!(disk.len_of(&path), Some(before), "cut durably");
        log.append(Zxid(5), b"again").expect("append");
        log.sync().expect("sync");
        drop(log);
        disk.crash();
        let (mut log, rec) = open(&disk, 1 << 20).expect("reopen");
        assert_eq!(rec.torn, None);
        let all = records(&mut log, 0);
        assert_eq!(all.len(), 5);
        assert_eq!(all.last(), Some(&(Zxid(5), b"again".to_vec())));
    }
}

#[test]
fn a_zero_filled_tail_is_torn_but_zeros_followed_by_data_are_corrupt() {
    let (disk, log) = filled(3, 1 << 20);
    drop(log);
    let path = dir().join("log.1");
    let len = disk.len_of(&path).expect("segment");
    let mut f = disk.open_append(&path).expect("open");
    f.write_all(&[0u8; 45]).expect("zeros");
    f.sync().expect("sync");
    drop(f);
    let (_, rec) = open(&disk, 1 << 20).expect("open");
    let torn = rec.torn.expect("torn");
    assert_eq!((torn.offset, torn.bytes_cut), (len, 45));
    assert_eq!(disk.len_of(&path), Some(len));

    let mut f = disk.open_append(&path).expect("open");
    f.write_all(&[0u8; 25]).expect("zeros");
    f.write_all(&[1u8]).expect("data");
    drop(f);
    let err = open(&disk, 1 << 20).expect_err("corrupt");
    assert!(
        matches!(err, LogError::Corrupt { offset, .. } if offset == len),
        "{err}"
    );
}

#[test]
fn an_all_zero_record_header_never_passes_its_checksum() {
    assert_ne!(crc32fast::hash(&[0u8; 16]), 0);
}

#[test]
fn a_crash_right_after_a_roll_leaves_an_empty_segment_that_is_removed() {
    // Each record is 20 + payload bytes; a 60-byte limit rolls after every record or two.
    let disk = MemDisk::new();
    let (mut log, _) = open(&disk, 60).expect("open");
    log.append(Zxid(1), b"0123456789").expect("append");
    log.append(Zxid(2), b"0123456789").expect("append");
    assert_eq!(log.last_synced(), Zxid(0));
    log.append(Zxid(3), b"0123456789").expect("append rolls");
    assert_eq!(
        log.last_synced(),
        Zxid(2),
        "rolling fsyncs the old segment first"
    );
    assert_eq!(segment_names(&disk, &dir()), vec!["log.1", "log.3"]);
    drop(log);
    disk.crash();
    let (mut log, rec) = open(&disk, 60).expect("open");
    assert_eq!(rec.last_zxid, Zxid(2));
    let torn = rec.torn.expect("the empty segment is reported");
    assert!(torn.removed_file);
    assert_eq!(torn.file, dir().join("log.3"));
    assert_eq!(segment_names(&disk, &dir()), vec!["log.1"]);
    // zxid 3 may come back with other content, in a fresh segment.
    log.append(Zxid(3), b"x").expect("append");
    log.sync().expect("sync");
    assert_eq!(zxids(&mut log, 0), vec![1, 2, 3]);
}

#[test]
fn a_torn_segment_header_in_the_newest_segment_is_removed() {
    for cut in 0..SEGMENT_HEADER_LEN {
        let (disk, log) = filled(6, 60);
        drop(log);
        let names = segment_names(&disk, &dir());
        let last = dir().join(names.last().expect("segments"));
        disk.tear(&last, cut).expect("tear");
        let (mut log, rec) = open(&disk, 60).expect("open");
        let torn = rec.torn.expect("torn");
        assert!(torn.removed_file);
        assert_eq!(torn.file, last);
        assert!(rec.last_zxid < Zxid(6));
        let ids = zxids(&mut log, 0);
        assert_eq!(ids, (1..=rec.last_zxid.0).collect::<Vec<_>>());
    }
}

/// Offsets of each record of a segment with 10-byte payloads.
fn record_offset(index: u64) -> u64 {
    SEGMENT_HEADER_LEN + index * (RECORD_HEADER_LEN + 10)
}

fn ten_byte_log(n: u64, segment_bytes: u64) -> MemDisk {
    let disk = MemDisk::new();
    let (mut log, _) = open(&disk, segment_bytes).expect("open");
    for z in 1..=n {
        log.append(Zxid(z), b"0123456789").expect("append");
    }
    log.sync().expect("sync");
    disk
}

#[test]
fn a_flipped_bit_in_a_middle_record_is_corrupt() {
    let disk = ten_byte_log(5, 1 << 20);
    let path = dir().join("log.1");
    disk.flip_bit(&path, record_offset(2) + RECORD_HEADER_LEN + 3, 4)
        .expect("flip");
    disk.crash();
    let err = open(&disk, 1 << 20).expect_err("corrupt");
    match &err {
        LogError::Corrupt { file, offset, .. } => {
            assert_eq!(file, &path);
            assert_eq!(*offset, record_offset(2));
        }
        other => panic!("expected Corrupt, got {other}"),
    }
    let text = err.to_string();
    assert!(text.contains("CRC check failed"), "{text}");
    assert!(text.contains("SNAP"), "{text}");
}

#[test]
fn every_flipped_bit_in_the_complete_last_record_is_corrupt_never_cut() {
    let path = dir().join("log.1");
    for byte in 0..(RECORD_HEADER_LEN + 10) {
        for bit in 0..8u8 {
            let disk = ten_byte_log(3, 1 << 20);
            let len = disk.len_of(&path).expect("segment");
            disk.flip_bit(&path, record_offset(2) + byte, bit)
                .expect("flip");
            disk.crash();
            match open(&disk, 1 << 20) {
                Err(LogError::Corrupt { offset, .. }) => assert_eq!(offset, record_offset(2)),
                Err(other) => panic!("byte {byte} bit {bit}: {other}"),
                Ok((_, rec)) => panic!("byte {byte} bit {bit}: accepted as {rec:?}"),
            }
            assert_eq!(disk.len_of(&path), Some(len), "nothing was cut");
        }
    }
}

#[test]
fn every_flipped_bit_in_a_segment_header_is_corrupt() {
    for byte in 0..SEGMENT_HEADER_LEN {
        for bit in [0u8, 5] {
            let disk = ten_byte_log(4, 60);
            let names = segment_names(&disk, &dir());
            assert!(names.len() >= 2);
            let path = dir().join(&names[0]);
            disk.flip_bit(&path, byte, bit).expect("flip");
            let err = open(&disk, 60).expect_err("corrupt");
            assert!(matches!(err, LogError::Corrupt { offset: 0, .. }), "{err}");
        }
    }
}

#[test]
fn damage_to_a_segment_that_is_not_the_last_is_corrupt() {
    // A torn (short) middle segment cannot come from a crash: refuse.
    let disk = ten_byte_log(6, 60);
    let names = segment_names(&disk, &dir());
    assert!(names.len() >= 3, "{names:?}");
    let middle = dir().join(&names[1]);
    let len = disk.len_of(&middle).expect("segment");
    disk.tear(&middle, len - 1).expect("tear");
    let err = open(&disk, 60).expect_err("corrupt");
    assert!(err.to_string().contains("not the last"), "{err}");

    // A flipped bit in the last record of a middle segment.
    let disk = ten_byte_log(6, 60);
    let middle = dir().join(&names[1]);
    let len = disk.len_of(&middle).expect("segment");
    disk.flip_bit(&middle, len - 1, 0).expect("flip");
    assert!(matches!(open(&disk, 60), Err(LogError::Corrupt { .. })));

    // An emptied middle segment.
    let disk = ten_byte_log(6, 60);
    disk.tear(&middle, SEGMENT_HEADER_LEN).expect("tear");
    assert!(matches!(open(&disk, 60), Err(LogError::Corrupt { .. })));

    // A middle segment cut inside its header.
    for cut in 0..SEGMENT_HEADER_LEN {
        let disk = ten_byte_log(6, 60);
        disk.tear(&middle, cut).expect("tear");
        let err = open(&disk, 60).expect_err("corrupt");
        assert!(err.to_string().contains("not the last"), "{err}");
    }
}

#[test]
fn zxids_out_of_order_on_disk_or_a_renamed_segment_are_corrupt() {
    let disk = ten_byte_log(2, 1 << 20);
    disk.rename(&dir().join("log.1"), &dir().join("log.2"))
        .expect("rename");
    let err = open(&disk, 1 << 20).expect_err("corrupt");
    assert!(err.to_string().contains("file name says"), "{err}");

    // Two segments whose zxids overlap: log.1 holds 1..=4, log.3 is a valid segment starting
    // at 3.
    let disk = ten_byte_log(4, 1 << 20);
    let other = MemDisk::new();
    let (mut log, _) =
        TxnLog::open(Path::new("/other"), Arc::new(other.clone()), opts(1 << 20)).expect("open");
    log.append(Zxid(3), b"x").expect("append");
    log.sync().expect("sync");
    let bytes = other
        .read(Path::new("/other/log.3"))
        .expect("read")
        .expect("exists");
    let mut f = disk.create_new(&dir().join("log.3")).expect("create");
    f.write_all(&bytes).expect("write");
    drop(f);
    let err = open(&disk, 1 << 20).expect_err("corrupt");
    assert!(err.to_string().contains("does not follow"), "{err}");
}

#[test]
fn stray_files_are_ignored_and_duplicate_names_refused() {
    let disk = ten_byte_log(3, 1 << 20);
    for name in ["log.1.bak", "log.", "log.xyz", "notes.txt", "snapshot.1"] {
        disk.create_new(&dir().join(name)).expect("stray");
    }
    let (_, rec) = open(&disk, 1 << 20).expect("strays are ignored");
    assert_eq!(rec.records, 3);
    disk.create_new(&dir().join("log.01")).expect("dup");
    let err = open(&disk, 1 << 20).expect_err("duplicate");
    assert!(err.to_string().contains("same first zxid"), "{err}");
}

#[test]
fn a_crash_loses_unsynced_appends_and_nothing_synced() {
    let (disk, mut log) = filled(10, 150);
    for z in 11..=15 {
        log.append(Zxid(z), &payload(z)).expect("append");
    }
    assert_eq!(zxids(&mut log, 0), (1..=15).collect::<Vec<_>>());
    let claimed = log.last_synced();
    assert!(claimed >= Zxid(10));
    drop(log);
    disk.crash();
    let (mut log, rec) = open(&disk, 150).expect("open");
    assert!(rec.last_zxid >= claimed);
    let got = records(&mut log, 0);
    assert_eq!(got, expected(1..=rec.last_zxid.0));
}

#[test]
fn open_makes_records_left_in_the_page_cache_durable() {
    // A process killed after writing (not fsyncing) records: its successor reads them and may
    // report them, so open must fsync them before anything else happens.
    let (disk, mut log) = filled(3, 1 << 20);
    log.append(Zxid(4), b"four").expect("append");
    assert_eq!(
        zxids(&mut log, 0),
        vec![1, 2, 3, 4],
        "iter_from writes the buffer"
    );
    drop(log);
    let (log, rec) = open(&disk, 1 << 20).expect("restart without a crash");
    assert_eq!(rec.last_zxid, Zxid(4));
    assert_eq!(log.last_synced(), Zxid(4));
    drop(log);
    disk.crash();
    let (_, rec) = open(&disk, 1 << 20).expect("after power loss");
    assert_eq!(rec.last_zxid, Zxid(4));
}

#[test]
fn sync_is_one_fsync_for_many_appends() {
    let disk = MemDisk::new();
    let (mut log, _) = open(&disk, 1 << 20).expect("open");
    log.append(Zxid(1), b"first").expect("append");
    log.sync().expect("sync");
    let before = disk.file_syncs();
    for z in 2..=101 {
        log.append(Zxid(z), &[0u8; 100]).expect("append");
    }
    assert_eq!(disk.file_syncs(), before, "appends do not fsync");
    assert_eq!(log.sync().expect("sync"), Zxid(101));
    assert_eq!(disk.file_syncs(), before + 1);
    log.sync().expect("sync");
    assert_eq!(disk.file_syncs(), before + 1, "nothing new, no fsync");
}

#[test]
fn appends_must_increase() {
    let disk = MemDisk::new();
    let (mut log, _) = open(&disk, 1 << 20).expect("open");
    assert!(matches!(
        log.append(Zxid(0), b"x"),
        Err(LogError::OutOfOrder { .. })
    ));
    log.append(Zxid(5), b"x").expect("append");
    for z in [5, 3] {
        match log.append(Zxid(z), b"y") {
            Err(LogError::OutOfOrder { zxid, last }) => {
                assert_eq!((zxid, last), (Zxid(z), Zxid(5)));
            }
            other => panic!("{other:?}"),
        }
    }
    log.append(Zxid(0x1_0000_0001), b"next epoch")
        .expect("append");
    assert!(matches!(
        log.append(Zxid(0x1_0000_0002), &vec![0u8; MAX_PAYLOAD_LEN + 1]),
        Err(LogError::TooLarge { .. })
    ));
    log.sync().expect("refused appends do not poison the log");
}

#[test]
fn a_failed_fsync_poisons_the_log_until_restart() {
    let (disk, mut log) = filled(3, 1 << 20);
    log.append(Zxid(4), b"four").expect("append");
    disk.fail_next_syncs(1);
    assert!(matches!(log.sync(), Err(LogError::Io { .. })));
    assert_eq!(log.last_synced(), Zxid(3));
    assert!(matches!(
        log.append(Zxid(5), b"five"),
        Err(LogError::Poisoned { .. })
    ));
    assert!(matches!(log.sync(), Err(LogError::Poisoned { .. })));
    drop(log);
    disk.crash();
    let (_, rec) = open(&disk, 1 << 20).expect("reopen");
    assert_eq!(rec.last_zxid, Zxid(3));
}

#[test]
fn iter_from_the_middle_includes_appended_records_up_to_creation() {
    let (_disk, mut log) = filled(30, 200);
    assert_eq!(records(&mut log, 17), expected(18..=30));
    assert_eq!(records(&mut log, 0), expected(1..=30));
    assert!(records(&mut log, 30).is_empty());
    assert!(records(&mut log, 99).is_empty());
    log.append(Zxid(31), &payload(31)).expect("append");
    let iter = log.iter_from(Zxid(28)).expect("iter");
    log.append(Zxid(32), &payload(32)).expect("append");
    log.sync().expect("sync");
    let got: Vec<u64> = iter.map(|r| r.expect("record").0 .0).collect();
    assert_eq!(got, vec![29, 30, 31], "unsynced 31 included; 32 came later");
}

#[test]
fn iter_from_starts_at_the_right_segment() {
    let (disk, mut log) = filled(30, 200);
    // Damage the first segment: iterating from a later zxid must not read it.
    let names = segment_names(&disk, &dir());
    assert!(names.len() > 3);
    disk.flip_bit(&dir().join(&names[0]), 30, 0).expect("flip");
    assert_eq!(zxids(&mut log, 25), (26..=30).collect::<Vec<_>>());
    let mut iter = log.iter_from(Zxid(0)).expect("iter");
    assert!(matches!(iter.next(), Some(Err(LogError::Corrupt { .. }))));
    assert!(iter.next().is_none(), "fused after an error");
}

#[test]
fn truncate_after_is_durable_without_another_sync() {
    let (disk, mut log) = filled(30, 200);
    log.truncate_after(Zxid(12)).expect("truncate");
    assert_eq!((log.last_zxid(), log.last_synced()), (Zxid(12), Zxid(12)));
    assert_eq!(zxids(&mut log, 0), (1..=12).collect::<Vec<_>>());
    drop(log);
    disk.crash();
    let (mut log, rec) = open(&disk, 200).expect("reopen");
    assert_eq!((rec.last_zxid, rec.torn), (Zxid(12), None));
    log.append(Zxid(13), b"new 13").expect("append");
    log.sync().expect("sync");
    let all = records(&mut log, 10);
    assert_eq!(all.last(), Some(&(Zxid(13), b"new 13".to_vec())));
    assert_eq!(all.len(), 3);
}

#[test]
fn truncate_after_keeps_unsynced_records_below_the_point_durably() {
    let (disk, mut log) = filled(5, 1 << 20);
    for z in 6..=10 {
        log.append(Zxid(z), &payload(z)).expect("append");
    }
    log.truncate_after(Zxid(8)).expect("truncate");
    assert_eq!(log.last_synced(), Zxid(8));
    drop(log);
    disk.crash();
    let (mut log, _) = open(&disk, 1 << 20).expect("reopen");
    assert_eq!(records(&mut log, 0), expected(1..=8));
}

#[test]
fn truncate_after_between_records_and_below_everything() {
    let disk = MemDisk::new();
    let (mut log, _) = open(&disk, 60).expect("open");
    for z in [2, 4, 6, 8] {
        log.append(Zxid(z), &payload(z)).expect("append");
    }
    log.truncate_after(Zxid(5)).expect("truncate");
    assert_eq!(log.last_zxid(), Zxid(4));
    log.truncate_after(Zxid(9)).expect("no-op above the end");
    assert_eq!(log.last_zxid(), Zxid(4));
    log.truncate_after(Zxid(1)).expect("truncate all");
    assert_eq!((log.last_zxid(), log.first_zxid()), (Zxid(0), None));
    assert!(segment_names(&disk, &dir()).is_empty());
    log.append(Zxid(1), b"fresh").expect("append");
    log.sync().expect("sync");
    drop(log);
    disk.crash();
    let (mut log, rec) = open(&disk, 60).expect("reopen");
    assert_eq!(rec.records, 1);
    assert_eq!(records(&mut log, 0), vec![(Zxid(1), b"fresh".to_vec())]);
}

#[test]
fn purge_before_keeps_the_segment_holding_the_point() {
    let (disk, mut log) = filled(30, 200);
    let bases: Vec<u64> = list_segments(&disk, &dir())
        .expect("list")
        .into_iter()
        .map(|(z, _)| z.0)
        .collect();
    assert!(bases.len() > 3, "{bases:?}");
    let point = bases[2] + 1; // inside the third segment
    let removed = log.purge_before(Zxid(point)).expect("purge");
    assert_eq!(removed.len(), 2);
    assert_eq!(log.first_zxid(), Some(Zxid(bases[2])));
    assert_eq!(records(&mut log, point), expected(point + 1..=30));
    // Never the segment being written.
    log.purge_before(Zxid(1000)).expect("purge");
    assert_eq!(log.first_zxid(), bases.last().map(|&b| Zxid(b)));
    drop(log);
    disk.crash();
    let (mut log, rec) = open(&disk, 200).expect("reopen");
    assert_eq!(rec.last_zxid, Zxid(30));
    assert_eq!(zxids(&mut log, 0).last(), Some(&30));
    log.append(Zxid(31), b"x").expect("still appendable");
}

#[test]
fn realdisk_torn_tail_and_corruption() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("version-2");
    let disk: Arc<dyn Disk> = Arc::new(RealDisk);
    let (mut log, _) = TxnLog::open(&dir, Arc::clone(&disk), opts(1 << 20)).expect("open");
    for z in 1..=5 {
        log.append(Zxid(z), &payload(z)).expect("append");
    }
    log.sync().expect("sync");
    drop(log);
    let path = dir.join("log.1");
    let len = std::fs::metadata(&path).expect("meta").len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open");
    f.set_len(len - 3).expect("tear");
    drop(f);
    let (mut log, rec) = TxnLog::open(&dir, Arc::clone(&disk), opts(1 << 20)).expect("open");
    assert_eq!(rec.last_zxid, Zxid(4));
    assert!(rec.torn.is_some());
    assert_eq!(records(&mut log, 0), expected(1..=4));
    drop(log);
    let mut bytes = std::fs::read(&path).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, &bytes).expect("write");
    assert!(matches!(
        TxnLog::open(&dir, disk, opts(1 << 20)),
        Err(LogError::Corrupt { .. })
    ));
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Append { gap: u64, len: usize },
    Sync,
    Crash,
    Restart,
    FailingSync,
    Truncate { back: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (1u64..4, 0usize..40).prop_map(|(gap, len)| Op::Append { gap, len }),
        3 => Just(Op::Sync),
        2 => Just(Op::Crash),
        1 => Just(Op::Restart),
        1 => Just(Op::FailingSync),
        1 => (0u64..6).prop_map(|back| Op::Truncate { back }),
    ]
}

fn body(z: u64, len: usize) -> Vec<u8> {
    (0..len).map(|i| (z as u8) ^ (i as u8)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// After any sequence of appends, syncs, truncations, failed fsyncs, restarts and power
    /// losses, the log holds a prefix of what was appended that includes everything it ever
    /// claimed durable.
    #[test]
    fn nothing_synced_is_lost_and_nothing_unappended_appears(ops in proptest::collection::vec(op(), 1..60)) {
        let disk = MemDisk::new();
        let (mut log, _) = open(&disk, 120).expect("open");
        // The model: what the log should hold (durable or not), and how far it claimed
        // durability.
        let mut model: Vec<(Zxid, Vec<u8>)> = Vec::new();
        let mut claimed = Zxid(0);
        let mut broken = false;
        for op in ops {
            match op {
                Op::Append { gap, len } => {
                    let z = Zxid(log.last_zxid().0 + gap);
                    let result = log.append(z, &body(z.0, len));
                    if broken {
                        let poisoned = matches!(result, Err(LogError::Poisoned { .. }));
                        prop_assert!(poisoned);
                    } else {
                        // Even a failed append may have reached the page cache.
                        model.push((z, body(z.0, len)));
                        broken = result.is_err();
                    }
                }
                Op::Sync => match log.sync() {
                    Ok(z) => {
                        prop_assert!(!broken);
                        prop_assert_eq!(z, model.last().map_or(Zxid(0), |r| r.0));
                    }
                    Err(_) => prop_assert!(broken),
                },
                Op::FailingSync => {
                    if !broken {
                        disk.fail_next_syncs(1);
                        let z = Zxid(log.last_zxid().0 + 1);
                        model.push((z, body(z.0, 3)));
                        let result = log.append(z, &body(z.0, 3)).and_then(|()| log.sync());
                        prop_assert!(result.is_err());
                        disk.fail_next_syncs(0);
                        broken = true;
                    }
                }
                Op::Truncate { back } => {
                    let target = Zxid(log.last_zxid().0.saturating_sub(back));
                    match log.truncate_after(target) {
                        Ok(()) => {
                            prop_assert!(!broken);
                            model.retain(|r| r.0 <= target);
                            prop_assert_eq!(log.last_zxid(), model.last().map_or(Zxid(0), |r| r.0));
                            // A real truncation is durable: what is left survives.
                            claimed = claimed.min(log.last_zxid()).max(log.last_synced());
                        }
                        Err(_) => prop_assert!(broken),
                    }
                }
                Op::Crash | Op::Restart => {
                    if matches!(op, Op::Crash) {
                        disk.crash();
                    }
                    drop(log);
                    let (reopened, rec) = open(&disk, 120).expect("reopen never refuses after a crash");
                    log = reopened;
                    broken = false;
                    let got = records(&mut log, 0);
                    prop_assert!(got.len() <= model.len());
                    prop_assert_eq!(&got[..], &model[..got.len()], "a prefix of what was appended");
                    prop_assert!(rec.last_zxid >= claimed, "lost {} claimed durable, kept {}", claimed, rec.last_zxid);
                    model = got;
                    claimed = log.last_synced();
                    prop_assert_eq!(claimed, rec.last_zxid, "open makes what it keeps durable");
                }
            }
            if !broken {
                claimed = claimed.max(log.last_synced());
                prop_assert_eq!(log.last_zxid(), model.last().map_or(Zxid(0), |r| r.0));
            }
        }
        drop(log);
        disk.crash();
        let (mut log, rec) = open(&disk, 120).expect("final reopen");
        prop_assert!(rec.last_zxid >= claimed);
        let got = records(&mut log, 0);
        prop_assert_eq!(&got[..], &model[..got.len()]);
    }
}

/// Prints fsync and group-commit figures for this machine's disk; run with
/// `cargo test --lib storage::txnlog::tests::bench -- --ignored --nocapture`.
#[test]
#[ignore]
fn bench_realdisk_fsync_and_group_commit() {
    use std::time::{Duration, Instant};
    let tmp = tempfile::tempdir().expect("tempdir");
    let disk: Arc<dyn Disk> = Arc::new(RealDisk);
    let mut f = disk.create_new(&tmp.path().join("fsync")).expect("create");
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < Duration::from_secs(2) {
        f.write_all(&[0u8; 100]).expect("write");
        f.sync().expect("sync");
        n += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "fdatasync after a 100-byte append: {:.0}/s",
        f64::from(n) / secs
    );

    for batch in [1u64, 16, 128] {
        let dir = tmp.path().join(format!("log-{batch}"));
        let (mut log, _) =
            TxnLog::open(&dir, Arc::clone(&disk), LogOptions::default()).expect("open");
        let body = [7u8; 100];
        let mut z = 0u64;
        let mut syncs = 0u64;
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(2) {
            for _ in 0..batch {
                z += 1;
                log.append(Zxid(z), &body).expect("append");
            }
            log.sync().expect("sync");
            syncs += 1;
        }
        let secs = start.elapsed().as_secs_f64();
        eprintln!(
            "batch {batch:>3} x 100 B: {:>8.0} records/s, {:>6.0} syncs/s",
            z as f64 / secs,
            syncs as f64 / secs
        );
    }
}

#[test]
fn a_sync_run_off_the_writer_covers_what_came_before_it_and_nothing_after() {
    let (disk, mut log) = filled(3, 1 << 20);
    for z in 4..=6 {
        log.append(Zxid(z), &payload(z)).expect("append");
    }
    let pending = log.begin_sync().expect("begin").expect("something to sync");
    assert_eq!(pending.upto(), Zxid(6));
    // Appends go on while the fsync "runs" elsewhere.
    for z in 7..=9 {
        log.append(Zxid(z), &payload(z)).expect("append");
    }
    let outcome = std::thread::spawn(move || pending.run())
        .join()
        .expect("sync thread");
    assert_eq!(log.finish_sync(outcome).expect("finish"), Zxid(6));
    assert_eq!(log.last_synced(), Zxid(6));
    drop(log);
    disk.crash();
    let (mut log, _) = open(&disk, 1 << 20).expect("reopen");
    assert_eq!(
        records(&mut log, 0),
        expected(1..=6),
        "7..9 were never synced"
    );
}

#[test]
fn nothing_to_sync_begins_nothing() {
    let (_disk, mut log) = filled(3, 1 << 20);
    assert!(log.begin_sync().expect("begin").is_none());
}

#[test]
fn a_sync_begun_before_a_truncation_counts_for_nothing() {
    let (_disk, mut log) = filled(3, 1 << 20);
    for z in 4..=6 {
        log.append(Zxid(z), &payload(z)).expect("append");
    }
    let pending = log.begin_sync().expect("begin").expect("something to sync");
    log.truncate_after(Zxid(4)).expect("truncate");
    // A new history after the cut, not yet synced.
    log.append(Zxid(5), &payload(5)).expect("append");
    let outcome = pending.run();
    assert_eq!(log.finish_sync(outcome).expect("finish"), Zxid(4));
}

#[test]
fn a_failed_background_sync_poisons_the_log() {
    let (disk, mut log) = filled(3, 1 << 20);
    log.append(Zxid(4), &payload(4)).expect("append");
    let pending = log.begin_sync().expect("begin").expect("something to sync");
    disk.fail_next_syncs(1);
    let outcome = pending.run();
    assert!(log.finish_sync(outcome).is_err());
    assert!(matches!(
        log.append(Zxid(5), &payload(5)),
        Err(LogError::Poisoned { .. })
    ));
}

#[test]
fn a_background_sync_works_on_real_files() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let disk: Arc<dyn Disk> = Arc::new(RealDisk);
    let (mut log, _) = TxnLog::open(tmp.path(), Arc::clone(&disk), opts(1 << 20)).expect("open");
    for z in 1..=5 {
        log.append(Zxid(z), &payload(z)).expect("append");
    }
    let pending = log.begin_sync().expect("begin").expect("something to sync");
    let outcome = std::thread::spawn(move || pending.run())
        .join()
        .expect("sync thread");
    assert_eq!(log.finish_sync(outcome).expect("finish"), Zxid(5));
    drop(log);
    let (mut log, _) = TxnLog::open(tmp.path(), disk, opts(1 << 20)).expect("reopen");
    assert_eq!(records(&mut log, 0), expected(1..=5));
}

#[test]
fn segments_the_snapshot_covers_are_not_read_but_the_last_two_always_are() {
    let covered = |through: Zxid| LogOptions {
        segment_bytes: 60,
        covered_through: through,
    };
    let reopen = |disk: &MemDisk, through: Zxid| {
        TxnLog::open(&dir(), Arc::new(disk.clone()), covered(through))
    };
    let disk = ten_byte_log(12, 60);
    let listed = list_segments(&disk, &dir()).expect("list");
    assert!(listed.len() >= 5, "{listed:?}");

    // A flipped bit in the first segment: found when the log is read in full...
    let (first_base, first) = listed[0].clone();
    let len = disk.len_of(&first).expect("segment");
    disk.flip_bit(&first, len - 1, 0).expect("flip");
    assert!(matches!(open(&disk, 60), Err(LogError::Corrupt { .. })));
    assert!(matches!(
        reopen(&disk, Zxid(listed[1].0 .0 - 1)),
        Err(LogError::Corrupt { .. })
    ));
    // ...but not read once a snapshot holds everything up to the next segment's base.
    let (mut log, rec) = reopen(&disk, listed[1].0).expect("opens");
    assert_eq!(rec.unread_segments, 1);
    assert_eq!(rec.segments, listed.len());
    assert_eq!(rec.first_zxid, Some(first_base));
    assert_eq!(rec.last_zxid, Zxid(12));
    assert_eq!(rec.records, 12 - (listed[1].0 .0 - first_base.0));
    log.append(Zxid(13), b"0123456789").expect("append");
    assert_eq!(log.sync().expect("sync"), Zxid(13));
    drop(log);

    // Covered through the very last record: still the last two segments are read, so damage
    // in the one before the last is found, and the log's end is known from them.
    let disk = ten_byte_log(12, 60);
    let (_, second_last) = listed[listed.len() - 2].clone();
    let (_, rec) = reopen(&disk, Zxid(12)).expect("opens");
    assert_eq!(rec.unread_segments, listed.len() - 2);
    assert_eq!(rec.last_zxid, Zxid(12));
    let len = disk.len_of(&second_last).expect("segment");
    disk.flip_bit(&second_last, len - 1, 0).expect("flip");
    assert!(matches!(
        reopen(&disk, Zxid(12)),
        Err(LogError::Corrupt { .. })
    ));
}
