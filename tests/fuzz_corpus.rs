//! Replays the committed fuzz corpus (`tests/fuzz_corpus/<target>/`: seed inputs and every
//! crash reproducer the fuzzers found) through the same entry points the cargo-fuzz targets in
//! `fuzz/` call (`zabd::fuzz_entry`), so that every past crash stays fixed without cargo-fuzz.
//!
//! The seeds are written by `write_seeds` (ignored; run it with
//! `cargo test --test fuzz_corpus -- --ignored write_seeds` after a wire or disk format
//! changes), from the crate's own encoders, so they are valid inputs the fuzzer mutates from.

use std::path::{Path, PathBuf};
use zabd::fuzz_entry::{SEP, TARGETS};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_corpus")
}

#[test]
fn every_corpus_input_decodes_or_is_refused_without_panicking() {
    let mut failures = Vec::new();
    let mut total = 0;
    for (target, entry) in TARGETS {
        let dir = corpus_dir().join(target);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("a directory entry").path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{}: no corpus", dir.display());
        for file in files {
            let bytes = std::fs::read(&file).expect("readable");
            total += 1;
            if std::panic::catch_unwind(|| entry(&bytes)).is_err() {
                failures.push(file.display().to_string());
            }
        }
    }
    assert!(failures.is_empty(), "panicked on: {failures:#?}");
    assert!(total >= TARGETS.len());
}

#[test]
fn every_target_has_a_fuzz_target_and_a_corpus() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/fuzz_targets");
    for (target, _) in TARGETS {
        let source = fuzz.join(format!("{target}.rs"));
        let text = std::fs::read_to_string(&source)
            .unwrap_or_else(|e| panic!("{}: {e}", source.display()));
        assert!(
            text.contains(&format!("zabd::fuzz_entry::{target}(")),
            "{} does not call fuzz_entry::{target}",
            source.display()
        );
        assert!(corpus_dir().join(target).is_dir(), "no corpus for {target}");
    }
}

/// The seeds are what they claim to be, so the fuzzers start from deep inside each format.
#[test]
fn seeds_are_valid_inputs() {
    use zabd::net::codec::{decode, QUORUM_FRAME_LIMIT};
    use zabd::tree::DataTree;
    let seed = |target: &str, name: &str| {
        std::fs::read(corpus_dir().join(target).join(format!("seed-{name}"))).expect("a seed")
    };
    let tree = DataTree::from_snapshot(&seed("snapshot", "tree")).expect("a tree");
    assert!(tree.node_count() > 4);
    for name in ["learner-info", "proposal", "request", "snap-chunk"] {
        decode::<zabd::zab::QuorumMessage, QUORUM_FRAME_LIMIT>(&seed("quorum_frame", name))
            .expect(name);
    }
    for name in [
        "create",
        "create-ttl",
        "get-data",
        "multi",
        "set-watches2",
        "auth",
    ] {
        zabd::server::jute::decode_request(&seed("jute_request", name)).expect(name);
    }
    let txns = seed("txn", "sequence");
    let mut rest = &txns[..];
    let mut decoded = 0;
    loop {
        let at = rest.windows(SEP.len()).position(|w| w == SEP);
        let part = &rest[..at.unwrap_or(rest.len())];
        zabd::replica::decode::<zabd::tree::Txn>(part).expect("a txn");
        decoded += 1;
        match at {
            Some(at) => rest = &rest[at + SEP.len()..],
            None => break,
        }
    }
    assert_eq!(decoded, 9);
}

/// Valid inputs for every target, from the crate's own encoders.
#[test]
#[ignore = "writes tests/fuzz_corpus; run by hand after a format change"]
fn write_seeds() {
    for (target, inputs) in seeds::all() {
        let dir = corpus_dir().join(target);
        std::fs::create_dir_all(&dir).expect("a corpus directory");
        for (name, bytes) in inputs {
            std::fs::write(dir.join(format!("seed-{name}")), bytes).expect("written");
        }
    }
}

