//! The last elections of this server, newest last: when each started and ended (wall clock and
//! monotonic), why it started, what it decided, how much it took (rounds, notifications, distinct
//! votes), and the epoch the server then served in. The `elec` four-letter word and the
//! `elections` admin command print it; `scripts/timeline.py` draws it.
//!
//! Pure: the caller passes the times ([`Stamp`]) and the notification counter; the
//! [`StatusBoard`](super::StatusBoard) wrappers read the clocks. An election is recorded in
//! three steps, each of which fills in the newest record only: [`ElectionHistory::begin`]
//! (LOOKING), [`ElectionHistory::decided`] (the election core decided) and
//! [`ElectionHistory::serving`] (the server serves in the new epoch, which is only known then).

use crate::election::Decision;
use crate::ids::{Epoch, ServerState, Sid};
use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

/// How many elections a server remembers.
pub const ELECTION_HISTORY: usize = 32;

/// One moment on both clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Milliseconds since the Unix epoch: comparable across servers as far as their clocks agree.
    pub unix_ms: u64,
    /// Monotonic: time since the process started.
    pub uptime: Duration,
}

/// What an election decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub at: Stamp,
    /// Leading, following or observing.
    pub state: ServerState,
    pub leader: Sid,
    /// The election round decided in, and how many rounds this election went through.
    pub round: u64,
    pub rounds: u32,
    pub notifications_received: u64,
    /// Notifications the transport wrote between the start and the decision.
    pub notifications_sent: u64,
    pub distinct_votes: u32,
    /// Joined a leader that a quorum already followed, without an election of its own.
    pub joined_established: bool,
}

/// One election of this server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Election {
    /// 1 for the first election of this process, counting up.
    pub id: u64,
    pub started: Stamp,
    /// Why the server went LOOKING (`LookingCause`'s text: "start-up", "leader lost: ...").
    pub cause: String,
    /// currentEpoch when the election started.
    pub prior_epoch: Epoch,
    /// The transport's sent-notification counter at the start.
    sent_at_start: u64,
    /// `None` while still looking (or if the election was abandoned).
    pub outcome: Option<Outcome>,
    /// The epoch the server served in after the decision, and when it began serving.
    pub served: Option<(Epoch, Stamp)>,
}

impl Election {
    /// From LOOKING to the decision.
    pub fn took(&self) -> Option<Duration> {
        self.outcome
            .map(|o| o.at.uptime.saturating_sub(self.started.uptime))
    }

    /// From the decision to serving (discovery and synchronisation).
    pub fn serving_after(&self) -> Option<Duration> {
        match (self.outcome, self.served) {
            (Some(o), Some((_, at))) => Some(at.uptime.saturating_sub(o.at.uptime)),
            _ => None,
        }
    }

    /// The record as ordered key/value pairs: the `elec` line and the `elections` JSON object
    /// are both made from this, so they always agree. `cause` comes last (it has spaces).
    pub fn fields(&self) -> Vec<(&'static str, Field)> {
        use Field::{Bool, Millis, Missing, UInt, Word};
        let o = self.outcome;
        let opt = |v: Option<u64>| v.map_or(Missing, UInt);
        vec![
            ("id", UInt(self.id)),
            ("start_unix_ms", UInt(self.started.unix_ms)),
            ("took_ms", self.took().map_or(Missing, Millis)),
            (
                "state",
                Word(o.map_or(ServerState::Looking, |o| o.state).as_str()),
            ),
            ("leader", opt(o.map(|o| o.leader.0))),
            ("epoch", opt(self.served.map(|(e, _)| u64::from(e.0)))),
            ("prior_epoch", UInt(u64::from(self.prior_epoch.0))),
            ("rounds", opt(o.map(|o| u64::from(o.rounds)))),
            ("round", opt(o.map(|o| o.round))),
            (
                "notifications_received",
                opt(o.map(|o| o.notifications_received)),
            ),
            ("notifications_sent", opt(o.map(|o| o.notifications_sent))),
            (
                "distinct_votes",
                opt(o.map(|o| u64::from(o.distinct_votes))),
            ),
            (
                "joined_established",
                o.map_or(Missing, |o| Bool(o.joined_established)),
            ),
            ("start_uptime_ms", Millis(self.started.uptime)),
            ("end_unix_ms", opt(o.map(|o| o.at.unix_ms))),
            ("end_uptime_ms", o.map_or(Missing, |o| Millis(o.at.uptime))),
            (
                "serving_unix_ms",
                opt(self.served.map(|(_, at)| at.unix_ms)),
            ),
            (
                "serving_after_ms",
                self.serving_after().map_or(Missing, Millis),
            ),
            ("cause", Field::Text(self.cause.clone())),
        ]
    }

