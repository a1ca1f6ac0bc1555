//! ZooKeeper's watch tables, pure: which connection is told of which change. No sockets; the
//! hub ([`super::hub`]) turns the answers into notifications on the right connections.
//!
//! Kinds, as in ZooKeeper's `WatchManager`s:
//! - **data** watches (`getData`, and `exists` on a node that exists or not) fire once on
//!   created / data changed / deleted of their path;
//! - **child** watches (`getChildren`) fire once on children changed or deleted of their path;
//! - **persistent** watches (`addWatch` mode 0) fire on every change of their path, including
//!   children changed, and stay;
//! - **persistent recursive** watches (`addWatch` mode 1) fire on created / data changed /
//!   deleted of their path and of every path below it (never on children changed), and stay.
//!
//! One change tells a connection at most once, even when several of its watches match (a
//! delete fires the data and the child watch of a path as one `NodeDeleted`).

use crate::tree::ChangeEvent;
use std::collections::{BTreeMap, BTreeSet};

/// A connection's id on this server.
pub type ConnId = u64;

/// ZooKeeper's `Watcher.Event.EventType` codes.
pub mod event_type {
    pub const NODE_CREATED: i32 = 1;
    pub const NODE_DELETED: i32 = 2;
    pub const NODE_DATA_CHANGED: i32 = 3;
    pub const NODE_CHILDREN_CHANGED: i32 = 4;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WatchKind {
    Data,
    Child,
    Persistent,
    PersistentRecursive,
}

/// ZooKeeper's `WatcherType` of `checkWatches` / `removeWatches`: 1 children, 2 data, 3 any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatcherType {
    Children,
    Data,
    Any,
}

impl WatcherType {
    pub fn from_code(code: i32) -> Option<WatcherType> {
        match code {
            1 => Some(WatcherType::Children),
            2 => Some(WatcherType::Data),
            3 => Some(WatcherType::Any),
            _ => None,
        }
    }

    fn covers(self, kind: WatchKind) -> bool {
        match self {
            WatcherType::Children => kind == WatchKind::Child,
            WatcherType::Data => kind == WatchKind::Data,
            WatcherType::Any => true,
        }
    }
}

/// Every watch of every connection of this server.
#[derive(Debug, Default)]
pub struct WatchTable {
    by_path: BTreeMap<(WatchKind, String), BTreeSet<ConnId>>,
    by_conn: BTreeMap<ConnId, BTreeSet<(WatchKind, String)>>,
    /// How many persistent recursive watches exist: when none, a change skips the walk up its
    /// ancestors.
    recursive: usize,
}

impl WatchTable {
    pub fn add(&mut self, conn: ConnId, kind: WatchKind, path: &str) {
        let fresh = self
            .by_path
            .entry((kind, path.to_owned()))
            .or_default()
            .insert(conn);
        if fresh {
            self.by_conn
                .entry(conn)
                .or_default()
                .insert((kind, path.to_owned()));
            if kind == WatchKind::PersistentRecursive {
                self.recursive += 1;
            }
        }
    }

    fn remove(&mut self, conn: ConnId, kind: WatchKind, path: &str) -> bool {
        let key = (kind, path.to_owned());
        let Some(conns) = self.by_path.get_mut(&key) else {
            return false;
        };
        if !conns.remove(&conn) {
            return false;
        }
        if conns.is_empty() {
            self.by_path.remove(&key);
        }
        if let Some(set) = self.by_conn.get_mut(&conn) {
            set.remove(&key);
            if set.is_empty() {
                self.by_conn.remove(&conn);
            }
        }
        if kind == WatchKind::PersistentRecursive {
            self.recursive -= 1;
        }
        true
    }

    /// Forget every watch of a closed connection.
    pub fn remove_conn(&mut self, conn: ConnId) {
        let keys = self.by_conn.remove(&conn).unwrap_or_default();
        for (kind, path) in keys {
            self.remove(conn, kind, &path);
        }
    }

    /// Does `conn` have a watch of `which` type on `path` (`checkWatches`)?
    pub fn has(&self, conn: ConnId, path: &str, which: WatcherType) -> bool {
        self.by_conn
            .get(&conn)
            .is_some_and(|set| set.iter().any(|(kind, p)| p == path && which.covers(*kind)))
    }

