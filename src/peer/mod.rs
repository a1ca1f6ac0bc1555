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
use crate::auth::{self, PeerAuth, PortKind};
use crate::config::Config;
use crate::election::{Action, Decision, Fle, TimerId, Voters};
use crate::ids::{Epoch, LearnerType, ServerState, Sid, Zxid};
use crate::net::election::{ensemble_id, ElectionEvent, ElectionNet, ElectionSetup};
use crate::net::link::{Link, LinkEvent};
use crate::net::{set_nodelay, PeerStream, TcpListener, TcpStream};
use crate::replica::{self, read_tree, Replica, ReplicaError, Request};
use crate::status::{Counters, LearnerCounts, Serving, StatusBoard, ZabPhase};
use crate::storage::{resync, Disk, EpochError, EpochStore};
use crate::tree::{Op, TxnResult};
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

mod leading;
mod learners;
mod learning;
mod local;
mod snap_stream;
pub(crate) mod syncer;

use learners::{Identified, Learners};
use local::LocalRequests;
use syncer::{Finished, LogSyncer};
use tokio::task::JoinHandle;
use tokio::time::{Instant, Sleep};
use tracing::{debug, info, warn};

/// How often a learner retries connecting to its leader's quorum port.
const CONNECT_RETRY: Duration = Duration::from_millis(20);
/// How long a learner waits before dialling again a leader that refused its authentication.
const AUTH_RETRY: Duration = Duration::from_millis(250);
/// Group commit waits for a quiet moment, but never longer than this many events.
const GROUP_COMMIT_MAX_EVENTS: u32 = 64;
/// A SNAP travels in chunks of this size (well under the quorum port's frame limit).
const SNAP_CHUNK_BYTES: usize = 512 * 1024;
/// The leader's in-memory history for DIFF syncs: at most this many bytes (and
/// `commitLogCount` transactions).
pub(crate) const SYNC_WINDOW_BYTES: usize = 64 * 1024 * 1024;
/// Connections that arrive on the quorum port while LOOKING wait for the outcome; at most this many.
const MAX_PENDING_LEARNERS: usize = 256;

/// A connection on the quorum port, set up (and authenticated, when on).
pub(crate) struct QuorumConn {
    stream: PeerStream,
    /// The server it proved to be, when it authenticated.
    proved: auth::Authenticated,
}

/// Why the peer went (back) to LOOKING.
#[derive(Debug, Clone)]
pub enum LookingCause {
    Startup,
    LeaderLost(String),
    QuorumLost(String),
    /// A quarantined voter was resynced and rejoins as a voter.
    Resynced,
    /// This leader handed off and stops (the peer's run ends).
    HandedOff,
}

impl std::fmt::Display for LookingCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LookingCause::Startup => write!(f, "start-up"),
            LookingCause::LeaderLost(r) => write!(f, "leader lost: {r}"),
            LookingCause::QuorumLost(r) => write!(f, "quorum lost: {r}"),
            LookingCause::Resynced => {
                write!(f, "resynced after a corrupt log; rejoining as a voter")
            }
            LookingCause::HandedOff => write!(f, "handed off the leadership to stop"),
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
    quorum_conns: mpsc::Receiver<QuorumConn>,
    pending_learners: Vec<QuorumConn>,
    /// Quorum authentication (`quorum.auth.*`) for the connections this server dials.
    auth: PeerAuth,
    /// Something was appended to the log that no fsync (running or done) covers yet.
    log_dirty: bool,
    /// Runs the group commit's fsync off this loop.
    syncer: LogSyncer,
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
    /// This server lost log records and may not vote until a leader has resynced it.
    needs_resync: bool,
    /// Leader only: a graceful shutdown asked for: answer `done` once handed off (or at the
    /// deadline, whatever is still uncommitted).
    leaving: Option<(oneshot::Sender<()>, Instant)>,
    disk: Arc<dyn Disk>,
    _acceptor: TaskGuard,
}

