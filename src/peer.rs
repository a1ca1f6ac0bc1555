//! The peer state loop: LOOKING -> LEADING | FOLLOWING | OBSERVING -> LOOKING.
//!
//! This is the thin I/O shell around the pure cores: it feeds the election core ([`Fle`]) and
//! the ZAB cores ([`LeaderCore`], [`LearnerCore`]) with what arrives from the network and the
//! timers, and executes the actions they return, in order. Persisting an epoch is done (and
//! fsynced) before any later action of the same batch is executed, so no message that depends
//! on a promise can leave before the promise is durable.
//!
//! The election core keeps running while leading or following: established servers answer
//! looking ones, which is how a restarted server learns who leads and joins without an election.

use crate::api::{Command, SubmitError};
use crate::config::Config;
use crate::election::{Action, Decision, Fle, TimerId, Voters};
use crate::ids::{Epoch, LearnerType, ServerState, Sid, Zxid};
use crate::net::election::{ensemble_id, ElectionEvent, ElectionNet, ElectionSetup};
use crate::net::link::{Link, LinkEvent, LinkId};
use crate::net::{TcpListener, TcpStream};
use crate::replica::{self, read_tree, Replica, ReplicaError, Request};
use crate::status::{Counters, LearnerCounts, Serving, StatusBoard, ZabPhase};
use crate::storage::{Disk, EpochError, EpochStore};
use crate::tree::{Op, OpResult, TxnResult};
use crate::zab::broadcast::Origin;
use crate::zab::messages::SyncMode;
use crate::zab::sessions::SessionTracker;
use crate::zab::{
    LeaderAction, LeaderCore, LeaderPhase, LeaderSetup, LearnerAction, LearnerCore, QuorumMessage,
};
use std::collections::{BTreeMap, BTreeSet};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, Sleep};
use tracing::{debug, info, warn};

/// How often a learner retries connecting to its leader's quorum port.
const CONNECT_RETRY: Duration = Duration::from_millis(20);
/// Group commit waits for a quiet moment, but never longer than this many events.
const GROUP_COMMIT_MAX_EVENTS: u32 = 64;
/// A SNAP travels in chunks of this size (well under the quorum port's frame limit).
const SNAP_CHUNK_BYTES: usize = 512 * 1024;
/// The leader's in-memory history for DIFF syncs: at most this many bytes (and
/// `commitLogCount` transactions).
const SYNC_WINDOW_BYTES: usize = 64 * 1024 * 1024;
/// Connections that arrive on the quorum port while LOOKING wait for the outcome; at most this many.
const MAX_PENDING_LEARNERS: usize = 256;

/// Why the peer went (back) to LOOKING.
#[derive(Debug, Clone)]
pub enum LookingCause {
    Startup,
    LeaderLost(String),
    QuorumLost(String),
}

impl std::fmt::Display for LookingCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LookingCause::Startup => write!(f, "start-up"),
            LookingCause::LeaderLost(r) => write!(f, "leader lost: {r}"),
            LookingCause::QuorumLost(r) => write!(f, "quorum lost: {r}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error(transparent)]
    Epoch(#[from] EpochError),
    #[error("the configuration has no server.{0} line")]
    NotInEnsemble(Sid),
    #[error(
        "the log holds zxid {zxid} of a later epoch than currentEpoch {current} \
         (acceptedEpoch {accepted}); the epoch files do not match the log: restore them or wipe \
         this server's data so that it resyncs from the ensemble"
    )]
    ZxidAheadOfEpoch {
        zxid: Zxid,
        current: Epoch,
        accepted: Epoch,
    },
}

/// The ensemble's listeners, bound before the peer starts (so a bind failure is a start-up
/// error, and tests can bind port 0).
pub struct PeerListeners {
    pub election: TcpListener,
    pub quorum: TcpListener,
}

