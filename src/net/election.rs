//! The election transport (ZooKeeper's QuorumCnxManager): one TCP connection per pair of
//! servers on the election port, carrying [`Notification`]s in length-prefixed bincode frames.
//!
//! Rules, and why:
//! - Only a connection dialled by the *higher* sid toward the lower survives, so a pair never
//!   ends up with two connections or none. A lower sid that finds no connection "pokes" the
//!   higher one by dialling it; the higher side closes that connection and dials back at once
//!   (no waiting out its reconnect backoff) — this is how a restarted server is reconnected fast.
//! - With quorum authentication on (`crate::auth`), every connection first runs the
//!   challenge-response; the id a peer proved must then be the id in its handshake.
//! - Both sides open with a [`Handshake`] (protocol version, sid, election address, ensemble
//!   identity). A foreign ensemble, an unknown id or my own id closes that connection, logged.
//! - Each peer has a send slot holding only the newest notification (a stale vote is worthless);
//!   when a connection (re)starts with nothing pending, the last notification is sent again.
//! - Each peer has its own task: one dead or unreachable peer never delays the others.
//! - Any malformed, truncated or oversized frame closes that one connection.

use super::codec::{self, ELECTION_FRAME_LIMIT};
use super::{set_nodelay, PeerStream, TcpListener, TcpStream};
use crate::auth::{self, PeerAuth, PortKind};
use crate::election::Notification;
use crate::ids::{LearnerType, Sid};
use crate::status::{Counters, StatusBoard};
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;
use tokio_util::codec::{Framed, LengthDelimitedCodec};
use tracing::{debug, info, trace, warn};

/// Bumped when the election wire format changes incompatibly.
pub const PROTOCOL_VERSION: u32 = 1;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
const FIRST_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// The first frame on every election connection, in both directions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handshake {
    pub protocol: u32,
    pub sid: Sid,
    /// The sender's own election address, for logs (addresses may legitimately differ between
    /// servers' configs behind NAT or a proxy, so they are not part of the identity).
    pub election_addr: String,
    /// See [`ensemble_id`].
    pub ensemble: u64,
}

/// Messages after the handshake. An enum so the port can grow without a new protocol version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ElectionMessage {
    Notification(Notification),
    /// Keeps an idle connection provably alive (see `ElectionSetup::heartbeat`).
    Ping,
}

/// What the transport tells the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElectionEvent {
    Connected(Sid),
    Disconnected(Sid),
    Notification(Sid, Notification),
}

