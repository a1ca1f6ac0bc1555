//! Entry points shared by the fuzz targets (`fuzz/fuzz_targets/*.rs`, run with cargo-fuzz) and
//! by `tests/fuzz_corpus.rs`, which replays their committed corpus under a plain `cargo test`.
//! Not part of the server's API: it exists for fuzzing only.
//!
//! Each function feeds untrusted bytes to the decoders the server runs on them, the way the
//! server does (same limits, same framing). A decoder may answer `Ok` or `Err`; a panic is a
//! bug, and so is an allocation far above the input's size (the fuzzer runs with a malloc
//! limit). Where a decode succeeds, a few cheap invariants are asserted as well (a decoded
//! value re-encodes to something that decodes to the same value; a recovered log iterates
//! cleanly; a tree built by applying transactions survives its own snapshot), so that the
//! fuzzer also finds silent disagreements between an encoder and its decoder.
//!
//! Inputs that hold several files or frames (logs, snapshot directories, transaction sequences)
//! are cut at [`SEP`], a separator the fuzzer learns quickly from the committed seeds.

use crate::config::{loopback_ensemble, parse_offline};
use crate::election::Notification;
use crate::ids::{Sid, Zxid};
use crate::net::codec::{self, frame_codec, ELECTION_FRAME_LIMIT, QUORUM_FRAME_LIMIT};
use crate::net::election::{ElectionMessage, ElectionSetup, Handshake};
use crate::replica::{self, Replica};
use crate::server::fourlw::{self, ClientFacts, Context, Effect, Facts, Word};
use crate::server::jute;
use crate::status::{Counters, NodeStatus, Serving};
use crate::storage::{Disk, LogOptions, MemDisk, SnapStore, TxnLog};
use crate::tree::{DataTree, Txn};
use crate::zab::QuorumMessage;
use bytes::BytesMut;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Debug;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::codec::Decoder;

/// A fuzz target's entry point.
pub type Entry = fn(&[u8]);

/// Every target: its name (the directory of its corpus, the name of its fuzz target) and its
/// entry point.
pub const TARGETS: &[(&str, Entry)] = &[
    ("election_frame", election_frame),
    ("quorum_frame", quorum_frame),
    ("txn", txn),
    ("jute_request", jute_request),
    ("jute_response", jute_response),
    ("fourlw", fourlw),
    ("config_zoocfg", config_zoocfg),
    ("config_toml", config_toml),
    ("txnlog", txnlog),
    ("snapshot", snapshot),
    ("snapshot_file", snapshot_file),
];

/// Cuts multi-part inputs (see the module doc).
pub const SEP: &[u8] = b"--8<--";

/// At most this many parts of an input are used (keeps each run fast).
const MAX_PARTS: usize = 8;

fn parts(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while out.len() + 1 < MAX_PARTS {
        match rest.windows(SEP.len()).position(|w| w == SEP) {
            Some(at) => {
                out.push(&rest[..at]);
                rest = &rest[at + SEP.len()..];
            }
            None => break,
        }
    }
    out.push(rest);
    out
}

/// The frames a peer port would cut from `data` (stops at the first framing error, as the
/// port closes the connection there).
fn frames(data: &[u8], limit: usize) -> Vec<BytesMut> {
    let mut codec = frame_codec(limit);
    let mut buf = BytesMut::from(data);
    let mut out = Vec::new();
    while let Ok(Some(frame)) = codec.decode(&mut buf) {
        out.push(frame);
    }
    out
}

/// Decode one peer message; if it decodes, it must survive a re-encode.
fn peer_decode<T, const LIMIT: usize>(frame: &[u8]) -> Option<T>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let msg = codec::decode::<T, LIMIT>(frame).ok()?;
    let again = codec::encode::<_, LIMIT>(&msg).expect("a decoded message re-encodes");
    assert_eq!(
        codec::decode::<T, LIMIT>(&again).expect("a re-encoded message decodes"),
        msg
    );
    Some(msg)
}

fn election_setup() -> ElectionSetup {
    ElectionSetup {
        me: Sid(1),
        my_addr: "127.0.0.1:3888".into(),
        ensemble: 7,
        peers: [(Sid(2), "127.0.0.1:3889".to_string())].into(),
        heartbeat: Duration::from_secs(1),
        dead_after: Duration::from_secs(10),
        auth: crate::auth::PeerAuth::off(Sid(1), Default::default()),
    }
}