/// The election core; a server that may not vote runs it without itself among the voters,
/// which makes it listen like an observer and say so in its notifications.
fn election_core(
    me: Sid,
    voters: &Voters,
    others: BTreeSet<Sid>,
    finalize_wait: Duration,
    non_voting: bool,
) -> Fle {
    let voters = if non_voting {
        Voters::new(voters.iter().filter(|s| *s != me))
    } else {
        voters.clone()
    };
    Fle::new(me, voters, others, finalize_wait)
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
        needs_resync: bool,
    ) -> Result<Peer, PeerError> {
        let me = config.my_id;
        let my_spec = config.me().ok_or(PeerError::NotInEnsemble(me))?;
        let role = my_spec.role;
        let epochs = EpochStore::open(&config.data_dir.join("version-2"), disk.clone())?;
        let voters = Voters::new(config.voters().map(|s| s.id));
        let roles: BTreeMap<Sid, LearnerType> =
            config.servers.values().map(|s| (s.id, s.role)).collect();
        let ensemble = ensemble_id(roles.iter());
        let others: BTreeSet<Sid> = config
            .servers
            .keys()
            .copied()
            .filter(|s| *s != me)
            .collect();
        let non_voting = needs_resync && role == LearnerType::Participant;
        if non_voting {
            warn!(sid = %me, "this voter lost log records: it will not vote until a leader has resynced it");
        }
        let peer_auth = PeerAuth {
            policy: config.quorum_auth.clone(),
            me,
            members: Arc::new(others.clone()),
        };
        if peer_auth.policy.enabled() || peer_auth.policy.tls.is_some() {
            info!(sid = %me, mode = %peer_auth.policy.describe(), "quorum authentication on");
        }
        let fle = election_core(me, &voters, others, config.finalize_wait, non_voting);
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
            auth: peer_auth.clone(),
        };
        let (ev_tx, election_events) = mpsc::channel(1024);
        let net = ElectionNet::start(setup, listeners.election, ev_tx, board.clone());
        let (conn_tx, quorum_conns) = mpsc::channel(64);
        let acceptor = TaskGuard(tokio::spawn(accept_quorum(
            listeners.quorum,
            conn_tx,
            peer_auth.clone(),
            board.clone(),
        )));
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
            auth: peer_auth,
            log_dirty: false,
            syncer: LogSyncer::new(),
            ack_due: false,
            unsynced_events: 0,
            sessions: SessionTracker::default(),
            touches: BTreeSet::new(),
            started: Instant::now(),
            needs_resync,
            leaving: None,
            disk,
            _acceptor: acceptor,
        })
    }

    /// The role this server syncs with: a voter that must be resynced first joins the leader
    /// as an observer, so that nothing it sends is counted.
    fn learner_role(&self) -> LearnerType {
        if self.needs_resync {
            LearnerType::Observer
        } else {
            self.role
        }
    }

    /// A leader synced this server and the result is durable: clear the quarantine and come
    /// back as a voter (see `storage::resync`).
    fn resynced(&mut self) -> Result<(), LookingCause> {
        self.replica.sync().map_err(|e| self.storage_failure(e))?;
        let dir = self.config.data_dir.join("version-2");
        resync::clear(&*self.disk, &dir).map_err(|e| {
            LookingCause::QuorumLost(format!("cannot clear the resync marker: {e}"))
        })?;
        self.needs_resync = false;
        let others = self
            .config
            .servers
            .keys()
            .copied()
            .filter(|s| *s != self.me)
            .collect();
        self.fle = election_core(
            self.me,
            &self.voters,
            others,
            self.config.finalize_wait,
            false,
        );
        info!(sid = %self.me, "resynced by the leader: rejoining as a voter");
        Ok(())
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
            if matches!(cause, LookingCause::HandedOff) {
                info!(sid = %self.me, "handed off; stopping");
                return;
            }
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
        self.board.election_started(cause);
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
        if let Some(done) = self.syncer.drain().await {
            if let Err(err) = self.sync_finished(done) {
                warn!(sid = %self.me, %err, "the log's last fsync failed before the election");
            }
        }
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
        self.board.election_decided(&d);
        info!(
            sid = %self.me,
            state = d.state.as_str(),
            leader = %d.vote.leader,
            round = d.round,
            rounds = d.rounds,
            notifications = d.notifications_received,
            distinct_votes = d.distinct_votes,
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

    /// Start the group commit's fsync (see [`syncer`]) for everything appended so far. When
    /// nothing needed syncing, returns the last durable zxid at once; otherwise the outcome
    /// arrives later as a [`Finished`] (with `ack_due` carried along).
    fn start_sync(&mut self) -> Result<Option<Zxid>, LookingCause> {
        self.log_dirty = false;
        self.unsynced_events = 0;
        match self
            .syncer
            .begin(&mut self.replica, &self.board, self.ack_due, &*self.disk)
        {
            Ok(None) => {
                // The running fsync carries the owed ACK.
                self.ack_due = false;
                Ok(None)
            }
            Ok(Some(durable)) => Ok(Some(durable)),
            Err(err) => Err(self.storage_failure(err)),
        }
    }

    /// A group commit's fsync returned: the last durable zxid, or the storage failure.
    fn sync_finished(&mut self, done: Finished) -> Result<Zxid, ReplicaError> {
        syncer::finish(&mut self.replica, &self.board, done)
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
        self.sync_startable() && self.unsynced_events >= GROUP_COMMIT_MAX_EVENTS
    }

    /// Appends wait for an fsync and none is running: the next group commit may start.
    fn sync_startable(&self) -> bool {
        self.log_dirty && !self.syncer.busy()
    }

    /// Milliseconds on the peer's monotonic clock.
    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
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
        txn: &Arc<Vec<u8>>,
        origin: Option<Origin>,
    ) -> Result<TxnResult, ReplicaError> {
        let result = match self.replica.apply_committed(zxid, txn.clone()) {
            Ok(result) => result,
            Err(err) => {
                if let ReplicaError::Tree(crate::tree::TreeError::ZxidNotAfterLastApplied {
                    ..
                }) = err
                {
                    // Not a disk problem: the leader broke commit order.
                    tracing::error!(sid = %self.me, %zxid, %err, "commit out of zxid order");
                    Counters::add(&self.board.counters.commit_order_violations, 1);
                }
                return Err(err);
            }
        };
        Counters::add(&self.board.counters.txns_committed, 1);
        // The status first: a client that hears of its write and then asks `srvr` must see it.
        show_tree(&self.board, &self.replica);
        if let Some(origin) = origin.filter(|o| o.server == self.me) {
            self.local
                .complete_write(origin.request, Ok(result.clone()));
        }
        Ok(result)
    }

    fn storage_failure(&self, err: ReplicaError) -> LookingCause {
        // A log or snapshot that cannot be written (or read back) means no more promises from
        // this server in this role; a later round retries from what is durable.
        warn!(sid = %self.me, %err, "storage failure");
        LookingCause::QuorumLost(format!("storage: {err}"))
    }
}

