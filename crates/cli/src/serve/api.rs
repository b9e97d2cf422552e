//! The handlers of `/api/sync/*`: parse the input, call the engine or the monitor, map the
//! error. The answers are the engine's own types, serialized as the CLI's `--json` does.
//!
//! Bodies are read as bytes and parsed here rather than by axum's `Json` extractor, so that
//! every mistake is answered with `{ code, message }` naming the field, an empty body can
//! mean "the defaults", and no `Content-Type` is demanded of simple scripts.
//!
//! Each handler's `#[utoipa::path]` is its entry in the OpenAPI document ([`super::openapi`]):
//! every status it can answer, its parameters and its body, whose schema is the type it parses
//! the body into.

use std::future::Future;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::{Json, response::IntoResponse};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use templesync_engine::app::about::About;
use templesync_engine::history::Version;
use templesync_engine::{
    AutoResolveReport, CloudChoice, Conflict, Decision, Overview, Pause, ResolveOutcome,
    ResolveValue, Restored, SettingsChange, Strategy, SyncConfig, SyncRun, SyncStatus, UndoRun,
    VerifyReport, Via,
};
use utoipa::{IntoParams, ToSchema};

use super::Server;
use super::error::ApiError;
use super::openapi::{
    BadRequest, Common, Conflict as Conflicting, NetworkStatusAnswer, NotFound, SNAKE_CASE_KEYS,
    SyncConfigPatch, TooLarge, Unauthorized,
};

/// How many conflicts auto-resolve looks at when the body does not say.
pub const AUTO_RESOLVE_DEFAULT: u32 = 10;

/// How many runs `GET /api/sync/logs` lists when the query does not say.
pub const HISTORY_DEFAULT: u32 = 20;

type ApiResult<T> = Result<Json<T>, ApiError>;

/// Runs `work` on its own task and waits for it. A request whose client goes away is dropped
/// by the server; a sync, a resolution or a settings change it started must still finish and
/// be recorded, not be cut at an arbitrary await.
async fn detached<T: Send + 'static>(
    work: impl Future<Output = templesync_engine::Result<T>> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::spawn(work).await {
        Ok(r) => r.map_err(ApiError::from),
        Err(e) => Err(ApiError::internal(format!("the operation stopped: {e}"))),
    }
}

/// The body's bytes, or 413 / 400.
fn bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large()
        } else {
            ApiError::invalid("body", e.body_text())
        }
    })
}

/// A JSON object body as `T`; `None` for an empty body. Errors name the field at fault.
fn json_object<T: DeserializeOwned>(body: &[u8]) -> Result<Option<T>, ApiError> {
    // No body at all means "the defaults"; anything else, whitespace included, must be JSON
    // (a body of only a line break is not a JSON object, and a client that sent one meant
    // to send something).
    if body.is_empty() {
        return Ok(None);
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid("body", format_args!("not valid JSON ({e})")))?;
    if !value.is_object() {
        return Err(ApiError::invalid(
            "body",
            format_args!("expected a JSON object, got {}", kind_of(&value)),
        ));
    }
    serde_path_to_error::deserialize(value)
        .map(Some)
        .map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." {
                "body".to_string()
            } else {
                path
            };
            ApiError::invalid(&field, e.into_inner())
        })
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The query string's parameters, in order (percent-decoded).
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(raw: Option<String>) -> Query {
        Query(
            form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
                .into_owned()
                .collect(),
        )
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        self.get(name)
            .map(|v| match v {
                "true" => Ok(true),
                "false" => Ok(false),
                other => Err(ApiError::invalid(
                    name,
                    format_args!("expected true or false, got '{other}'"),
                )),
            })
            .transpose()
    }

    /// A whole number (its range is the application layer's to check).
    fn int(&self, name: &str, default: u32) -> Result<u32, ApiError> {
        let Some(v) = self.get(name) else {
            return Ok(default);
        };
        v.parse::<u32>().map_err(|_| {
            ApiError::invalid(name, format_args!("expected a whole number, got '{v}'"))
        })
    }
}

