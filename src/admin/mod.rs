//! zabd's two HTTP servers: ZooKeeper's AdminServer (`admin.*` keys: JSON commands under
//! `admin.commandURL`) and the Prometheus metrics endpoint (`metricsProvider.httpPort`,
//! `GET /metrics`).
//!
//! Both are monitoring, never part of the service: a port that cannot be bound is a warning
//! and the server serves on without it; a bad request gets a JSON (or text) error and harms
//! only itself. The answers are built by pure code ([`commands`], [`metrics`]) from the same
//! live state the four-letter words read ([`Sources`]); this module is the thin HTTP shell
//! (hyper 1, HTTP/1.1, bounded connections, header and lifetime timeouts).
//!
//! Not compiled under the `sim` feature: the simulation has no use for real HTTP sockets.

pub mod commands;
pub mod metrics;

use crate::config::Config;
use crate::server::fourlw::{ClientFacts, Context, Facts, Needs, Word};
use crate::server::ClientPortView;
use crate::status::StatusBoard;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tracing::{debug, info, warn, Instrument};

/// How long a client may take to send a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// A kept-alive connection is closed (gracefully, between requests) after this long, so idle
/// clients cannot pile up (ZooKeeper's `admin.idleTimeout` is 30 s).
const CONNECTION_LIFETIME: Duration = Duration::from_secs(30);
/// After asking a connection to close, how long its request in flight may still take.
const CLOSE_GRACE: Duration = Duration::from_secs(5);
/// Open connections per HTTP server at most; more are closed at once.
const MAX_CONNECTIONS: usize = 64;
/// Pause after a failed accept (e.g. out of file descriptors) so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The live state both servers report.
#[derive(Clone)]
pub struct Sources {
    pub board: Arc<StatusBoard>,
    pub config: Arc<Config>,
    /// The client port's connections, sessions and watches; `None` where no client port runs
    /// (the answers then list no connections, sessions or watches).
    pub client_port: Option<ClientPortView>,
}

/// The HTTP servers that started. Dropping it stops them.
#[derive(Default)]
pub struct Running {
    admin: Option<(SocketAddr, tokio::task::JoinHandle<()>)>,
    metrics: Option<(SocketAddr, tokio::task::JoinHandle<()>)>,
}

impl Running {
    /// Where the admin server listens, if it runs.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(|(addr, _)| *addr)
    }

    /// Where the metrics server listens, if it runs.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(addr, _)| *addr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        for (_, task) in self.admin.iter().chain(self.metrics.iter()) {
            task.abort();
        }
    }
}

/// Start the admin server (if `admin.enableServer`) and the metrics server (if
/// `metricsProvider.httpPort` is set). A port that cannot be bound is logged and skipped.
pub async fn start(sources: Sources) -> Running {
    let config = Arc::clone(&sources.config);
    let sources = Arc::new(sources);
    let mut running = Running::default();
    if config.admin.enabled {
        let addr = SocketAddr::new(config.admin.address, config.admin.port);
        if let Some(listener) = bind("admin server", addr).await {
            let local = listener.local_addr().unwrap_or(addr);
            info!(addr = %local, url = %list_path(&config.admin.command_url), "admin server listening");
            let span = tracing::info_span!("admin", sid = %config.my_id, port = local.port());
            let task = tokio::spawn(serve_admin(listener, Arc::clone(&sources)).instrument(span));
            running.admin = Some((local, task));
        }
    }
    if let Some(metrics) = config.metrics {
        let addr = SocketAddr::new(metrics.host, metrics.port);
        if let Some(listener) = bind("metrics", addr).await {
            let local = listener.local_addr().unwrap_or(addr);
            info!(addr = %local, "Prometheus metrics at /metrics");
            let span = tracing::info_span!("metrics", sid = %config.my_id, port = local.port());
            let task = tokio::spawn(serve_metrics(listener, Arc::clone(&sources)).instrument(span));
            running.metrics = Some((local, task));
        }
    }
    running
}

async fn bind(what: &'static str, addr: SocketAddr) -> Option<TcpListener> {
    match TcpListener::bind(addr).await {
        Ok(listener) => Some(listener),
        Err(err) => {
            warn!(%addr, %err, "cannot bind the {what} port; serving on without it");
            None
        }
    }
}

/// Answer admin commands on `listener` until dropped.
pub async fn serve_admin(listener: TcpListener, sources: Arc<Sources>) {
    serve_http(listener, move |method, path| {
        let sources = Arc::clone(&sources);
        async move { admin_reply(&sources, &method, &path).await }
    })
    .await
}

/// Answer `GET /metrics` on `listener` until dropped.
pub async fn serve_metrics(listener: TcpListener, sources: Arc<Sources>) {
    serve_http(listener, move |method, path| {
        let sources = Arc::clone(&sources);
        async move { metrics_reply(&sources, &method, &path).await }
    })
    .await
}

/// One HTTP response, before hyper's types.
struct Reply {
    status: StatusCode,
    content_type: &'static str,
    body: Bytes,
}

impl Reply {
    fn json(answer: commands::Answer) -> Reply {
        let mut body = serde_json::to_vec_pretty(&answer.body).unwrap_or_default();
        body.push(b'\n');
        Reply {
            status: StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK),
            content_type: "application/json",
            body: Bytes::from(body),
        }
    }

    fn text(status: StatusCode, text: &str) -> Reply {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: Bytes::from(format!("{text}\n")),
        }
    }

    fn into_response(self) -> Response<Full<Bytes>> {
        let allow_header = self.status == StatusCode::METHOD_NOT_ALLOWED;
        let mut response = Response::new(Full::new(self.body));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(self.content_type));
        if allow_header {
            headers.insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        }
        response
    }
}