mod seeds {
    use super::SEP;
    use std::path::Path;
    use std::sync::Arc;
    use zabd::election::{Notification, Vote};
    use zabd::ids::{Epoch, LearnerType, ServerState, Sid, Zxid};
    use zabd::net::codec::{encode, ELECTION_FRAME_LIMIT, QUORUM_FRAME_LIMIT};
    use zabd::net::election::{ElectionMessage, Handshake, PROTOCOL_VERSION};
    use zabd::replica;
    use zabd::server::jute::{
        self, op, AuthPacket, ConnectRequest, ConnectResponse, CreateRequest, MultiOp, ReplyHeader,
        Request, RequestHeader, Response, SetWatches, WatcherEvent,
    };
    use zabd::storage::{Disk, LogOptions, MemDisk, SnapStore, TxnLog};
    use zabd::tree::{Acl, CreateMode, DataTree, ErrorCode, Op, Stat, Txn, TxnHeader};
    use zabd::zab::messages::{QuorumMessage, SyncMode, QUORUM_PROTOCOL_VERSION};

    type Inputs = Vec<(&'static str, Vec<u8>)>;

    fn join(parts: &[Vec<u8>]) -> Vec<u8> {
        parts.join(SEP)
    }

    fn framed(payloads: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in payloads {
            out.extend_from_slice(&(p.len() as u32).to_be_bytes());
            out.extend_from_slice(p);
        }
        out
    }

    pub fn all() -> Vec<(&'static str, Inputs)> {
        vec![
            ("election_frame", election()),
            ("quorum_frame", quorum()),
            ("txn", txn()),
            ("jute_request", jute_request()),
            ("jute_response", jute_response()),
            ("fourlw", fourlw()),
            (
                "config_zoocfg",
                config("conf/three/zoo1.cfg", "conf/three-observer/zoo4.cfg"),
            ),
            (
                "config_toml",
                config("conf/three-toml/zabd1.toml", "conf/three-toml/zabd2.toml"),
            ),
            ("txnlog", txnlog()),
            ("snapshot", snapshot()),
            ("snapshot_file", snapshot_file()),
        ]
    }

    fn election() -> Inputs {
        let hs = Handshake {
            protocol: PROTOCOL_VERSION,
            sid: Sid(2),
            election_addr: "127.0.0.1:3889".into(),
            ensemble: 7,
        };
        let n = Notification {
            vote: Vote {
                epoch: Epoch(1),
                zxid: Zxid::new(Epoch(1), 5),
                leader: Sid(3),
            },
            round: 4,
            state: ServerState::Looking,
        };
        let hs = encode::<_, ELECTION_FRAME_LIMIT>(&hs).unwrap().to_vec();
        let note = encode::<_, ELECTION_FRAME_LIMIT>(&ElectionMessage::Notification(n))
            .unwrap()
            .to_vec();
        let ping = encode::<_, ELECTION_FRAME_LIMIT>(&ElectionMessage::Ping)
            .unwrap()
            .to_vec();
        vec![
            ("handshake", hs.clone()),
            ("notification", note.clone()),
            ("stream", framed(&[hs, note, ping])),
        ]
    }

    fn header(zxid: u64) -> TxnHeader {
        TxnHeader {
            session_id: 0x100,
            cxid: 1,
            zxid: Zxid(zxid),
            time_ms: 1_700_000_000_000,
        }
    }

    fn txns() -> Vec<Txn> {
        let create = |path: &str, mode| Op::Create {
            path: path.into(),
            data: b"data".to_vec(),
            acl: Acl::open_unsafe(),
            mode,
        };
        let ops = vec![
            Op::CreateSession { timeout_ms: 4000 },
            create("/a", CreateMode::Persistent),
            create("/a/e", CreateMode::Ephemeral),
            create("/a/s-", CreateMode::PersistentSequentialWithTtl(60_000)),
            create("/c", CreateMode::Container),
            Op::SetData {
                path: "/a".into(),
                data: b"more".to_vec(),
                version: 0,
            },
            Op::Multi(vec![
                Op::Check {
                    path: "/a".into(),
                    version: 1,
                },
                create("/b", CreateMode::Persistent),
                Op::Delete {
                    path: "/b".into(),
                    version: -1,
                },
            ]),
            Op::SetAcl {
                path: "/a".into(),
                acl: Acl::read_unsafe(),
                version: -1,
            },
            Op::Error {
                code: ErrorCode::NoAuth,
            },
        ];
        ops.into_iter()
            .enumerate()
            .map(|(i, op)| Txn {
                header: header(i as u64 + 1),
                op,
            })
            .collect()
    }

    fn txn_bytes() -> Vec<Vec<u8>> {
        txns().iter().map(|t| replica::encode(t).unwrap()).collect()
    }

    fn txn() -> Inputs {
        let request = replica::Request {
            session_id: 0x100,
            cxid: 2,
            op: Op::CloseSession,
        };
        vec![
            ("sequence", join(&txn_bytes())),
            ("request", replica::encode(&request).unwrap()),
        ]
    }

    fn tree() -> DataTree {
        let mut tree = DataTree::new();
        for t in txns() {
            tree.apply(&t).unwrap();
        }
        tree
    }

    fn quorum() -> Inputs {
        let q = |m: &QuorumMessage| encode::<_, QUORUM_FRAME_LIMIT>(m).unwrap().to_vec();
        let txns = txn_bytes();
        let info = q(&QuorumMessage::LearnerInfo {
            protocol: QUORUM_PROTOCOL_VERSION,
            ensemble: 7,
            sid: Sid(2),
            role: LearnerType::Participant,
            accepted_epoch: Epoch(1),
        });
        let sync = q(&QuorumMessage::SyncStart {
            mode: SyncMode::Trunc {
                to: Zxid::new(Epoch(1), 3),
            },
        });
        let proposal = q(&QuorumMessage::Proposal {
            zxid: Zxid(2),
            txn: txns[1].clone(),
            origin: None,
        });
        let request = q(&QuorumMessage::Request {
            request: 9,
            txn: replica::encode(&replica::Request {
                session_id: 0x100,
                cxid: 3,
                op: Op::Delete {
                    path: "/a".into(),
                    version: 2,
                },
            })
            .unwrap(),
        });
        let chunk = q(&QuorumMessage::SnapChunk {
            data: tree().serialize_snapshot().unwrap(),
            last: true,
        });
        let touch = q(&QuorumMessage::Touch {
            sessions: vec![0x100, 0x200],
        });
        vec![
            ("learner-info", info.clone()),
            ("proposal", proposal.clone()),
            ("request", request),
            ("snap-chunk", chunk),
            ("stream", framed(&[info, sync, proposal, touch])),
        ]
    }

    fn jute_request() -> Inputs {
        let req = |xid, r: Request| {
            let h = RequestHeader {
                xid,
                op: r.op_code(),
            };
            jute::encode_request(&h, &r)[4..].to_vec()
        };
        let create = CreateRequest {
            path: "/app/node-".into(),
            data: b"hello".to_vec(),
            acl: Acl::open_unsafe(),
            flags: 2,
            ttl: None,
        };
        let connect = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0x1_0000_0004,
            time_out: 30_000,
            session_id: 0,
            passwd: vec![0; 16],
            read_only: Some(false),
        };
        vec![
            (
                "connect",
                jute::encode_connect_request(&connect)[4..].to_vec(),
            ),
            ("create", req(1, Request::Create2(create.clone()))),
            (
                "create-ttl",
                req(
                    2,
                    Request::CreateTtl(CreateRequest {
                        flags: 5,
                        ttl: Some(1000),
                        ..create.clone()
                    }),
                ),
            ),
            (
                "get-data",
                req(
                    3,
                    Request::GetData {
                        path: "/app".into(),
                        watch: true,
                    },
                ),
            ),
            (
                "multi",
                req(
                    4,
                    Request::Multi(vec![
                        MultiOp::Create {
                            op: op::CREATE,
                            request: create,
                        },
                        MultiOp::SetData {
                            path: "/app".into(),
                            data: b"x".to_vec(),
                            version: -1,
                        },
                        MultiOp::Check {
                            path: "/app".into(),
                            version: 1,
                        },
                    ]),
                ),
            ),
            (
                "set-watches2",
                req(
                    -8,
                    Request::SetWatches2(SetWatches {
                        relative_zxid: 5,
                        data_watches: vec!["/a".into()],
                        persistent_recursive_watches: vec!["/".into()],
                        ..SetWatches::default()
                    }),
                ),
            ),
            (
                "auth",
                req(
                    -4,
                    Request::Auth(AuthPacket {
                        auth_type: 0,
                        scheme: "digest".into(),
                        auth: b"user:pass".to_vec(),
                    }),
                ),
            ),
        ]
    }