#[derive(Deserialize, Default, ToSchema)]
#[schema(as = SyncRequest)]
pub struct SyncBody {
    /// Only these collections; missing, null or empty: the configured ones (or all)
    #[serde(default)]
    collections: Option<Vec<String>>,
}

/// `POST /api/sync/sync`: one run now. A run that started is answered with its record (200,
/// also when it failed: the record says why); one that could not start is an error.
#[utoipa::path(
    post,
    path = "/api/sync/sync",
    operation_id = "sync",
    summary = "Sync now, both ways, and wait for the run",
    description = "Answers the run's record, also when the run failed (status: failed, with the error). A run that cannot start is an error: 409 while another runs, 503 without a reachable cloud.",
    request_body(content = Option<SyncBody>, description = "Optional; an empty body syncs the configured collections"),
    responses(
        (status = 200, description = "The run", body = SyncRun),
        (status = 400, response = BadRequest),
        (status = 409, response = Conflicting),
        (status = 413, response = TooLarge),
        Common
    )
)]
pub async fn sync(
    State(app): State<Server>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<SyncRun> {
    let req: SyncBody = json_object(&bytes(body)?)?.unwrap_or_default();
    let collections = req.collections.unwrap_or_default();
    let run = detached(async move { app.app.sync_now(collections, None).await }).await?;
    Ok(Json(run))
}

/// `GET /api/sync/status`.
#[utoipa::path(
    get,
    path = "/api/sync/status",
    operation_id = "status",
    summary = "Last sync, totals, open conflicts, online or not",
    responses((status = 200, description = "The status", body = SyncStatus), Common)
)]
pub async fn status(State(app): State<Server>) -> ApiResult<SyncStatus> {
    Ok(Json(app.monitor().sync_status().await?))
}

/// `GET /api/sync/overview`: the state a person sees, its words and what to do. Never an
/// error: what cannot be read is said in the overview.
#[utoipa::path(
    get,
    path = "/api/sync/overview",
    operation_id = "overview",
    summary = "The state a person sees (up to date, syncing, offline, needs a decision, paused, failed), its words and what to do",
    responses(
        (status = 200, description = "The overview", body = Overview),
        (status = 401, response = Unauthorized)
    )
)]
pub async fn overview(State(app): State<Server>) -> Json<Overview> {
    Json(app.app.overview().await)
}

/// The filters of `GET /api/sync/conflicts`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConflictFilter {
    /// Only resolved (true) or open (false) ones; missing: all
    resolved: Option<bool>,
    /// Only this collection's
    collection: Option<String>,
}

impl ConflictFilter {
    fn parse(raw: Option<String>) -> Result<ConflictFilter, ApiError> {
        let q = Query::parse(raw);
        Ok(ConflictFilter {
            resolved: q.bool("resolved")?,
            collection: q.get("collection").map(str::to_string),
        })
    }
}

/// `GET /api/sync/conflicts?resolved=true|false&collection=NAME`.
#[utoipa::path(
    get,
    path = "/api/sync/conflicts",
    operation_id = "conflicts",
    summary = "The conflicts, newest first",
    params(ConflictFilter),
    responses(
        (status = 200, description = "The conflicts", body = Vec<Conflict>),
        (status = 400, response = BadRequest),
        Common
    )
)]
pub async fn conflicts(
    State(app): State<Server>,
    RawQuery(q): RawQuery,
) -> ApiResult<Vec<Conflict>> {
    let f = ConflictFilter::parse(q)?;
    let list = app
        .app
        .conflicts(f.resolved, f.collection.as_deref())
        .await?;
    Ok(Json(list))
}

