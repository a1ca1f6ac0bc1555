//! An exhaustive explorer of the pure election core: every interleaving of message deliveries,
//! message losses, timer firings and crash-restarts of a few servers, within bounds.
//!
//! Each state is a set of real [`Fle`] instances plus the notifications in flight; a step runs
//! one of them on one event and queues the actions it returns. States are deduplicated by a
//! hash of their full contents, so the search covers every distinct state reachable within the
//! bounds ([`Bounds`]). Checked in every state:
//! - **safety**: no two servers decide to lead in the same round (two leaders elected by one
//!   election);
//! - **termination once messages flow**: from the state, delivering every message in order and
//!   firing timers only when nothing is in flight (no more losses or crashes) ends with every
//!   live voter decided on one leader, within a bounded number of steps.
//!
//! Used by `tests/model_fle.rs` and `examples/model_fle.rs` (which prints the state count).

use super::{Action, Decision, Fle, Notification, TimerId, Voters};
use crate::ids::{Epoch, ServerState, Sid, Zxid};
use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeSet, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::time::Duration;

/// How far the search goes.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Voters (ids 1..=voters) and observers (after them).
    pub voters: u64,
    pub observers: u64,
    /// Messages that may be lost, in all.
    pub losses: u32,
    /// Crash-and-restarts, in all.
    pub crashes: u32,
    /// Timer firings per server (each starts a retry broadcast or ends a finalize wait).
    pub timer_fires: u32,
    /// Stop exploring after this many distinct states (`exhausted` says whether it did).
    pub max_states: usize,
}

/// What a search found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub states: usize,
    /// The search ran out of states before `max_states`.
    pub exhausted: bool,
    /// The first violation, described.
    pub violation: Option<String>,
}

#[derive(Debug, Clone)]
struct World {
    nodes: Vec<Fle>,
    alive: Vec<bool>,
    /// (from, to, notification), in send order per pair.
    inflight: Vec<(Sid, Sid, Notification)>,
    timers: Vec<Option<TimerId>>,
    fires: Vec<u32>,
    decisions: Vec<Option<Decision>>,
    losses: u32,
    crashes: u32,
}

fn new_node(me: u64, b: &Bounds) -> Fle {
    let all: Vec<Sid> = (1..=b.voters + b.observers).map(Sid).collect();
    let others: BTreeSet<Sid> = all.iter().copied().filter(|s| *s != Sid(me)).collect();
    let mut fle = Fle::new(
        Sid(me),
        Voters::new((1..=b.voters).map(Sid)),
        others,
        Duration::from_millis(50),
    );
    for s in all.into_iter().filter(|s| *s != Sid(me)) {
        fle.on_connected(s);
    }
    fle
}

impl World {
    fn new(b: &Bounds) -> World {
        let n = (b.voters + b.observers) as usize;
        let mut w = World {
            nodes: (1..=n as u64).map(|i| new_node(i, b)).collect(),
            alive: vec![true; n],
            inflight: Vec::new(),
            timers: vec![None; n],
            fires: vec![0; n],
            decisions: vec![None; n],
            losses: 0,
            crashes: 0,
        };
        for i in 0..n {
            let actions = w.nodes[i].start_election(Epoch(0), Zxid(0));
            w.apply(i, actions);
        }
        w
    }

    fn fingerprint(&self) -> u64 {
        let mut h = DefaultHasher::new();
        format!("{self:?}").hash(&mut h);
        h.finish()
    }

    fn apply(&mut self, i: usize, actions: Vec<Action>) {
        let me = Sid(i as u64 + 1);
        for action in actions {
            match action {
                Action::Send { to, notification } => self.send(me, to, notification),
                Action::Broadcast(n) => {
                    let targets: Vec<Sid> = self.nodes[i].broadcast_targets().collect();
                    for to in targets {
                        self.send(me, to, n);
                    }
                }
                Action::SetTimer { timer, .. } => self.timers[i] = Some(timer),
                Action::Decided(d) => self.decisions[i] = Some(d),
            }
        }
    }

    fn send(&mut self, from: Sid, to: Sid, n: Notification) {
        if self.alive[to.0 as usize - 1] {
            self.inflight.push((from, to, n));
        }
    }

    /// Every successor state (one event each).
    fn successors(&self, b: &Bounds) -> Vec<World> {
        let mut out = Vec::new();
        for k in 0..self.inflight.len() {
            // Deliver only the oldest message of each (from, to) pair: connections are FIFO.
            let (from, to, _) = self.inflight[k];
            if self.inflight[..k].iter().any(|m| m.0 == from && m.1 == to) {
                continue;
            }
            let mut w = self.clone();
            let (from, to, n) = w.inflight.remove(k);
            let t = to.0 as usize - 1;
            let actions = w.nodes[t].on_notification(from, n);
            w.apply(t, actions);
            out.push(w);
            if self.losses < b.losses {
                let mut w = self.clone();
                w.inflight.remove(k);
                w.losses += 1;
                out.push(w);
            }
        }
        for i in 0..self.nodes.len() {
            if let Some(timer) = self.timers[i].filter(|_| self.alive[i]) {
                if self.fires[i] < b.timer_fires {
                    let mut w = self.clone();
                    w.timers[i] = None;
                    w.fires[i] += 1;
                    let actions = w.nodes[i].on_timer(timer);
                    w.apply(i, actions);
                    out.push(w);
                }
            }
            if self.alive[i] && self.crashes < b.crashes {
                out.push(self.crash_and_restart(i, b));
            }
        }
        out
    }

