//! Round trips for every record, hand-built byte sequences from the jute layout, and hostile
//! input (garbage, truncation, lying lengths) that must give errors, never panics or large
//! allocations.

use super::*;
use crate::ids::Zxid;
use crate::tree::{Acl, CreateMode, ErrorCode, Id, Stat};
use proptest::prelude::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Counts the bytes the current thread allocates while `COUNTING` is set, so a test can bound
/// what decoding a hostile payload costs. Other threads (and other tests) are unaffected apart
/// from a thread-local check per allocation.
struct CountingAlloc;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let on = COUNTING.try_with(Cell::get).unwrap_or(false);
    if on {
        let _ = ALLOCATED.try_with(|a| a.set(a.get().saturating_add(size)));
    }
}

// SAFETY: delegates every call to the system allocator unchanged; only counts sizes.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Bytes allocated by this thread while running `f`.
fn allocated_by<T>(f: impl FnOnce() -> T) -> (T, usize) {
    ALLOCATED.with(|a| a.set(0));
    COUNTING.with(|c| c.set(true));
    let out = f();
    COUNTING.with(|c| c.set(false));
    (out, ALLOCATED.with(Cell::get))
}

fn stat() -> Stat {
    Stat {
        czxid: Zxid(0x1_0000_0002),
        mzxid: Zxid(0x1_0000_0003),
        ctime: 1_700_000_000_000,
        mtime: 1_700_000_000_001,
        version: 2,
        cversion: -1,
        aversion: 1,
        ephemeral_owner: 0x0100_0000_0000_0001,
        data_length: 5,
        num_children: 3,
        pzxid: Zxid(0x1_0000_0004),
    }
}

fn acl() -> Vec<Acl> {
    vec![
        Acl::world(31),
        Acl {
            perms: 1,
            id: Id {
                scheme: "digest".into(),
                id: "u:hash".into(),
            },
        },
    ]
}

fn create(flags: i32, ttl: Option<i64>) -> CreateRequest {
    CreateRequest {
        path: "/a/b".into(),
        data: b"hello".to_vec(),
        acl: acl(),
        flags,
        ttl,
    }
}

/// Strip and check the frame prefix.
fn unframe(frame: &[u8]) -> &[u8] {
    let (prefix, payload) = frame.split_at(4);
    let len = frame_len(prefix.try_into().unwrap()).unwrap();
    assert_eq!(len, payload.len());
    payload
}

fn every_request() -> Vec<Request> {
    let sw = SetWatches {
        relative_zxid: 0x1_0000_0009,
        data_watches: vec!["/d".into()],
        exist_watches: vec!["/e1".into(), "/e2".into()],
        child_watches: vec![],
        persistent_watches: vec![],
        persistent_recursive_watches: vec![],
    };
    let sw2 = SetWatches {
        persistent_watches: vec!["/p".into()],
        persistent_recursive_watches: vec!["/r".into()],
        ..sw.clone()
    };
    vec![
        Request::Create(create(0, None)),
        Request::Create2(create(3, None)),
        Request::CreateContainer(create(4, None)),
        Request::CreateTtl(create(5, Some(60_000))),
        Request::Delete {
            path: "/a".into(),
            version: -1,
        },
        Request::Exists {
            path: "/a".into(),
            watch: true,
        },
        Request::GetData {
            path: "/a".into(),
            watch: false,
        },
        Request::SetData {
            path: "/a".into(),
            data: vec![0, 1, 2],
            version: 7,
        },
        Request::GetAcl { path: "/a".into() },
        Request::SetAcl {
            path: "/a".into(),
            acl: acl(),
            version: 0,
        },
        Request::GetChildren {
            path: "/".into(),
            watch: true,
        },
        Request::GetChildren2 {
            path: "/".into(),
            watch: false,
        },
        Request::Sync { path: "/".into() },
        Request::Ping,
        Request::Check {
            path: "/a".into(),
            version: 3,
        },
        Request::Multi(vec![
            MultiOp::Check {
                path: "/a".into(),
                version: 1,
            },
            MultiOp::Create {
                op: op::CREATE,
                request: create(1, None),
            },
            MultiOp::Create {
                op: op::CREATE_TTL,
                request: create(6, Some(10)),
            },
            MultiOp::Delete {
                path: "/x".into(),
                version: -1,
            },
            MultiOp::SetData {
                path: "/y".into(),
                data: b"z".to_vec(),
                version: 2,
            },
        ]),
        Request::Multi(vec![]),
        Request::MultiRead(vec![
            MultiOp::GetData { path: "/a".into() },
            MultiOp::GetChildren { path: "/".into() },
        ]),
        Request::CloseSession,
        Request::SetWatches(sw),
        Request::SetWatches2(sw2),
        Request::AddWatch {
            path: "/w".into(),
            mode: 1,
        },
        Request::CheckWatches {
            path: "/w".into(),
            watch_type: 3,
        },
        Request::RemoveWatches {
            path: "/w".into(),
            watch_type: 2,
        },
        Request::GetAllChildrenNumber { path: "/".into() },
        Request::GetEphemerals {
            prefix_path: "/".into(),
        },
        Request::WhoAmI,
        Request::Auth(AuthPacket {
            auth_type: 0,
            scheme: "digest".into(),
            auth: b"user:pw".to_vec(),
        }),
    ]
}