/// `GET /api/sync/conflicts/{id}`: one conflict, resolved or not.
#[utoipa::path(
    get,
    path = "/api/sync/conflicts/{id}",
    operation_id = "conflict",
    summary = "One conflict, open or resolved",
    params(("id" = String, Path, description = "The conflict's _id")),
    responses(
        (status = 200, description = "The conflict", body = Conflict),
        (status = 404, response = NotFound),
        Common
    )
)]
pub async fn conflict(
    State(app): State<Server>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Conflict> {
    let id = conflict_id(id)?;
    Ok(Json(app.app.conflict(&id).await?))
}

/// The `{id}` of a path; one that does not even decode names no conflict.
fn conflict_id(id: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    id.map(|Path(id)| id).map_err(|_| {
        ApiError::from(templesync_engine::Error::ConflictNotFound {
            id: "(not decodable)".into(),
        })
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ResolveRequest)]
pub struct ResolveBody {
    // A string, parsed by the engine, which names the strategies in its error; documented as
    // the strategies.
    #[schema(value_type = Strategy, inline)]
    strategy: String,
    /// Any JSON: the new name (rename_local), the value or an object of field values (merge); null:
    /// none
    #[serde(default)]
    #[schema(value_type = Value)]
    new_value: Option<Value>,
    #[serde(default)]
    notes: Option<String>,
    /// Who decided (default: api)
    #[serde(default)]
    resolved_by: Option<String>,
}

/// `POST /api/sync/conflicts/{id}/resolve`.
#[utoipa::path(
    post,
    path = "/api/sync/conflicts/{id}/resolve",
    operation_id = "resolve",
    summary = "Settle one conflict; the next sync carries it out",
    params(("id" = String, Path, description = "The conflict's _id")),
    request_body(content = ResolveBody, description = "The decision"),
    responses(
        (status = 200, description = "Resolved", body = ResolveOutcome),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 409, response = Conflicting),
        (status = 413, response = TooLarge),
        Common
    )
)]
pub async fn resolve(
    State(app): State<Server>,
    id: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<ResolveOutcome> {
    let id = conflict_id(id)?;
    let body: ResolveBody = json_object(&bytes(body)?)?.ok_or_else(|| {
        ApiError::invalid(
            "body",
            r#"expected a JSON object such as {"strategy": "rename_local"}"#,
        )
    })?;
    let decision = Decision {
        strategy: body.strategy.parse::<Strategy>()?,
        value: body.new_value.map(ResolveValue::Json),
        notes: body.notes,
        by: body.resolved_by,
    };
    let outcome = detached(async move { app.app.resolve(&id, decision, Via::Api).await }).await?;
    Ok(Json(outcome))
}

/// The `{collection}` and `{id}` of a history path; what does not decode names nothing.
fn document_path(
    p: Result<Path<(String, String)>, PathRejection>,
) -> Result<(String, String), ApiError> {
    p.map(|Path(p)| p).map_err(|_| {
        ApiError::invalid("path", "the collection and the id must be URL-encoded text")
    })
}

/// `GET /api/sync/history/{collection}/{id}`: a document's replaced versions.
#[utoipa::path(
    get,
    path = "/api/sync/history/{collection}/{id}",
    operation_id = "history",
    summary = "The versions of one document that syncs on this computer overwrote or deleted, newest first",
    params(
        ("collection" = String, Path, description = "The collection, e.g. bookings"),
        ("id" = String, Path, description = "The document's _id as text: an ObjectId's hex, a number or a string")
    ),
    responses(
        (status = 200, description = "The versions, numbered from 1 (the newest)", body = Vec<Version>),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        Common
    )
)]
pub async fn history(
    State(app): State<Server>,
    p: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult<Vec<Version>> {
    let (collection, id) = document_path(p)?;
    Ok(Json(app.app.versions(&collection, &id).await?))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = RestoreRequest)]
#[serde(deny_unknown_fields)]
pub struct RestoreBody {
    /// Which version, as the history numbers them (1 is the newest)
    #[schema(minimum = 1)]
    version: u32,
}