/// An identity for the ensemble derived from its members' ids and roles only (FNV-1a, stable
/// across builds and machines), so that a server of another ensemble is refused.
pub fn ensemble_id<'a>(members: impl IntoIterator<Item = (&'a Sid, &'a LearnerType)>) -> u64 {
    let mut sorted: Vec<(u64, u8)> = members
        .into_iter()
        .map(|(sid, role)| (sid.0, matches!(role, LearnerType::Observer) as u8))
        .collect();
    sorted.sort_unstable();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (sid, role) in sorted {
        for byte in sid.to_be_bytes().into_iter().chain([role]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// Why a handshake was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HandshakeError {
    #[error("protocol version {0}, this server speaks {PROTOCOL_VERSION}")]
    Protocol(u32),
    #[error("server id {0} is my own id (two servers configured with one id?)")]
    OwnId(Sid),
    #[error("server id {0} is not in this ensemble's server list")]
    UnknownId(Sid),
    #[error("server {0} belongs to another ensemble (its identity {1:#x}, mine {2:#x})")]
    ForeignEnsemble(Sid, u64, u64),
    #[error("expected server {expected}, but server {got} answered")]
    WrongPeer { expected: Sid, got: Sid },
    #[error("authenticated as server {proved} but its handshake says server {claimed}")]
    NotWhoItProved { proved: Sid, claimed: Sid },
}

/// Static facts one transport needs.
#[derive(Debug, Clone)]
pub struct ElectionSetup {
    pub me: Sid,
    pub my_addr: String,
    pub ensemble: u64,
    /// Every other server: its election address.
    pub peers: BTreeMap<Sid, String>,
    /// How often an idle connection sends a ping (tickTime / 2).
    pub heartbeat: Duration,
    /// A connection silent this long is closed and re-dialled (syncLimit x tickTime).
    pub dead_after: Duration,
    /// Quorum authentication for this port's connections.
    pub auth: PeerAuth,
}

impl ElectionSetup {
    fn my_handshake(&self) -> Handshake {
        Handshake {
            protocol: PROTOCOL_VERSION,
            sid: self.me,
            election_addr: self.my_addr.clone(),
            ensemble: self.ensemble,
        }
    }

    /// Check a peer's handshake; `expected` is the sid we dialled, if we dialled; `proved` the
    /// sid the peer authenticated as, if it did.
    pub fn check(
        &self,
        hs: &Handshake,
        expected: Option<Sid>,
        proved: Option<Sid>,
    ) -> Result<(), HandshakeError> {
        if hs.protocol != PROTOCOL_VERSION {
            return Err(HandshakeError::Protocol(hs.protocol));
        }
        if hs.sid == self.me {
            return Err(HandshakeError::OwnId(hs.sid));
        }
        if !self.peers.contains_key(&hs.sid) {
            return Err(HandshakeError::UnknownId(hs.sid));
        }
        if hs.ensemble != self.ensemble {
            return Err(HandshakeError::ForeignEnsemble(
                hs.sid,
                hs.ensemble,
                self.ensemble,
            ));
        }
        if let Some(proved) = proved {
            if proved != hs.sid {
                return Err(HandshakeError::NotWhoItProved {
                    proved,
                    claimed: hs.sid,
                });
            }
        }
        if let Some(expected) = expected {
            if expected != hs.sid {
                return Err(HandshakeError::WrongPeer {
                    expected,
                    got: hs.sid,
                });
            }
        }
        Ok(())
    }
}

type Conn = Framed<PeerStream, LengthDelimitedCodec>;

/// The newest notification for one peer, plus the last one sent (re-sent on reconnect).
#[derive(Debug, Default)]
struct SendSlot {
    state: Mutex<SlotState>,
    ready: Notify,
}

#[derive(Debug, Default)]
struct SlotState {
    pending: Option<Notification>,
    last_sent: Option<Notification>,
}

impl SendSlot {
    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Replace whatever is pending; returns true when an unsent notification was dropped.
    fn put(&self, n: Notification) -> bool {
        let dropped = self.lock().pending.replace(n).is_some();
        self.ready.notify_one();
        dropped
    }

    fn take(&self) -> Option<Notification> {
        let mut state = self.lock();
        let n = state.pending.take();
        if n.is_some() {
            state.last_sent = n;
        }
        n
    }

    /// On a fresh connection: what is pending, else the last notification sent.
    fn take_or_last(&self) -> Option<Notification> {
        let mut state = self.lock();
        match state.pending.take() {
            Some(n) => {
                state.last_sent = Some(n);
                Some(n)
            }
            None => state.last_sent,
        }
    }
}

struct Link {
    slot: Arc<SendSlot>,
    /// Accepted connections from a higher sid, and pokes ("dial now") for a lower one.
    handoff: mpsc::Sender<Handoff>,
}

enum Handoff {
    Accepted(Box<Conn>),
    DialNow,
}

/// The running transport. Dropping it stops every task.
pub struct ElectionNet {
    links: BTreeMap<Sid, Link>,
    board: Arc<StatusBoard>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for ElectionNet {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl ElectionNet {
    /// Start the acceptor and one task per peer. Events arrive on `events`.
    pub fn start(
        setup: ElectionSetup,
        listener: TcpListener,
        events: mpsc::Sender<ElectionEvent>,
        board: Arc<StatusBoard>,
    ) -> ElectionNet {
        let setup = Arc::new(setup);
        let mut links = BTreeMap::new();
        let mut tasks = Vec::new();
        let mut handoffs = BTreeMap::new();
        for (&peer, addr) in &setup.peers {
            let slot = Arc::new(SendSlot::default());
            let (tx, rx) = mpsc::channel(4);
            handoffs.insert(peer, tx.clone());
            links.insert(
                peer,
                Link {
                    slot: slot.clone(),
                    handoff: tx,
                },
            );
            let task = PeerTask {
                setup: setup.clone(),
                peer,
                addr: addr.clone(),
                slot,
                handoff: rx,
                events: events.clone(),
                board: board.clone(),
            };
            tasks.push(tokio::spawn(task.run()));
        }
        tasks.push(tokio::spawn(accept_loop(
            setup,
            listener,
            handoffs,
            board.clone(),
        )));
        ElectionNet {
            links,
            board,
            tasks,
        }
    }

    /// Stop every election connection and the acceptor (a leader handing off stops answering
    /// elections first, so that nobody rejoins it while it leaves).
    pub fn stop(&mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
    }

    /// Queue `n` for `to`, replacing anything still unsent.
    pub fn send(&self, to: Sid, n: Notification) {
        if let Some(link) = self.links.get(&to) {
            if link.slot.put(n) {
                Counters::add(&self.board.counters.notifications_dropped, 1);
            }
        }
    }

    /// Ask the link to `peer` to (re)connect now rather than after its backoff.
    pub fn reconnect(&self, peer: Sid) {
        if let Some(link) = self.links.get(&peer) {
            let _ = link.handoff.try_send(Handoff::DialNow);
        }
    }
}

async fn accept_loop(
    setup: Arc<ElectionSetup>,
    listener: TcpListener,
    handoffs: BTreeMap<Sid, mpsc::Sender<Handoff>>,
    board: Arc<StatusBoard>,
) {
    let handoffs = Arc::new(handoffs);
    loop {
        let (stream, from) = match listener.accept().await {
            Ok(pair) => pair,
            Err(err) => {
                warn!(%err, "election port: accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        set_nodelay(&stream);
        let setup = setup.clone();
        let handoffs = handoffs.clone();
        let board = board.clone();
        tokio::spawn(async move {
            let (stream, proved) = match auth::accept(stream, &setup.auth, PortKind::Election).await
            {
                Ok(pair) => pair,
                Err(err) => {
                    auth::report(&board.counters, PortKind::Election, &from.to_string(), &err);
                    return;
                }
            };
            let mut conn = codec::framed(stream, ELECTION_FRAME_LIMIT);
            let hs = match read_handshake(&mut conn).await {
                Ok(hs) => hs,
                Err(reason) => {
                    warn!(peer_addr = %from, %reason, "election port: connection refused");
                    return;
                }
            };
            if let Err(reason) = setup.check(&hs, None, proved) {
                if matches!(reason, HandshakeError::NotWhoItProved { .. }) {
                    Counters::add(&board.counters.quorum_auth_refused, 1);
                }
                warn!(peer_addr = %from, %reason, "election port: connection refused");
                return;
            }
            let Some(handoff) = handoffs.get(&hs.sid) else {
                return;
            };
            if hs.sid < setup.me {
                // Only the higher sid's connection survives: close this one, dial back now.
                debug!(peer = %hs.sid, "lower id dialled in; dialling back");
                let _ = handoff.try_send(Handoff::DialNow);
                return;
            }
            match encode_frame(&setup.my_handshake()) {
                Ok(frame) => {
                    if conn.send(frame).await.is_err() {
                        return;
                    }
                }
                Err(err) => {
                    warn!(%err, "cannot encode handshake");
                    return;
                }
            }
            let _ = handoff.send(Handoff::Accepted(Box::new(conn))).await;
        });
    }
}

fn encode_frame<T: Serialize>(msg: &T) -> Result<bytes::Bytes, codec::CodecError> {
    codec::encode::<_, ELECTION_FRAME_LIMIT>(msg)
}

async fn read_handshake(conn: &mut Conn) -> Result<Handshake, String> {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, conn.next()).await {
        Err(_) => Err("no handshake within 5 s".into()),
        Ok(None) => Err("closed before the handshake".into()),
        Ok(Some(Err(err))) => Err(format!("bad frame: {err}")),
        Ok(Some(Ok(frame))) => codec::decode::<Handshake, ELECTION_FRAME_LIMIT>(&frame)
            .map_err(|err| format!("bad handshake: {err}")),
    }
}

struct PeerTask {
    setup: Arc<ElectionSetup>,
    peer: Sid,
    addr: String,
    slot: Arc<SendSlot>,
    handoff: mpsc::Receiver<Handoff>,
    events: mpsc::Sender<ElectionEvent>,
    board: Arc<StatusBoard>,
}

impl PeerTask {
    /// I dial peers with a lower id; peers with a higher id dial me (I only poke them).
    fn i_dial(&self) -> bool {
        self.peer < self.setup.me
    }

    async fn run(mut self) {
        let mut backoff = FIRST_BACKOFF;
        loop {
            let conn = if self.i_dial() {
                self.dial().await
            } else {
                // Poke the higher peer so it dials me; then wait for its connection.
                self.poke().await;
                None
            };
            let conn = match conn {
                Some(conn) => Some(conn),
                None => self.wait_for_handoff(backoff).await,
            };
            match conn {
                Some(conn) => {
                    backoff = FIRST_BACKOFF;
                    self.serve(conn).await;
                }
                None => backoff = (backoff * 2).min(MAX_BACKOFF),
            }
        }
    }

    /// Wait up to `backoff` for an accepted connection or a "dial now"; None means retry.
    async fn wait_for_handoff(&mut self, backoff: Duration) -> Option<Conn> {
        let deadline = tokio::time::sleep(backoff);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                biased;
                _ = &mut deadline => return None,
                h = self.handoff.recv() => match h {
                    Some(Handoff::Accepted(conn)) => return Some(*conn),
                    Some(Handoff::DialNow) if self.i_dial() => return self.dial().await,
                    Some(Handoff::DialNow) => continue,
                    None => return None,
                },
            }
        }
    }

    /// Dial, authenticate (when on) and send my handshake; also returns whom the peer proved
    /// to be.
    async fn connect(&self) -> Option<(Conn, auth::Authenticated)> {
        let stream =
            match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(self.addr.as_str()))
                .await
            {
                Ok(Ok(s)) => s,
                Ok(Err(err)) => {
                    debug!(peer = %self.peer, addr = %self.addr, %err, "election connect failed");
                    return None;
                }
                Err(_) => {
                    debug!(peer = %self.peer, addr = %self.addr, "election connect timed out");
                    return None;
                }
            };
        set_nodelay(&stream);
        let (stream, proved) =
            match auth::dial(stream, &self.setup.auth, PortKind::Election, self.peer).await {
                Ok(pair) => pair,
                Err(err) => {
                    auth::report(&self.board.counters, PortKind::Election, &self.addr, &err);
                    return None;
                }
            };
        let mut conn = codec::framed(stream, ELECTION_FRAME_LIMIT);
        let frame = encode_frame(&self.setup.my_handshake()).ok()?;
        conn.send(frame).await.ok()?;
        Some((conn, proved))
    }

    async fn dial(&self) -> Option<Conn> {
        let (mut conn, proved) = self.connect().await?;
        let hs = match read_handshake(&mut conn).await {
            Ok(hs) => hs,
            Err(reason) => {
                debug!(peer = %self.peer, %reason, "election handshake failed");
                return None;
            }
        };
        if let Err(reason) = self.setup.check(&hs, Some(self.peer), proved) {
            warn!(peer = %self.peer, addr = %self.addr, %reason, "election connection refused");
            return None;
        }
        Some(conn)
    }

    /// Dial a higher peer just to make it dial back; the peer closes this connection itself.
    async fn poke(&self) {
        if let Some((mut conn, _)) = self.connect().await {
            // Wait briefly for the close so that the poke is seen before we drop it.
            let _ = tokio::time::timeout(Duration::from_millis(200), conn.next()).await;
        }
    }

    /// Run one established connection until it fails or is replaced.
    async fn serve(&mut self, conn: Conn) {
        info!(peer = %self.peer, "election connection up");
        let _ = self.events.send(ElectionEvent::Connected(self.peer)).await;
        let (mut sink, mut stream) = conn.split();
        let mut first = self.slot.take_or_last();
        let mut replaced = None;
        // Heartbeats: a connection can die silently (a partition, a host gone without a RST);
        // a peer silent for `dead_after` is treated as gone and re-dialled, which also re-sends
        // the last notification once the path works again.
        let heartbeat = self.setup.heartbeat;
        let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
        let silence = tokio::time::sleep(self.setup.dead_after);
        tokio::pin!(silence);
        let reason: String = loop {
            let outgoing = first
                .take()
                .or_else(|| self.slot.take())
                .map(ElectionMessage::Notification);
            if let Some(msg) = outgoing {
                let wire = match send_message(&mut sink, &msg).await {
                    Ok(wire) => wire,
                    Err(reason) => break reason,
                };
                if let ElectionMessage::Notification(n) = msg {
                    Counters::add(&self.board.counters.notifications_sent, 1);
                    Counters::add(&self.board.counters.notification_bytes_sent, wire);
                    trace!(peer = %self.peer, round = n.round, leader = %n.vote.leader, state = n.state.as_str(), "notification sent");
                }
                continue;
            }
            tokio::select! {
                biased;
                _ = self.slot.ready.notified() => {}
                frame = stream.next() => match frame {
                    None => break "closed by peer".into(),
                    Some(Err(err)) => break format!("bad frame: {err}"),
                    Some(Ok(frame)) => {
                        silence.as_mut().reset(tokio::time::Instant::now() + self.setup.dead_after);
                        match codec::decode::<ElectionMessage, ELECTION_FRAME_LIMIT>(&frame) {
                            Ok(ElectionMessage::Notification(n)) => {
                                Counters::add(&self.board.counters.notifications_received, 1);
                                Counters::add(&self.board.counters.notification_bytes_received, wire_len(frame.len()));
                                trace!(peer = %self.peer, round = n.round, leader = %n.vote.leader, state = n.state.as_str(), "notification received");
                                let _ = self.events.send(ElectionEvent::Notification(self.peer, n)).await;
                            }
                            Ok(ElectionMessage::Ping) => {}
                            Err(err) => break format!("malformed message: {err}"),
                        }
                    }
                },
                h = self.handoff.recv() => match h {
                    // The peer restarted and dialled again: the new connection wins.
                    Some(Handoff::Accepted(conn)) => { replaced = Some(*conn); break "replaced by a new connection".into() }
                    Some(Handoff::DialNow) | None => {}
                },
                _ = beat.tick() => {
                    if let Err(reason) = send_message(&mut sink, &ElectionMessage::Ping).await {
                        break reason;
                    }
                }
                _ = &mut silence => break format!("silent for {:?}", self.setup.dead_after),
            }
        };
        info!(peer = %self.peer, %reason, "election connection down");
        let _ = self
            .events
            .send(ElectionEvent::Disconnected(self.peer))
            .await;
        if let Some(conn) = replaced {
            Box::pin(self.serve(conn)).await;
        }
    }
}

/// Bytes a frame of `payload` bytes takes on the wire: the payload and its 4-byte length
/// prefix (see [`codec::frame_codec`]). What the `notification_bytes_*` counters add up, so the
/// cost of an election can be compared in bytes, not only in messages.
fn wire_len(payload: usize) -> u64 {
    payload as u64 + 4
}

/// Send one message; returns the bytes it took on the wire ([`wire_len`]).
async fn send_message<S>(sink: &mut S, msg: &ElectionMessage) -> Result<u64, String>
where
    S: futures_util::Sink<bytes::Bytes, Error = std::io::Error> + Unpin,
{
    let frame = encode_frame(msg).map_err(|err| format!("cannot encode: {err}"))?;
    let wire = wire_len(frame.len());
    sink.send(frame)
        .await
        .map_err(|err| format!("send failed: {err}"))?;
    Ok(wire)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(me: u64) -> ElectionSetup {
        ElectionSetup {
            me: Sid(me),
            my_addr: format!("127.0.0.1:{}", 3000 + me),
            ensemble: 42,
            peers: [1, 2, 3]
                .into_iter()
                .filter(|s| *s != me)
                .map(|s| (Sid(s), format!("127.0.0.1:{}", 3000 + s)))
                .collect(),
            heartbeat: Duration::from_millis(100),
            dead_after: Duration::from_millis(500),
            auth: PeerAuth::off(Sid(me), Default::default()),
        }
    }

    /// The byte counters must count what actually crosses the socket, prefix included.
    #[tokio::test]
    async fn send_message_reports_the_bytes_on_the_wire() {
        use tokio::io::AsyncReadExt;
        let (a, mut b) = tokio::io::duplex(4096);
        let mut framed = codec::framed(a, ELECTION_FRAME_LIMIT);
        let msg = ElectionMessage::Notification(Notification {
            vote: crate::election::Vote {
                epoch: crate::ids::Epoch(3),
                zxid: crate::ids::Zxid(0x3_0000_0007),
                leader: Sid(2),
            },
            round: 9,
            state: crate::ids::ServerState::Looking,
        });
        let first = send_message(&mut framed, &msg).await.unwrap();
        let second = send_message(&mut framed, &ElectionMessage::Ping)
            .await
            .unwrap();
        drop(framed);
        let mut raw = Vec::new();
        b.read_to_end(&mut raw).await.unwrap();
        assert_eq!(first + second, raw.len() as u64);
        assert!(second < first, "a ping is smaller than a notification");
        // The receiving side counts the same figure from the decoded frame's payload.
        let payload = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]) as usize;
        assert_eq!(wire_len(payload), first);
    }

    #[test]
    fn handshake_checks() {
        let s = setup(1);
        let mut hs = setup(2).my_handshake();
        assert_eq!(s.check(&hs, None, None), Ok(()));
        assert_eq!(
            s.check(&hs, Some(Sid(3)), None),
            Err(HandshakeError::WrongPeer {
                expected: Sid(3),
                got: Sid(2)
            })
        );
        hs.ensemble = 7;
        assert!(matches!(
            s.check(&hs, None, None),
            Err(HandshakeError::ForeignEnsemble(..))
        ));
        let own = setup(1).my_handshake();
        assert_eq!(
            s.check(&own, None, None),
            Err(HandshakeError::OwnId(Sid(1)))
        );
        let mut stranger = setup(2).my_handshake();
        stranger.sid = Sid(9);
        assert_eq!(
            s.check(&stranger, None, None),
            Err(HandshakeError::UnknownId(Sid(9)))
        );
        let hs2 = setup(2).my_handshake();
        assert_eq!(s.check(&hs2, None, Some(Sid(2))), Ok(()));
        assert_eq!(
            s.check(&hs2, None, Some(Sid(3))),
            Err(HandshakeError::NotWhoItProved {
                proved: Sid(3),
                claimed: Sid(2)
            })
        );
        let mut old = setup(2).my_handshake();
        old.protocol = 0;
        assert_eq!(s.check(&old, None, None), Err(HandshakeError::Protocol(0)));
    }

    #[test]
    fn ensemble_identity_depends_on_ids_and_roles_only() {
        let a = [
            (Sid(1), LearnerType::Participant),
            (Sid(2), LearnerType::Participant),
        ];
        let b = [
            (Sid(2), LearnerType::Participant),
            (Sid(1), LearnerType::Participant),
        ];
        let c = [
            (Sid(1), LearnerType::Participant),
            (Sid(2), LearnerType::Observer),
        ];
        let id = |m: &[(Sid, LearnerType)]| ensemble_id(m.iter().map(|(s, r)| (s, r)));
        assert_eq!(id(&a), id(&b));
        assert_ne!(id(&a), id(&c));
    }

    #[test]
    fn the_send_slot_keeps_only_the_newest_and_resends_the_last() {
        let slot = SendSlot::default();
        let n = |r| Notification {
            vote: crate::election::Vote {
                epoch: crate::ids::Epoch(0),
                zxid: crate::ids::Zxid(0),
                leader: Sid(1),
            },
            round: r,
            state: crate::ids::ServerState::Looking,
        };
        assert!(!slot.put(n(1)));
        assert!(slot.put(n(2)), "the unsent round-1 notification is dropped");
        assert_eq!(slot.take().map(|n| n.round), Some(2));
        assert_eq!(slot.take(), None);
        // A new connection with nothing pending re-sends the last one.
        assert_eq!(slot.take_or_last().map(|n| n.round), Some(2));
    }
}
