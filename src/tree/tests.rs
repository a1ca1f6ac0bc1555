//! Unit tests: each op's success and error paths with ZooKeeper's semantics, stat fields,
//! events, sessions, containers, multi, snapshots and zxid ordering.

use super::*;
use crate::ids::{Epoch, Zxid};

const S1: i64 = 0x0100_0000_0000_0001;
const S2: i64 = 0x0100_0000_0000_0002;

/// A tree plus a leader-like clock: every txn gets the next zxid and 10 ms more time.
pub(super) struct Harness {
    pub tree: DataTree,
    pub counter: u32,
    pub time: i64,
}

impl Harness {
    pub fn new() -> Harness {
        Harness {
            tree: DataTree::new(),
            counter: 0,
            time: 1_700_000_000_000,
        }
    }

    pub fn next_header(&mut self, session_id: i64) -> TxnHeader {
        self.counter += 1;
        self.time += 10;
        TxnHeader {
            session_id,
            cxid: self.counter as i32,
            zxid: Zxid::new(Epoch(1), self.counter),
            time_ms: self.time,
        }
    }

    pub fn apply(&mut self, session_id: i64, op: Op) -> TxnResult {
        let header = self.next_header(session_id);
        let r = self
            .tree
            .apply(&Txn { header, op })
            .expect("zxids increase");
        self.tree.assert_consistent();
        assert_eq!(self.tree.last_applied(), header.zxid);
        r
    }

    pub fn zxid(&self) -> Zxid {
        Zxid::new(Epoch(1), self.counter)
    }

    /// Apply an op that must fail: the code, no events, and nothing but `last_applied` moved.
    fn fails(&mut self, session_id: i64, op: Op) -> ErrorCode {
        let before = content(&self.tree);
        let digest = self.tree.digest();
        let r = self.apply(session_id, op);
        assert!(r.events.is_empty(), "{:?}", r.events);
        assert_eq!(content(&self.tree), before);
        assert_eq!(self.tree.digest(), digest);
        r.err()
    }
}

pub(super) fn create(path: &str, data: &[u8], mode: CreateMode) -> Op {
    Op::Create {
        path: path.to_owned(),
        data: data.to_vec(),
        acl: Acl::open_unsafe(),
        mode,
    }
}

fn persistent(path: &str) -> Op {
    create(path, b"", CreateMode::Persistent)
}

/// Everything observable about the tree except `last_applied`.
pub(super) type Content = (
    Vec<(String, Vec<u8>, Stat, Vec<Acl>, Option<NodeKind>)>,
    Vec<(i64, i32)>,
    u64,
);

pub(super) fn content(tree: &DataTree) -> Content {
    let mut nodes = Vec::new();
    let mut stack = vec!["/".to_owned()];
    while let Some(p) = stack.pop() {
        let (data, stat) = tree.get(&p).expect("listed node exists");
        nodes.push((
            p.clone(),
            data.to_vec(),
            *stat,
            tree.acl(&p).expect("acl").to_vec(),
            tree.node_kind(&p),
        ));
        for c in tree.children(&p).expect("children") {
            stack.push(if p == "/" {
                format!("/{c}")
            } else {
                format!("{p}/{c}")
            });
        }
    }
    nodes.sort_by(|a, b| a.0.cmp(&b.0));
    (nodes, tree.sessions(), tree.approximate_data_size())
}

fn created_path(r: &TxnResult) -> String {
    match &r.result {
        OpResult::Created { path, .. } => path.clone(),
        other => panic!("not a create: {other:?}"),
    }
}

#[test]
fn fresh_tree_is_zookeepers() {
    let t = DataTree::new();
    assert_eq!(t.node_count(), 4);
    assert_eq!(t.children("/"), Some(vec!["zookeeper".to_owned()]));
    assert_eq!(
        t.children("/zookeeper"),
        Some(vec!["config".to_owned(), "quota".to_owned()])
    );
    // Children attached without a creation: cversion = 2 * 0 - numChildren.
    let root = t.stat("/").expect("root");
    assert_eq!((root.cversion, root.num_children), (-1, 1));
    assert_eq!(t.stat("/zookeeper").map(|s| s.cversion), Some(-2));
    assert_eq!(t.acl("/"), Some(&Acl::open_unsafe()[..]));
    assert_eq!(t.acl("/zookeeper/config"), Some(&Acl::read_unsafe()[..]));
    assert_eq!(t.stat("/zookeeper/config").map(|s| s.aversion), Some(-1));
    assert_eq!(t.approximate_data_size(), (1 + 10 + 16 + 17) as u64);
    assert_eq!(t.last_applied(), Zxid(0));
    assert_eq!(t.ephemeral_count(), 0);
    assert!(t.sessions().is_empty());
    t.assert_consistent();
    assert_eq!(t.digest(), DataTree::new().digest());
}