/// The election port: the whole input as one frame of each kind, then as a stream (a
/// handshake, then election messages), as `net::election` reads it.
pub fn election_frame(data: &[u8]) {
    let setup = election_setup();
    if let Some(hs) = peer_decode::<Handshake, ELECTION_FRAME_LIMIT>(data) {
        let _ = setup.check(&hs, Some(Sid(2)), None);
    }
    let _ = peer_decode::<ElectionMessage, ELECTION_FRAME_LIMIT>(data);
    let _ = peer_decode::<Notification, ELECTION_FRAME_LIMIT>(data);
    for (i, frame) in frames(data, ELECTION_FRAME_LIMIT).iter().enumerate() {
        if i == 0 {
            if let Some(hs) = peer_decode::<Handshake, ELECTION_FRAME_LIMIT>(frame) {
                let _ = setup.check(&hs, None, Some(Sid(2)));
            }
        } else {
            let _ = peer_decode::<ElectionMessage, ELECTION_FRAME_LIMIT>(frame);
        }
    }
}

/// Transactions inside a quorum message are decoded as the peer decodes them.
fn quorum_payloads(msg: &QuorumMessage) {
    match msg {
        QuorumMessage::Txn { txn, .. }
        | QuorumMessage::Proposal { txn, .. }
        | QuorumMessage::Inform { txn, .. } => {
            let _ = replica::decode::<Txn>(txn);
        }
        QuorumMessage::Request { txn, .. } => {
            let _ = replica::decode::<replica::Request>(txn);
        }
        QuorumMessage::SnapChunk { data, .. } => {
            let _ = DataTree::from_snapshot(data);
        }
        _ => {}
    }
}

/// The quorum port (`net::link`): the whole input as one frame, then as a stream of frames.
pub fn quorum_frame(data: &[u8]) {
    if let Some(msg) = peer_decode::<QuorumMessage, QUORUM_FRAME_LIMIT>(data) {
        quorum_payloads(&msg);
    }
    for frame in frames(data, QUORUM_FRAME_LIMIT) {
        if let Some(msg) = peer_decode::<QuorumMessage, QUORUM_FRAME_LIMIT>(&frame) {
            quorum_payloads(&msg);
        }
    }
}

/// Transaction records (`replica::decode`, as `Replica::apply` and the leader's request
/// handling call it): each part is decoded as a [`Txn`] and as a [`replica::Request`]; the
/// transactions that decode are applied in order to one tree, which must then survive its
/// own snapshot.
pub fn txn(data: &[u8]) {
    let mut tree = DataTree::new();
    for (i, part) in parts(data).into_iter().enumerate() {
        if let Ok(req) = replica::decode::<replica::Request>(part) {
            let again = replica::encode(&req).expect("a decoded request re-encodes");
            assert_eq!(
                replica::decode::<replica::Request>(&again).as_ref(),
                Ok(&req)
            );
        }
        let Ok(mut txn) = replica::decode::<Txn>(part) else {
            continue;
        };
        let again = replica::encode(&txn).expect("a decoded txn re-encodes");
        assert_eq!(replica::decode::<Txn>(&again).as_ref(), Ok(&txn));
        txn.header.zxid = Zxid(i as u64 + 1);
        tree.apply(&txn).expect("zxids increase");
    }
    let image = tree.serialize_snapshot().expect("a tree serializes");
    let back = DataTree::from_snapshot(&image).expect("a tree built by txns reloads");
    assert_eq!(back.digest(), tree.digest());
    assert_eq!(back.node_count(), tree.node_count());
}

/// The client port after the handshake: a request payload (`decode_request`, and the header
/// alone as the server reads it to answer an undecodable body), and the connect request.
pub fn jute_request(data: &[u8]) {
    if let Ok((header, request)) = jute::decode_request(data) {
        let frame = jute::encode_request(&header, &request);
        let back = jute::decode_request(frame.get(4..).unwrap_or_default())
            .expect("a decoded request re-encodes to one that decodes");
        assert_eq!(back, (header, request));
    }
    let _ = jute::decode_request_header(data);
    if let Ok(connect) = jute::decode_connect_request(data) {
        let frame = jute::encode_connect_request(&connect);
        let back = jute::decode_connect_request(frame.get(4..).unwrap_or_default())
            .expect("a decoded connect request re-encodes to one that decodes");
        assert_eq!(back, connect);
    }
}

/// The client side of the protocol (what `zabd`'s own tools and tests decode): the first four
/// bytes are the op code the reply answers, the rest the reply payload.
pub fn jute_response(data: &[u8]) {
    let _ = jute::decode_connect_response(data);
    let Some((op, payload)) = data.split_first_chunk::<4>() else {
        return;
    };
    let op = i32::from_be_bytes(*op);
    if let Ok((header, body)) = jute::decode_response(payload, op) {
        // An error reply carries no body, so only successful ones can round-trip.
        if header.err.is_ok() {
            let frame = jute::encode_response(&header, &body);
            let back = jute::decode_response(frame.get(4..).unwrap_or_default(), op)
                .expect("a decoded reply re-encodes to one that decodes");
            assert_eq!(back, (header, body));
        }
    }
}