/// `POST /api/sync/history/{collection}/{id}/restore`: a kept version back as a local edit.
#[utoipa::path(
    post,
    path = "/api/sync/history/{collection}/{id}/restore",
    operation_id = "restore",
    summary = "Write a kept version back on this computer as a new edit, which the next sync sends",
    params(
        ("collection" = String, Path, description = "The collection"),
        ("id" = String, Path, description = "The document's _id as text")
    ),
    request_body(content = RestoreBody, description = "Which version"),
    responses(
        (status = 200, description = "Restored", body = Restored),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 413, response = TooLarge),
        Common
    )
)]
pub async fn restore(
    State(app): State<Server>,
    p: Result<Path<(String, String)>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Restored> {
    let (collection, id) = document_path(p)?;
    let body: RestoreBody = json_object(&bytes(body)?)?.ok_or_else(|| {
        ApiError::invalid("body", r#"expected a JSON object such as {"version": 1}"#)
    })?;
    let restored =
        detached(async move { app.app.restore(&collection, &id, body.version).await }).await?;
    Ok(Json(restored))
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = UndoRunRequest)]
pub struct UndoBody {
    /// Only list what it would do; change nothing
    #[serde(default)]
    #[schema(default = false)]
    dry_run: bool,
}

/// `POST /api/sync/logs/{id}/undo`: a run taken back as new local edits.
#[utoipa::path(
    post,
    path = "/api/sync/logs/{id}/undo",
    operation_id = "undoRun",
    summary = "Take a run back: what it overwrote or deleted, here and in the cloud, written here as new edits the next sync sends",
    params(("id" = String, Path, description = "The run's _id")),
    request_body(content = Option<UndoBody>, description = "Optional; an empty body undoes the run"),
    responses(
        (status = 200, description = "What was (or, with dryRun, would be) brought back", body = UndoRun),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 409, response = Conflicting),
        (status = 413, response = TooLarge),
        Common
    )
)]
pub async fn undo_run(
    State(app): State<Server>,
    id: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<UndoRun> {
    let id = id.map(|Path(id)| id).map_err(|_| {
        ApiError::from(templesync_engine::Error::RunNotFound {
            id: "(not decodable)".into(),
        })
    })?;
    let body: UndoBody = json_object(&bytes(body)?)?.unwrap_or_default();
    let undo = detached(async move { app.app.undo_run(&id, body.dry_run).await }).await?;
    Ok(Json(undo))
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AutoResolveRequest)]
pub struct AutoResolveBody {
    #[serde(default)]
    #[schema(schema_with = super::openapi::auto_resolve_max)]
    max: Option<u32>,
    /// Who to record (default: api)
    #[serde(default)]
    resolved_by: Option<String>,
}

/// `POST /api/sync/conflicts/auto-resolve`.
#[utoipa::path(
    post,
    path = "/api/sync/conflicts/auto-resolve",
    operation_id = "autoResolve",
    summary = "Settle the simple conflicts; leave the rest for a person",
    request_body(content = Option<AutoResolveBody>, description = "Optional; an empty body looks at up to 10 conflicts"),
    responses(
        (status = 200, description = "What was done", body = AutoResolveReport),
        (status = 400, response = BadRequest),
        (status = 409, response = Conflicting),
        (status = 413, response = TooLarge),
        Common
    )
)]
pub async fn auto_resolve(
    State(app): State<Server>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<AutoResolveReport> {
    let body: AutoResolveBody = json_object(&bytes(body)?)?.unwrap_or_default();
    let max = body.max.unwrap_or(AUTO_RESOLVE_DEFAULT);
    let report = detached(async move {
        let by = body.resolved_by.as_deref();
        app.app.auto_resolve(max, by, Via::Api).await
    })
    .await?;
    Ok(Json(report))
}

/// `GET /api/sync/about`: which TempleSync serves, and where it keeps its files.
#[utoipa::path(
    get,
    path = "/api/sync/about",
    operation_id = "about",
    summary = "Versions, the folders of settings, data and logs on this computer, the databases (no passwords)",
    responses((status = 200, description = "About", body = About), (status = 401, response = Unauthorized))
)]
pub async fn about(State(app): State<Server>) -> Json<About> {
    Json(crate::commands::about(app.app.engine().settings()))
}

#[derive(Deserialize, Default, ToSchema)]
#[schema(as = PauseRequest)]
#[serde(deny_unknown_fields)]
pub struct PauseBody {
    /// How long, in minutes (1 to 10080, a week); missing or null: until resumed
    #[serde(default)]
    #[schema(minimum = 1, maximum = 10080)]
    minutes: Option<u32>,
}

