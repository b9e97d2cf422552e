//! `templesync serve`: the REST API of the original Python sync service (the paths and
//! shapes the temple's other software uses), over one [`Engine`] and a [`Monitor`] that
//! keeps syncing in the background.
//!
//! Every `/api/sync/*` request needs `Authorization: Bearer <token>` (see [`token`]);
//! `/api/openapi.json` describes the API and is public. Errors are `{ code, message }`
//! ([`error`]). Everything outside `/api/` is the web UI ([`ui`]), public too: it asks the
//! person for the token and sends it with each API request. SIGTERM or Ctrl-C stops taking
//! requests, lets a sync in progress finish, and exits 0.

mod api;
mod error;
mod openapi;
mod token;
mod ui;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use templesync_engine::{App, Engine, Monitor, MonitorOptions, redact_url};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use self::error::ApiError;
use self::token::ApiToken;

/// Requests with larger bodies are refused with 413. The largest real body is a merge value.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A body declared larger than [`MAX_BODY_BYTES`] but no larger than this is read and thrown
/// away before the 413 is sent: a client still uploading when the answer comes and the
/// connection closes sees a reset connection instead of the 413.
const DRAIN_MAX_BYTES: usize = 8 * 1024 * 1024;

/// The public path: it says how to call the API, and holds nothing secret.
const OPENAPI_PATH: &str = "/api/openapi.json";

/// After a stop signal and the end of any sync in progress, how long requests still being
/// answered get before the process exits anyway.
const DRAIN_GRACE: Duration = Duration::from_secs(10);

pub struct Options {
    pub bind: SocketAddr,
    pub token_file: Option<PathBuf>,
}

/// What every handler gets: the application layer (over the monitor) and the token.
#[derive(Clone)]
pub struct Server {
    app: App,
    token: Arc<ApiToken>,
}

impl Server {
    fn monitor(&self) -> &Monitor {
        self.app
            .monitor()
            .expect("the server's application layer runs over a monitor")
    }
}

/// Serves until SIGTERM or Ctrl-C, then stops gracefully.
pub async fn run(engine: Engine, opts: Options) -> anyhow::Result<()> {
    let (token, source) = token::load(opts.token_file.as_deref(), |k| std::env::var(k).ok())?;
    let token_is_in = token_is_in(&source);

    // Listen before anything starts in the background, so a taken port fails at once.
    let listener = tokio::net::TcpListener::bind(opts.bind)
        .await
        .with_context(|| format!("cannot listen on {}", opts.bind))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    if !addr.ip().is_loopback() {
        tracing::warn!(
            %addr,
            "listening on a non-loopback address: other computers on the network can reach the API (it still needs the token); put a TLS proxy in front if the network is not trusted"
        );
    }
    let stop = Signals::new()?;

    let monitor = Monitor::start(engine.clone(), MonitorOptions::default());
    let app = Server {
        app: App::with_monitor(monitor.clone()),
        token: Arc::new(token),
    };

    let settings = engine.settings();
    tracing::info!(
        %addr,
        local = %redact_url(&settings.local_url),
        cloud = %settings.remote_url.as_deref().map(redact_url).unwrap_or_else(|| "(not configured)".into()),
        database = %settings.database,
        "serving the TempleSync API"
    );
    // The one line scripts and tests wait for (with the real port when given port 0).
    println!("Listening on http://{addr}");
    if ui::built() {
        crate::output::stderr_line(&format!(
            "The TempleSync screens: open {} in a browser; the access key it asks for (the API token) is {token_is_in}",
            browser_url(addr)
        ));
    } else {
        tracing::warn!(
            "this templesync was built without its screens (ui/dist did not exist): / says how to build them; the API works as usual"
        );
    }

    let shutdown = Arc::new(tokio::sync::Notify::new());
    let drained = shutdown.clone();
    let server = tokio::spawn(
        axum::serve(listener, router(app))
            .with_graceful_shutdown(async move { drained.notified().await })
            .into_future(),
    );

    stop_gracefully(stop, shutdown, monitor, server).await
}

