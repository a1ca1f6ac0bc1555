//! The open client-port connections, for `stat`, `cons`, `dump` and `crst`, and the
//! `Connections:` count. A [`ConnGuard`] per connection keeps both right on every exit path.

use super::fourlw::ConnInfo;
use crate::status::StatusBoard;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

/// ZooKeeper's selector interest of a connection waiting for bytes (OP_READ).
pub const INTEREST_READ: u32 = 1;

#[derive(Debug, Default)]
pub struct ConnTable {
    next_id: AtomicU64,
    entries: Mutex<BTreeMap<u64, ConnInfo>>,
}

impl ConnTable {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<u64, ConnInfo>> {
        // A panic while holding this lock leaves plain data behind; keep using it.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Record a new connection and count it alive until the guard drops.
    pub fn register(
        self: &Arc<Self>,
        board: &Arc<StatusBoard>,
        remote: SocketAddr,
        expires_at: SystemTime,
    ) -> ConnGuard {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(
            id,
            ConnInfo {
                interest: INTEREST_READ,
                ..ConnInfo::new(remote, expires_at)
            },
        );
        board
            .counters
            .alive_connections
            .fetch_add(1, Ordering::Relaxed);
        ConnGuard {
            id,
            remote,
            table: Arc::clone(self),
            board: Arc::clone(board),
        }
    }

    /// Every open connection, oldest first.
    pub fn snapshot(&self) -> Vec<ConnInfo> {
        self.lock().values().cloned().collect()
    }

    /// `crst`: zero every connection's packet counts.
    pub fn reset_stats(&self) {
        for info in self.lock().values_mut() {
            info.reset_stats();
        }
    }

    /// How many connections `ip` has open (`maxClientCnxns` counts them per address).
    pub fn count_from(&self, ip: std::net::IpAddr) -> usize {
        self.lock().values().filter(|c| c.remote.ip() == ip).count()
    }
}

/// One open connection; dropping it removes the connection from the table and the count.
#[derive(Debug)]
pub struct ConnGuard {
    id: u64,
    remote: SocketAddr,
    table: Arc<ConnTable>,
    board: Arc<StatusBoard>,
}

impl ConnGuard {
    pub fn remote(&self) -> SocketAddr {
        self.remote
    }

    pub fn update(&self, f: impl FnOnce(&mut ConnInfo)) {
        if let Some(info) = self.table.lock().get_mut(&self.id) {
            f(info);
        }
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.table.lock().remove(&self.id);
        let _ = self.board.counters.alive_connections.fetch_update(
            Ordering::Relaxed,
            Ordering::Relaxed,
            |n| Some(n.saturating_sub(1)),
        );
    }
}
