//! Write availability: a few sessions write continuously while something happens to the
//! ensemble (the benchmark script kills the leader), and we report how long writes stopped.
//!
//! Each writer retries a write that was lost with its connection (after reconnecting to the
//! next server with the same session, see `client`), as an application on a real client would.
//! A retried `setData` with version -1 is idempotent; a retried `create` that answers
//! `NODEEXISTS` was applied before the loss and counts as a success.
//!
//! Events are marked from outside with SIGUSR1 (the script sends it just before the kill);
//! zkbench acknowledges each on stderr with a line `zkbench: event N` so the script can order
//! the kill after the mark.

use crate::client::{CallError, Client, ConnEvents};
use crate::load::{create_request, ensure_node};
use crate::report::Latencies;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use zabd::server::jute::Request;
use zabd::tree::ErrorCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GapOp {
    Set,
    Create,
}

#[derive(Debug, Clone)]
pub struct GapParams {
    pub servers: Vec<std::net::SocketAddr>,
    pub op: GapOp,
    pub run_path: String,
    pub data: Vec<u8>,
    pub timeout_ms: i32,
    pub backoff: Duration,
    pub connect_limit: Duration,
    /// Writes complete before this are warmup (they only seed the first interval).
    pub warm_end: Instant,
    pub end: Instant,
}

/// What one writer saw.
#[derive(Debug, Default)]
pub struct WriterResult {
    /// Completion times of successful writes after the warmup, preceded by the last one
    /// before it (if any).
    pub successes: Vec<Instant>,
    pub latencies: Latencies,
    /// Error replies (not counting `NODEEXISTS` on a retried create).
    pub failed: u64,
    /// Writes lost with their connection and sent again after reconnecting.
    pub retried: u64,
    /// When writes failed (lost with the connection, or answered with an error), in order.
    pub failures: Vec<Instant>,
    pub events: ConnEvents,
    pub setup_error: Option<String>,
    pub first_server: String,
}

pub async fn run_writer(id: usize, p: GapParams) -> WriterResult {
    let mut res = WriterResult::default();
    let mut client = Client::new(p.servers.clone(), id, p.timeout_ms, p.backoff);
    res.first_server = client.server().to_string();
    let own = format!("{}/g{id}", p.run_path);
    if let Err(e) = client
        .ensure_connected(Instant::now() + p.connect_limit)
        .await
    {
        res.setup_error = Some(format!("writer {id}: no server accepted a session ({e})"));
        return res;
    }
    if p.op == GapOp::Set {
        if let Err(e) = ensure_node(&mut client, &own, &p.data).await {
            res.setup_error = Some(e);
            res.events = client.events;
            return res;
        }
    }
    let mut n: u64 = 0;
    let mut last_before_window: Option<Instant> = None;
    let mut retrying = false;
    let mut req = Request::SetData {
        path: own.clone(),
        data: p.data.clone(),
        version: -1,
    };
    while Instant::now() < p.end {
        if p.op == GapOp::Create && !retrying {
            req = create_request(format!("{own}-{n}"), p.data.clone(), false);
            n += 1;
        }
        let t0 = Instant::now();
        let outcome = client.call(&req).await;
        let t1 = Instant::now();
        match outcome {
            Ok((h, _)) if h.err.is_ok() || (retrying && h.err == ErrorCode::NodeExists) => {
                retrying = false;
                if t1 < p.warm_end {
                    last_before_window = Some(t1);
                } else if t1 <= p.end {
                    if res.successes.is_empty() {
                        res.successes.extend(last_before_window);
                    }
                    res.successes.push(t1);
                    res.latencies.record(t1 - t0);
                }
            }
            Ok(_) => {
                retrying = false;
                if t1 >= p.warm_end {
                    res.failed += 1;
                    res.failures.push(t1);
                }
            }
            Err(e) => {
                if matches!(e, CallError::Protocol(_)) {
                    eprintln!("zkbench: writer {id}: {e}");
                }
                retrying = true;
                if t1 >= p.warm_end {
                    res.retried += 1;
                    res.failures.push(t1);
                }
                if client.ensure_connected(p.end).await.is_err() {
                    break;
                }
            }
        }
    }
    if res.successes.is_empty() {
        res.successes.extend(last_before_window);
    }
    client.close(Duration::from_secs(2)).await;
    res.events = client.events;
    res
}

/// The intervals between consecutive successes, plus, if writes had stopped at the end, the
/// interval from the last success to `end` (flagged, since it is a lower bound).
pub fn intervals(successes: &[Instant], start: Instant, end: Instant) -> Vec<(Instant, Instant)> {
    let mut out = Vec::with_capacity(successes.len() + 1);
    let first = successes.first().copied().unwrap_or(start);
    if first > start {
        // Nothing succeeded between the warmup's end and the first success.
        out.push((start, first));
    }
    out.extend(successes.windows(2).map(|w| (w[0], w[1])));
    let last = successes.last().copied().unwrap_or(start);
    if end > last {
        out.push((last, end));
    }
    out
}