/// Accept quorum-port connections; each is authenticated (when on) in its own task, so that a
/// slow or hostile peer never holds up the others, and only then handed to the peer loop.
async fn accept_quorum(
    listener: TcpListener,
    conns: mpsc::Sender<QuorumConn>,
    auth: PeerAuth,
    board: Arc<StatusBoard>,
) {
    let auth = Arc::new(auth);
    loop {
        match listener.accept().await {
            Ok((stream, from)) => {
                set_nodelay(&stream);
                let (auth, board, conns) = (auth.clone(), board.clone(), conns.clone());
                tokio::spawn(async move {
                    match auth::accept(stream, &auth, PortKind::Quorum).await {
                        Ok((stream, proved)) => {
                            let _ = conns.send(QuorumConn { stream, proved }).await;
                        }
                        Err(err) => {
                            auth::report(&board.counters, PortKind::Quorum, &from.to_string(), &err)
                        }
                    }
                });
            }
            Err(err) => {
                warn!(%err, "quorum port: accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Connect to leader `leader`'s quorum port and authenticate (when on), retrying every
/// [`CONNECT_RETRY`] until `within`.
async fn dial_leader(
    addr: String,
    leader: Sid,
    auth: PeerAuth,
    board: Arc<StatusBoard>,
    within: Duration,
    done: oneshot::Sender<Option<PeerStream>>,
) {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let _ = done.send(None);
            return;
        }
        match tokio::time::timeout(left, TcpStream::connect(addr.as_str())).await {
            Ok(Ok(stream)) => {
                set_nodelay(&stream);
                match auth::dial(stream, &auth, PortKind::Quorum, leader).await {
                    Ok((stream, _)) => {
                        let _ = done.send(Some(stream));
                        return;
                    }
                    Err(err) => {
                        auth::report(&board.counters, PortKind::Quorum, &addr, &err);
                        // A refusal will not change within milliseconds: retry calmly.
                        tokio::time::sleep(AUTH_RETRY).await;
                    }
                }
            }
            Ok(Err(err)) => debug!(%addr, %err, "leader not reachable yet"),
            Err(_) => {}
        }
        tokio::time::sleep(CONNECT_RETRY).await;
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
        Some(Command::HandOff { done }) => {
            let _ = done.send(());
        }
        Some(Command::Touch { .. }) | Some(Command::Claim { .. }) | None => {}
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