/// This computer's pause, after `POST /api/sync/pause` or `/resume`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PausedHere {
    /// The pause in force; null after resuming
    pause: Option<Pause>,
}

/// `POST /api/sync/pause`: pauses syncing on this computer only.
#[utoipa::path(
    post,
    path = "/api/sync/pause",
    operation_id = "pause",
    summary = "Pause syncing on this computer (the others go on) for some minutes or until resumed",
    description = "Nothing syncs by itself here while it holds (no start-up, reconnect or periodic run); POST /api/sync/sync still runs. Kept in this computer's settings file, not in the shared sync_config.",
    request_body(content = Option<PauseBody>, description = "Optional; an empty body pauses until resumed"),
    responses(
        (status = 200, description = "The pause", body = PausedHere),
        (status = 400, response = BadRequest),
        (status = 413, response = TooLarge),
        Common
    )
)]
pub async fn pause(
    State(app): State<Server>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<PausedHere> {
    let body: PauseBody = json_object(&bytes(body)?)?.unwrap_or_default();
    let pause = Some(app.app.pause_here(body.minutes)?);
    Ok(Json(PausedHere { pause }))
}

/// `POST /api/sync/resume`: ends this computer's pause; a run starts at once.
#[utoipa::path(
    post,
    path = "/api/sync/resume",
    operation_id = "resume",
    summary = "Sync by itself again on this computer: a run starts at once",
    responses(
        (status = 200, description = "No pause now", body = PausedHere),
        Common
    )
)]
pub async fn resume(State(app): State<Server>) -> ApiResult<PausedHere> {
    app.app.resume_here()?;
    Ok(Json(PausedHere { pause: None }))
}

#[derive(Deserialize, Default, ToSchema)]
#[schema(as = VerifyRequest)]
pub struct VerifyBody {
    #[serde(default)]
    #[schema(schema_with = super::openapi::verify_collections)]
    collections: Option<Vec<String>>,
    /// List the documents that differ for the next sync
    #[serde(default)]
    #[schema(default = false)]
    repair: bool,
}

/// `POST /api/sync/verify`: both sides compared by content; changes nothing unless `repair`
/// (which lists the differing documents for the next sync).
#[utoipa::path(
    post,
    path = "/api/sync/verify",
    operation_id = "verify",
    summary = "Compare both sides by content, changing nothing (unless repair)",
    request_body(content = Option<VerifyBody>, description = "Optional; an empty body checks the collections a sync covers"),
    responses(
        (status = 200, description = "What was found", body = VerifyReport),
        (status = 400, response = BadRequest),
        (status = 413, response = TooLarge),
        Common
    )
)]
pub async fn verify(
    State(app): State<Server>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<VerifyReport> {
    let body: VerifyBody = json_object(&bytes(body)?)?.unwrap_or_default();
    let collections = body.collections.filter(|c| !c.is_empty());
    let engine = app.app.engine().clone();
    let report = detached(async move { engine.verify(collections, body.repair).await }).await?;
    Ok(Json(report))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = CloudChoiceRequest)]
pub struct CloudBody {
    /// send_local: treat this cloud as new and send this computer's data (nothing deleted;
    /// documents that differ become conflicts). accept_cloud: accept the cloud as it is now
    /// (documents it no longer has are removed here)
    #[schema(value_type = CloudChoice, inline)]
    choice: String,
}

/// The answer of `POST /api/sync/cloud`: the choice recorded.
#[derive(Serialize, ToSchema)]
#[schema(as = CloudChoice)]
pub struct CloudChosen {
    #[schema(inline)]
    choice: CloudChoice,
}

