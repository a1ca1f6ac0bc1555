//! The leader's learner connections: links by id, and which server each one turned out to be
//! (known only once its first message, LEARNERINFO, arrives).

use super::QuorumConn;
use crate::ids::Sid;
use crate::net::link::{Link, LinkEvent, LinkId, StreamItem};
use crate::zab::messages::QUORUM_PROTOCOL_VERSION;
use crate::zab::QuorumMessage;
use std::collections::BTreeMap;
use tokio::sync::mpsc;

#[derive(Default)]
pub(super) struct Learners {
    next_id: LinkId,
    links: BTreeMap<LinkId, Link>,
    sid_of: BTreeMap<LinkId, Sid>,
    link_of: BTreeMap<Sid, LinkId>,
    /// The id each authenticated link proved (quorum authentication); its LEARNERINFO must
    /// name the same server.
    proved: BTreeMap<LinkId, Sid>,
}

pub(super) enum Identified {
    Known(Sid),
    /// First message of a link: `replaced` when this server had another link (it reconnected).
    New {
        sid: Sid,
        replaced: bool,
    },
    Refused(String),
}

impl Learners {
    pub(super) fn adopt(&mut self, conn: QuorumConn, events: &mpsc::Sender<LinkEvent>) {
        self.next_id += 1;
        let id = self.next_id;
        if let Some(sid) = conn.proved {
            self.proved.insert(id, sid);
        }
        self.links
            .insert(id, Link::spawn(id, conn.stream, events.clone()));
    }

    pub(super) fn identify(
        &mut self,
        id: LinkId,
        msg: &QuorumMessage,
        ensemble: u64,
    ) -> Identified {
        if let Some(sid) = self.sid_of.get(&id) {
            return Identified::Known(*sid);
        }
        let proved = self.proved.remove(&id);
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
        if let Some(why) = mismatch(*sid, *protocol, *theirs, ensemble) {
            self.links.remove(&id);
            return Identified::Refused(why);
        }
        if let Some(proved) = proved {
            if proved != *sid {
                self.links.remove(&id);
                return Identified::Refused(format!(
                    "authenticated as server {proved} but says it is server {sid}"
                ));
            }
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

    pub(super) fn send(&self, to: Sid, msg: QuorumMessage) -> Result<(), String> {
        self.link(to)?.send(msg)
    }

    /// Queue a stream of messages produced elsewhere (see [`Link::send_stream`]).
    pub(super) fn send_stream(
        &self,
        to: Sid,
        items: mpsc::Receiver<StreamItem>,
    ) -> Result<(), String> {
        self.link(to)?.send_stream(items)
    }

    fn link(&self, to: Sid) -> Result<&Link, String> {
        self.link_of
            .get(&to)
            .and_then(|id| self.links.get(id))
            .ok_or_else(|| "no connection".to_string())
    }

    pub(super) fn is_connected(&self, sid: Sid) -> bool {
        self.link_of.contains_key(&sid)
    }

    pub(super) fn remove_link(&mut self, id: LinkId) -> Option<Sid> {
        self.links.remove(&id);
        self.proved.remove(&id);
        let sid = self.sid_of.remove(&id)?;
        if self.link_of.get(&sid) == Some(&id) {
            self.link_of.remove(&sid);
        }
        Some(sid)
    }

    /// Send `last` on every link, flush and close them (a leader handing off), waiting at
    /// most `within` for each.
    pub(super) async fn close_all(&mut self, last: QuorumMessage, within: std::time::Duration) {
        for link in self.links.values() {
            let _ = link.send(last.clone());
        }
        for link in self.links.values_mut() {
            link.close(within).await;
        }
        self.links.clear();
        self.proved.clear();
        self.sid_of.clear();
        self.link_of.clear();
    }

    pub(super) fn remove_sid(&mut self, sid: Sid) {
        if let Some(id) = self.link_of.remove(&sid) {
            self.links.remove(&id);
            self.proved.remove(&id);
            self.sid_of.remove(&id);
        }
    }
}

/// Why a learner that states this protocol version and ensemble id cannot follow this leader,
/// if it cannot: another version means another wire format or meaning (see
/// [`QUORUM_PROTOCOL_VERSION`]), another ensemble id another ensemble's configuration.
fn mismatch(sid: Sid, protocol: u32, theirs: u64, ensemble: u64) -> Option<String> {
    (protocol != QUORUM_PROTOCOL_VERSION || theirs != ensemble).then(|| {
        format!(
            "server {sid}: protocol {protocol} / ensemble {theirs:#x} do not match mine \
             ({QUORUM_PROTOCOL_VERSION} / {ensemble:#x})"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_learner_of_another_protocol_version_or_ensemble_is_refused_with_both_named() {
        assert_eq!(
            mismatch(Sid(2), QUORUM_PROTOCOL_VERSION, 0xabc, 0xabc),
            None
        );
        let older = mismatch(Sid(2), QUORUM_PROTOCOL_VERSION - 1, 0xabc, 0xabc).expect("refused");
        assert!(
            older.contains(&format!("protocol {}", QUORUM_PROTOCOL_VERSION - 1))
                && older.contains(&format!("({QUORUM_PROTOCOL_VERSION} / 0xabc)")),
            "{older}"
        );
        let other = mismatch(Sid(2), QUORUM_PROTOCOL_VERSION, 0xdef, 0xabc).expect("refused");
        assert!(other.contains("ensemble 0xdef"), "{other}");
    }
}