/// The first bytes of a client-port connection, as `server::handle` reads them: a four-letter
/// word (with `stmk`'s 8-byte mask) answered from a fixed context, or else a frame length and
/// the connect request it announces.
pub fn fourlw(data: &[u8]) {
    let Some((head, rest)) = data.split_first_chunk::<4>() else {
        return;
    };
    match Word::parse(head) {
        Some(word) => {
            let mask = if word.argument_len() > 0 {
                match rest.first_chunk::<8>() {
                    Some(arg) => Some(i64::from_be_bytes(*arg)),
                    None => return, // the server closes the connection
                }
            } else {
                None
            };
            let reply = answer(word, mask);
            if let Some(mask) = mask {
                assert_eq!(reply.effect, Some(Effect::SetTraceMask(mask)));
                assert_eq!(reply.bytes, mask.to_string().into_bytes());
            }
        }
        None => {
            if let Ok(len) = jute::frame_len(*head) {
                assert!(len <= jute::MAX_FRAME_LEN);
                let _ = jute::decode_connect_request(&rest[..len.min(rest.len())]);
            }
        }
    }
}

fn answer(word: Word, mask: Option<i64>) -> fourlw::Reply {
    let configs = loopback_ensemble(3, &[], Path::new("/nonexistent/zabd-fuzz"));
    let config = configs.get(&1).expect("server 1 is configured");
    let mut status = NodeStatus::new(Zxid(5), Default::default(), Default::default());
    status.serving = Serving::Leader;
    let counters = Counters::default();
    let now = Instant::now();
    let ctx = Context {
        config,
        status: &status,
        counters: &counters,
        started: now,
        now,
        trace_mask: 0,
        client_port: 2181,
        connections: &[],
        facts: &Facts::default(),
        clients: &ClientFacts::default(),
    };
    fourlw::answer(word, mask, &ctx)
}

/// A configuration file's text, parsed as zoo.cfg (host names are not resolved; see
/// [`parse_offline`]).
pub fn config_zoocfg(data: &[u8]) {
    config(data, "zoo.cfg");
}

/// A configuration file's text, parsed as TOML.
pub fn config_toml(data: &[u8]) {
    config(data, "zabd.toml");
}

fn config(data: &[u8], name: &str) {
    // `load` reads the file as UTF-8 first; anything else is a read error.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("/nonexistent/zabd-fuzz").join(name);
    if let Ok(config) = parse_offline(&path, text) {
        assert!(config.tick_time > Duration::ZERO);
    }
}

/// Control byte of [`txnlog`] and [`snapshot_file`]: recompute the checksums (so the fuzzer
/// reaches what lies behind them).
const FIX_CRC: u8 = 1;
/// Control byte: name each file one zxid above what its header says.
const MISNAME: u8 = 2;

fn put_crc(buf: &mut [u8], at: usize, crc: u32) {
    if let Some(slot) = buf.get_mut(at..at + 4) {
        slot.copy_from_slice(&crc.to_be_bytes());
    }
}

fn be_u64(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// Recompute a log segment's checksums in place (see the format in `storage::txnlog`),
/// leaving all-zero record headers alone (they mean a torn tail).
fn fix_segment_crcs(seg: &mut [u8]) {
    if seg.len() < 20 {
        return;
    }
    let crc = crc32fast::hash(&seg[..16]);
    put_crc(seg, 16, crc);
    let mut at = 20usize;
    while at + 20 <= seg.len() {
        if seg[at..at + 20].iter().all(|&b| b == 0) {
            return;
        }
        let len = u32::from_be_bytes(seg[at..at + 4].try_into().expect("4 bytes")) as usize;
        let end = (at + 20).saturating_add(len).min(seg.len());
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&seg[at + 4..at + 12]);
        hasher.update(&seg[at + 20..end]);
        put_crc(seg, at + 12, hasher.finalize());
        let crc = crc32fast::hash(&seg[at..at + 16]);
        put_crc(seg, at + 16, crc);
        at = end;
    }
}

fn write_file(disk: &MemDisk, path: &Path, bytes: &[u8]) {
    let mut file = disk.create_new(path).expect("a new file");
    file.write_all(bytes).expect("written");
    file.sync().expect("synced");
}