/// Aborts a task when dropped: the peer's background tasks end with the peer.
struct TaskGuard(JoinHandle<()>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One quorum peer.
pub struct Peer {
    config: Arc<Config>,
    board: Arc<StatusBoard>,
    me: Sid,
    role: LearnerType,
    voters: Voters,
    ensemble: u64,
    epochs: EpochStore,
    /// The log, snapshots and data tree; its last logged zxid is what this server proposes in
    /// an election.
    replica: Replica,
    /// Writes and syncs submitted through the library API.
    commands: mpsc::Receiver<Command>,
    local: LocalRequests,
    fle: Fle,
    net: ElectionNet,
    election_events: mpsc::Receiver<ElectionEvent>,
    timer: Pin<Box<Sleep>>,
    timer_id: Option<TimerId>,
    quorum_conns: mpsc::Receiver<TcpStream>,
    pending_learners: Vec<TcpStream>,
    /// Something was appended to the log since the last fsync (group commit pending).
    log_dirty: bool,
    /// A follower owes the leader a cumulative ACK after the next fsync.
    ack_due: bool,
    /// Loop iterations since appends started waiting for an fsync.
    unsynced_events: u32,
    /// Leader only: which sessions are alive; expired ones get a CloseSession.
    sessions: SessionTracker,
    /// Learner only: sessions touched by local clients, forwarded to the leader in batches.
    touches: BTreeSet<i64>,
    /// The monotonic clock sessions are timed by (simulated under turmoil).
    started: Instant,
    _acceptor: TaskGuard,
}

impl Peer {
    /// Open the durable state and start the election transport.
    pub fn new(
        config: Arc<Config>,
        board: Arc<StatusBoard>,
        listeners: PeerListeners,
        disk: Arc<dyn Disk>,
        replica: Replica,
        commands: mpsc::Receiver<Command>,
    ) -> Result<Peer, PeerError> {
        let me = config.my_id;
        let my_spec = config.me().ok_or(PeerError::NotInEnsemble(me))?;
        let role = my_spec.role;
        let epochs = EpochStore::open(&config.data_dir.join("version-2"), disk)?;
        let voters = Voters::new(config.voters().map(|s| s.id));
        let roles: BTreeMap<Sid, LearnerType> =
            config.servers.values().map(|s| (s.id, s.role)).collect();
        let ensemble = ensemble_id(roles.iter());
        let others = config
            .servers
            .keys()
            .copied()
            .filter(|s| *s != me)
            .collect();
        let fle = Fle::new(me, voters.clone(), others, config.finalize_wait);
        let setup = ElectionSetup {
            me,
            my_addr: my_spec.election_addr(),
            ensemble,
            peers: config
                .servers
                .values()
                .filter(|s| s.id != me)
                .map(|s| (s.id, s.election_addr()))
                .collect(),
            heartbeat: config.tick_time / 2,
            dead_after: config.tick_time * config.sync_limit,
        };
        let (ev_tx, election_events) = mpsc::channel(1024);
        let net = ElectionNet::start(setup, listeners.election, ev_tx, board.clone());
        let (conn_tx, quorum_conns) = mpsc::channel(64);
        let acceptor = TaskGuard(tokio::spawn(accept_quorum(listeners.quorum, conn_tx)));
        let mut epochs = epochs;
        let last_logged = replica.last_logged();
        if last_logged.epoch() > epochs.current() {
            // Only the leader of an epoch issues its zxids, and only to a learner that accepted
            // it: a crash between logging a sync and persisting currentEpoch leaves exactly
            // this. Anything beyond the accepted epoch cannot have come from a leader.
            if last_logged.epoch() > epochs.accepted() {
                return Err(PeerError::ZxidAheadOfEpoch {
                    zxid: last_logged,
                    current: epochs.current(),
                    accepted: epochs.accepted(),
                });
            }
            warn!(sid = %me, zxid = %last_logged, current = %epochs.current(),
                "the log is ahead of currentEpoch (a sync was interrupted); adopting the log's epoch");
            epochs.set_current(last_logged.epoch())?;
        }
        board.update(|s| {
            s.current_epoch = epochs.current();
            s.accepted_epoch = epochs.accepted();
            s.zxid = replica.last_applied();
        });
        show_tree(&board, &replica);
        Ok(Peer {
            config,
            board,
            me,
            role,
            voters,
            ensemble,
            epochs,
            replica,
            commands,
            local: LocalRequests::default(),
            fle,
            net,
            election_events,
            timer: Box::pin(tokio::time::sleep(Duration::from_secs(3600))),
            timer_id: None,
            quorum_conns,
            pending_learners: Vec::new(),
            log_dirty: false,
            ack_due: false,
            unsynced_events: 0,
            sessions: SessionTracker::default(),
            touches: BTreeSet::new(),
            started: Instant::now(),
            _acceptor: acceptor,
        })
    }

    /// Run forever (until the future is dropped).
    pub async fn run(mut self) {
        let mut cause = LookingCause::Startup;
        loop {
            let decision = self.look(&cause).await;
            cause = match decision.state {
                ServerState::Leading => self.lead(decision).await,
                ServerState::Following | ServerState::Observing => self.learn(decision).await,
                ServerState::Looking => continue,
            };
            info!(sid = %self.me, %cause, "back to LOOKING");
        }
    }

    fn tick(&self) -> Duration {
        self.config.tick_time
    }

    // ---- LOOKING ------------------------------------------------------------------------------

    async fn look(&mut self, cause: &LookingCause) -> Decision {
        let started = Instant::now();
        Counters::add(&self.board.counters.elections_started, 1);
        self.board.update(|s| {
            s.serving = Serving::NotServing;
            s.peer_state = ServerState::Looking.as_str();
            s.phase = ZabPhase::Election;
            s.leader = None;
            s.leading_since = None;
            s.learners = LearnerCounts::default();
        });
        info!(sid = %self.me, epoch = %self.epochs.current(), %cause, "LOOKING");
        self.local.fail_all(SubmitError::LeaderLost);
        // Vote only with durable history: finish the group commit the last role left pending.
        self.ack_due = false;
        if self.log_dirty {
            if let Err(err) = self.replica.sync() {
                warn!(sid = %self.me, %err, "cannot sync the log before the election");
            }
            self.log_dirty = false;
            self.unsynced_events = 0;
        }
        let actions = self
            .fle
            .start_election(self.epochs.current(), self.replica.last_logged());
        let mut decision = self.execute_election(actions);
        let d = loop {
            if let Some(d) = decision.take() {
                break d;
            }
            tokio::select! {
                biased;
                ev = self.election_events.recv() => decision = self.on_election_event(ev),
                _ = &mut self.timer, if self.timer_id.is_some() => decision = self.on_timer(),
                cmd = self.commands.recv() => refuse(cmd),
                conn = self.quorum_conns.recv() => {
                    // Maybe a learner that already knows I lead: keep it until I know too.
                    if let Some(conn) = conn {
                        if self.pending_learners.len() >= MAX_PENDING_LEARNERS {
                            self.pending_learners.remove(0);
                        }
                        self.pending_learners.push(conn);
                    }
                }
            }
        };
        info!(
            sid = %self.me,
            state = d.state.as_str(),
            leader = %d.vote.leader,
            round = d.round,
            rounds = d.rounds,
            notifications = d.notifications_received,
            joined_established = d.joined_established,
            took = ?started.elapsed(),
            "election decided"
        );
        d
    }

    fn on_election_event(&mut self, ev: Option<ElectionEvent>) -> Option<Decision> {
        let actions = match ev? {
            ElectionEvent::Connected(peer) => self.fle.on_connected(peer),
            ElectionEvent::Disconnected(peer) => self.fle.on_disconnected(peer),
            ElectionEvent::Notification(from, n) => self.fle.on_notification(from, n),
        };
        self.execute_election(actions)
    }

    fn on_timer(&mut self) -> Option<Decision> {
        let id = self.timer_id.take()?;
        let actions = self.fle.on_timer(id);
        self.execute_election(actions)
    }

    fn execute_election(&mut self, actions: Vec<Action>) -> Option<Decision> {
        let mut decision = None;
        for action in actions {
            match action {
                Action::Send { to, notification } => self.net.send(to, notification),
                Action::Broadcast(n) => {
                    for to in self.fle.broadcast_targets() {
                        self.net.send(to, n);
                    }
                }
                Action::SetTimer { timer, after } => {
                    self.timer.as_mut().reset(Instant::now() + after);
                    self.timer_id = Some(timer);
                }
                Action::Decided(d) => decision = Some(d),
            }
        }
        decision
    }

    /// While leading or learning, the election core still answers looking servers.
    fn serve_election_event(&mut self, ev: Option<ElectionEvent>) {
        if let Some(d) = self.on_election_event(ev) {
            warn!(sid = %self.me, ?d, "election decided while not looking; ignored");
        }
    }

    fn serve_timer(&mut self) {
        let _ = self.on_timer();
    }

    // ---- LEADING ------------------------------------------------------------------------------

    async fn lead(&mut self, decision: Decision) -> LookingCause {
        let elected = Instant::now();
        self.board.update(|s| {
            s.peer_state = ServerState::Leading.as_str();
            s.phase = ZabPhase::Discovery;
            s.leader = Some(decision.vote.leader);
        });
        let half_tick = self.tick() / 2;
        // The leader's whole log becomes committed in its epoch: apply what the tree lacks, and
        // offer the log's tail for DIFF syncs.
        let window = match self.replica.catch_up().and_then(|_| {
            self.replica
                .window(self.config.commit_log_count, SYNC_WINDOW_BYTES)
        }) {
            Ok(window) => window,
            Err(err) => return self.storage_failure(err),
        };
        show_tree(&self.board, &self.replica);
        let setup = LeaderSetup {
            me: self.me,
            voters: self.voters.clone(),
            roles: self
                .config
                .servers
                .values()
                .map(|s| (s.id, s.role))
                .collect(),
            accepted_epoch: self.epochs.accepted(),
            current_epoch: self.epochs.current(),
            last_zxid: self.replica.last_logged(),
            window,
            init_limit_half_ticks: self.config.init_limit.saturating_mul(2),
            sync_limit_half_ticks: self.config.sync_limit.saturating_mul(2),
        };
        let mut core = LeaderCore::new(setup);
        let mut learners = Learners::default();
        let (link_tx, mut link_rx) = mpsc::channel(1024);
        for conn in std::mem::take(&mut self.pending_learners) {
            learners.adopt(conn, &link_tx);
        }
        let mut ticker = tokio::time::interval_at(Instant::now() + half_tick, half_tick);
        let actions = core.start();
        if let Some(cause) = self.execute_leader(&mut core, &mut learners, actions, elected) {
            return cause;
        }
        loop {
            self.count_unsynced();
            let actions = tokio::select! {
                biased;
                // Group commit, forced: a burst of events must not postpone the fsync forever.
                _ = std::future::ready(()), if self.sync_overdue() => match self.leader_sync(&mut core) {
                    Ok(actions) => actions,
                    Err(cause) => return cause,
                },
                ev = self.election_events.recv() => { self.serve_election_event(ev); continue }
                cmd = self.commands.recv() => match cmd {
                    Some(cmd) => self.leader_command(&mut core, cmd),
                    None => continue,
                },
                _ = &mut self.timer, if self.timer_id.is_some() => { self.serve_timer(); continue }
                conn = self.quorum_conns.recv() => {
                    if let Some(conn) = conn {
                        learners.adopt(conn, &link_tx);
                    }
                    continue;
                }
                ev = link_rx.recv() => match ev {
                    Some(LinkEvent::Message(id, msg)) => match learners.identify(id, &msg, self.ensemble) {
                        Identified::Known(sid) => core.on_message(sid, msg),
                        Identified::New { sid, replaced } => {
                            let mut actions = Vec::new();
                            if replaced {
                                actions.extend(core.on_disconnected(sid));
                            }
                            actions.extend(core.on_message(sid, msg));
                            actions
                        }
                        Identified::Refused(reason) => {
                            warn!(sid = %self.me, link = id, %reason, "learner refused");
                            continue;
                        }
                    },
                    Some(LinkEvent::Closed(id, reason)) => match learners.remove_link(id) {
                        Some(sid) => {
                            info!(sid = %self.me, learner = %sid, %reason, "learner connection closed");
                            core.on_disconnected(sid)
                        }
                        None => continue,
                    },
                    None => continue,
                },
                _ = ticker.tick() => {
                    let mut actions = core.on_half_tick();
                    actions.extend(self.expire_sessions(&mut core));
                    actions
                }
                // Group commit: runs only when nothing else is ready, so one fsync covers every
                // proposal appended since the last one.
                _ = std::future::ready(()), if self.log_dirty => match self.leader_sync(&mut core) {
                    Ok(actions) => actions,
                    Err(cause) => return cause,
                },
            };
            if let Some(cause) = self.execute_leader(&mut core, &mut learners, actions, elected) {
                return cause;
            }
        }
    }

    /// Group commit on the leader: one fsync for everything appended, then its own ACK.
    fn leader_sync(&mut self, core: &mut LeaderCore) -> Result<Vec<LeaderAction>, LookingCause> {
        let synced = self.sync_log()?;
        Ok(core.on_logged(synced))
    }

    fn sync_log(&mut self) -> Result<Zxid, LookingCause> {
        self.log_dirty = false;
        self.unsynced_events = 0;
        Counters::add(&self.board.counters.log_fsyncs, 1);
        self.replica.sync().map_err(|err| self.storage_failure(err))
    }

    /// Count loop iterations that pass while appends wait for their fsync.
    fn count_unsynced(&mut self) {
        if self.log_dirty {
            self.unsynced_events += 1;
        }
    }

    /// Group commit normally waits until nothing else is ready (so one fsync covers a whole
    /// burst); under sustained load that could be forever, so after a bounded number of events
    /// it goes first.
    fn sync_overdue(&self) -> bool {
        self.log_dirty && self.unsynced_events >= GROUP_COMMIT_MAX_EVENTS
    }

    /// A write or sync submitted on the leader itself.
    fn leader_command(&mut self, core: &mut LeaderCore, cmd: Command) -> Vec<LeaderAction> {
        match cmd {
            Command::Submit {
                request: req,
                reply,
            } => {
                let request = self.local.add_write(reply);
                let origin = Origin {
                    server: self.me,
                    request,
                };
                match self.propose_request(core, req, Some(origin)) {
                    Ok(actions) => actions,
                    Err(err) => {
                        self.local.complete_write(request, Err(err));
                        Vec::new()
                    }
                }
            }
            Command::Sync { reply } => {
                let request = self.local.add_sync(reply);
                core.sync_barrier(request)
            }
            Command::Touch { session } => {
                let now = self.now_ms();
                self.sessions.touch(session, now);
                Vec::new()
            }
        }
    }

    /// Milliseconds on the peer's monotonic clock.
    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Expire silent sessions: propose their CloseSession (which deletes their ephemerals).
    fn expire_sessions(&mut self, core: &mut LeaderCore) -> Vec<LeaderAction> {
        let mut actions = Vec::new();
        if core.phase() != LeaderPhase::Serving {
            return actions;
        }
        let now = self.now_ms();
        for session in self.sessions.tick(now) {
            info!(sid = %self.me, session = format_args!("{session:#x}"), "session expired");
            let req = Request {
                session_id: session,
                cxid: 0,
                op: Op::CloseSession,
            };
            match self.propose_request(core, req, None) {
                Ok(more) => actions.extend(more),
                Err(err) => warn!(sid = %self.me, %err, "cannot expire a session"),
            }
        }
        actions
    }

    /// Keep the tracker in step with committed session transactions.
    fn track_session(&mut self, result: &TxnResult) {
        match result.result {
            OpResult::SessionCreated => {
                let timeout = read_tree(&self.replica.tree(), |t| {
                    t.session_timeout(result.session_id)
                });
                let now = self.now_ms();
                self.sessions
                    .add(result.session_id, timeout.unwrap_or(0), now);
            }
            OpResult::SessionClosed => self.sessions.remove(result.session_id),
            _ => {}
        }
    }

    /// Stamp a request into a transaction (the next zxid, the leader's clock) and propose it.
    fn propose_request(
        &mut self,
        core: &mut LeaderCore,
        req: Request,
        origin: Option<Origin>,
    ) -> Result<Vec<LeaderAction>, SubmitError> {
        let zxid = core.next_zxid().ok_or(SubmitError::NotServing)?;
        let txn = req.stamp(zxid);
        let bytes = replica::encode(&txn).map_err(SubmitError::Refused)?;
        let size = bytes.len() as u64;
        let (proposed, actions) = core
            .propose(Arc::new(bytes), origin)
            .map_err(|err| SubmitError::Refused(err.to_string()))?;
        debug_assert_eq!(proposed, zxid);
        self.board.update(|s| s.proposals.record(size));
        Ok(actions)
    }

    /// Execute leader actions in order; `Some` means the leader stepped down.
    fn execute_leader(
        &mut self,
        core: &mut LeaderCore,
        learners: &mut Learners,
        actions: Vec<LeaderAction>,
        elected: Instant,
    ) -> Option<LookingCause> {
        let mut queue: std::collections::VecDeque<LeaderAction> = actions.into();
        while let Some(action) = queue.pop_front() {
            match action {
                LeaderAction::PersistAcceptedEpoch(e) => {
                    if let Err(cause) = self.persist_accepted(e) {
                        return Some(cause);
                    }
                }
                LeaderAction::PersistCurrentEpoch(e) => {
                    if let Err(cause) = self.persist_current(e) {
                        return Some(cause);
                    }
                    self.board.update(|s| s.phase = ZabPhase::Synchronization);
                }
                LeaderAction::Send { to, msg } => {
                    if msg == QuorumMessage::UpToDate {
                        info!(sid = %self.me, learner = %to, epoch = ?core.epoch(), "learner synced and serving");
                    }
                    if let Err(reason) = learners.send(to, msg) {
                        // Already dropped earlier in this batch: nothing more to do.
                        if learners.is_connected(to) {
                            info!(sid = %self.me, learner = %to, %reason, "dropping learner");
                            learners.remove_sid(to);
                            queue.extend(core.on_disconnected(to));
                        }
                    }
                }
                LeaderAction::Disconnect { sid, reason } => {
                    info!(sid = %self.me, learner = %sid, %reason, "disconnecting learner");
                    learners.remove_sid(sid);
                }
                LeaderAction::Serving { epoch } => {
                    Counters::add(&self.board.counters.elections_won, 1);
                    // Every live session gets a full timeout from the new leader.
                    let live = read_tree(&self.replica.tree(), |t| t.sessions());
                    self.sessions = SessionTracker::new(live, self.now_ms());
                    self.board.update(|s| {
                        s.serving = Serving::Leader;
                        s.phase = ZabPhase::Broadcast;
                        s.zxid = Zxid::epoch_start(epoch).max(self.replica.last_applied());
                        s.leading_since = Some(std::time::Instant::now());
                    });
                    let actions = self.fle.epoch_established(epoch);
                    self.execute_election(actions);
                    info!(
                        sid = %self.me,
                        %epoch,
                        since_election = ?elected.elapsed(),
                        "LEADING: serving"
                    );
                }
                LeaderAction::SendSnapshot { to, zxid } => {
                    if let Err(reason) = self.send_snapshot(learners, to, zxid) {
                        info!(sid = %self.me, learner = %to, %reason, "dropping learner");
                        learners.remove_sid(to);
                        queue.extend(core.on_disconnected(to));
                    }
                }
                LeaderAction::Log { zxid, txn } => {
                    if let Err(err) = self.replica.append(zxid, &txn) {
                        return Some(self.storage_failure(err));
                    }
                    self.log_dirty = true;
                }
                LeaderAction::Apply(commit) => {
                    match self.apply(commit.zxid, &commit.txn, commit.origin) {
                        Ok(result) => self.track_session(&result),
                        Err(err) => return Some(self.storage_failure(err)),
                    }
                }
                LeaderAction::Touch { sessions } => {
                    let now = self.now_ms();
                    for session in sessions {
                        self.sessions.touch(session, now);
                    }
                }
                LeaderAction::LocalSyncDone { request, zxid } => {
                    self.local.complete_sync(request, Ok(zxid));
                }
                LeaderAction::Forwarded { origin, request } => {
                    let result = replica::decode::<Request>(&request)
                        .map_err(|e| format!("malformed request: {e}"))
                        .and_then(|req| {
                            self.propose_request(core, req, Some(origin))
                                .map_err(|e| e.to_string())
                        });
                    match result {
                        Ok(actions) => queue.extend(actions),
                        Err(reason) => {
                            let msg = QuorumMessage::RequestFailed {
                                request: origin.request,
                                reason,
                            };
                            let _ = learners.send(origin.server, msg);
                        }
                    }
                }
                LeaderAction::StepDown { reason } => {
                    warn!(sid = %self.me, %reason, "leader steps down");
                    return Some(LookingCause::QuorumLost(reason));
                }
            }
        }
        let counts = core.counts();
        let phase = core.phase();
        self.board.update(|s| {
            s.learners = counts;
            if phase == LeaderPhase::Discovery || phase == LeaderPhase::AwaitAckEpoch {
                s.phase = ZabPhase::Discovery;
            }
        });
        None
    }

    /// Durably promise `epoch` (fsynced before this returns), then show it.
    fn persist_accepted(&mut self, epoch: Epoch) -> Result<(), LookingCause> {
        self.epochs
            .set_accepted(epoch)
            .map_err(|err| self.disk_failure(err))?;
        self.board.update(|s| s.accepted_epoch = epoch);
        Ok(())
    }

    /// Durably record `epoch` as current (fsynced before this returns), then show it.
    fn persist_current(&mut self, epoch: Epoch) -> Result<(), LookingCause> {
        self.epochs
            .set_current(epoch)
            .map_err(|err| self.disk_failure(err))?;
        self.board.update(|s| s.current_epoch = epoch);
        Ok(())
    }

    fn disk_failure(&self, err: EpochError) -> LookingCause {
        // Without a durable promise we must not go on; a later round retries.
        warn!(sid = %self.me, %err, "cannot persist epoch");
        LookingCause::QuorumLost(format!("cannot persist epoch: {err}"))
    }

    /// Apply a committed transaction and answer the local request that asked for it.
    fn apply(
        &mut self,
        zxid: Zxid,
        txn: &[u8],
        origin: Option<Origin>,
    ) -> Result<TxnResult, ReplicaError> {
        let result = self.replica.apply_committed(zxid, txn)?;
        Counters::add(&self.board.counters.txns_committed, 1);
        if let Some(origin) = origin.filter(|o| o.server == self.me) {
            self.local
                .complete_write(origin.request, Ok(result.clone()));
        }
        show_tree(&self.board, &self.replica);
        Ok(result)
    }

    /// SNAP: the whole tree, in bounded chunks, after a SYNCSTART that says so.
    fn send_snapshot(&self, learners: &Learners, to: Sid, zxid: Zxid) -> Result<(), String> {
        let bytes = self.replica.snapshot_bytes().map_err(|e| e.to_string())?;
        info!(sid = %self.me, learner = %to, %zxid, bytes = bytes.len(), "SNAP");
        learners.send(
            to,
            QuorumMessage::SyncStart {
                mode: SyncMode::Snap { zxid },
            },
        )?;
        let chunks: Vec<&[u8]> = bytes.chunks(SNAP_CHUNK_BYTES).collect();
        let last = chunks.len().saturating_sub(1);
        if chunks.is_empty() {
            return learners.send(
                to,
                QuorumMessage::SnapChunk {
                    data: Vec::new(),
                    last: true,
                },
            );
        }
        for (i, chunk) in chunks.into_iter().enumerate() {
            learners.send(
                to,
                QuorumMessage::SnapChunk {
                    data: chunk.to_vec(),
                    last: i == last,
                },
            )?;
        }
        Ok(())
    }

    fn storage_failure(&self, err: ReplicaError) -> LookingCause {
        // A log or snapshot that cannot be written (or read back) means no more promises from
        // this server in this role; a later round retries from what is durable.
        warn!(sid = %self.me, %err, "storage failure");
        LookingCause::QuorumLost(format!("storage: {err}"))
    }

    // ---- FOLLOWING / OBSERVING ----------------------------------------------------------------

    async fn learn(&mut self, decision: Decision) -> LookingCause {
        let elected = Instant::now();
        let leader = decision.vote.leader;
        let state = decision.state;
        self.board.update(|s| {
            s.peer_state = state.as_str();
            s.phase = ZabPhase::Discovery;
            s.leader = Some(leader);
        });
        // Anyone who dialled my quorum port thinking I lead is wrong: close them so they re-elect.
        self.pending_learners.clear();
        let Some(addr) = self.config.servers.get(&leader).map(|s| s.quorum_addr()) else {
            return LookingCause::LeaderLost(format!("leader {leader} is not in the config"));
        };
        let init_timeout = self.tick() * self.config.init_limit;
        let sync_timeout = self.tick() * self.config.sync_limit;

        // Connect (retrying) without blocking the election core's answers.
        let (tx, mut connected) = oneshot::channel();
        let _dialer = TaskGuard(tokio::spawn(dial_leader(addr, init_timeout, tx)));
        let stream = loop {
            tokio::select! {
                biased;
                ev = self.election_events.recv() => self.serve_election_event(ev),
                _ = &mut self.timer, if self.timer_id.is_some() => self.serve_timer(),
                conn = self.quorum_conns.recv() => drop(conn),
                res = &mut connected => match res {
                    Ok(Some(stream)) => break stream,
                    _ => return LookingCause::LeaderLost(format!(
                        "could not connect to leader {leader} within initLimit"
                    )),
                },
            }
        };

        let (link_tx, mut link_rx) = mpsc::channel(1024);
        let link = Link::spawn(0, stream, link_tx);
        let mut core = LearnerCore::new(
            self.me,
            self.role,
            self.ensemble,
            self.epochs.accepted(),
            self.epochs.current(),
            self.replica.last_logged(),
        );
        if let Err(reason) = link.send(core.hello()) {
            return LookingCause::LeaderLost(reason);
        }
        let deadline = tokio::time::sleep(init_timeout);
        tokio::pin!(deadline);
        loop {
            self.count_unsynced();
            tokio::select! {
                biased;
                _ = std::future::ready(()), if self.sync_overdue() => {
                    if let Err(cause) = self.learner_sync(&link) {
                        return cause;
                    }
                }
                ev = self.election_events.recv() => self.serve_election_event(ev),
                _ = &mut self.timer, if self.timer_id.is_some() => self.serve_timer(),
                conn = self.quorum_conns.recv() => drop(conn),
                cmd = self.commands.recv() => {
                    if let Some(cmd) = cmd {
                        if let Err(cause) = self.learner_command(&link, core.is_serving(), cmd) {
                            return cause;
                        }
                    }
                }
                _ = &mut deadline => {
                    let limit = if core.is_serving() { "syncLimit" } else { "initLimit" };
                    return LookingCause::LeaderLost(format!("no word from leader {leader} within {limit}"));
                }
                ev = link_rx.recv() => match ev {
                    Some(LinkEvent::Message(_, msg)) => {
                        let timeout = if core.is_serving() { sync_timeout } else { init_timeout };
                        deadline.as_mut().reset(Instant::now() + timeout);
                        let actions = match core.on_message(msg) {
                            Ok(actions) => actions,
                            Err(err) => return LookingCause::LeaderLost(err.to_string()),
                        };
                        if let Some(cause) = self.execute_learner(&link, actions, state, leader, elected) {
                            return cause;
                        }
                        if !self.touches.is_empty() {
                            let sessions = std::mem::take(&mut self.touches).into_iter().collect();
                            if let Err(reason) = link.send(QuorumMessage::Touch { sessions }) {
                                return LookingCause::LeaderLost(reason);
                            }
                        }
                        if core.is_serving() {
                            deadline.as_mut().reset(Instant::now() + sync_timeout);
                        }
                    }
                    Some(LinkEvent::Closed(_, reason)) => {
                        return LookingCause::LeaderLost(format!("connection to leader {leader}: {reason}"));
                    }
                    None => return LookingCause::LeaderLost("link task ended".into()),
                },
                // Group commit: one fsync for every proposal logged since the last, then one
                // cumulative ACK — never an ACK before the fsync that covers it.
                _ = std::future::ready(()), if self.log_dirty => {
                    if let Err(cause) = self.learner_sync(&link) {
                        return cause;
                    }
                }
            }
        }
    }

    /// Group commit on a learner: one fsync, then one cumulative ACK (never before the fsync).
    fn learner_sync(&mut self, link: &Link) -> Result<(), LookingCause> {
        let synced = self.sync_log()?;
        if std::mem::take(&mut self.ack_due) {
            link.send(QuorumMessage::Ack { zxid: synced })
                .map_err(LookingCause::LeaderLost)?;
        }
        Ok(())
    }

    /// A write or sync submitted on a learner: forwarded to the leader.
    fn learner_command(
        &mut self,
        link: &Link,
        serving: bool,
        cmd: Command,
    ) -> Result<(), LookingCause> {
        if let Command::Touch { session } = cmd {
            self.touches.insert(session);
            return Ok(());
        }
        if !serving {
            refuse(Some(cmd));
            return Ok(());
        }
        let msg = match cmd {
            Command::Submit {
                request: req,
                reply,
            } => {
                let bytes = match replica::encode(&req) {
                    Ok(bytes) => bytes,
                    Err(err) => {
                        let _ = reply.send(Err(SubmitError::Refused(err)));
                        return Ok(());
                    }
                };
                let request = self.local.add_write(reply);
                QuorumMessage::Request {
                    request,
                    txn: bytes,
                }
            }
            Command::Sync { reply } => QuorumMessage::Sync {
                request: self.local.add_sync(reply),
            },
            Command::Touch { .. } => return Ok(()),
        };
        link.send(msg).map_err(LookingCause::LeaderLost)
    }

    fn execute_learner(
        &mut self,
        link: &Link,
        actions: Vec<LearnerAction>,
        state: ServerState,
        leader: Sid,
        elected: Instant,
    ) -> Option<LookingCause> {
        for action in actions {
            match action {
                LearnerAction::PersistAcceptedEpoch(e) => {
                    if let Err(cause) = self.persist_accepted(e) {
                        return Some(cause);
                    }
                    self.board.update(|s| s.phase = ZabPhase::Synchronization);
                }
                LearnerAction::PersistCurrentEpoch(e) => {
                    if let Err(cause) = self.persist_current(e) {
                        return Some(cause);
                    }
                }
                LearnerAction::Send(msg) => {
                    if let Err(reason) = link.send(msg) {
                        return Some(LookingCause::LeaderLost(reason));
                    }
                }
                LearnerAction::SyncLog => {
                    if let Err(err) = self.replica.sync() {
                        return Some(self.storage_failure(err));
                    }
                }
                LearnerAction::CatchUp => match self.replica.catch_up() {
                    Ok(0) => {}
                    Ok(n) => {
                        info!(sid = %self.me, applied = n, "applied logged transactions the new leader confirmed")
                    }
                    Err(err) => return Some(self.storage_failure(err)),
                },
                LearnerAction::Truncate(to) => {
                    info!(sid = %self.me, %to, "TRUNC: cutting the log's uncommitted tail");
                    if let Err(err) = self.replica.truncate_after(to) {
                        return Some(self.storage_failure(err));
                    }
                    show_tree(&self.board, &self.replica);
                }
                LearnerAction::InstallSnapshot { zxid, data } => {
                    info!(sid = %self.me, %zxid, bytes = data.len(), "SNAP: installing the leader's state");
                    if let Err(err) = self.replica.install_snapshot(zxid, &data) {
                        return Some(self.storage_failure(err));
                    }
                    show_tree(&self.board, &self.replica);
                }
                LearnerAction::Log { zxid, txn } => {
                    if let Err(err) = self.replica.append(zxid, &txn) {
                        return Some(self.storage_failure(err));
                    }
                    self.log_dirty = true;
                }
                LearnerAction::LogAndAck { zxid, txn } => {
                    if let Err(err) = self.replica.append(zxid, &txn) {
                        return Some(self.storage_failure(err));
                    }
                    self.log_dirty = true;
                    self.ack_due = true;
                }
                LearnerAction::Apply { zxid, txn, origin } => {
                    if let Err(err) = self.apply(zxid, &txn, origin) {
                        return Some(self.storage_failure(err));
                    }
                }
                LearnerAction::RequestFailed { request, reason } => {
                    self.local
                        .complete_write(request, Err(SubmitError::Refused(reason)));
                }
                LearnerAction::SyncDone { request, zxid } => {
                    self.local.complete_sync(request, Ok(zxid));
                }
                LearnerAction::Serving { epoch } => {
                    let serving = if state == ServerState::Observing {
                        Serving::Observer
                    } else {
                        Serving::Follower
                    };
                    self.board.update(|s| {
                        s.serving = serving;
                        s.phase = ZabPhase::Broadcast;
                        s.zxid = Zxid::epoch_start(epoch).max(self.replica.last_applied());
                    });
                    let actions = self.fle.epoch_established(epoch);
                    self.execute_election(actions);
                    info!(
                        sid = %self.me,
                        state = state.as_str(),
                        %leader,
                        %epoch,
                        since_election = ?elected.elapsed(),
                        "serving"
                    );
                }
            }
        }
        None
    }
}

async fn accept_quorum(listener: TcpListener, conns: mpsc::Sender<TcpStream>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                if conns.send(stream).await.is_err() {
                    return;
                }
            }
            Err(err) => {
                warn!(%err, "quorum port: accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Connect to the leader's quorum port, retrying every [`CONNECT_RETRY`] until `within`.
async fn dial_leader(addr: String, within: Duration, done: oneshot::Sender<Option<TcpStream>>) {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let _ = done.send(None);
            return;
        }
        match tokio::time::timeout(left, TcpStream::connect(addr.as_str())).await {
            Ok(Ok(stream)) => {
                let _ = done.send(Some(stream));
                return;
            }
            Ok(Err(err)) => debug!(%addr, %err, "leader not reachable yet"),
            Err(_) => {}
        }
        tokio::time::sleep(CONNECT_RETRY).await;
    }
}

/// The leader's learner connections: links by id, and which server each one turned out to be.
#[derive(Default)]
struct Learners {
    next_id: LinkId,
    links: BTreeMap<LinkId, Link>,
    sid_of: BTreeMap<LinkId, Sid>,
    link_of: BTreeMap<Sid, LinkId>,
}

enum Identified {
    Known(Sid),
    /// First message of a link: `replaced` when this server had another link (it reconnected).
    New {
        sid: Sid,
        replaced: bool,
    },
    Refused(String),
}

impl Learners {
    fn adopt(&mut self, stream: TcpStream, events: &mpsc::Sender<LinkEvent>) {
        self.next_id += 1;
        let id = self.next_id;
        self.links
            .insert(id, Link::spawn(id, stream, events.clone()));
    }

    fn identify(&mut self, id: LinkId, msg: &QuorumMessage, ensemble: u64) -> Identified {
        if let Some(sid) = self.sid_of.get(&id) {
            return Identified::Known(*sid);
        }
        let QuorumMessage::LearnerInfo {
            protocol,
            ensemble: theirs,
            sid,
            ..
        } = msg
        else {
            self.links.remove(&id);
            return Identified::Refused(format!("first message was {}", msg.kind()));
        };
        if *protocol != crate::zab::messages::QUORUM_PROTOCOL_VERSION || *theirs != ensemble {
            self.links.remove(&id);
            return Identified::Refused(format!(
                "server {sid}: protocol {protocol} / ensemble {theirs:#x} do not match mine"
            ));
        }
        let replaced = match self.link_of.insert(*sid, id) {
            Some(old) => {
                self.links.remove(&old);
                self.sid_of.remove(&old);
                true
            }
            None => false,
        };
        self.sid_of.insert(id, *sid);
        Identified::New {
            sid: *sid,
            replaced,
        }
    }

    fn send(&self, to: Sid, msg: QuorumMessage) -> Result<(), String> {
        let link = self
            .link_of
            .get(&to)
            .and_then(|id| self.links.get(id))
            .ok_or_else(|| "no connection".to_string())?;
        link.send(msg)
    }

    fn is_connected(&self, sid: Sid) -> bool {
        self.link_of.contains_key(&sid)
    }

    fn remove_link(&mut self, id: LinkId) -> Option<Sid> {
        self.links.remove(&id);
        let sid = self.sid_of.remove(&id)?;
        if self.link_of.get(&sid) == Some(&id) {
            self.link_of.remove(&sid);
        }
        Some(sid)
    }

    fn remove_sid(&mut self, sid: Sid) {
        if let Some(id) = self.link_of.remove(&sid) {
            self.links.remove(&id);
            self.sid_of.remove(&id);
        }
    }
}

/// Refuse a command while not serving.
fn refuse(cmd: Option<Command>) {
    match cmd {
        Some(Command::Submit { reply, .. }) => {
            let _ = reply.send(Err(SubmitError::NotServing));
        }
        Some(Command::Sync { reply }) => {
            let _ = reply.send(Err(SubmitError::NotServing));
        }
        Some(Command::Touch { .. }) | None => {}
    }
}

/// Show the tree's size and the last applied zxid in the status board (`srvr`, `mntr`).
pub(crate) fn show_tree(board: &StatusBoard, replica: &Replica) {
    let (nodes, bytes, ephemerals, applied, digest) = read_tree(&replica.tree(), |t| {
        (
            t.node_count() as u64,
            t.approximate_data_size(),
            t.ephemeral_count() as u64,
            t.last_applied(),
            t.digest(),
        )
    });
    board.update(|s| {
        s.node_count = nodes;
        s.approximate_data_size = bytes;
        s.ephemerals = ephemerals;
        s.digest = digest;
        if s.serving != Serving::NotServing {
            s.zxid = s.zxid.max(applied);
        }
    });
}

type WriteReply = oneshot::Sender<Result<TxnResult, SubmitError>>;
type SyncReply = oneshot::Sender<Result<Zxid, SubmitError>>;

/// Requests submitted on this server, waiting for their commit (or sync barrier).
#[derive(Default)]
struct LocalRequests {
    next: u64,
    writes: BTreeMap<u64, WriteReply>,
    syncs: BTreeMap<u64, SyncReply>,
}

impl LocalRequests {
    fn id(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    fn add_write(&mut self, reply: WriteReply) -> u64 {
        let id = self.id();
        self.writes.insert(id, reply);
        id
    }

    fn add_sync(&mut self, reply: SyncReply) -> u64 {
        let id = self.id();
        self.syncs.insert(id, reply);
        id
    }

    fn complete_write(&mut self, id: u64, result: Result<TxnResult, SubmitError>) {
        if let Some(reply) = self.writes.remove(&id) {
            let _ = reply.send(result);
        }
    }

    fn complete_sync(&mut self, id: u64, result: Result<Zxid, SubmitError>) {
        if let Some(reply) = self.syncs.remove(&id) {
            let _ = reply.send(result);
        }
    }

    /// The role ended: nobody will answer these any more. Their outcome is unknown (a write
    /// may still commit under the next leader), which the error says.
    fn fail_all(&mut self, err: SubmitError) {
        for (_, reply) in std::mem::take(&mut self.writes) {
            let _ = reply.send(Err(err.clone()));
        }
        for (_, reply) in std::mem::take(&mut self.syncs) {
            let _ = reply.send(Err(err.clone()));
        }
    }
}