/// Where the token is, never the token: a person opening the screens in a browser types it
/// in once, and needs to know where to find it.
fn token_is_in(source: &token::Source) -> String {
    match source {
        token::Source::Created(path) => {
            crate::output::stderr_line(&format!(
                "Created the API token in {}; send it as 'Authorization: Bearer <token>'",
                path.display()
            ));
            format!("in the file {}", path.display())
        }
        token::Source::File(path) => {
            tracing::info!(path = %path.display(), "using the API token file");
            format!("in the file {}", path.display())
        }
        token::Source::Env => {
            tracing::info!("using the API token from {}", token::ENV_VAR);
            format!("the value of {} where TempleSync runs", token::ENV_VAR)
        }
    }
}

/// After the first signal: no new requests, a sync in progress finishes; a second signal
/// stops at once.
async fn stop_gracefully(
    mut stop: Signals,
    shutdown: Arc<tokio::sync::Notify>,
    monitor: Monitor,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
) -> anyhow::Result<()> {
    let which = stop.next().await;
    tracing::info!(
        signal = which,
        "stopping: no new requests; a sync in progress is allowed to finish"
    );
    crate::output::stderr_line(&format!(
        "Stopping ({which}): waiting for a sync in progress to finish (press Ctrl-C again to stop at once)"
    ));
    // `notify_one` keeps a permit, so the server sees it even if it is not waiting yet.
    shutdown.notify_one();
    let graceful = async {
        monitor.shutdown().await;
        match tokio::time::timeout(DRAIN_GRACE, server).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!("the server stopped with an error: {e}"),
            Ok(Err(e)) => tracing::warn!("the server task failed: {e}"),
            Err(_) => tracing::warn!(
                "requests were still being answered {} s after the stop; exiting anyway",
                DRAIN_GRACE.as_secs()
            ),
        }
    };
    tokio::select! {
        () = graceful => {
            tracing::info!("stopped");
            Ok(())
        }
        again = stop.next() => anyhow::bail!(
            "stopped at once ({again} again) without waiting for the sync in progress; the next sync completes its work"
        ),
    }
}

/// The API's operations: the routes and their description come from this one list, each
/// handler's `#[utoipa::path]` giving its method and path to both.
fn api_routes() -> OpenApiRouter<Server> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(api::sync))
        .routes(routes!(api::status))
        .routes(routes!(api::overview))
        .routes(routes!(api::conflicts))
        .routes(routes!(api::conflict))
        .routes(routes!(api::auto_resolve))
        .routes(routes!(api::resolve))
        .routes(routes!(api::logs))
        .routes(routes!(api::choose_cloud))
        .routes(routes!(api::verify))
        .routes(routes!(api::network_status))
        .routes(routes!(api::about))
        .routes(routes!(api::history))
        .routes(routes!(api::restore))
        .routes(routes!(api::undo_run))
        .routes(routes!(api::pause))
        .routes(routes!(api::resume))
        .routes(routes!(api::config, api::set_config))
}

fn router(app: Server) -> Router {
    let (routes, doc) = api_routes().split_for_parts();
    let doc = Arc::new(openapi::finish(doc));
    let api = routes
        .merge(
            Router::new()
                .route(OPENAPI_PATH, get(openapi::openapi_json))
                .with_state(doc),
        )
        .fallback(outside_the_routes)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(refuse_large_bodies))
        .layer(middleware::from_fn_with_state(app.clone(), require_token))
        .layer(middleware::from_fn(log_request));
    api.with_state(app)
}

/// An unknown path under `/api/` is the API's JSON 404; anything else is the web UI's.
async fn outside_the_routes(method: Method, uri: Uri) -> Response {
    if is_api(uri.path()) {
        ApiError::no_such_route(&format!("{method} {}", uri.path())).into_response()
    } else {
        ui::serve(method, uri).await
    }
}

