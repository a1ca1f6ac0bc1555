//! FOLLOWING / OBSERVING: the shell around [`LearnerCore`] — the link to the leader, sync
//! (TRUNC, SNAP, DIFF), group commit with cumulative ACKs, and forwarding local writes.

use super::*;

impl Peer {
    pub(super) async fn learn(&mut self, decision: Decision) -> LookingCause {
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
            self.learner_role(),
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
                    if let Err(cause) = self.learner_sync(&link).await {
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
                    Some(LinkEvent::Message(_, QuorumMessage::Leaving)) => {
                        return LookingCause::LeaderLost(format!("leader {leader} handed off"));
                    }
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
                    if let Err(cause) = self.learner_sync(&link).await {
                        return cause;
                    }
                }
            }
        }
    }

    /// Group commit on a learner: one fsync, then one cumulative ACK (never before the fsync).
    async fn learner_sync(&mut self, link: &Link) -> Result<(), LookingCause> {
        let synced = self.sync_log().await?;
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
            Command::Claim { session } => QuorumMessage::Claim {
                sessions: vec![session],
            },
            Command::Touch { .. } => return Ok(()),
            // Nothing to hand over: the leader has every write this server forwarded.
            Command::HandOff { done } => {
                let _ = done.send(());
                return Ok(());
            }
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
                    if crate::planted::active(crate::planted::Bug::AckBeforeFsync) {
                        let _ = link.send(QuorumMessage::Ack { zxid });
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
                    if self.needs_resync {
                        return Some(match self.resynced() {
                            Ok(()) => LookingCause::Resynced,
                            Err(cause) => cause,
                        });
                    }
                }
            }
        }
        None
    }
}
