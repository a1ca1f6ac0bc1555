//! Test harness: real `zabd` processes started from zoo.cfg files in a temp dir, with ports the
//! OS handed out, asked what they think over the four-letter-word port, killed (-9), stopped
//! (SIGSTOP) and restarted the way an operator would.

#![allow(dead_code)]

pub mod inproc;
pub mod zk;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const TICK_MS: u64 = 100;
pub const INIT_LIMIT: u64 = 10;
pub const SYNC_LIMIT: u64 = 5;
/// Generous: a hang becomes a failure, a slow machine does not.
pub const WAIT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Voter,
    Observer,
}

#[derive(Debug, Clone)]
pub struct ServerPorts {
    pub client: u16,
    pub quorum: u16,
    pub election: u16,
}

/// `n` free loopback ports for servers to bind later, from below Linux's default ephemeral
/// range (32768-60999). A port the OS handed out for port 0 and that was released again can be
/// taken as the local port of any outgoing connection before the server binds it (seen in CI:
/// `AddrInUse` on a quorum port). Below that range only explicit binds compete, and within this
/// process a counter keeps tests apart; each candidate is still checked by binding it.
pub fn free_ports(n: usize) -> Vec<u16> {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    // Different test processes start at different places.
    let offset = std::process::id() % SPAN;
    let mut listeners = Vec::with_capacity(n);
    while listeners.len() < n {
        let i = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(
            i < SPAN,
            "no free test port left in {FIRST}..{}",
            FIRST + SPAN
        );
        let port = (FIRST + (offset + i) % SPAN) as u16;
        if let Ok(l) = std::net::TcpListener::bind(("127.0.0.1", port)) {
            listeners.push(l);
        }
    }
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local addr").port())
        .collect()
}

/// What `srvr` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Srvr {
    pub mode: String,
    pub zxid: u64,
}

impl Srvr {
    pub fn epoch(&self) -> u64 {
        self.zxid >> 32
    }
}

pub struct Ensemble {
    pub dir: tempfile::TempDir,
    pub roles: BTreeMap<u64, Role>,
    pub ports: BTreeMap<u64, ServerPorts>,
    pub procs: BTreeMap<u64, Child>,
    pub extra_cfg: String,
}

impl Ensemble {
    /// Lay out `voters` voters (ids 1..) and `observers` observers (after them); start none.
    pub fn new(voters: u64, observers: u64) -> Ensemble {
        Self::with_extra(voters, observers, "")
    }

    pub fn with_extra(voters: u64, observers: u64, extra_cfg: &str) -> Ensemble {
        let total = voters + observers;
        let ports = free_ports(3 * total as usize);
        let mut roles = BTreeMap::new();
        let mut by_id = BTreeMap::new();
        for i in 1..=total {
            let k = 3 * (i - 1) as usize;
            roles.insert(
                i,
                if i <= voters {
                    Role::Voter
                } else {
                    Role::Observer
                },
            );
            by_id.insert(
                i,
                ServerPorts {
                    client: ports[k],
                    quorum: ports[k + 1],
                    election: ports[k + 2],
                },
            );
        }
        let e = Ensemble {
            dir: tempfile::tempdir().expect("tempdir"),
            roles,
            ports: by_id,
            procs: BTreeMap::new(),
            extra_cfg: extra_cfg.to_string(),
        };
        for id in e.roles.keys() {
            e.write_config(*id);
        }
        e
    }

    pub fn ids(&self) -> Vec<u64> {
        self.roles.keys().copied().collect()
    }

    pub fn data_dir(&self, id: u64) -> PathBuf {
        self.dir.path().join(format!("data{id}"))
    }

    pub fn config_path(&self, id: u64) -> PathBuf {
        self.dir.path().join(format!("zoo{id}.cfg"))
    }

    pub fn log_path(&self, id: u64) -> PathBuf {
        self.dir.path().join(format!("zabd{id}.log"))
    }

    fn write_config(&self, id: u64) {
        let data = self.data_dir(id);
        std::fs::create_dir_all(&data).expect("data dir");
        std::fs::write(data.join("myid"), format!("{id}\n")).expect("myid");
        let mut cfg = format!(
            "tickTime={TICK_MS}\ninitLimit={INIT_LIMIT}\nsyncLimit={SYNC_LIMIT}\n\
             dataDir={}\nclientPort={}\nclientPortAddress=127.0.0.1\n\
             4lw.commands.whitelist=*\n",
            data.display(),
            self.ports[&id].client
        );
        if self.roles[&id] == Role::Observer {
            cfg.push_str("peerType=observer\n");
        }
        for (sid, p) in &self.ports {
            let role = match self.roles[sid] {
                Role::Voter => "participant",
                Role::Observer => "observer",
            };
            cfg.push_str(&format!(
                "server.{sid}=127.0.0.1:{}:{}:{role}\n",
                p.quorum, p.election
            ));
        }
        cfg.push_str(&self.extra_cfg);
        std::fs::write(self.config_path(id), cfg).expect("zoo.cfg");
    }