fn is_api(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// The address to give people: on a wildcard bind, this computer's name (another PC cannot
/// open 0.0.0.0).
fn browser_url(addr: SocketAddr) -> String {
    if !addr.ip().is_unspecified() {
        return format!("http://{addr}/");
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "<this computer's address>".to_string());
    format!("http://{host}:{}/", addr.port())
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::method_not_allowed(method.as_str(), uri.path())
}

/// Every API path but its description needs the token, in the `Authorization` header and
/// only there: a token in the URL ends up in proxy and server logs and browser history, so
/// it is refused even next to a correct header. The web UI's files need none: they are the
/// same for everyone and hold nothing secret.
async fn require_token(State(app): State<Server>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    // What reached an API route, however its path is spelled, is the API.
    let routed = req.extensions().get::<MatchedPath>().is_some();
    if path == OPENAPI_PATH || !(routed || is_api(path)) {
        return next.run(req).await;
    }
    if token_in_query(req.uri().query()) {
        return ApiError::unauthorized(
            "A token in the URL is never accepted (URLs end up in logs): send it as 'Authorization: Bearer <token>'",
            "Bearer error=\"invalid_request\"",
        )
        .into_response();
    }
    match bearer(req.headers()) {
        Some(t) if app.token.matches(t) => next.run(req).await,
        Some(_) => ApiError::unauthorized(
            "The API token is wrong: use the one in TEMPLESYNC_API_TOKEN or the token file named when `templesync serve` first started",
            "Bearer error=\"invalid_token\"",
        )
        .into_response(),
        None => ApiError::unauthorized(
            "This needs the API token: send it as 'Authorization: Bearer <token>'",
            "Bearer",
        )
        .into_response(),
    }
}

/// 413 for a body whose declared length is over the limit, before any handler runs. (A body
/// sent without a length is cut at the limit by [`DefaultBodyLimit`] as it is read.)
async fn refuse_large_bodies(req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > MAX_BODY_BYTES as u64 => {
            if n <= DRAIN_MAX_BYTES as u64 {
                let _ = axum::body::to_bytes(req.into_body(), DRAIN_MAX_BYTES).await;
            }
            ApiError::too_large().into_response()
        }
        _ => next.run(req).await,
    }
}

fn token_in_query(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        form_urlencoded::parse(q.as_bytes())
            .any(|(k, _)| k.eq_ignore_ascii_case("token") || k.eq_ignore_ascii_case("access_token"))
    })
}

/// The token of an `Authorization: Bearer <token>` header (the scheme is case-insensitive).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// One debug line per request. The query string is left out: it is where a token sent by
/// mistake would be.
async fn log_request(req: Request, next: Next) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let started = Instant::now();
    let res = next.run(req).await;
    tracing::debug!(
        %method,
        path,
        status = res.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    res
}

/// SIGTERM (systemd, `kill`) and Ctrl-C (SIGINT), both listened for from the start so
/// that neither can kill the process before its handler is in place.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> anyhow::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                term: signal(SignalKind::terminate()).context("listening for SIGTERM")?,
                int: signal(SignalKind::interrupt()).context("listening for Ctrl-C")?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// Waits for the next signal and names it.
    async fn next(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.term.recv() => "SIGTERM",
                _ = self.int.recv() => "Ctrl-C",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn a_token_in_the_query_string_is_recognised_in_any_case() {
        assert!(token_in_query(Some("token=x")));
        assert!(token_in_query(Some("limit=5&Access_Token=x")));
        assert!(!token_in_query(Some("limit=5")));
        assert!(!token_in_query(None));
    }

    #[test]
    fn only_a_bearer_authorization_carries_a_token() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
            m
        };
        assert_eq!(bearer(&h("Bearer abc")), Some("abc"));
        assert_eq!(bearer(&h("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(&h("Basic abc")), None);
        assert_eq!(bearer(&h("Bearer ")), None);
        assert_eq!(bearer(&HeaderMap::new()), None);
    }
}