    /// `key=value` pairs separated by spaces (the `elec` word's line, without the newline).
    pub fn line(&self) -> String {
        self.fields()
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// One value of an [`Election`]'s fields.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    UInt(u64),
    /// Printed as milliseconds with three decimals.
    Millis(Duration),
    Bool(bool),
    /// A single word, printed as it is.
    Word(&'static str),
    /// Free text, printed quoted (with Rust's escapes) in the `elec` line.
    Text(String),
    /// Not known (yet): `-` in the `elec` line, `null` in JSON.
    Missing,
}

impl Field {
    /// The JSON value: numbers as numbers (milliseconds as a float), missing as null.
    pub fn json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Field::UInt(n) => Value::from(*n),
            Field::Millis(d) => Value::from(millis_f64(*d)),
            Field::Bool(b) => Value::from(*b),
            Field::Word(w) => Value::from(*w),
            Field::Text(s) => Value::from(s.as_str()),
            Field::Missing => Value::Null,
        }
    }
}

/// Milliseconds, rounded to microseconds.
fn millis_f64(d: Duration) -> f64 {
    (d.as_micros() as f64) / 1000.0
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::UInt(n) => write!(f, "{n}"),
            Field::Millis(d) => {
                let us = d.as_micros();
                write!(f, "{}.{:03}", us / 1000, us % 1000)
            }
            Field::Bool(b) => write!(f, "{b}"),
            Field::Word(w) => f.write_str(w),
            Field::Text(s) => write!(f, "{s:?}"),
            Field::Missing => f.write_str("-"),
        }
    }
}

/// The last [`ELECTION_HISTORY`] elections, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ElectionHistory {
    elections: VecDeque<Election>,
    /// Elections started since the process started (older ones were dropped).
    total: u64,
}

impl ElectionHistory {
    /// A new election starts (the peer goes LOOKING); the oldest record goes if the history
    /// is full. `sent` is the transport's sent-notification counter now.
    pub fn begin(&mut self, at: Stamp, cause: String, prior_epoch: Epoch, sent: u64) {
        self.total += 1;
        if self.elections.len() >= ELECTION_HISTORY {
            self.elections.pop_front();
        }
        self.elections.push_back(Election {
            id: self.total,
            started: at,
            cause,
            prior_epoch,
            sent_at_start: sent,
            outcome: None,
            served: None,
        });
    }

    /// The newest election decided. Ignored (false) if there is none still looking.
    pub fn decided(&mut self, at: Stamp, decision: &Decision, sent: u64) -> bool {
        let Some(e) = self.elections.back_mut().filter(|e| e.outcome.is_none()) else {
            return false;
        };
        e.outcome = Some(Outcome {
            at,
            state: decision.state,
            leader: decision.vote.leader,
            round: decision.round,
            rounds: decision.rounds,
            notifications_received: decision.notifications_received,
            notifications_sent: sent.saturating_sub(e.sent_at_start),
            distinct_votes: decision.distinct_votes,
            joined_established: decision.joined_established,
        });
        true
    }

    /// The server began serving in `epoch` after the newest election. Ignored (false) unless
    /// that election decided and has not served yet.
    pub fn serving(&mut self, epoch: Epoch, at: Stamp) -> bool {
        let Some(e) = self
            .elections
            .back_mut()
            .filter(|e| e.outcome.is_some() && e.served.is_none())
        else {
            return false;
        };
        e.served = Some((epoch, at));
        true
    }