    /// `removeWatches`: drop `conn`'s watches of `which` type on `path`; false if it had none.
    pub fn remove_matching(&mut self, conn: ConnId, path: &str, which: WatcherType) -> bool {
        let keys: Vec<(WatchKind, String)> = match self.by_conn.get(&conn) {
            Some(set) => set
                .iter()
                .filter(|(kind, p)| p == path && which.covers(*kind))
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        for (kind, p) in &keys {
            self.remove(conn, *kind, p);
        }
        !keys.is_empty()
    }

    /// Which connections hear of `change`, with the event type and path each is told. One-shot
    /// watches that fired are removed.
    pub fn trigger(&mut self, change: &ChangeEvent) -> Vec<(ConnId, i32, String)> {
        let (event_type, path, one_shot): (i32, &str, &[WatchKind]) = match change {
            ChangeEvent::NodeCreated(p) => (event_type::NODE_CREATED, p, &[WatchKind::Data]),
            ChangeEvent::NodeDataChanged(p) => {
                (event_type::NODE_DATA_CHANGED, p, &[WatchKind::Data])
            }
            ChangeEvent::NodeDeleted(p) => (
                event_type::NODE_DELETED,
                p,
                &[WatchKind::Data, WatchKind::Child],
            ),
            ChangeEvent::NodeChildrenChanged(p) => {
                (event_type::NODE_CHILDREN_CHANGED, p, &[WatchKind::Child])
            }
        };
        let mut told: BTreeSet<ConnId> = BTreeSet::new();
        for kind in one_shot {
            let key = (*kind, path.to_owned());
            if let Some(conns) = self.by_path.get(&key).cloned() {
                for conn in conns {
                    self.remove(conn, *kind, path);
                    told.insert(conn);
                }
            }
        }
        if let Some(conns) = self.by_path.get(&(WatchKind::Persistent, path.to_owned())) {
            told.extend(conns.iter().copied());
        }
        let children_changed = matches!(change, ChangeEvent::NodeChildrenChanged(_));
        if self.recursive > 0 && !children_changed {
            for ancestor in self_and_ancestors(path) {
                let key = (WatchKind::PersistentRecursive, ancestor.to_owned());
                if let Some(conns) = self.by_path.get(&key) {
                    told.extend(conns.iter().copied());
                }
            }
        }
        told.into_iter()
            .map(|conn| (conn, event_type, path.to_owned()))
            .collect()
    }

    /// `wchs`: (connections with watches, distinct watched paths, watches).
    pub fn summary(&self) -> (usize, usize, usize) {
        let paths: BTreeSet<&str> = self.by_path.keys().map(|(_, p)| p.as_str()).collect();
        let total = self.by_path.values().map(BTreeSet::len).sum();
        (self.by_conn.len(), paths.len(), total)
    }

    /// `wchc`: each connection's watched paths.
    pub fn by_connection(&self) -> Vec<(ConnId, Vec<String>)> {
        self.by_conn
            .iter()
            .map(|(conn, set)| {
                let paths: BTreeSet<&str> = set.iter().map(|(_, p)| p.as_str()).collect();
                (*conn, paths.into_iter().map(str::to_owned).collect())
            })
            .collect()
    }

    /// `wchp`: each watched path's connections.
    pub fn by_path(&self) -> Vec<(String, Vec<ConnId>)> {
        let mut out: BTreeMap<&str, BTreeSet<ConnId>> = BTreeMap::new();
        for ((_, path), conns) in &self.by_path {
            out.entry(path).or_default().extend(conns.iter().copied());
        }
        out.into_iter()
            .map(|(p, c)| (p.to_owned(), c.into_iter().collect()))
            .collect()
    }

    /// How many watches `conn` has.
    pub fn count_for(&self, conn: ConnId) -> usize {
        self.by_conn.get(&conn).map_or(0, BTreeSet::len)
    }

    /// How many watches in all (`zk_watch_count`).
    pub fn total(&self) -> usize {
        self.by_path.values().map(BTreeSet::len).sum()
    }
}

/// `/a/b` → `/a/b`, `/a`, `/`.
fn self_and_ancestors(path: &str) -> impl Iterator<Item = &str> {
    let mut next = Some(path);
    std::iter::from_fn(move || {
        let current = next?;
        next = match current.rfind('/') {
            _ if current == "/" => None,
            Some(0) => Some("/"),
            Some(i) => Some(&current[..i]),
            None => None,
        };
        Some(current)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use event_type::*;

    fn created(p: &str) -> ChangeEvent {
        ChangeEvent::NodeCreated(p.into())
    }

    #[test]
    fn ancestors_walk_up_to_the_root() {
        let all: Vec<&str> = self_and_ancestors("/a/b/c").collect();
        assert_eq!(all, ["/a/b/c", "/a/b", "/a", "/"]);
        assert_eq!(self_and_ancestors("/").collect::<Vec<_>>(), ["/"]);
    }

    #[test]
    fn a_data_watch_fires_once() {
        let mut w = WatchTable::default();
        w.add(1, WatchKind::Data, "/a");
        assert_eq!(
            w.trigger(&ChangeEvent::NodeDataChanged("/a".into())),
            vec![(1, NODE_DATA_CHANGED, "/a".to_string())]
        );
        assert!(w
            .trigger(&ChangeEvent::NodeDataChanged("/a".into()))
            .is_empty());
        assert_eq!(w.total(), 0);
    }

    #[test]
    fn a_delete_tells_each_connection_once_and_clears_data_and_child_watches() {
        let mut w = WatchTable::default();
        w.add(1, WatchKind::Data, "/a");
        w.add(1, WatchKind::Child, "/a");
        w.add(2, WatchKind::Child, "/a");
        let told = w.trigger(&ChangeEvent::NodeDeleted("/a".into()));
        assert_eq!(
            told,
            vec![
                (1, NODE_DELETED, "/a".to_string()),
                (2, NODE_DELETED, "/a".to_string())
            ]
        );
        assert_eq!(w.summary(), (0, 0, 0));
    }

    #[test]
    fn child_watches_ignore_data_changes() {
        let mut w = WatchTable::default();
        w.add(1, WatchKind::Child, "/a");
        assert!(w
            .trigger(&ChangeEvent::NodeDataChanged("/a".into()))
            .is_empty());
        assert_eq!(
            w.trigger(&ChangeEvent::NodeChildrenChanged("/a".into()))
                .len(),
            1
        );
    }

    #[test]
    fn persistent_watches_stay_and_see_children_changes() {
        let mut w = WatchTable::default();
        w.add(7, WatchKind::Persistent, "/p");
        for _ in 0..3 {
            assert_eq!(w.trigger(&created("/p")).len(), 1);
        }
        assert_eq!(
            w.trigger(&ChangeEvent::NodeChildrenChanged("/p".into())),
            vec![(7, NODE_CHILDREN_CHANGED, "/p".to_string())]
        );
        assert!(w.trigger(&created("/p/child")).is_empty());
    }

    #[test]
    fn recursive_watches_see_the_whole_subtree_but_not_children_changed() {
        let mut w = WatchTable::default();
        w.add(3, WatchKind::PersistentRecursive, "/r");
        assert_eq!(
            w.trigger(&created("/r/x/y")),
            vec![(3, NODE_CREATED, "/r/x/y".to_string())]
        );
        assert!(w
            .trigger(&ChangeEvent::NodeChildrenChanged("/r".into()))
            .is_empty());
        assert!(w.trigger(&created("/rr")).is_empty());
        assert_eq!(w.total(), 1);
    }

    #[test]
    fn closing_a_connection_forgets_its_watches() {
        let mut w = WatchTable::default();
        w.add(1, WatchKind::Data, "/a");
        w.add(1, WatchKind::PersistentRecursive, "/");
        w.add(2, WatchKind::Data, "/a");
        w.remove_conn(1);
        assert_eq!(w.summary(), (1, 1, 1));
        assert_eq!(
            w.trigger(&created("/a")),
            vec![(2, NODE_CREATED, "/a".into())]
        );
    }

    #[test]
    fn check_and_remove_by_watcher_type() {
        let mut w = WatchTable::default();
        w.add(1, WatchKind::Data, "/a");
        w.add(1, WatchKind::Child, "/a");
        assert!(w.has(1, "/a", WatcherType::Children));
        assert!(w.remove_matching(1, "/a", WatcherType::Children));
        assert!(!w.has(1, "/a", WatcherType::Children));
        assert!(w.has(1, "/a", WatcherType::Any));
        assert!(!w.remove_matching(2, "/a", WatcherType::Any));
        assert!(w.remove_matching(1, "/a", WatcherType::Any));
        assert_eq!(w.total(), 0);
    }

    #[test]
    fn reports_group_by_connection_and_path() {
        let mut w = WatchTable::default();
        w.add(1, WatchKind::Data, "/a");
        w.add(1, WatchKind::Child, "/a");
        w.add(2, WatchKind::Data, "/b");
        assert_eq!(w.summary(), (2, 2, 3));
        assert_eq!(
            w.by_connection(),
            vec![(1, vec!["/a".to_string()]), (2, vec!["/b".to_string()])]
        );
        assert_eq!(
            w.by_path(),
            vec![("/a".to_string(), vec![1]), ("/b".to_string(), vec![2])]
        );
    }
}