#[test]
fn every_request_round_trips() {
    for (i, req) in every_request().into_iter().enumerate() {
        let header = RequestHeader {
            xid: i as i32 + 1,
            op: req.op_code(),
        };
        let frame = encode_request(&header, &req);
        let (h, back) = decode_request(unframe(&frame)).unwrap();
        assert_eq!(h, header);
        assert_eq!(back, req);
    }
}

fn every_response() -> Vec<(i32, Response)> {
    vec![
        (op::DELETE, Response::Empty),
        (op::CREATE, Response::Path("/a/b0000000001".into())),
        (op::SYNC, Response::Path("/".into())),
        (
            op::CREATE2,
            Response::Create2 {
                path: "/a".into(),
                stat: stat(),
            },
        ),
        (op::EXISTS, Response::Stat(stat())),
        (op::SET_DATA, Response::Stat(stat())),
        (
            op::GET_DATA,
            Response::GetData {
                data: b"hello".to_vec(),
                stat: stat(),
            },
        ),
        (
            op::GET_ACL,
            Response::GetAcl {
                acl: acl(),
                stat: stat(),
            },
        ),
        (
            op::GET_CHILDREN,
            Response::GetChildren {
                children: vec!["a".into(), "zookeeper".into()],
            },
        ),
        (
            op::GET_CHILDREN2,
            Response::GetChildren2 {
                children: vec![],
                stat: stat(),
            },
        ),
        (
            op::MULTI,
            Response::Multi(vec![
                MultiResult::Create { path: "/a".into() },
                MultiResult::Create2 {
                    path: "/b".into(),
                    stat: stat(),
                },
                MultiResult::Delete,
                MultiResult::SetData { stat: stat() },
                MultiResult::Check,
                MultiResult::GetChildren {
                    children: vec!["c".into()],
                },
                MultiResult::GetData {
                    data: vec![9],
                    stat: stat(),
                },
                MultiResult::Error(ErrorCode::Ok),
                MultiResult::Error(ErrorCode::BadVersion),
                MultiResult::Error(ErrorCode::RuntimeInconsistency),
            ]),
        ),
        (op::GET_ALL_CHILDREN_NUMBER, Response::AllChildrenNumber(42)),
        (op::GET_EPHEMERALS, Response::Ephemerals(vec!["/e".into()])),
        (
            op::WHO_AM_I,
            Response::WhoAmI(vec![ClientInfo {
                auth_scheme: "ip".into(),
                user: "127.0.0.1".into(),
            }]),
        ),
        (op::PING, Response::Empty),
    ]
}

#[test]
fn every_response_round_trips() {
    for (i, (op_code, body)) in every_response().into_iter().enumerate() {
        let header = ReplyHeader {
            xid: i as i32,
            zxid: 0x1_0000_0005,
            err: ErrorCode::Ok,
        };
        let frame = encode_response(&header, &body);
        let (h, back) = decode_response(unframe(&frame), op_code).unwrap();
        assert_eq!(h, header);
        assert_eq!(back, body, "op {op_code}");
    }
}