#[test]
fn create_sets_the_stat_and_updates_the_parent() {
    let mut h = Harness::new();
    let r = h.apply(S1, create("/a", b"hello", CreateMode::Persistent));
    let z = h.zxid();
    let OpResult::Created { path, stat } = &r.result else {
        panic!("{r:?}")
    };
    assert_eq!(path, "/a");
    assert_eq!((stat.czxid, stat.mzxid, stat.pzxid), (z, z, z));
    assert_eq!((stat.ctime, stat.mtime), (h.time, h.time));
    assert_eq!((stat.version, stat.cversion, stat.aversion), (0, 0, 0));
    assert_eq!(
        (stat.data_length, stat.num_children, stat.ephemeral_owner),
        (5, 0, 0)
    );
    assert_eq!(
        h.tree.get("/a").map(|(d, s)| (d.to_vec(), *s)),
        Some((b"hello".to_vec(), *stat))
    );
    assert_eq!(
        r.events,
        vec![
            ChangeEvent::NodeCreated("/a".into()),
            ChangeEvent::NodeChildrenChanged("/".into())
        ]
    );
    let root = h.tree.stat("/").expect("root");
    assert_eq!((root.cversion, root.num_children, root.pzxid), (0, 2, z));
    assert_eq!(root.mzxid, Zxid(0), "a child create is not a data change");
    assert_eq!(h.tree.approximate_data_size(), 44 + 2 + 5);

    h.apply(S1, persistent("/a/b"));
    let a = h.tree.stat("/a").expect("a");
    assert_eq!((a.cversion, a.num_children, a.pzxid), (1, 1, h.zxid()));
    assert_eq!(h.tree.children("/a"), Some(vec!["b".to_owned()]));
}

#[test]
fn create_error_paths() {
    let mut h = Harness::new();
    h.apply(S1, persistent("/a"));
    assert_eq!(h.fails(S1, persistent("/a")), ErrorCode::NodeExists);
    assert_eq!(h.fails(S1, persistent("/")), ErrorCode::NodeExists);
    assert_eq!(h.fails(S1, persistent("/zookeeper")), ErrorCode::NodeExists);
    assert_eq!(h.fails(S1, persistent("/missing/child")), ErrorCode::NoNode);
    for bad in [
        "",
        "a",
        "/a/",
        "//a",
        "/a//b",
        "/a/.",
        "/a/../b",
        "/a\0b",
        "/\u{1f600}",
    ] {
        assert_eq!(
            h.fails(S1, persistent(bad)),
            ErrorCode::BadArguments,
            "{bad:?}"
        );
    }
    let big = vec![0u8; MAX_DATA_LEN + 1];
    assert_eq!(
        h.fails(S1, create("/big", &big, CreateMode::Persistent)),
        ErrorCode::BadArguments
    );
    let no_acl = Op::Create {
        path: "/noacl".into(),
        data: vec![],
        acl: vec![],
        mode: CreateMode::Persistent,
    };
    assert_eq!(h.fails(S1, no_acl), ErrorCode::InvalidAcl);
    // An ephemeral needs a live session.
    assert_eq!(
        h.fails(S2, create("/e", b"", CreateMode::Ephemeral)),
        ErrorCode::SessionExpired
    );
    for ttl in [0, -1, MAX_TTL_MS + 1] {
        assert_eq!(
            h.fails(S1, create("/t", b"", CreateMode::PersistentWithTtl(ttl))),
            ErrorCode::BadArguments
        );
    }
    h.apply(S1, Op::CreateSession { timeout_ms: 30_000 });
    h.apply(S1, create("/a/e", b"", CreateMode::Ephemeral));
    assert_eq!(
        h.fails(S1, persistent("/a/e/child")),
        ErrorCode::NoChildrenForEphemerals
    );
    // Exactly the limit is fine.
    let max = vec![7u8; MAX_DATA_LEN];
    let r = h.apply(S1, create("/max", &max, CreateMode::Persistent));
    assert_eq!(r.err(), ErrorCode::Ok);
    assert_eq!(
        h.tree.stat("/max").map(|s| s.data_length),
        Some(MAX_DATA_LEN as i32)
    );
}

#[test]
fn sequential_names_come_from_the_parents_creation_count() {
    let mut h = Harness::new();
    h.apply(S1, persistent("/q"));
    let seq = |h: &mut Harness, p: &str| {
        created_path(&h.apply(S1, create(p, b"", CreateMode::PersistentSequential)))
    };
    assert_eq!(seq(&mut h, "/q/n-"), "/q/n-0000000000");
    assert_eq!(seq(&mut h, "/q/n-"), "/q/n-0000000001");
    assert_eq!(h.tree.stat("/q").map(|s| s.cversion), Some(2));
    h.apply(
        S1,
        Op::Delete {
            path: "/q/n-0000000000".into(),
            version: -1,
        },
    );
    // Deletes do not advance the counter, but the client-visible cversion counts them.
    assert_eq!(h.tree.stat("/q").map(|s| s.cversion), Some(3));
    assert_eq!(seq(&mut h, "/q/n-"), "/q/n-0000000002");
    // A trailing slash names the child by the counter alone.
    assert_eq!(seq(&mut h, "/q/"), "/q/0000000003");
    assert_eq!(
        h.tree.stat("/q").map(|s| (s.cversion, s.num_children)),
        Some((5, 3))
    );
    // Under the root: one creation so far (/q).
    assert_eq!(seq(&mut h, "/"), "/0000000001");
    // Sequential names also count plain creates.
    h.apply(S1, persistent("/q/plain"));
    assert_eq!(seq(&mut h, "/q/n-"), "/q/n-0000000005");
    // A taken name is NODEEXISTS and changes nothing (ZooKeeper does the same).
    h.apply(S1, persistent("/r"));
    h.apply(S1, persistent("/r/x0000000001"));
    assert_eq!(
        h.fails(S1, create("/r/x", b"", CreateMode::PersistentSequential)),
        ErrorCode::NodeExists
    );
}