    pub fn start(&mut self, id: u64) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(id))
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_zabd"))
            .arg("--config")
            .arg(self.config_path(id))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log clone"))
            .stderr(log)
            .spawn()
            .expect("spawn zabd");
        self.procs.insert(id, child);
    }

    pub fn start_all(&mut self) {
        for id in self.ids() {
            self.start(id);
        }
    }

    /// kill -9.
    pub fn kill(&mut self, id: u64) {
        if let Some(mut child) = self.procs.remove(&id) {
            signal(&child, libc::SIGCONT);
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM (a planned stop) and wait for the process to exit; its exit status.
    pub fn terminate(&mut self, id: u64) -> Option<std::process::ExitStatus> {
        let mut child = self.procs.remove(&id)?;
        signal(&child, libc::SIGTERM);
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn stop(&self, id: u64) {
        if let Some(child) = self.procs.get(&id) {
            signal(child, libc::SIGSTOP);
        }
    }

    pub fn cont(&self, id: u64) {
        if let Some(child) = self.procs.get(&id) {
            signal(child, libc::SIGCONT);
        }
    }

    pub fn client_addr(&self, id: u64) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.ports[&id].client))
    }

    /// Ask a four-letter word; `None` if the server does not answer.
    pub fn ask(&self, id: u64, word: &str) -> Option<String> {
        ask(self.client_addr(id), word.as_bytes())
    }

    /// `srvr`, parsed; `None` while not serving or not answering.
    pub fn srvr(&self, id: u64) -> Option<Srvr> {
        parse_srvr(&self.ask(id, "srvr")?)
    }

    /// Every running server's `srvr` view. Checked on every sample: never two servers claiming
    /// to lead one epoch.
    pub fn views(&self, ids: &[u64]) -> BTreeMap<u64, Option<Srvr>> {
        let views: BTreeMap<u64, Option<Srvr>> =
            ids.iter().map(|id| (*id, self.srvr(*id))).collect();
        let mut leaders: BTreeMap<u64, u64> = BTreeMap::new();
        for (id, view) in &views {
            if let Some(v) = view.as_ref().filter(|v| v.mode == "leader") {
                if let Some(other) = leaders.insert(v.epoch(), *id) {
                    panic!(
                        "servers {other} and {id} both lead epoch {}: {views:?}\n{}",
                        v.epoch(),
                        self.logs()
                    );
                }
            }
        }
        views
    }

    /// Wait until every server in `ids` serves, exactly one of them (a voter) leads, and all
    /// agree on the epoch. Returns (leader, epoch).
    pub fn wait_stable(&self, ids: &[u64]) -> (u64, u64) {
        let deadline = Instant::now() + WAIT;
        loop {
            let views = self.views(ids);
            if let Some(found) = stable(&views) {
                return found;
            }
            if Instant::now() > deadline {
                panic!(
                    "no stable leader among {ids:?} within {WAIT:?}: {views:?}\n{}",
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Wait until `cond` holds for the views of `ids`.
    pub fn wait_until(
        &self,
        ids: &[u64],
        what: &str,
        cond: impl Fn(&BTreeMap<u64, Option<Srvr>>) -> bool,
    ) {
        let deadline = Instant::now() + WAIT;
        loop {
            let views = self.views(ids);
            if cond(&views) {
                return;
            }
            if Instant::now() > deadline {
                panic!("{what}: not within {WAIT:?}: {views:?}\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn logs(&self) -> String {
        let mut out = String::new();
        for id in self.ids() {
            let text = std::fs::read_to_string(self.log_path(id)).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            out.push_str(&format!("--- server {id} (last 40 lines)\n"));
            for line in tail.into_iter().rev() {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }
}

impl Drop for Ensemble {
    fn drop(&mut self) {
        for id in self.ids() {
            self.kill(id);
        }
    }
}

/// One leader (a voter), everyone serving, one epoch.
pub fn stable(views: &BTreeMap<u64, Option<Srvr>>) -> Option<(u64, u64)> {
    let mut leader = None;
    let mut epoch = None;
    for (id, view) in views {
        let view = view.as_ref()?;
        match view.mode.as_str() {
            "leader" => {
                if leader.replace(*id).is_some() {
                    return None;
                }
            }
            "follower" | "observer" => {}
            _ => return None,
        }
        if *epoch.get_or_insert(view.epoch()) != view.epoch() {
            return None;
        }
    }
    Some((leader?, epoch?))
}

pub fn signal(child: &Child, sig: libc::c_int) {
    let Ok(pid) = libc::pid_t::try_from(child.id()) else {
        return;
    };
    // SAFETY: kill(2) on a pid we spawned; no memory is shared.
    unsafe {
        libc::kill(pid, sig);
    }
}

pub fn ask(addr: SocketAddr, bytes: &[u8]) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(bytes).ok()?;
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

pub fn parse_srvr(text: &str) -> Option<Srvr> {
    let mut mode = None;
    let mut zxid = None;
    for line in text.lines() {
        if let Some(m) = line.strip_prefix("Mode: ") {
            mode = Some(m.trim().to_string());
        }
        if let Some(z) = line.strip_prefix("Zxid: 0x") {
            zxid = u64::from_str_radix(z.trim(), 16).ok();
        }
    }
    Some(Srvr {
        mode: mode?,
        zxid: zxid?,
    })
}

pub fn not_serving(view: &Option<Srvr>) -> bool {
    view.is_none()
}

pub fn file_contains(path: &Path, needle: &str) -> bool {
    std::fs::read_to_string(path)
        .map(|t| t.contains(needle))
        .unwrap_or(false)
}