/// `POST /api/sync/cloud`: a person's choice about a cloud that is not the one this computer
/// last synced with (`{"choice": "send_local"}` or `{"choice": "accept_cloud"}`).
#[utoipa::path(
    post,
    path = "/api/sync/cloud",
    operation_id = "chooseCloud",
    summary = "Decide what to do with a cloud that is not the one this computer last synced with",
    description = "When a run fails with cloud_changed (the cloud was restored from a backup, or the connection points to another cluster), nothing syncs until a person chooses. The next sync carries the choice out.",
    request_body(content = CloudBody, description = "The choice"),
    responses(
        (status = 200, description = "The choice is recorded", body = CloudChosen),
        (status = 400, response = BadRequest),
        (status = 409, response = Conflicting),
        (status = 413, response = TooLarge),
        Common
    )
)]
pub async fn choose_cloud(
    State(app): State<Server>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<CloudChosen> {
    let body: CloudBody = json_object(&bytes(body)?)?.ok_or_else(|| {
        ApiError::invalid(
            "body",
            r#"expected a JSON object such as {"choice": "send_local"}"#,
        )
    })?;
    let choice: CloudChoice = body.choice.parse()?;
    let engine = app.app.engine().clone();
    detached(async move { engine.choose_cloud(choice).await }).await?;
    Ok(Json(CloudChosen { choice }))
}

/// The query of `GET /api/sync/logs`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// How many runs
    #[param(schema_with = super::openapi::history_limit, required = false)]
    limit: u32,
}

impl HistoryQuery {
    /// Its range is the application layer's to check.
    fn parse(raw: Option<String>) -> Result<HistoryQuery, ApiError> {
        Ok(HistoryQuery {
            limit: Query::parse(raw).int("limit", HISTORY_DEFAULT)?,
        })
    }
}

/// `GET /api/sync/logs?limit=N`.
#[utoipa::path(
    get,
    path = "/api/sync/logs",
    operation_id = "logs",
    summary = "The most recent runs, newest first",
    params(HistoryQuery),
    responses(
        (status = 200, description = "The runs", body = Vec<SyncRun>),
        (status = 400, response = BadRequest),
        Common
    )
)]
pub async fn logs(State(app): State<Server>, RawQuery(q): RawQuery) -> ApiResult<Vec<SyncRun>> {
    let q = HistoryQuery::parse(q)?;
    Ok(Json(app.app.history(q.limit).await?))
}

/// `GET /api/sync/network-status`: the monitor's view, plus the original API's snake_case
/// keys that the temple's existing software reads ([`SNAKE_CASE_KEYS`]).
#[utoipa::path(
    get,
    path = "/api/sync/network-status",
    operation_id = "networkStatus",
    summary = "The connection monitor's view of the cloud",
    responses(
        (status = 200, description = "The monitor's status", body = NetworkStatusAnswer),
        (status = 401, response = Unauthorized)
    )
)]
pub async fn network_status(State(app): State<Server>) -> impl IntoResponse {
    let mut v = serde_json::to_value(app.monitor().status()).unwrap_or_default();
    if let Value::Object(o) = &mut v {
        for (snake, camel) in SNAKE_CASE_KEYS {
            let same = o.get(camel).cloned().unwrap_or_default();
            o.insert(snake.into(), same);
        }
    }
    Json(v)
}

/// `GET /api/sync/config`.
#[utoipa::path(
    get,
    path = "/api/sync/config",
    operation_id = "getConfig",
    summary = "The sync settings",
    responses((status = 200, description = "The settings", body = SyncConfig), Common)
)]
pub async fn config(State(app): State<Server>) -> ApiResult<SyncConfig> {
    Ok(Json(app.app.settings().await?))
}

/// `PUT /api/sync/config`: a JSON object of the settings to change; validated whole, nothing
/// stored on error.
#[utoipa::path(
    put,
    path = "/api/sync/config",
    operation_id = "setConfig",
    summary = "Change some settings",
    request_body(content = SyncConfigPatch, description = "The settings to change"),
    responses(
        (status = 200, description = "The settings now in force", body = SyncConfig),
        (status = 400, response = BadRequest),
        (status = 413, response = TooLarge),
        Common
    )
)]
pub async fn set_config(
    State(app): State<Server>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<SyncConfig> {
    let patch: Value = json_object(&bytes(body)?)?.ok_or_else(|| {
        ApiError::invalid(
            "body",
            r#"expected a JSON object of the settings to change, such as {"batchSize": 200}"#,
        )
    })?;
    let change = SettingsChange::Patch(patch);
    let saved = detached(async move { app.app.change_settings(change).await }).await?;
    Ok(Json(saved))
}