#[test]
fn ephemerals_belong_to_their_session_and_go_with_it() {
    let mut h = Harness::new();
    h.apply(S1, Op::CreateSession { timeout_ms: 30_000 });
    h.apply(S2, Op::CreateSession { timeout_ms: 10_000 });
    assert_eq!(h.tree.sessions(), vec![(S1, 30_000), (S2, 10_000)]);
    h.apply(S1, persistent("/app"));
    h.apply(S1, create("/app/e1", b"x", CreateMode::Ephemeral));
    let p = created_path(&h.apply(
        S1,
        create("/app/lock-", b"", CreateMode::EphemeralSequential),
    ));
    assert_eq!(p, "/app/lock-0000000001");
    h.apply(S2, create("/e2", b"", CreateMode::Ephemeral));
    assert_eq!(h.tree.stat("/app/e1").map(|s| s.ephemeral_owner), Some(S1));
    assert_eq!(
        h.tree.node_kind("/e2"),
        Some(NodeKind::Ephemeral { session: S2 })
    );
    assert_eq!(
        h.tree.ephemerals(S1),
        vec!["/app/e1", "/app/lock-0000000001"]
    );
    assert_eq!(h.tree.ephemeral_count(), 3);
    let app_before = *h.tree.stat("/app").expect("app");

    let r = h.apply(S1, Op::CloseSession);
    assert_eq!(r.result, OpResult::SessionClosed);
    assert_eq!(
        r.events,
        vec![
            ChangeEvent::NodeDeleted("/app/e1".into()),
            ChangeEvent::NodeChildrenChanged("/app".into()),
            ChangeEvent::NodeDeleted("/app/lock-0000000001".into()),
            ChangeEvent::NodeChildrenChanged("/app".into()),
        ]
    );
    assert!(!h.tree.exists("/app/e1"));
    assert!(h.tree.ephemerals(S1).is_empty());
    assert_eq!(h.tree.ephemeral_count(), 1);
    assert_eq!(h.tree.sessions(), vec![(S2, 10_000)]);
    let app = h.tree.stat("/app").expect("app");
    assert_eq!(app.pzxid, h.zxid());
    assert_eq!(app.num_children, 0);
    assert_eq!(app.cversion, app_before.cversion + 2, "two child deletions");
    // The closed session can no longer create ephemerals; closing it again is harmless.
    assert_eq!(
        h.fails(S1, create("/late", b"", CreateMode::Ephemeral)),
        ErrorCode::SessionExpired
    );
    assert_eq!(h.apply(S1, Op::CloseSession).err(), ErrorCode::Ok);
    // Deleting an ephemeral by hand takes it out of its session's set.
    h.apply(
        S2,
        Op::Delete {
            path: "/e2".into(),
            version: -1,
        },
    );
    assert!(h.tree.ephemerals(S2).is_empty());
    assert_eq!(h.tree.ephemeral_count(), 0);
}

#[test]
fn session_ids_that_look_like_other_node_kinds_are_refused() {
    let mut h = Harness::new();
    for bad in [0, i64::MIN, -1, 0xff00_0000_0000_0005_u64 as i64] {
        assert_eq!(
            h.fails(bad, Op::CreateSession { timeout_ms: 1 }),
            ErrorCode::BadArguments
        );
    }
}

