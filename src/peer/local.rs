//! Writes and syncs submitted on this server, waiting for their commit (or sync barrier).

use crate::api::SubmitError;
use crate::ids::Zxid;
use crate::tree::TxnResult;
use std::collections::BTreeMap;
use tokio::sync::oneshot;

type WriteReply = oneshot::Sender<Result<TxnResult, SubmitError>>;
type SyncReply = oneshot::Sender<Result<Zxid, SubmitError>>;

/// Requests submitted on this server, waiting for their commit (or sync barrier).
#[derive(Default)]
pub(super) struct LocalRequests {
    next: u64,
    writes: BTreeMap<u64, WriteReply>,
    syncs: BTreeMap<u64, SyncReply>,
}

impl LocalRequests {
    fn id(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    pub(super) fn add_write(&mut self, reply: WriteReply) -> u64 {
        let id = self.id();
        self.writes.insert(id, reply);
        id
    }

    pub(super) fn add_sync(&mut self, reply: SyncReply) -> u64 {
        let id = self.id();
        self.syncs.insert(id, reply);
        id
    }

    pub(super) fn complete_write(&mut self, id: u64, result: Result<TxnResult, SubmitError>) {
        if let Some(reply) = self.writes.remove(&id) {
            let _ = reply.send(result);
        }
    }

    pub(super) fn complete_sync(&mut self, id: u64, result: Result<Zxid, SubmitError>) {
        if let Some(reply) = self.syncs.remove(&id) {
            let _ = reply.send(result);
        }
    }

    /// The role ended: nobody will answer these any more. Their outcome is unknown (a write
    /// may still commit under the next leader), which the error says.
    pub(super) fn fail_all(&mut self, err: SubmitError) {
        for (_, reply) in std::mem::take(&mut self.writes) {
            let _ = reply.send(Err(err.clone()));
        }
        for (_, reply) in std::mem::take(&mut self.syncs) {
            let _ = reply.send(Err(err.clone()));
        }
    }
}
