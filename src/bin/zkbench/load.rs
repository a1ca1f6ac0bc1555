//! Throughput/latency workloads: N sessions, each a closed loop of one request at a time.
//!
//! Every session connects and prepares (its own znode for `set`/`get`) first, then all start
//! together. Only requests that both start after the warmup and complete before the end of the
//! measured window count, so the window holds steady-state requests only; a request in flight at
//! either edge is dropped from both the count and the latencies.

use crate::client::{CallError, Client, ConnEvents};
use crate::report::Latencies;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use zabd::server::jute::{create_mode, CreateRequest, Request, Response};
use zabd::tree::{Acl, ErrorCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// create of new znodes (unique paths, or sequential with --sequential).
    Create,
    /// setData (version -1) on a znode of the session's own.
    Set,
    /// getData on a znode of the session's own.
    Get,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::Create => "create",
            Workload::Set => "set",
            Workload::Get => "get",
        }
    }
}

/// What every session of a load run needs to know.
#[derive(Debug, Clone)]
pub struct LoadParams {
    pub workload: Workload,
    pub servers: Vec<std::net::SocketAddr>,
    pub sessions: usize,
    /// The run's own directory znode (already created).
    pub run_path: String,
    pub data: Vec<u8>,
    pub sequential: bool,
    pub timeout_ms: i32,
    pub backoff: Duration,
    pub connect_limit: Duration,
}

/// The window boundaries, sent to every session once all are ready.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub warm_end: Instant,
    pub end: Instant,
}

/// One session's counts within the window.
#[derive(Debug, Default)]
pub struct SessionResult {
    pub ok: u64,
    pub latencies: Latencies,
    /// Error replies and lost/garbled calls by name (`NODEEXISTS`, `CONNECTIONLOSS`, ...).
    pub errors: BTreeMap<String, u64>,
    pub events: ConnEvents,
    /// Set if the session never got going (connect or preparation failed).
    pub setup_error: Option<String>,
}

/// A create of `path` with the benchmark's data and open ACL.
pub fn create_request(path: String, data: Vec<u8>, sequential: bool) -> Request {
    let flags = if sequential { 2 } else { 0 };
    debug_assert!(create_mode(flags, None).is_ok());
    Request::Create(CreateRequest {
        path,
        data,
        acl: Acl::open_unsafe(),
        flags,
        ttl: None,
    })
}

/// Create `path` unless it exists. Connection errors are returned; any other error reply too.
pub async fn ensure_node(client: &mut Client, path: &str, data: &[u8]) -> Result<(), String> {
    let req = create_request(path.to_owned(), data.to_vec(), false);
    match client.call(&req).await {
        Ok((h, _)) if h.err.is_ok() || h.err == ErrorCode::NodeExists => Ok(()),
        Ok((h, _)) => Err(format!("create {path}: {}", h.err)),
        Err(e) => Err(format!("create {path}: {e}")),
    }
}

/// Run one session: connect, prepare, report ready, wait for the window, loop, close.
pub async fn run_session(
    id: usize,
    p: LoadParams,
    ready: mpsc::Sender<Result<(), String>>,
    mut start: watch::Receiver<Option<Window>>,
) -> SessionResult {
    let mut res = SessionResult::default();
    let mut client = Client::new(p.servers.clone(), id, p.timeout_ms, p.backoff);
    let own = format!("{}/s{id}", p.run_path);
    let setup = async {
        client
            .ensure_connected(Instant::now() + p.connect_limit)
            .await
            .map_err(|e| format!("session {id}: no server accepted a session ({e})"))?;
        if p.workload != Workload::Create {
            ensure_node(&mut client, &own, &p.data).await?;
            // Read it back once: a server (or codec) that answers reads with the wrong bytes
            // would make every later figure meaningless.
            let get = Request::GetData {
                path: own.clone(),
                watch: false,
            };
            match client.call(&get).await {
                Ok((h, Response::GetData { data, .. })) if h.err.is_ok() && data == p.data => {}
                Ok((h, body)) => {
                    return Err(format!("getData {own} read back {} / {body:?}", h.err));
                }
                Err(e) => return Err(format!("getData {own}: {e}")),
            }
        }
        Ok(())
    }
    .await;
    let _ = ready.send(setup.clone()).await;
    drop(ready);
    if let Err(e) = setup {
        res.setup_error = Some(e);
        res.events = client.events;
        return res;
    }
    // Idle until the window is announced, pinging so the session stays alive.
    let window = loop {
        let allowance = client.idle_allowance();
        // Copy the window out at once: the watch guard must not live across an await.
        let announced = tokio::time::timeout(allowance, start.wait_for(Option::is_some))
            .await
            .map(|r| r.map(|w| *w));
        match announced {
            Ok(Ok(Some(w))) => break w,
            Ok(Ok(None)) | Ok(Err(_)) => {
                // The coordinator is gone: nothing to run.
                res.setup_error = Some("coordinator stopped".into());
                return res;
            }
            Err(_) => {
                if client.ping().await.is_err() {
                    // If this fails, the measured loop tries again and counts the losses.
                    let _ = client
                        .ensure_connected(Instant::now() + p.connect_limit)
                        .await;
                }
            }
        }
    };

    let mut req = match p.workload {
        Workload::Create => create_request(String::new(), p.data.clone(), p.sequential),
        Workload::Set => Request::SetData {
            path: own.clone(),
            data: p.data.clone(),
            version: -1,
        },
        Workload::Get => Request::GetData {
            path: own.clone(),
            watch: false,
        },
    };
    let mut n: u64 = 0;
    while Instant::now() < window.end {
        if let Request::Create(c) = &mut req {
            c.path.clear();
            if p.sequential {
                let _ = write!(c.path, "{}/c{id}-", p.run_path);
            } else {
                let _ = write!(c.path, "{}/c{id}-{n}", p.run_path);
            }
            n += 1;
        }
        let t0 = Instant::now();
        let outcome = client.call(&req).await;
        let t1 = Instant::now();
        let counted = t0 >= window.warm_end && t1 <= window.end;
        match outcome {
            // A read must return what the session wrote (its length, to stay cheap).
            Ok((h, Response::GetData { data, .. }))
                if h.err.is_ok() && data.len() != p.data.len() =>
            {
                if counted {
                    *res.errors.entry("WRONGDATA".to_owned()).or_default() += 1;
                }
            }
            Ok((h, _)) if h.err.is_ok() => {
                if counted {
                    res.ok += 1;
                    res.latencies.record(t1 - t0);
                }
            }
            Ok((h, _)) => {
                if counted {
                    *res.errors.entry(h.err.name().to_owned()).or_default() += 1;
                }
            }
            Err(e) => {
                if counted {
                    let name = match e {
                        CallError::Lost(_) => "CONNECTIONLOSS",
                        CallError::Protocol(_) => "PROTOCOL",
                    };
                    *res.errors.entry(name.to_owned()).or_default() += 1;
                }
                if client.ensure_connected(window.end).await.is_err() {
                    break;
                }
            }
        }
    }
    client.close(Duration::from_secs(2)).await;
    res.events = client.events;
    res
}