#[test]
fn delete_and_its_error_paths() {
    let mut h = Harness::new();
    h.apply(S1, persistent("/a"));
    h.apply(S1, persistent("/a/b"));
    assert_eq!(
        h.fails(
            S1,
            Op::Delete {
                path: "/a".into(),
                version: -1
            }
        ),
        ErrorCode::NotEmpty
    );
    assert_eq!(
        h.fails(
            S1,
            Op::Delete {
                path: "/a/b".into(),
                version: 3
            }
        ),
        ErrorCode::BadVersion
    );
    assert_eq!(
        h.fails(
            S1,
            Op::Delete {
                path: "/a/zz".into(),
                version: -1
            }
        ),
        ErrorCode::NoNode
    );
    assert_eq!(
        h.fails(
            S1,
            Op::Delete {
                path: "/x/y".into(),
                version: -1
            }
        ),
        ErrorCode::NoNode
    );
    for special in SPECIAL_PATHS {
        assert_eq!(
            h.fails(
                S1,
                Op::Delete {
                    path: special.into(),
                    version: -1
                }
            ),
            ErrorCode::BadArguments
        );
    }
    assert_eq!(
        h.fails(
            S1,
            Op::Delete {
                path: "/a/".into(),
                version: -1
            }
        ),
        ErrorCode::BadArguments
    );
    let before = *h.tree.stat("/a").expect("a");
    let r = h.apply(
        S1,
        Op::Delete {
            path: "/a/b".into(),
            version: 0,
        },
    );
    assert_eq!(r.result, OpResult::Deleted);
    assert_eq!(
        r.events,
        vec![
            ChangeEvent::NodeDeleted("/a/b".into()),
            ChangeEvent::NodeChildrenChanged("/a".into())
        ]
    );
    let a = h.tree.stat("/a").expect("a");
    assert_eq!(a.pzxid, h.zxid());
    assert_eq!((a.cversion, a.num_children), (before.cversion + 1, 0));
    assert_eq!(a.mzxid, before.mzxid);
    h.apply(
        S1,
        Op::Delete {
            path: "/a".into(),
            version: -1,
        },
    );
    assert!(!h.tree.exists("/a"));
    assert_eq!(h.tree.approximate_data_size(), 44);
    // The same nodes as a fresh tree, but the root's pzxid and creation count moved.
    assert_eq!(h.tree.node_count(), 4);
    assert_ne!(h.tree.digest(), DataTree::new().digest());
}

#[test]
fn set_data_bumps_version_mzxid_and_mtime() {
    let mut h = Harness::new();
    let created = match h
        .apply(S1, create("/a", b"one", CreateMode::Persistent))
        .result
    {
        OpResult::Created { stat, .. } => stat,
        other => panic!("{other:?}"),
    };
    let r = h.apply(
        S1,
        Op::SetData {
            path: "/a".into(),
            data: b"three".to_vec(),
            version: 0,
        },
    );
    let OpResult::DataSet { stat } = r.result else {
        panic!("{r:?}")
    };
    assert_eq!(stat.version, 1);
    assert_eq!((stat.mzxid, stat.mtime), (h.zxid(), h.time));
    assert_eq!((stat.czxid, stat.ctime), (created.czxid, created.ctime));
    assert_eq!(stat.pzxid, created.pzxid, "pzxid only moves with children");
    assert_eq!(stat.data_length, 5);
    assert_eq!(r.events, vec![ChangeEvent::NodeDataChanged("/a".into())]);
    assert_eq!(
        h.tree.get("/a").map(|(d, _)| d.to_vec()),
        Some(b"three".to_vec())
    );
    assert_eq!(h.tree.approximate_data_size(), 44 + 2 + 5);
    let any = h.apply(
        S1,
        Op::SetData {
            path: "/a".into(),
            data: vec![],
            version: -1,
        },
    );
    assert_eq!(h.tree.stat("/a").map(|s| s.version), Some(2), "{any:?}");
    assert_eq!(
        h.fails(
            S1,
            Op::SetData {
                path: "/a".into(),
                data: vec![1],
                version: 0
            }
        ),
        ErrorCode::BadVersion
    );
    assert_eq!(
        h.fails(
            S1,
            Op::SetData {
                path: "/nope".into(),
                data: vec![1],
                version: -1
            }
        ),
        ErrorCode::NoNode
    );
    assert_eq!(
        h.fails(
            S1,
            Op::SetData {
                path: "/a".into(),
                data: vec![0; MAX_DATA_LEN + 1],
                version: -1
            }
        ),
        ErrorCode::BadArguments
    );
    assert_eq!(
        h.fails(
            S1,
            Op::SetData {
                path: "a".into(),
                data: vec![],
                version: -1
            }
        ),
        ErrorCode::BadArguments
    );
}

#[test]
fn set_acl_bumps_only_aversion() {
    let mut h = Harness::new();
    h.apply(S1, persistent("/a"));
    let before = *h.tree.stat("/a").expect("a");
    let read = Acl::world(perms::READ);
    let acl = vec![read.clone(), read.clone(), Acl::world(perms::ALL)];
    let r = h.apply(
        S1,
        Op::SetAcl {
            path: "/a".into(),
            acl,
            version: 0,
        },
    );
    let OpResult::AclSet { stat } = r.result else {
        panic!("{r:?}")
    };
    assert_eq!(stat.aversion, 1);
    assert_eq!(
        Stat {
            aversion: 0,
            ..stat
        },
        before,
        "nothing else changes"
    );
    assert!(r.events.is_empty(), "ZooKeeper fires no watch for setACL");
    // Duplicates are dropped, the first occurrence kept.
    assert_eq!(h.tree.acl("/a"), Some(&[read, Acl::world(perms::ALL)][..]));
    assert_eq!(
        h.fails(
            S1,
            Op::SetAcl {
                path: "/a".into(),
                acl: Acl::open_unsafe(),
                version: 0
            }
        ),
        ErrorCode::BadVersion
    );
    assert_eq!(
        h.fails(
            S1,
            Op::SetAcl {
                path: "/a".into(),
                acl: vec![],
                version: -1
            }
        ),
        ErrorCode::InvalidAcl
    );
    assert_eq!(
        h.fails(
            S1,
            Op::SetAcl {
                path: "/b".into(),
                acl: Acl::open_unsafe(),
                version: -1
            }
        ),
        ErrorCode::NoNode
    );
    // /zookeeper/config starts at aversion -1, which only -1 ("any") or -1 itself matches.
    let r = h.apply(
        S1,
        Op::SetAcl {
            path: "/zookeeper/config".into(),
            acl: Acl::read_unsafe(),
            version: -1,
        },
    );
    assert_eq!(
        h.tree.stat("/zookeeper/config").map(|s| s.aversion),
        Some(0),
        "{r:?}"
    );
}