#[test]
fn error_replies_carry_no_body() {
    let header = ReplyHeader {
        xid: 5,
        zxid: 9,
        err: ErrorCode::NoNode,
    };
    let frame = encode_response(&header, &Response::Stat(stat()));
    // length 16: xid, zxid, err.
    assert_eq!(frame.len(), 4 + 16);
    assert_eq!(
        decode_response(unframe(&frame), op::EXISTS).unwrap(),
        (header, Response::Empty)
    );
}

#[test]
fn notification_layout() {
    let ev = WatcherEvent {
        event_type: 3,
        state: 3,
        path: "/a".into(),
    };
    let frame = encode_notification(&ev);
    let mut want = vec![0, 0, 0, 30]; // 16-byte header + 14-byte event
    want.extend_from_slice(&[0xff; 4]); // xid -1
    want.extend_from_slice(&[0xff; 8]); // zxid -1
    want.extend_from_slice(&[0; 4]); // err 0
    want.extend_from_slice(&[0, 0, 0, 3, 0, 0, 0, 3, 0, 0, 0, 2, b'/', b'a']);
    assert_eq!(frame, want);
    let (h, body) = decode_response(unframe(&frame), op::GET_DATA).unwrap();
    assert_eq!(h.xid, xid::NOTIFICATION);
    assert_eq!(body, Response::Event(ev));
}

#[test]
fn connect_round_trips_with_and_without_read_only() {
    for read_only in [None, Some(false), Some(true)] {
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0x2_0000_0001,
            time_out: 30_000,
            session_id: 0x0100_0000_0000_0007,
            passwd: vec![7; 16],
            read_only,
        };
        let frame = encode_connect_request(&req);
        assert_eq!(decode_connect_request(unframe(&frame)).unwrap(), req);
        let resp = ConnectResponse {
            protocol_version: 0,
            time_out: 30_000,
            session_id: req.session_id,
            passwd: vec![1; 16],
            read_only,
        };
        let frame = encode_connect_response(&resp);
        assert_eq!(decode_connect_response(unframe(&frame)).unwrap(), resp);
    }
}

/// What kazoo (`kazoo.protocol.serialization.Connect`) sends for a new session:
/// `!iqiq` + buffer(16 zero bytes) + read_only byte.
#[test]
fn connect_request_as_kazoo_sends_it() {
    let mut frame = vec![0, 0, 0, 45];
    frame.extend_from_slice(&0i32.to_be_bytes()); // protocolVersion
    frame.extend_from_slice(&0i64.to_be_bytes()); // lastZxidSeen
    frame.extend_from_slice(&10_000i32.to_be_bytes()); // timeOut
    frame.extend_from_slice(&0i64.to_be_bytes()); // sessionId
    frame.extend_from_slice(&16i32.to_be_bytes()); // passwd length
    frame.extend_from_slice(&[0; 16]);
    frame.push(0); // readOnly
    let len = frame_len([frame[0], frame[1], frame[2], frame[3]]).unwrap();
    assert_eq!(len, frame.len() - 4);
    let req = decode_connect_request(&frame[4..]).unwrap();
    assert_eq!(
        req,
        ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            time_out: 10_000,
            session_id: 0,
            passwd: vec![0; 16],
            read_only: Some(false),
        }
    );
    // An old client stops after passwd; one extra byte after readOnly is an error.
    assert_eq!(
        decode_connect_request(&frame[4..frame.len() - 1])
            .unwrap()
            .read_only,
        None
    );
    let mut long = frame[4..].to_vec();
    long.push(0);
    assert_eq!(
        decode_connect_request(&long),
        Err(JuteError::TrailingBytes(1))
    );
}

fn be32(v: i32) -> [u8; 4] {
    v.to_be_bytes()
}

fn ustr(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&be32(s.len() as i32));
    out.extend_from_slice(s.as_bytes());
}

fn create_body(out: &mut Vec<u8>, path: &str, data: &[u8], flags: i32) {
    ustr(out, path);
    out.extend_from_slice(&be32(data.len() as i32));
    out.extend_from_slice(data);
    out.extend_from_slice(&be32(1)); // one ACL
    out.extend_from_slice(&be32(31)); // perms ALL
    ustr(out, "world");
    ustr(out, "anyone");
    out.extend_from_slice(&be32(flags));
}

