//! The handlers of `/api/sync/*`: parse the input, call the engine or the monitor, map the
//! error. The answers are the engine's own types, serialized as the CLI's `--json` does.
//!
//! Bodies are read as bytes and parsed here rather than by axum's `Json` extractor, so that
//! every mistake is answered with `{ code, message }` naming the field, an empty body can
//! mean "the defaults", and no `Content-Type` is demanded of simple scripts.

use std::future::Future;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::{Json, response::IntoResponse};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use templesync_engine::{
    AutoResolveReport, Conflict, Decision, Overview, ResolveOutcome, ResolveValue, SettingsChange,
    Strategy, SyncConfig, SyncRun, SyncStatus, Via,
};

use super::Server;
use super::error::ApiError;

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

#[derive(Deserialize, Default)]
pub struct SyncBody {
    /// Empty or missing: the configured collections (or all).
    #[serde(default)]
    collections: Option<Vec<String>>,
}

/// `POST /api/sync/sync`: one run now. A run that started is answered with its record (200,
/// also when it failed: the record says why); one that could not start is an error.
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
pub async fn status(State(app): State<Server>) -> ApiResult<SyncStatus> {
    Ok(Json(app.monitor().sync_status().await?))
}

/// `GET /api/sync/overview`: the state a person sees, its words and what to do.
pub async fn overview(State(app): State<Server>) -> Json<Overview> {
    Json(app.app.overview().await)
}

/// `GET /api/sync/conflicts?resolved=true|false&collection=NAME`.
pub async fn conflicts(
    State(app): State<Server>,
    RawQuery(q): RawQuery,
) -> ApiResult<Vec<Conflict>> {
    let q = Query::parse(q);
    let resolved = q.bool("resolved")?;
    let list = app.app.conflicts(resolved, q.get("collection")).await?;
    Ok(Json(list))
}

/// `GET /api/sync/conflicts/{id}`: one conflict, resolved or not.
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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolveBody {
    strategy: String,
    /// Any JSON: a string, a number, or an object of field values for a merge. `null` is no
    /// value.
    #[serde(default)]
    new_value: Option<Value>,
    #[serde(default)]
    notes: Option<String>,
    #[serde(default)]
    resolved_by: Option<String>,
}

/// `POST /api/sync/conflicts/{id}/resolve`.
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

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AutoResolveBody {
    #[serde(default)]
    max: Option<u32>,
    #[serde(default)]
    resolved_by: Option<String>,
}

/// `POST /api/sync/conflicts/auto-resolve`.
pub async fn auto_resolve(
    State(app): State<Server>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<AutoResolveReport> {
    let body: AutoResolveBody = json_object(&bytes(body)?)?.unwrap_or_default();
    let max = body.max.unwrap_or(10);
    let report = detached(async move {
        let by = body.resolved_by.as_deref();
        app.app.auto_resolve(max, by, Via::Api).await
    })
    .await?;
    Ok(Json(report))
}

#[derive(Deserialize, Default)]
pub struct VerifyBody {
    #[serde(default)]
    collections: Option<Vec<String>>,
    #[serde(default)]
    repair: bool,
}

/// `POST /api/sync/verify`: both sides compared by content; changes nothing unless `repair`
/// (which lists the differing documents for the next sync).
pub async fn verify(
    State(app): State<Server>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<templesync_engine::VerifyReport> {
    let body: VerifyBody = json_object(&bytes(body)?)?.unwrap_or_default();
    let collections = body.collections.filter(|c| !c.is_empty());
    let engine = app.app.engine().clone();
    let report = detached(async move { engine.verify(collections, body.repair).await }).await?;
    Ok(Json(report))
}

#[derive(Deserialize)]
pub struct CloudBody {
    choice: String,
}

/// `POST /api/sync/cloud`: a person's choice about a cloud that is not the one this computer
/// last synced with (`{"choice": "send_local"}` or `{"choice": "accept_cloud"}`).
pub async fn choose_cloud(
    State(app): State<Server>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Value> {
    let body: CloudBody = json_object(&bytes(body)?)?.ok_or_else(|| {
        ApiError::invalid(
            "body",
            r#"expected a JSON object such as {"choice": "send_local"}"#,
        )
    })?;
    let choice: templesync_engine::CloudChoice = body.choice.parse()?;
    let engine = app.app.engine().clone();
    detached(async move { engine.choose_cloud(choice).await }).await?;
    Ok(Json(serde_json::json!({ "choice": choice })))
}

/// `GET /api/sync/logs?limit=N`.
pub async fn logs(State(app): State<Server>, RawQuery(q): RawQuery) -> ApiResult<Vec<SyncRun>> {
    let limit = Query::parse(q).int("limit", 20)?;
    Ok(Json(app.app.history(limit).await?))
}

/// `GET /api/sync/network-status`: the monitor's view, plus the original API's snake_case
/// keys that the temple's existing software reads.
pub async fn network_status(State(app): State<Server>) -> impl IntoResponse {
    let st = app.monitor().status();
    let mut v = serde_json::to_value(&st).unwrap_or_default();
    if let Value::Object(o) = &mut v {
        o.insert("is_running".into(), st.is_running.into());
        o.insert("is_online".into(), st.is_online.into());
        o.insert(
            "last_check".into(),
            serde_json::to_value(st.last_check).unwrap_or_default(),
        );
        o.insert(
            "check_interval_seconds".into(),
            st.check_interval_seconds.into(),
        );
    }
    Json(v)
}

/// `GET /api/sync/config`.
pub async fn config(State(app): State<Server>) -> ApiResult<SyncConfig> {
    Ok(Json(app.app.settings().await?))
}

/// `PUT /api/sync/config`: a JSON object of the settings to change; validated whole, nothing
/// stored on error.
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
