//! LEADING: the shell around [`LeaderCore`] — learner links, group commit, proposals from
//! local and forwarded writes, session expiry, and SNAP sending.

use super::*;

impl Peer {
    pub(super) async fn lead(&mut self, decision: Decision) -> LookingCause {
        let elected = Instant::now();
        self.board.update(|s| {
            s.peer_state = ServerState::Leading.as_str();
            s.phase = ZabPhase::Discovery;
            s.leader = Some(decision.vote.leader);
        });
        let half_tick = self.tick() / 2;
        // The leader's whole log becomes committed in its epoch: apply what the tree lacks, and
        // offer the log's tail for DIFF syncs.
        let window = match self.replica.catch_up() {
            Ok(_) => self.replica.recent_window(),
            Err(err) => return self.storage_failure(err),
        };
        // The window must end where the log does, or the sync decisions would be wrong. It
        // always does (it is fed by every apply); if that ever broke, an empty window at the
        // log's end is the safe fallback: anyone behind gets SNAP.
        let last = self.replica.last_logged();
        let window = if window.last() == last {
            window
        } else {
            tracing::error!(sid = %self.me, window = %window.last(), log = %last, "DIFF window out of step with the log; syncing by SNAP");
            window.emptied(last)
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
        let mut next_reap = Instant::now() + self.config.container_check;
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
                done = self.syncer.finished(), if self.syncer.busy() => match self.sync_finished(done) {
                    Ok(synced) => core.on_logged(synced),
                    Err(err) => return self.storage_failure(err),
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
                    if Instant::now() >= next_reap {
                        next_reap = Instant::now() + self.config.container_check;
                        actions.extend(self.reap_containers(&mut core));
                    }
                    actions
                }
                // Group commit: starts only when nothing else is ready, so one fsync covers
                // every proposal appended since the last one (and while the last one ran).
                _ = std::future::ready(()), if self.sync_startable() => match self.leader_sync(&mut core) {
                    Ok(actions) => actions,
                    Err(cause) => return cause,
                },
            };
            if let Some(cause) = self.execute_leader(&mut core, &mut learners, actions, elected) {
                return cause;
            }
            if let Some((_, deadline)) = &self.leaving {
                let drained = core.outstanding() == 0 && !self.log_dirty && !self.syncer.busy();
                if drained || Instant::now() >= *deadline {
                    return self.hand_off(core, learners).await;
                }
            }
        }
    }

    /// Graceful shutdown of a leader: stop answering elections (so nobody rejoins this
    /// server), tell every learner to elect a successor now, flush, and report done. Every
    /// proposal was committed first, unless the deadline passed (then the new leader decides
    /// their fate, as after a crash).
    async fn hand_off(&mut self, core: LeaderCore, mut learners: Learners) -> LookingCause {
        let Some((done, _)) = self.leaving.take() else {
            return LookingCause::HandedOff;
        };
        info!(sid = %self.me, committed = %core.last_committed(), outstanding = core.outstanding(), "handing off the leadership");
        self.net.stop();
        learners
            .close_all(QuorumMessage::Leaving, Duration::from_millis(500))
            .await;
        self.board.update(|s| s.serving = Serving::NotServing);
        let _ = done.send(());
        LookingCause::HandedOff
    }

    /// Group commit on the leader: start one fsync for everything appended; the leader's own
    /// ACK follows when it returns (at once if all was durable already).
    fn leader_sync(&mut self, core: &mut LeaderCore) -> Result<Vec<LeaderAction>, LookingCause> {
        Ok(match self.start_sync()? {
            Some(synced) => core.on_logged(synced),
            None => Vec::new(),
        })
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
            Command::Claim { session } => {
                self.sessions.set_owner(session, self.me.0);
                Vec::new()
            }
            Command::HandOff { done } => {
                info!(sid = %self.me, outstanding = core.outstanding(), "shutting down: committing what was proposed, then handing off");
                self.leaving = Some((done, Instant::now() + self.tick()));
                Vec::new()
            }
        }
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

    /// ZooKeeper's `ContainerManager`: delete empty containers (that once had a child) and TTL
    /// nodes unmodified for longer than their TTL, at most `znode.container.maxPerMinute`.
    /// Each is a `DeleteContainer` txn, which re-checks the node when applied.
    fn reap_containers(&mut self, core: &mut LeaderCore) -> Vec<LeaderAction> {
        let mut actions = Vec::new();
        if core.phase() != LeaderPhase::Serving {
            return actions;
        }
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let candidates = read_tree(&self.replica.tree(), |t| {
            let mut c = t.container_candidates();
            c.extend(t.ttl_candidates(now_ms));
            c
        });
        let interval_ms = self.config.container_check.as_millis().max(1);
        let budget = (u128::from(self.config.containers_per_minute) * interval_ms / 60_000).max(1);
        for path in candidates.into_iter().take(budget as usize) {
            debug!(sid = %self.me, %path, "deleting an empty container or expired TTL node");
            let req = Request {
                session_id: 0,
                cxid: 0,
                op: Op::DeleteContainer { path },
            };
            match self.propose_request(core, req, None) {
                Ok(more) => actions.extend(more),
                Err(err) => warn!(sid = %self.me, %err, "cannot delete a container"),
            }
        }
        actions
    }

    /// Keep the tracker in step with committed session transactions.
    fn track_session(&mut self, result: &TxnResult, owner: Option<Sid>) {
        let now = self.now_ms();
        let tree = self.replica.tree();
        self.sessions.on_committed(
            result,
            || read_tree(&tree, |t| t.session_timeout(result.session_id)),
            owner.map(|o| o.0),
            now,
        );
    }

    /// Stamp a request into a transaction (the next zxid, the leader's clock) and propose it.
    fn propose_request(
        &mut self,
        core: &mut LeaderCore,
        req: Request,
        origin: Option<Origin>,
    ) -> Result<Vec<LeaderAction>, SubmitError> {
        if self.leaving.is_some() {
            return Err(SubmitError::NotServing);
        }
        let zxid = core.next_zxid().ok_or(SubmitError::NotServing)?;
        let mut req = req;
        let session_op = matches!(req.op, Op::CreateSession { .. } | Op::CloseSession);
        if let Some(origin) = origin.filter(|_| req.session_id != 0 && !session_op) {
            if !self.sessions.may_write(req.session_id, origin.server.0) {
                // The client moved to another server: this older connection may not write.
                req.op = Op::Error {
                    code: crate::tree::ErrorCode::SessionMoved,
                };
            }
        }
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
                    if let QuorumMessage::SyncStart { .. } = msg {
                        Counters::add(&self.board.counters.diff_syncs, 1);
                    }
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
                    let owner = commit.origin.map(|o| o.server);
                    match self.apply(commit.zxid, &commit.txn, commit.origin) {
                        Ok(result) => self.track_session(&result, owner),
                        Err(err) => return Some(self.storage_failure(err)),
                    }
                }
                LeaderAction::Claim { owner, sessions } => {
                    for session in sessions {
                        self.sessions.set_owner(session, owner.0);
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

    /// SNAP: the whole tree, in bounded chunks, after a SYNCSTART that says so. The tree is
    /// taken here (the sync point) and encoded off the loop (see [`super::snap_stream`]); the
    /// link writes the chunks before anything queued for this learner afterwards.
    fn send_snapshot(&self, learners: &Learners, to: Sid, zxid: Zxid) -> Result<(), String> {
        Counters::add(&self.board.counters.snap_syncs, 1);
        let tree = self.replica.tree_image();
        let bytes = tree.snapshot_len().map_err(|e| e.to_string())?;
        info!(sid = %self.me, learner = %to, %zxid, bytes, "SNAP");
        learners.send(
            to,
            QuorumMessage::SyncStart {
                mode: SyncMode::Snap { zxid },
            },
        )?;
        learners.send_stream(to, super::snap_stream::spawn(tree, SNAP_CHUNK_BYTES))
    }
}