/// Where a request path leads under `command_url` (normalised: "" or `/a/b`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    List,
    Command(String),
    NotFound,
}

fn list_path(command_url: &str) -> &str {
    if command_url.is_empty() {
        "/"
    } else {
        command_url
    }
}

fn route(command_url: &str, path: &str) -> Route {
    let Some(rest) = path.strip_prefix(command_url) else {
        return Route::NotFound;
    };
    if rest.is_empty() || rest == "/" {
        return Route::List;
    }
    match rest.strip_prefix('/') {
        Some(name) => Route::Command(name.trim_end_matches('/').to_string()),
        None => Route::NotFound, // `/commandsX`
    }
}

async fn admin_reply(sources: &Sources, method: &Method, path: &str) -> Reply {
    if method != Method::GET && method != Method::HEAD {
        return Reply::json(commands::error(
            405,
            None,
            &format!("method {method} not allowed; use GET"),
        ));
    }
    let base = &sources.config.admin.command_url;
    match route(base, path) {
        Route::List => Reply::json(commands::list(base)),
        Route::Command(name) => match commands::find(&name) {
            Some(command) => Reply::json(run_command(command, sources).await),
            None => Reply::json(commands::error(
                404,
                Some(&name),
                &format!("Unknown command: {name}"),
            )),
        },
        Route::NotFound => Reply::json(commands::error(
            404,
            None,
            &format!(
                "no such path: {path}; the commands are listed at {}",
                list_path(base)
            ),
        )),
    }
}

/// Blocking reads of /proc and the data directories, off the async threads.
async fn gather_facts(needs: Needs, config: &Arc<Config>) -> Facts {
    if needs == Needs::default() {
        return Facts::default();
    }
    let config = Arc::clone(config);
    tokio::task::spawn_blocking(move || crate::server::collect_facts(needs, &config))
        .await
        .unwrap_or_default()
}

/// What the words report beyond the status board: connections, sessions, watches, port.
fn client_side(
    sources: &Sources,
    word: Option<Word>,
    with_connections: bool,
) -> (Vec<crate::server::fourlw::ConnInfo>, ClientFacts, u16) {
    match &sources.client_port {
        Some(view) => (
            if with_connections {
                view.connections()
            } else {
                Vec::new()
            },
            word.map(|w| view.client_facts(w)).unwrap_or_default(),
            view.port(),
        ),
        None => (
            Vec::new(),
            ClientFacts::default(),
            sources.config.client_port,
        ),
    }
}

async fn run_command(command: commands::Command, sources: &Sources) -> commands::Answer {
    let facts = gather_facts(command.needs(), &sources.config).await;
    let (connections, clients, client_port) =
        client_side(sources, command.word(), command.needs_connections());
    let board = &sources.board;
    let status = board.snapshot();
    let ctx = Context {
        config: &sources.config,
        status: &status,
        counters: &board.counters,
        started: board.started,
        now: std::time::Instant::now(),
        trace_mask: board.trace_mask(),
        client_port,
        connections: &connections,
        facts: &facts,
        clients: &clients,
    };
    commands::run(command, &ctx)
}

async fn metrics_reply(sources: &Sources, method: &Method, path: &str) -> Reply {
    if method != Method::GET && method != Method::HEAD {
        return Reply::text(StatusCode::METHOD_NOT_ALLOWED, "use GET /metrics");
    }
    if path != "/metrics" {
        return Reply::text(StatusCode::NOT_FOUND, "not found; metrics are at /metrics");
    }
    let needs = Needs {
        fds: true,
        ..Needs::default()
    };
    let facts = gather_facts(needs, &sources.config).await;
    let (_, clients, _) = client_side(sources, Some(Word::Mntr), false);
    let board = &sources.board;
    let scrape = metrics::Scrape::take(
        board.snapshot(),
        &board.counters,
        &sources.config,
        &clients,
        &facts,
        board.started,
        std::time::Instant::now(),
    );
    match metrics::encode(scrape) {
        Ok(text) => Reply {
            status: StatusCode::OK,
            content_type: metrics::CONTENT_TYPE,
            body: Bytes::from(text),
        },
        Err(_) => Reply::text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot encode the metrics",
        ),
    }
}

/// Accept connections until dropped; each one is served by hyper with `handler`.
async fn serve_http<H, F>(listener: TcpListener, handler: H)
where
    H: Fn(Method, String) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Reply> + Send + 'static,
{
    // Owning the connection tasks here means dropping this future aborts them too.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    if connections.len() >= MAX_CONNECTIONS {
                        debug!(%remote, "too many HTTP connections; closing this one");
                        continue;
                    }
                    let span = tracing::debug_span!("http", %remote);
                    connections.spawn(connection(stream, handler.clone()).instrument(span));
                }
                Err(err) => {
                    warn!(%err, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            Some(done) = connections.join_next(), if !connections.is_empty() => {
                if let Err(err) = done {
                    if err.is_panic() {
                        warn!(%err, "an HTTP connection task panicked");
                    }
                }
            }
        }
    }
}

async fn connection<H, F>(stream: TcpStream, handler: H)
where
    H: Fn(Method, String) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Reply> + Send + 'static,
{
    let service = service_fn(move |request: Request<Incoming>| {
        let reply = handler(request.method().clone(), request.uri().path().to_string());
        async move { Ok::<_, Infallible>(reply.await.into_response()) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        done = conn.as_mut() => {
            if let Err(err) = done {
                debug!(%err, "HTTP connection ended with an error");
            }
        }
        _ = tokio::time::sleep(CONNECTION_LIFETIME) => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(CLOSE_GRACE, conn).await;
        }
    }
}

#[cfg(test)]
mod tests;