#[test]
fn check_compares_the_data_version() {
    let mut h = Harness::new();
    h.apply(S1, persistent("/a"));
    let r = h.apply(
        S1,
        Op::Check {
            path: "/a".into(),
            version: 0,
        },
    );
    assert_eq!((r.result, r.events.len()), (OpResult::Checked, 0));
    assert_eq!(
        h.fails(
            S1,
            Op::Check {
                path: "/a".into(),
                version: 1
            }
        ),
        ErrorCode::BadVersion
    );
    assert_eq!(
        h.fails(
            S1,
            Op::Check {
                path: "/b".into(),
                version: -1
            }
        ),
        ErrorCode::NoNode
    );
    assert_eq!(
        h.fails(
            S1,
            Op::Check {
                path: "/b/".into(),
                version: -1
            }
        ),
        ErrorCode::BadArguments
    );
}

#[test]
fn multi_applies_all_ops_with_one_zxid() {
    let mut h = Harness::new();
    let r = h.apply(
        S1,
        Op::Multi(vec![
            persistent("/m"),
            create("/m/c", b"v", CreateMode::Persistent),
            Op::SetData {
                path: "/m".into(),
                data: b"d".to_vec(),
                version: 0,
            },
            Op::Check {
                path: "/m".into(),
                version: 1,
            },
            Op::Delete {
                path: "/m/c".into(),
                version: 0,
            },
        ]),
    );
    assert_eq!(r.err(), ErrorCode::Ok);
    let OpResult::Multi(results) = &r.result else {
        panic!("{r:?}")
    };
    assert_eq!(results.len(), 5);
    assert!(matches!(&results[0], OpResult::Created { path, .. } if path == "/m"));
    assert!(matches!(&results[2], OpResult::DataSet { stat } if stat.version == 1));
    assert_eq!(results[3], OpResult::Checked);
    assert_eq!(results[4], OpResult::Deleted);
    assert_eq!(
        r.events,
        vec![
            ChangeEvent::NodeCreated("/m".into()),
            ChangeEvent::NodeChildrenChanged("/".into()),
            ChangeEvent::NodeCreated("/m/c".into()),
            ChangeEvent::NodeChildrenChanged("/m".into()),
            ChangeEvent::NodeDataChanged("/m".into()),
            ChangeEvent::NodeDeleted("/m/c".into()),
            ChangeEvent::NodeChildrenChanged("/m".into()),
        ]
    );
    let m = h.tree.stat("/m").expect("m");
    assert_eq!((m.czxid, m.mzxid, m.pzxid), (h.zxid(), h.zxid(), h.zxid()));
    assert_eq!((m.version, m.cversion, m.num_children), (1, 2, 0));
    // An empty multi is fine.
    assert_eq!(
        h.apply(S1, Op::Multi(vec![])).result,
        OpResult::Multi(vec![])
    );
}

#[test]
fn a_failing_check_aborts_the_whole_multi() {
    let mut h = Harness::new();
    h.apply(S1, persistent("/a"));
    let before = content(&h.tree);
    let digest = h.tree.digest();
    let r = h.apply(
        S1,
        Op::Multi(vec![
            persistent("/a/new"),
            Op::SetData {
                path: "/a".into(),
                data: b"x".to_vec(),
                version: -1,
            },
            Op::Check {
                path: "/a".into(),
                version: 0,
            }, // now 1: BADVERSION
            Op::Delete {
                path: "/a/new".into(),
                version: -1,
            },
        ]),
    );
    assert_eq!(
        r.result,
        OpResult::Multi(vec![
            OpResult::Error(ErrorCode::Ok),
            OpResult::Error(ErrorCode::Ok),
            OpResult::Error(ErrorCode::BadVersion),
            OpResult::Error(ErrorCode::RuntimeInconsistency),
        ])
    );
    assert_eq!(r.err(), ErrorCode::BadVersion);
    assert!(r.events.is_empty());
    assert_eq!(content(&h.tree), before);
    assert_eq!(h.tree.digest(), digest);
    assert!(!h.tree.exists("/a/new"));
}