    fn jute_response() -> Inputs {
        let resp = |op: i32, xid, body: Response| {
            let h = ReplyHeader {
                xid,
                zxid: 0x1_0000_0007,
                err: ErrorCode::Ok,
            };
            let mut out = op.to_be_bytes().to_vec();
            out.extend_from_slice(&jute::encode_response(&h, &body)[4..]);
            out
        };
        let stat = Stat::default();
        let connect = ConnectResponse {
            protocol_version: 0,
            time_out: 30_000,
            session_id: 0x100,
            passwd: vec![7; 16],
            read_only: Some(false),
        };
        vec![
            (
                "connect",
                jute::encode_connect_response(&connect)[4..].to_vec(),
            ),
            (
                "get-data",
                resp(
                    op::GET_DATA,
                    3,
                    Response::GetData {
                        data: b"hello".to_vec(),
                        stat,
                    },
                ),
            ),
            (
                "children2",
                resp(
                    op::GET_CHILDREN2,
                    4,
                    Response::GetChildren2 {
                        children: vec!["a".into(), "b".into()],
                        stat,
                    },
                ),
            ),
            (
                "notification",
                resp(
                    op::GET_DATA,
                    -1,
                    Response::Event(WatcherEvent {
                        event_type: 3,
                        state: 3,
                        path: "/app".into(),
                    }),
                ),
            ),
        ]
    }