#[test]
fn create_by_hand() {
    let mut p = Vec::new();
    p.extend_from_slice(&be32(1)); // xid
    p.extend_from_slice(&be32(1)); // create
    create_body(&mut p, "/app", b"hi", 3);
    let (h, req) = decode_request(&p).unwrap();
    assert_eq!(h, RequestHeader { xid: 1, op: 1 });
    let Request::Create(c) = req else {
        panic!("not a create: {req:?}")
    };
    assert_eq!(c.path, "/app");
    assert_eq!(c.data, b"hi");
    assert_eq!(c.acl, Acl::open_unsafe());
    assert_eq!(c.mode(), Ok(CreateMode::EphemeralSequential));
}

#[test]
fn get_data_and_ping_by_hand() {
    let mut p = Vec::new();
    p.extend_from_slice(&be32(2));
    p.extend_from_slice(&be32(4));
    ustr(&mut p, "/app");
    p.push(1);
    assert_eq!(
        decode_request(&p).unwrap(),
        (
            RequestHeader { xid: 2, op: 4 },
            Request::GetData {
                path: "/app".into(),
                watch: true
            }
        )
    );
    let ping = [0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 11];
    assert_eq!(
        decode_request(&ping).unwrap(),
        (
            RequestHeader {
                xid: xid::PING,
                op: op::PING
            },
            Request::Ping
        )
    );
    // A ping as a client frames it.
    let frame = encode_request(
        &RequestHeader {
            xid: xid::PING,
            op: op::PING,
        },
        &Request::Ping,
    );
    assert_eq!(frame, [0, 0, 0, 8, 0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 11]);
}

#[test]
fn multi_check_and_create_by_hand() {
    let mut p = Vec::new();
    p.extend_from_slice(&be32(3));
    p.extend_from_slice(&be32(14));
    // MultiHeader{check, false, -1} + CheckVersionRequest
    p.extend_from_slice(&be32(13));
    p.push(0);
    p.extend_from_slice(&be32(-1));
    ustr(&mut p, "/app");
    p.extend_from_slice(&be32(4));
    // MultiHeader{create, false, -1} + CreateRequest
    p.extend_from_slice(&be32(1));
    p.push(0);
    p.extend_from_slice(&be32(-1));
    create_body(&mut p, "/app/x", b"", 0);
    // MultiHeader{-1, true, -1}
    p.extend_from_slice(&be32(-1));
    p.push(1);
    p.extend_from_slice(&be32(-1));
    let (h, req) = decode_request(&p).unwrap();
    assert_eq!(h, RequestHeader { xid: 3, op: 14 });
    assert_eq!(
        req,
        Request::Multi(vec![
            MultiOp::Check {
                path: "/app".into(),
                version: 4
            },
            MultiOp::Create {
                op: op::CREATE,
                request: CreateRequest {
                    path: "/app/x".into(),
                    data: vec![],
                    acl: Acl::open_unsafe(),
                    flags: 0,
                    ttl: None,
                }
            },
        ])
    );
    // Our encoder produces exactly these bytes.
    assert_eq!(unframe(&encode_request(&h, &req)), &p[..]);
}

#[test]
fn multi_rejects_reads_in_writes_and_bad_types() {
    let read_in_write = Request::Multi(vec![MultiOp::GetData { path: "/".into() }]);
    let h = RequestHeader {
        xid: 1,
        op: op::MULTI,
    };
    let frame = encode_request(&h, &read_in_write);
    assert_eq!(decode_request(unframe(&frame)), Err(JuteError::MixedMulti));

    let mut p = Vec::new();
    p.extend_from_slice(&be32(1));
    p.extend_from_slice(&be32(14));
    p.extend_from_slice(&be32(op::SYNC));
    p.push(0);
    p.extend_from_slice(&be32(-1));
    assert_eq!(decode_request(&p), Err(JuteError::BadMultiOp(op::SYNC)));
    // A multi without its end marker is truncated.
    let mut p = Vec::new();
    p.extend_from_slice(&be32(1));
    p.extend_from_slice(&be32(14));
    assert!(matches!(
        decode_request(&p),
        Err(JuteError::Truncated { .. })
    ));
}