#[test]
fn a_multi_cannot_hold_session_ops_or_multis() {
    let mut h = Harness::new();
    for inner in [
        Op::CreateSession { timeout_ms: 1 },
        Op::CloseSession,
        Op::Multi(vec![]),
    ] {
        let r = h.apply(S1, Op::Multi(vec![persistent("/x"), inner]));
        assert_eq!(r.err(), ErrorCode::BadArguments);
        assert!(!h.tree.exists("/x"));
    }
    // An Error op inside a multi is how the leader reports a failed pre-check.
    let r = h.apply(
        S1,
        Op::Multi(vec![
            persistent("/x"),
            Op::Error {
                code: ErrorCode::NoAuth,
            },
        ]),
    );
    assert_eq!(r.err(), ErrorCode::NoAuth);
    assert!(!h.tree.exists("/x"));
}

#[test]
fn an_error_txn_changes_nothing() {
    let mut h = Harness::new();
    assert_eq!(
        h.fails(
            S1,
            Op::Error {
                code: ErrorCode::NoAuth
            }
        ),
        ErrorCode::NoAuth
    );
}

#[test]
fn txns_must_come_in_zxid_order() {
    let mut h = Harness::new();
    h.apply(S1, persistent("/a"));
    let snapshot = content(&h.tree);
    let last = h.tree.last_applied();
    for zxid in [last, Zxid(last.0 - 1), Zxid(0)] {
        let txn = Txn {
            header: TxnHeader {
                session_id: S1,
                cxid: 9,
                zxid,
                time_ms: 0,
            },
            op: persistent("/b"),
        };
        assert!(matches!(
            h.tree.apply(&txn),
            Err(TreeError::ZxidNotAfterLastApplied { .. })
        ));
    }
    assert_eq!(content(&h.tree), snapshot);
    assert_eq!(h.tree.last_applied(), last);
    assert!(!h.tree.exists("/b"));
}

#[test]
fn containers_become_candidates_once_emptied() {
    let mut h = Harness::new();
    h.apply(S1, create("/c", b"", CreateMode::Container));
    h.apply(S1, create("/fresh", b"", CreateMode::Container));
    assert_eq!(h.tree.node_kind("/c"), Some(NodeKind::Container));
    assert_eq!(h.tree.stat("/c").map(|s| s.ephemeral_owner), Some(0));
    assert!(
        h.tree.container_candidates().is_empty(),
        "never-used containers are spared"
    );
    h.apply(S1, persistent("/c/x"));
    assert!(h.tree.container_candidates().is_empty());
    assert_eq!(
        h.fails(S1, Op::DeleteContainer { path: "/c".into() }),
        ErrorCode::NotEmpty
    );
    h.apply(
        S1,
        Op::Delete {
            path: "/c/x".into(),
            version: -1,
        },
    );
    assert_eq!(h.tree.container_candidates(), vec!["/c".to_owned()]);
    let r = h.apply(0, Op::DeleteContainer { path: "/c".into() });
    assert_eq!(r.result, OpResult::Deleted);
    assert!(h.tree.container_candidates().is_empty());
    // DeleteContainer refuses other kinds of node.
    h.apply(S1, persistent("/p"));
    assert_eq!(
        h.fails(0, Op::DeleteContainer { path: "/p".into() }),
        ErrorCode::BadVersion
    );
    assert_eq!(
        h.fails(0, Op::DeleteContainer { path: "/q".into() }),
        ErrorCode::NoNode
    );
    assert_eq!(
        h.fails(
            0,
            Op::DeleteContainer {
                path: "/zookeeper".into()
            }
        ),
        ErrorCode::BadArguments
    );
}

#[test]
fn ttl_nodes_store_their_ttl_and_expire_by_leader_time() {
    let mut h = Harness::new();
    let r = h.apply(S1, create("/t", b"", CreateMode::PersistentWithTtl(500)));
    let OpResult::Created { stat, .. } = r.result else {
        panic!("{r:?}")
    };
    assert_eq!(stat.ephemeral_owner, 0);
    assert_eq!(h.tree.node_kind("/t"), Some(NodeKind::Ttl { ttl_ms: 500 }));
    let p = created_path(&h.apply(
        S1,
        create("/t/s-", b"", CreateMode::PersistentSequentialWithTtl(9)),
    ));
    assert_eq!(p, "/t/s-0000000000");
    assert!(h.tree.ttl_candidates(h.time + 1_000).contains(&p));
    assert!(
        !h.tree
            .ttl_candidates(h.time + 1_000)
            .contains(&"/t".to_owned()),
        "has a child"
    );
    h.apply(0, Op::DeleteContainer { path: p });
    let mtime = h.tree.stat("/t").expect("t").mtime;
    assert!(h.tree.ttl_candidates(mtime + 500).is_empty());
    assert_eq!(h.tree.ttl_candidates(mtime + 501), vec!["/t".to_owned()]);
}