    fn fourlw() -> Inputs {
        let mut stmk = b"stmk".to_vec();
        stmk.extend_from_slice(&0x1f2i64.to_be_bytes());
        let connect = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            time_out: 30_000,
            session_id: 0,
            passwd: vec![0; 16],
            read_only: None,
        };
        vec![
            ("ruok", b"ruok".to_vec()),
            ("mntr", b"mntr".to_vec()),
            ("stmk", stmk),
            ("connect", jute::encode_connect_request(&connect)),
        ]
    }

    fn config(a: &str, b: &str) -> Inputs {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        vec![
            ("a", std::fs::read(root.join(a)).unwrap()),
            ("b", std::fs::read(root.join(b)).unwrap()),
        ]
    }

    /// The files of `dir` on `disk`, in name order.
    fn files(disk: &MemDisk, dir: &Path) -> Vec<Vec<u8>> {
        let mut names = disk.list_dir(dir).unwrap();
        names.sort();
        names
            .iter()
            .map(|n| disk.read(&dir.join(n)).unwrap().unwrap())
            .collect()
    }

    fn txnlog() -> Inputs {
        let disk = MemDisk::new();
        let dir = Path::new("/log/version-2");
        let options = LogOptions {
            segment_bytes: 200,
            ..LogOptions::default()
        };
        let (mut log, _) = TxnLog::open(dir, Arc::new(disk.clone()), options).unwrap();
        for (i, t) in txn_bytes().iter().enumerate() {
            log.append(Zxid(i as u64 + 1), t).unwrap();
        }
        log.sync().unwrap();
        let segments = files(&disk, dir);
        let mut torn = segments.last().unwrap().clone();
        torn.truncate(torn.len() - 3);
        let with = |control: u8, parts: &[Vec<u8>]| {
            let mut out = vec![control];
            out.extend_from_slice(&join(parts));
            out
        };
        vec![
            ("segments", with(0, &segments)),
            ("torn-tail", with(0, &[segments[0].clone(), torn])),
            ("fix-crc", with(1, &segments[..1])),
        ]
    }

    fn snapshot() -> Inputs {
        vec![
            ("tree", tree().serialize_snapshot().unwrap()),
            ("empty", DataTree::new().serialize_snapshot().unwrap()),
        ]
    }

    fn snapshot_file() -> Inputs {
        let disk = MemDisk::new();
        let dir = Path::new("/data/version-2");
        let store = SnapStore::open(dir, Arc::new(disk.clone())).unwrap();
        let tree = tree();
        store
            .write(tree.last_applied(), &tree.serialize_snapshot().unwrap())
            .unwrap();
        store
            .write(Zxid(0), &DataTree::new().serialize_snapshot().unwrap())
            .unwrap();
        let snaps = files(&disk, dir);
        let mut out = vec![0u8];
        out.extend_from_slice(&join(&snaps));
        vec![("two", out)]
    }
}