/// Log recovery: the first byte is a control byte (`FIX_CRC`, `MISNAME`), each following part
/// a segment file named after the first zxid its header claims. `TxnLog::open` must recover
/// or refuse; after a recovery every kept record must read back, a second open must find
/// nothing more to cut, and `Replica::open` replays the records as transactions.
pub fn txnlog(data: &[u8]) {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let disk = MemDisk::new();
    let (data_dir, log_dir) = (Path::new("/data"), Path::new("/log"));
    let dir = log_dir.join("version-2");
    disk.create_dir_all(&dir).expect("a directory");
    for (i, part) in parts(rest).into_iter().enumerate() {
        let mut seg = part.to_vec();
        if control & FIX_CRC != 0 {
            fix_segment_crcs(&mut seg);
        }
        let mut base = be_u64(&seg, 8).unwrap_or(i as u64);
        if control & MISNAME != 0 {
            base = base.wrapping_add(1);
        }
        let path = dir.join(format!("log.{base:x}"));
        if disk.len_of(&path).is_none() {
            write_file(&disk, &path, &seg);
        }
    }
    disk.sync_dir(&dir).expect("synced");
    let shared: Arc<dyn Disk> = Arc::new(disk.clone());
    let Ok((mut log, recovery)) = TxnLog::open(&dir, shared.clone(), LogOptions::default()) else {
        return;
    };
    let records: Vec<(Zxid, Vec<u8>)> = log
        .iter_from(Zxid(0))
        .expect("a recovered log iterates")
        .collect::<Result<_, _>>()
        .expect("every recovered record reads back");
    assert_eq!(records.len() as u64, recovery.records);
    assert!(records.windows(2).all(|w| w[0].0 < w[1].0));
    assert_eq!(records.last().map_or(Zxid(0), |r| r.0), recovery.last_zxid);
    drop(log);
    let (_, again) =
        TxnLog::open(&dir, shared.clone(), LogOptions::default()).expect("a recovered log reopens");
    assert_eq!(again.torn, None, "recovery left a torn tail behind");
    assert_eq!(again.last_zxid, recovery.last_zxid);
    let _ = Replica::open(data_dir, log_dir, shared);
}

/// A tree snapshot image (`DataTree::from_snapshot`, as a SNAP from the leader or a snapshot
/// file is loaded); an image that loads must re-serialize to one that loads to the same tree.
pub fn snapshot(data: &[u8]) {
    if let Ok(tree) = DataTree::from_snapshot(data) {
        let image = tree.serialize_snapshot().expect("a loaded tree serializes");
        let back = DataTree::from_snapshot(&image).expect("a re-serialized tree loads");
        assert_eq!(back.digest(), tree.digest());
        assert_eq!(back.last_applied(), tree.last_applied());
    }
}

/// Recompute a snapshot file's lengths (with `FIX_CRC`) and checksum (see the format in
/// `storage::snapshot`).
fn fix_snapshot_file(file: &mut [u8]) {
    if file.len() < 36 {
        return;
    }
    let len = (file.len() - 36) as u64;
    let trailer = file.len() - 12;
    file[16..24].copy_from_slice(&len.to_be_bytes());
    file[trailer..trailer + 8].copy_from_slice(&len.to_be_bytes());
    let crc = crc32fast::hash(&file[..file.len() - 4]);
    let at = file.len() - 4;
    put_crc(file, at, crc);
}

/// Snapshot files: the first byte is a control byte (`FIX_CRC`, `MISNAME`), each following part
/// a snapshot file named after the zxid its header claims. The server's recovery
/// (`Replica::open`: the newest valid snapshot, then its tree) must succeed or refuse, and
/// purging must keep the snapshot recovery chose.
pub fn snapshot_file(data: &[u8]) {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let disk = MemDisk::new();
    let (data_dir, log_dir) = (Path::new("/data"), Path::new("/log"));
    let dir = data_dir.join("version-2");
    disk.create_dir_all(&dir).expect("a directory");
    for (i, part) in parts(rest).into_iter().enumerate() {
        let mut file = part.to_vec();
        if control & FIX_CRC != 0 {
            fix_snapshot_file(&mut file);
        }
        let mut zxid = be_u64(&file, 8).unwrap_or(i as u64);
        if control & MISNAME != 0 {
            zxid = zxid.wrapping_add(1);
        }
        let path = dir.join(format!("snapshot.{zxid:x}"));
        if disk.len_of(&path).is_none() {
            write_file(&disk, &path, &file);
        }
    }
    disk.sync_dir(&dir).expect("synced");
    let shared: Arc<dyn Disk> = Arc::new(disk.clone());
    let store = SnapStore::open(&dir, shared.clone()).expect("opens");
    let newest = store.newest_valid().ok().flatten().map(|(zxid, _)| zxid);
    let _ = Replica::open(data_dir, log_dir, shared);
    if let Some(newest) = newest {
        let purged = store.purge(1).expect("purges");
        assert_eq!(purged.log_purge_point, Some(newest));
        let kept = store.newest_valid().expect("lists").map(|(zxid, _)| zxid);
        assert_eq!(
            kept,
            Some(newest),
            "purge removed the snapshot recovery uses"
        );
    }
}