/// A tree with every kind of node, sessions, ACLs and data.
fn varied() -> Harness {
    let mut h = Harness::new();
    h.apply(S1, Op::CreateSession { timeout_ms: 4_000 });
    h.apply(S2, Op::CreateSession { timeout_ms: 6_000 });
    h.apply(S1, create("/a", b"alpha", CreateMode::Persistent));
    h.apply(S1, create("/a/e", b"eph", CreateMode::Ephemeral));
    h.apply(S2, create("/a/s-", b"", CreateMode::EphemeralSequential));
    h.apply(S1, create("/c", b"", CreateMode::Container));
    h.apply(S1, create("/c/k", &[0, 1, 2, 255], CreateMode::Persistent));
    h.apply(
        S1,
        create("/t", b"ttl", CreateMode::PersistentWithTtl(1_000)),
    );
    h.apply(
        S1,
        Op::SetAcl {
            path: "/a".into(),
            acl: Acl::read_unsafe(),
            version: -1,
        },
    );
    h.apply(
        S1,
        Op::SetData {
            path: "/c/k".into(),
            data: vec![9; 3000],
            version: 0,
        },
    );
    h.apply(
        S1,
        Op::Delete {
            path: "/c/k".into(),
            version: -1,
        },
    );
    h
}

#[test]
fn snapshot_round_trip_resumes_exactly() {
    let mut h = varied();
    let bytes = h.tree.serialize_snapshot().expect("encodes");
    let mut copy = DataTree::from_snapshot(&bytes).expect("decodes");
    copy.assert_consistent();
    assert_eq!(content(&copy), content(&h.tree));
    assert_eq!(copy.digest(), h.tree.digest());
    assert_eq!(copy.last_applied(), h.tree.last_applied());
    assert_eq!(copy.ephemerals(S2), h.tree.ephemerals(S2));
    assert_eq!(copy.container_candidates(), vec!["/c".to_owned()]);
    assert_eq!(copy.serialize_snapshot().expect("encodes"), bytes);
    assert_eq!(h.tree.snapshot_len().expect("counts"), bytes.len() as u64);
    // The hand-written node encoder produces exactly what serde would (and what the decoder
    // reads), ACLs with several entries and every node kind included.
    assert_eq!(super::snapshot::reference::serialize(&h.tree), bytes);
    let mut streamed = Vec::new();
    h.tree.write_snapshot(&mut streamed).expect("encodes");
    assert_eq!(streamed, bytes);
    // Both go on identically.
    let header = h.next_header(S1);
    let txn = Txn {
        header,
        op: Op::CloseSession,
    };
    let (a, b) = (
        h.tree.apply(&txn).expect("applies"),
        copy.apply(&txn).expect("applies"),
    );
    assert_eq!(a, b);
    assert_eq!(content(&copy), content(&h.tree));
    assert_eq!(copy.digest(), h.tree.digest());
}

#[test]
fn a_snapshot_clone_is_unaffected_by_later_writes() {
    let mut h = varied();
    let frozen = h.tree.clone();
    let before = frozen.serialize_snapshot().expect("encodes");
    h.apply(
        S1,
        Op::SetData {
            path: "/a".into(),
            data: b"changed".to_vec(),
            version: -1,
        },
    );
    h.apply(S1, Op::CloseSession);
    assert_eq!(frozen.serialize_snapshot().expect("encodes"), before);
    assert_ne!(h.tree.digest(), frozen.digest());
}

#[test]
fn garbage_snapshots_are_errors() {
    let good = varied().tree.serialize_snapshot().expect("encodes");
    assert!(matches!(
        DataTree::from_snapshot(&[]),
        Err(TreeError::BadMagic)
    ));
    assert!(matches!(
        DataTree::from_snapshot(b"not a snapshot"),
        Err(TreeError::BadMagic)
    ));
    let mut wrong_version = good.clone();
    wrong_version[11] = 9;
    assert!(matches!(
        DataTree::from_snapshot(&wrong_version),
        Err(TreeError::UnsupportedVersion(_))
    ));
    // Every truncation fails.
    for len in 0..good.len() {
        assert!(
            DataTree::from_snapshot(&good[..len]).is_err(),
            "prefix of {len}"
        );
    }
    let mut trailing = good.clone();
    trailing.push(0);
    assert!(matches!(
        DataTree::from_snapshot(&trailing),
        Err(TreeError::TrailingBytes(1))
    ));
    // A lying node count (the u64 after last_applied, digest and the sessions) cannot allocate.
    let sessions = 2 * 12;
    let count_at = 12 + 8 + 8 + 8 + sessions;
    let mut lying = good.clone();
    lying[count_at..count_at + 8].copy_from_slice(&(u64::MAX / 2).to_be_bytes());
    assert!(DataTree::from_snapshot(&lying).is_err());
    // Random bytes behind a valid header.
    let mut state = 0x1234_5678_u64;
    for _ in 0..200 {
        let mut junk = good[..12].to_vec();
        for _ in 0..(state % 300) {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            junk.push((state >> 33) as u8);
        }
        assert!(DataTree::from_snapshot(&junk).is_err());
    }
    // Flipping a data byte is caught by the digest.
    let data_at = good
        .windows(5)
        .position(|w| w == b"alpha")
        .expect("data is stored verbatim");
    let mut tampered = good.clone();
    tampered[data_at] ^= 1;
    assert!(matches!(
        DataTree::from_snapshot(&tampered),
        Err(TreeError::Inconsistent(_))
    ));
}