/// The outage an event at `t` caused one writer, as (pause, recovery): the first failed write
/// at or after `t` (within `window`) lies in a pause between two successful writes; the pause
/// is that interval, and recovery runs from `t` to its end (to `end` if writes never resumed).
/// Without a failure in the window (the event did not break this writer's connection), the
/// longest interval in the window stands in, so a stall without errors still shows.
pub fn event_outage(
    successes: &[Instant],
    failures: &[Instant],
    t: Instant,
    window: Duration,
    (start, end): (Instant, Instant),
) -> Option<(Duration, Duration)> {
    let Some(&f) = failures.iter().find(|&&f| f >= t && f <= t + window) else {
        return event_gap(&intervals(successes, start, end), t, window);
    };
    let i = successes.partition_point(|&s| s <= f);
    let before = if i == 0 { start } else { successes[i - 1] };
    let after = successes.get(i).copied().unwrap_or(end);
    Some((after - before, after.saturating_duration_since(t)))
}

/// The longest interval that ends at or after `t` and starts no later than `t + window`, as
/// (gap, end of that gap - t).
pub fn event_gap(
    iv: &[(Instant, Instant)],
    t: Instant,
    window: Duration,
) -> Option<(Duration, Duration)> {
    iv.iter()
        .filter(|(a, b)| *b >= t && *a <= t + window)
        .map(|&(a, b)| (b - a, b.saturating_duration_since(t)))
        .max_by_key(|&(gap, _)| gap)
}

/// Listen for SIGUSR1 and record each as an event (acknowledged on stderr).
pub fn spawn_event_listener() -> std::io::Result<Arc<Mutex<Vec<Instant>>>> {
    use tokio::signal::unix::{signal, SignalKind};
    let events = Arc::new(Mutex::new(Vec::new()));
    let mut sig = signal(SignalKind::user_defined1())?;
    let sink = Arc::clone(&events);
    tokio::spawn(async move {
        while sig.recv().await.is_some() {
            let now = Instant::now();
            let n = {
                let mut ev = sink.lock().unwrap_or_else(|e| e.into_inner());
                ev.push(now);
                ev.len()
            };
            eprintln!("zkbench: event {n}");
            crate::client::trace(format_args!("event {n} marked"));
        }
    });
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gap_around_event() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let succ = vec![ms(0), ms(10), ms(20), ms(500), ms(510), ms(900)];
        let iv = intervals(&succ, ms(0), ms(1000));
        // The 20->500 outage around an event at 25, the 510->900 one later.
        assert_eq!(iv.len(), 6);
        let (gap, rec) = event_gap(&iv, ms(25), Duration::from_millis(100)).unwrap();
        assert_eq!(gap, Duration::from_millis(480));
        assert_eq!(rec, Duration::from_millis(475));
        // A window reaching the later outage picks the longer one.
        let (gap, _) = event_gap(&iv, ms(25), Duration::from_millis(600)).unwrap();
        assert_eq!(gap, Duration::from_millis(480));
        // Writes stopped at the end: the open interval counts.
        let iv = intervals(&succ[..3], ms(0), ms(1000));
        assert_eq!(iv.last(), Some(&(ms(20), ms(1000))));
    }

    #[test]
    fn outage_is_the_pause_holding_the_first_failure_after_the_event() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        // Event at 25; the connection breaks at 30; writes resume at 90; longer unrelated
        // stalls (100 -> 500, 500 -> 700) come later and must not be blamed on the event.
        let succ = vec![
            ms(0),
            ms(10),
            ms(20),
            ms(27),
            ms(90),
            ms(100),
            ms(500),
            ms(700),
        ];
        let bounds = (ms(0), ms(1000));
        let w = Duration::from_secs(1);
        let (pause, rec) = event_outage(&succ, &[ms(30)], ms(25), w, bounds).unwrap();
        assert_eq!(pause, Duration::from_millis(63));
        assert_eq!(rec, Duration::from_millis(65));
        // No failure: the longest interval in the window stands in.
        let (pause, _) = event_outage(&succ, &[], ms(25), w, bounds).unwrap();
        assert_eq!(pause, Duration::from_millis(400));
        // Never recovered: the pause runs to the end.
        let (pause, rec) = event_outage(&succ[..4], &[ms(30)], ms(25), w, bounds).unwrap();
        assert_eq!(
            (pause, rec),
            (Duration::from_millis(973), Duration::from_millis(975))
        );
    }
}