    /// Oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Election> + '_ {
        self.elections.iter()
    }

    pub fn len(&self) -> usize {
        self.elections.len()
    }

    pub fn is_empty(&self) -> bool {
        self.elections.is_empty()
    }

    pub fn latest(&self) -> Option<&Election> {
        self.elections.back()
    }

    /// Elections started since the process started, including those no longer kept.
    pub fn total(&self) -> u64 {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::election::Vote;
    use crate::ids::Zxid;

    fn at(ms: u64) -> Stamp {
        Stamp {
            unix_ms: 1_700_000_000_000 + ms,
            uptime: Duration::from_millis(ms),
        }
    }

    fn decision(state: ServerState, leader: u64) -> Decision {
        Decision {
            state,
            vote: Vote {
                epoch: Epoch(1),
                zxid: Zxid(0x1_0000_0004),
                leader: Sid(leader),
            },
            round: 4,
            rounds: 2,
            notifications_received: 5,
            joined_established: false,
            distinct_votes: 3,
        }
    }

    #[test]
    fn an_election_is_recorded_from_looking_to_serving() {
        let mut h = ElectionHistory::default();
        assert!(h.is_empty());
        h.begin(at(100), "start-up".into(), Epoch(1), 10);
        let e = h.latest().unwrap();
        assert_eq!((e.id, e.outcome, e.served, e.took()), (1, None, None, None));
        assert_eq!(
            e.line(),
            "id=1 start_unix_ms=1700000000100 took_ms=- state=looking leader=- epoch=- \
             prior_epoch=1 rounds=- round=- notifications_received=- notifications_sent=- \
             distinct_votes=- joined_established=- start_uptime_ms=100.000 end_unix_ms=- \
             end_uptime_ms=- serving_unix_ms=- serving_after_ms=- cause=\"start-up\""
        );

        assert!(h.decided(at(103), &decision(ServerState::Leading, 2), 14));
        assert!(h.serving(Epoch(2), at(130)));
        let e = h.latest().unwrap();
        assert_eq!(e.took(), Some(Duration::from_millis(3)));
        assert_eq!(e.serving_after(), Some(Duration::from_millis(27)));
        let o = e.outcome.unwrap();
        assert_eq!(
            (o.state, o.leader, o.notifications_sent),
            (ServerState::Leading, Sid(2), 4)
        );
        assert_eq!(
            e.line(),
            "id=1 start_unix_ms=1700000000100 took_ms=3.000 state=leading leader=2 epoch=2 \
             prior_epoch=1 rounds=2 round=4 notifications_received=5 notifications_sent=4 \
             distinct_votes=3 joined_established=false start_uptime_ms=100.000 \
             end_unix_ms=1700000000103 end_uptime_ms=103.000 serving_unix_ms=1700000000130 \
             serving_after_ms=27.000 cause=\"start-up\""
        );
        // Only the first serving after a decision counts.
        assert!(!h.serving(Epoch(3), at(500)));
        assert_eq!(h.latest().unwrap().served.unwrap().0, Epoch(2));
    }

    #[test]
    fn steps_out_of_order_are_ignored() {
        let mut h = ElectionHistory::default();
        assert!(!h.decided(at(1), &decision(ServerState::Following, 3), 0));
        assert!(!h.serving(Epoch(1), at(2)));
        assert!(h.is_empty());
        h.begin(at(10), "start-up".into(), Epoch(0), 0);
        // Serving before a decision (cannot happen) does not fill anything in.
        assert!(!h.serving(Epoch(1), at(11)));
        assert!(h.decided(at(12), &decision(ServerState::Following, 3), 0));
        assert!(!h.decided(at(13), &decision(ServerState::Leading, 1), 0));
        assert_eq!(h.latest().unwrap().outcome.unwrap().leader, Sid(3));
        // An election that never decided stays undecided when the next one begins.
        h.begin(at(20), "leader lost: link closed".into(), Epoch(1), 0);
        h.begin(at(30), "quorum lost: x".into(), Epoch(1), 0);
        let ids: Vec<(u64, bool)> = h.iter().map(|e| (e.id, e.outcome.is_some())).collect();
        assert_eq!(ids, vec![(1, true), (2, false), (3, false)]);
    }

    #[test]
    fn keeps_the_last_32_newest_last() {
        let mut h = ElectionHistory::default();
        for i in 0..40u64 {
            h.begin(at(i * 10), format!("cause {i}"), Epoch(0), i);
            h.decided(at(i * 10 + 1), &decision(ServerState::Following, 1), i + 2);
        }
        assert_eq!(h.len(), ELECTION_HISTORY);
        assert_eq!(h.total(), 40);
        let ids: Vec<u64> = h.iter().map(|e| e.id).collect();
        assert_eq!(ids, (9..=40).collect::<Vec<_>>());
        assert_eq!(h.latest().unwrap().cause, "cause 39");
        assert_eq!(h.latest().unwrap().outcome.unwrap().notifications_sent, 2);
    }

    #[test]
    fn fields_render_as_text_and_json() {
        let mut h = ElectionHistory::default();
        h.begin(at(0), "leader lost: \"x\" gone".into(), Epoch(4), 0);
        h.decided(
            Stamp {
                unix_ms: 1_700_000_000_001,
                uptime: Duration::from_micros(1884),
            },
            &decision(ServerState::Observing, 1),
            0,
        );
        let e = h.latest().unwrap();
        assert!(
            e.line().ends_with(r#"cause="leader lost: \"x\" gone""#),
            "{}",
            e.line()
        );
        assert!(e.line().contains(" took_ms=1.884 "), "{}", e.line());
        let json: serde_json::Map<String, serde_json::Value> = e
            .fields()
            .iter()
            .map(|(k, v)| (k.to_string(), v.json()))
            .collect();
        assert_eq!(json["took_ms"], serde_json::json!(1.884));
        assert_eq!(json["state"], "observing");
        assert_eq!(json["epoch"], serde_json::Value::Null);
        assert_eq!(json["joined_established"], false);
        assert_eq!(json["cause"], "leader lost: \"x\" gone");
    }
}