#[test]
fn txns_survive_the_crates_wire_encoding() {
    use crate::net::codec::{decode, encode, QUORUM_FRAME_LIMIT};
    let txn = Txn {
        header: TxnHeader {
            session_id: S1,
            cxid: 3,
            zxid: Zxid(0x1_0000_0001),
            time_ms: 42,
        },
        op: Op::Multi(vec![
            create("/a", b"data", CreateMode::PersistentSequentialWithTtl(77)),
            Op::Check {
                path: "/a".into(),
                version: 4,
            },
            Op::Error {
                code: ErrorCode::NoAuth,
            },
        ]),
    };
    let bytes = encode::<_, QUORUM_FRAME_LIMIT>(&txn).expect("encodes");
    assert_eq!(
        decode::<Txn, QUORUM_FRAME_LIMIT>(&bytes).expect("decodes"),
        txn
    );
    // A multi inside a multi cannot even be decoded, so nesting cannot exhaust the stack.
    let nested = Txn {
        header: txn.header,
        op: Op::Multi(vec![Op::Multi(vec![])]),
    };
    let bytes = encode::<_, QUORUM_FRAME_LIMIT>(&nested).expect("encodes");
    assert!(decode::<Txn, QUORUM_FRAME_LIMIT>(&bytes).is_err());
    // An unknown error code is refused.
    let bad = encode::<_, QUORUM_FRAME_LIMIT>(&Op::Error {
        code: ErrorCode::Ok,
    })
    .expect("encodes");
    let mut bad = bad.to_vec();
    let n = bad.len();
    bad[n - 4..].copy_from_slice(&(-9i32).to_be_bytes());
    assert!(decode::<Op, QUORUM_FRAME_LIMIT>(&bad).is_err());
}

#[test]
fn the_digest_covers_each_field() {
    use super::digest::{data_digest, node_digest, DigestFields};
    let acl = Acl::open_unsafe();
    let base = DigestFields {
        path: "/a",
        data_len: 3,
        data_digest: data_digest(b"abc"),
        acl: &acl,
        czxid: 1,
        mzxid: 2,
        pzxid: 3,
        ctime: 4,
        mtime: 5,
        version: 6,
        creates: 7,
        aversion: 8,
        owner: 9,
    };
    let d = node_digest(&base);
    let other_acl = Acl::read_unsafe();
    let variants = [
        DigestFields { path: "/b", ..base },
        DigestFields {
            data_digest: data_digest(b"abd"),
            ..base
        },
        DigestFields {
            acl: &other_acl,
            ..base
        },
        DigestFields { czxid: 0, ..base },
        DigestFields { mzxid: 0, ..base },
        DigestFields { pzxid: 0, ..base },
        DigestFields { ctime: 0, ..base },
        DigestFields { mtime: 0, ..base },
        DigestFields { version: 0, ..base },
        DigestFields { creates: 0, ..base },
        DigestFields {
            aversion: 0,
            ..base
        },
        DigestFields { owner: 0, ..base },
    ];
    for v in &variants {
        assert_ne!(node_digest(v), d);
    }
}

/// Nodes with ZooKeeper's open ACL share one allocation of it, when created and when loaded
/// from a snapshot; any other ACL is the node's own.
#[test]
fn the_open_acl_is_shared_between_nodes() {
    let mut h = Harness::new();
    h.apply(S1, create("/a", b"", CreateMode::Persistent));
    h.apply(S1, create("/b", b"", CreateMode::Persistent));
    let mut readable = create("/r", b"", CreateMode::Persistent);
    if let Op::Create { acl, .. } = &mut readable {
        *acl = Acl::read_unsafe();
    }
    h.apply(S1, readable);
    let acl_of = |t: &DataTree, p: &str| t.nodes.get(p).expect("node").acl.clone();
    let tree = &h.tree;
    assert!(std::sync::Arc::ptr_eq(
        &acl_of(tree, "/a"),
        &acl_of(tree, "/b")
    ));
    assert_eq!(&acl_of(tree, "/r")[..], &Acl::read_unsafe()[..]);
    assert!(!std::sync::Arc::ptr_eq(
        &acl_of(tree, "/a"),
        &acl_of(tree, "/r")
    ));

    let image = tree.serialize_snapshot().expect("serializes");
    let back = DataTree::from_snapshot(&image).expect("loads");
    assert!(std::sync::Arc::ptr_eq(
        &acl_of(&back, "/a"),
        &acl_of(tree, "/b")
    ));
    assert_eq!(back.digest(), tree.digest());
}