#[test]
fn create_modes() {
    assert_eq!(create_mode(0, None), Ok(CreateMode::Persistent));
    assert_eq!(create_mode(1, None), Ok(CreateMode::Ephemeral));
    assert_eq!(create_mode(2, None), Ok(CreateMode::PersistentSequential));
    assert_eq!(create_mode(3, None), Ok(CreateMode::EphemeralSequential));
    assert_eq!(create_mode(4, None), Ok(CreateMode::Container));
    assert_eq!(
        create_mode(5, Some(100)),
        Ok(CreateMode::PersistentWithTtl(100))
    );
    assert_eq!(
        create_mode(6, Some(100)),
        Ok(CreateMode::PersistentSequentialWithTtl(100))
    );
    // createTTL with a non-TTL mode and ttl -1 is what clients send for "no TTL".
    assert_eq!(create_mode(0, Some(-1)), Ok(CreateMode::Persistent));
    assert_eq!(create_mode(7, None), Err(JuteError::BadCreateFlags(7)));
    assert_eq!(create_mode(-1, None), Err(JuteError::BadCreateFlags(-1)));
    assert_eq!(
        create_mode(5, None),
        Err(JuteError::BadTtl { flags: 5, ttl: -1 })
    );
    assert_eq!(
        create_mode(5, Some(0)),
        Err(JuteError::BadTtl { flags: 5, ttl: 0 })
    );
    assert!(create_mode(6, Some(crate::tree::MAX_TTL_MS + 1)).is_err());
    assert_eq!(
        create_mode(1, Some(5)),
        Err(JuteError::BadTtl { flags: 1, ttl: 5 })
    );
}

#[test]
fn unknown_op_is_reported_with_its_code() {
    let p = [0, 0, 0, 9, 0, 0, 0, 16]; // reconfig: unsupported
    assert_eq!(decode_request(&p), Err(JuteError::UnknownOp(16)));
    assert_eq!(
        decode_request_header(&p),
        Ok(RequestHeader { xid: 9, op: 16 })
    );
    let p = [0, 0, 0, 9, 0x7f, 0, 0, 0];
    assert_eq!(decode_request(&p), Err(JuteError::UnknownOp(0x7f00_0000)));
}

#[test]
fn trailing_bytes_after_a_request_are_an_error() {
    let p = [0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 11, 0];
    assert_eq!(decode_request(&p), Err(JuteError::TrailingBytes(1)));
}

#[test]
fn lying_lengths_are_errors_before_allocation() {
    // getData whose path claims 2^31-1 bytes.
    let mut p = vec![0, 0, 0, 1, 0, 0, 0, 4];
    p.extend_from_slice(&be32(i32::MAX));
    p.extend_from_slice(b"/a");
    let (res, bytes) = allocated_by(|| decode_request(&p));
    assert_eq!(
        res,
        Err(JuteError::Truncated {
            needed: i32::MAX as usize,
            remaining: 2
        })
    );
    assert!(bytes < 1024, "allocated {bytes}");
    // getChildren response whose vector claims 2^31-1 entries.
    let mut p = vec![0; 16];
    p.extend_from_slice(&be32(i32::MAX));
    let (res, bytes) = allocated_by(|| decode_response(&p, op::GET_CHILDREN));
    assert!(matches!(res, Err(JuteError::Truncated { .. })));
    assert!(bytes < 1024, "allocated {bytes}");
    // Negative lengths other than -1.
    let mut p = vec![0, 0, 0, 1, 0, 0, 0, 4];
    p.extend_from_slice(&be32(-2));
    assert_eq!(decode_request(&p), Err(JuteError::NegativeLength(-2)));
    // A null (-1) path is read as empty (the server's path check answers BadArguments).
    let mut p = vec![0, 0, 0, 1, 0, 0, 0, 4];
    p.extend_from_slice(&be32(-1));
    p.push(0);
    assert_eq!(
        decode_request(&p).unwrap().1,
        Request::GetData {
            path: String::new(),
            watch: false
        }
    );
}

#[test]
fn invalid_utf8_is_an_error() {
    let mut p = vec![0, 0, 0, 1, 0, 0, 0, 9];
    p.extend_from_slice(&be32(2));
    p.extend_from_slice(&[0xc3, 0x28]);
    assert_eq!(decode_request(&p), Err(JuteError::InvalidUtf8));
}

#[test]
fn every_truncation_of_every_request_is_an_error() {
    for req in every_request() {
        let header = RequestHeader {
            xid: 1,
            op: req.op_code(),
        };
        let frame = encode_request(&header, &req);
        let payload = unframe(&frame);
        for cut in 0..payload.len() {
            assert!(
                decode_request(&payload[..cut]).is_err(),
                "{req:?} cut at {cut}"
            );
        }
    }
}