    /// Crash server `i` (its messages in flight are lost, its peers see it disconnect) and
    /// restart it with a fresh election core.
    fn crash_and_restart(&self, i: usize, b: &Bounds) -> World {
        let mut w = self.clone();
        let sid = Sid(i as u64 + 1);
        w.crashes += 1;
        w.inflight.retain(|m| m.0 != sid && m.1 != sid);
        w.decisions[i] = None;
        w.timers[i] = None;
        for j in 0..w.nodes.len() {
            if j != i && w.alive[j] {
                let actions = w.nodes[j].on_disconnected(sid);
                w.apply(j, actions);
            }
        }
        w.nodes[i] = new_node(sid.0, b);
        for j in 0..w.nodes.len() {
            if j != i && w.alive[j] {
                w.nodes[j].on_connected(sid);
            }
        }
        let actions = w.nodes[i].start_election(Epoch(0), Zxid(0));
        w.apply(i, actions);
        w
    }

    /// Two servers decided to lead in the same round?
    fn two_leaders(&self) -> Option<String> {
        let leaders: Vec<(usize, Decision)> = self
            .decisions
            .iter()
            .enumerate()
            .filter_map(|(i, d)| d.map(|d| (i, d)))
            .filter(|(_, d)| d.state == ServerState::Leading)
            .collect();
        for (a, da) in &leaders {
            for (b, db) in &leaders {
                if a < b && da.round == db.round {
                    return Some(format!(
                        "servers {} and {} both lead after round {}",
                        a + 1,
                        b + 1,
                        da.round
                    ));
                }
            }
        }
        None
    }

    /// A server whose decision cannot work out: it follows a server that does not lead, or it
    /// leads without a quorum of voters following it.
    fn abandoned(&self, b: &Bounds) -> Option<usize> {
        let quorum = (b.voters / 2 + 1) as usize;
        (0..self.nodes.len()).filter(|i| self.alive[*i]).find(|&i| {
            let Some(d) = self.decisions[i] else {
                return false;
            };
            let leader = d.vote.leader.0 as usize - 1;
            match d.state {
                ServerState::Leading => {
                    let followers = (0..b.voters as usize)
                        .filter(|j| {
                            self.alive[*j]
                                && self.decisions[*j]
                                    .is_some_and(|dj| dj.vote.leader == d.vote.leader)
                        })
                        .count();
                    followers < quorum
                }
                _ => {
                    !self.alive[leader]
                        || self.decisions[leader].map_or(true, |dl| {
                            dl.state != ServerState::Leading || dl.vote.leader != d.vote.leader
                        })
                }
            }
        })
    }

    /// Let messages flow (no losses, no crashes): does every live voter decide on one leader?
    fn terminates(&self, b: &Bounds) -> Result<(), String> {
        let mut w = self.clone();
        for _ in 0..2000 {
            let voters_done: BTreeSet<Option<Sid>> = (0..b.voters as usize)
                .filter(|i| w.alive[*i])
                .map(|i| w.decisions[i].map(|d| d.vote.leader))
                .collect();
            if voters_done.len() == 1 && !voters_done.contains(&None) && w.inflight.is_empty() {
                return Ok(());
            }
            if !w.inflight.is_empty() {
                let (from, to, n) = w.inflight.remove(0);
                let t = to.0 as usize - 1;
                let actions = w.nodes[t].on_notification(from, n);
                w.apply(t, actions);
            } else if let Some(i) =
                (0..w.nodes.len()).find(|i| w.alive[*i] && w.timers[*i].is_some())
            {
                let timer = w.timers[i].take().unwrap_or_default();
                let actions = w.nodes[i].on_timer(timer);
                w.apply(i, actions);
            } else if let Some(i) = w.abandoned(b) {
                // What the shell does: a follower whose leader never leads times out, and a
                // leader that no quorum follows steps down; either looks again.
                w.decisions[i] = None;
                let actions = w.nodes[i].start_election(Epoch(0), Zxid(0));
                w.apply(i, actions);
            } else {
                return Err(format!(
                    "stuck: nothing in flight, no timer armed, decisions {:?}",
                    w.decisions
                        .iter()
                        .map(|d| d.map(|d| (d.state, d.vote.leader)))
                        .collect::<Vec<_>>()
                ));
            }
        }
        Err("no agreement within 2000 steps of free message flow".into())
    }
}

/// Explore every state reachable within `bounds` (breadth first), checking both properties in
/// each; stops at the first violation.
pub fn explore(bounds: Bounds) -> Report {
    let start = World::new(&bounds);
    let mut seen = HashSet::new();
    let mut queue = VecDeque::new();
    seen.insert(start.fingerprint());
    queue.push_back(start);
    let mut report = Report::default();
    while let Some(w) = queue.pop_front() {
        report.states += 1;
        if let Some(v) = w.two_leaders() {
            report.violation = Some(v);
            return report;
        }
        if let Err(v) = w.terminates(&bounds) {
            report.violation = Some(format!("no termination: {v}"));
            return report;
        }
        if seen.len() >= bounds.max_states {
            return report;
        }
        for next in w.successors(&bounds) {
            if seen.insert(next.fingerprint()) {
                queue.push_back(next);
            }
        }
    }
    report.exhausted = true;
    report
}
