//! Laws over random txn sequences: determinism, snapshot equivalence, digest sensitivity and
//! multi atomicity. The path universe is small so that ops often collide (exists, not empty,
//! version mismatches, ephemeral parents) and every error path gets exercised.

use super::tests::{content, create, Harness};
use super::*;
use proptest::prelude::*;

const SESSIONS: [i64; 3] = [
    0x0100_0000_0000_0001,
    0x0100_0000_0000_0002,
    0x8100_0000_0000_0003_u64 as i64,
];
const PATHS: [&str; 9] = [
    "/a", "/b", "/a/x", "/a/y", "/b/x", "/a/x/z", "/c", "/c/q", "/a/",
];

fn path() -> impl Strategy<Value = String> {
    prop::sample::select(&PATHS[..]).prop_map(str::to_owned)
}

fn data() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..6)
}

fn version() -> impl Strategy<Value = i32> {
    -1..3i32
}

fn mode() -> impl Strategy<Value = CreateMode> {
    prop::sample::select(vec![
        CreateMode::Persistent,
        CreateMode::Persistent,
        CreateMode::Persistent,
        CreateMode::Ephemeral,
        CreateMode::PersistentSequential,
        CreateMode::EphemeralSequential,
        CreateMode::Container,
        CreateMode::PersistentWithTtl(1_000),
        CreateMode::PersistentSequentialWithTtl(5),
    ])
}

fn acl() -> impl Strategy<Value = Vec<Acl>> {
    prop::sample::select(vec![
        Acl::open_unsafe(),
        Acl::read_unsafe(),
        vec![],
        vec![Acl::world(perms::READ), Acl::world(perms::READ)],
    ])
}

/// Ops a multi may hold.
fn node_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (path(), data(), mode()).prop_map(|(p, d, m)| create(&p, &d, m)),
        2 => (path(), version()).prop_map(|(path, version)| Op::Delete { path, version }),
        2 => (path(), data(), version())
            .prop_map(|(path, data, version)| Op::SetData { path, data, version }),
        1 => (path(), version()).prop_map(|(path, version)| Op::Check { path, version }),
        1 => (path(), acl(), version()).prop_map(|(path, acl, version)| Op::SetAcl { path, acl, version }),
        1 => path().prop_map(|path| Op::DeleteContainer { path }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => node_op(),
        2 => (1..100_000i32).prop_map(|timeout_ms| Op::CreateSession { timeout_ms }),
        1 => Just(Op::CloseSession),
        2 => prop::collection::vec(node_op(), 1..4).prop_map(Op::Multi),
        1 => Just(Op::Error { code: ErrorCode::NoAuth }),
    ]
}

fn script() -> impl Strategy<Value = Vec<(i64, Op)>> {
    prop::collection::vec((prop::sample::select(&SESSIONS[..]), op()), 0..80)
}

/// Turn a script into txns with increasing zxids and times.
fn txns(script: &[(i64, Op)]) -> Vec<Txn> {
    let mut h = Harness::new();
    script
        .iter()
        .map(|(s, op)| Txn {
            header: h.next_header(*s),
            op: op.clone(),
        })
        .collect()
}

fn run(tree: &mut DataTree, txns: &[Txn]) -> Vec<TxnResult> {
    txns.iter()
        .map(|t| {
            let r = tree.apply(t).expect("zxids increase");
            tree.assert_consistent();
            r
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Two replicas fed the same txns agree on every result, the digest and the snapshot
    /// bytes; a replica restored from a snapshot taken midway continues identically.
    #[test]
    fn replicas_and_restored_snapshots_agree(script in script(), cut in any::<prop::sample::Index>()) {
        let txns = txns(&script);
        let cut = cut.index(txns.len() + 1);
        let (first, rest) = txns.split_at(cut);

        let mut a = DataTree::new();
        let mut b = DataTree::new();
        let ra = run(&mut a, first);
        let rb = run(&mut b, first);
        prop_assert_eq!(ra, rb);

        let image = a.serialize_snapshot().expect("encodes");
        prop_assert_eq!(&image, &super::snapshot::reference::serialize(&a));
        prop_assert_eq!(a.snapshot_len().expect("counts"), image.len() as u64);
        let mut restored = DataTree::from_snapshot(&image).expect("decodes");
        restored.assert_consistent();
        prop_assert_eq!(restored.digest(), a.digest());
        prop_assert_eq!(content(&restored), content(&a));
        prop_assert_eq!(restored.last_applied(), a.last_applied());

        let ra = run(&mut a, rest);
        let rb = run(&mut b, rest);
        let rr = run(&mut restored, rest);
        prop_assert_eq!(&ra, &rb);
        prop_assert_eq!(&ra, &rr);
        prop_assert_eq!(a.digest(), b.digest());
        prop_assert_eq!(a.digest(), restored.digest());
        let image = a.serialize_snapshot().expect("encodes");
        prop_assert_eq!(&image, &b.serialize_snapshot().expect("encodes"));
        prop_assert_eq!(&image, &restored.serialize_snapshot().expect("encodes"));
    }

    /// Changing any one node's data (and nothing else) changes the digest, and changing it
    /// back restores it: the digest is a function of the content.
    #[test]
    fn the_digest_sees_every_nodes_data(script in script(), pick in any::<prop::sample::Index>(), extra in 0u8..=255) {
        let mut tree = DataTree::new();
        run(&mut tree, &txns(&script));
        let paths: Vec<String> = content(&tree).0.into_iter().map(|n| n.0).collect();
        let path = pick.get(&paths).clone();
        let original = tree.get(&path).map(|(d, _)| d.to_vec()).expect("exists");
        let mut changed = original.clone();
        match changed.first_mut() {
            Some(b) => *b = b.wrapping_add(1 + extra % 255),
            None => changed.push(extra),
        }
        let before = tree.digest();
        let mut other = tree.clone();
        other.modify(&path, |n| n.set_data(&changed));
        prop_assert_ne!(other.digest(), before);
        let mut fixed = other.clone();
        fixed.modify(&path, |n| n.set_data(&original));
        prop_assert_eq!(fixed.digest(), before);
        prop_assert_eq!(tree.digest(), before, "the clone shares nothing mutable");
    }

    /// A multi whose last op fails leaves the tree exactly as it was, whatever came before.
    #[test]
    fn a_failed_multi_changes_nothing(script in script(), ops in prop::collection::vec(node_op(), 0..5), session in prop::sample::select(&SESSIONS[..])) {
        let mut h = Harness::new();
        for (s, op) in script {
            h.apply(s, op);
        }
        let before = content(&h.tree);
        let digest = h.tree.digest();
        let n = ops.len();
        let mut ops = ops;
        ops.push(Op::Check { path: "/zookeeper".into(), version: 77 });
        let r = h.apply(session, Op::Multi(ops));
        prop_assert!(r.events.is_empty());
        prop_assert_eq!(content(&h.tree), before);
        prop_assert_eq!(h.tree.digest(), digest);
        let OpResult::Multi(results) = r.result else { panic!("not a multi result") };
        prop_assert_eq!(results.len(), n + 1);
        // The first failure is reported; everything before it as rolled-back OK.
        let first_bad = results.iter().position(|r| !r.err().is_ok()).expect("fails");
        prop_assert!(results[..first_bad].iter().all(|r| *r == OpResult::Error(ErrorCode::Ok)));
        prop_assert!(results[first_bad + 1..].iter().all(|r| *r == OpResult::Error(ErrorCode::RuntimeInconsistency)));
    }
}