#[test]
fn frame_len_limits() {
    assert_eq!(frame_len([0, 0, 0, 0]), Ok(0));
    assert_eq!(frame_len([0, 0, 1, 0]), Ok(256));
    assert_eq!(frame_len(be32(MAX_FRAME_LEN as i32)), Ok(MAX_FRAME_LEN));
    assert_eq!(
        frame_len(be32(MAX_FRAME_LEN as i32 + 1)),
        Err(JuteError::FrameTooLarge {
            len: MAX_FRAME_LEN + 1,
            max: MAX_FRAME_LEN
        })
    );
    assert_eq!(frame_len(be32(-1)), Err(JuteError::NegativeLength(-1)));
    assert_eq!(
        frame_len(be32(i32::MIN)),
        Err(JuteError::NegativeLength(i32::MIN))
    );
    assert!(frame_len(be32(i32::MAX)).is_err());
    assert_eq!(frame(b"abc"), [0, 0, 0, 3, b'a', b'b', b'c']);
}

proptest! {
    /// Arbitrary payloads never panic, and decoding allocates at most a constant factor of the
    /// input (so a lying length can never cost more than the bytes that arrived).
    #[test]
    fn arbitrary_bytes_never_panic_or_overallocate(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let budget = 64 * bytes.len() + 4096;
        let (_, n) = allocated_by(|| decode_request(&bytes));
        prop_assert!(n <= budget, "decode_request allocated {} for {} bytes", n, bytes.len());
        let (_, n) = allocated_by(|| decode_connect_request(&bytes));
        prop_assert!(n <= budget);
        for op_code in [op::NOTIFICATION, op::GET_DATA, op::GET_ACL, op::MULTI, op::WHO_AM_I] {
            let (_, n) = allocated_by(|| decode_response(&bytes, op_code));
            prop_assert!(n <= budget);
        }
        let _ = decode_connect_response(&bytes);
    }

    /// Valid requests with a few bytes replaced still decode or fail cleanly.
    #[test]
    fn mutated_requests_never_panic(
        which in 0usize..28,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
    ) {
        let reqs = every_request();
        let req = &reqs[which % reqs.len()];
        let mut frame = encode_request(&RequestHeader { xid: 1, op: req.op_code() }, req);
        for (pos, byte) in edits {
            let i = pos % frame.len();
            frame[i] = byte;
        }
        let payload = &frame[4..];
        let (_, n) = allocated_by(|| decode_request(payload));
        prop_assert!(n <= 64 * payload.len() + 4096);
    }

    /// Arbitrary `Stat`s and create requests survive a round trip bit for bit.
    #[test]
    fn stat_and_create_round_trip(
        f1 in any::<(u64, u64, i64, i64, i32, i32)>(),
        f2 in any::<(i32, i64, i32, i32, u64)>(),
        path in "[/a-z0-9é]{0,40}",
        data in proptest::collection::vec(any::<u8>(), 0..64),
        flags in any::<i32>(),
        ttl in proptest::option::of(any::<i64>()),
    ) {
        let ((a, b, c, d, e, f), (g, h, i, j, k)) = (f1, f2);
        let s = Stat {
            czxid: Zxid(a), mzxid: Zxid(b), ctime: c, mtime: d, version: e, cversion: f,
            aversion: g, ephemeral_owner: h, data_length: i, num_children: j, pzxid: Zxid(k),
        };
        let mut w = Writer::new();
        write_stat(&mut w, &s);
        let bytes = w.into_bytes();
        prop_assert_eq!(bytes.len(), 68);
        let mut r = Reader::new(&bytes);
        prop_assert_eq!(read_stat(&mut r).unwrap(), s);
        prop_assert!(r.finish().is_ok());

        let req = CreateRequest { path, data, acl: acl(), flags, ttl };
        let wrapped = if ttl.is_some() { Request::CreateTtl(req) } else { Request::Create2(req) };
        let frame = encode_request(&RequestHeader { xid: 7, op: wrapped.op_code() }, &wrapped);
        prop_assert_eq!(decode_request(&frame[4..]).unwrap().1, wrapped);
    }
}
