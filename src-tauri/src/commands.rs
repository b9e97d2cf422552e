//! The commands the UI calls. Each is a few lines over the engine or the monitor; errors
//! reach the UI as `{ code, message, field }`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Manager, State};
use templesync_engine::app::AUTO_RESOLVE_LIMITS;
use templesync_engine::settings::host_of;
use templesync_engine::{
    AutoResolveReport, CloudChoice, Conflict, Decision, Engine, Overview, Pause, ResolveOutcome,
    ResolveValue, SettingsChange, Strategy, SyncConfig, SyncRun, VerifyReport, Via,
};

use crate::backend::{Backend, publish};
use crate::connection::{self, Connection, ConnectionInput, ConnectionView, Preferences, Source};
use crate::error::ErrorDto;

type Answer<T> = Result<T, ErrorDto>;

/// The status bar: state, last sync, conflicts, connectivity.
#[tauri::command]
#[specta::specta]
pub async fn overview(backend: State<'_, Backend>) -> Answer<Overview> {
    Ok(backend.overview().await)
}

/// Syncs now and waits for the run; progress arrives as `SyncActivity` events.
#[tauri::command]
#[specta::specta]
pub async fn sync_now(backend: State<'_, Backend>) -> Answer<SyncRun> {
    Ok(backend.app().await?.sync_now(Vec::new(), None).await?)
}

/// Pauses syncing on this computer for `minutes` (none: until resumed); the other computers
/// go on.
#[tauri::command]
#[specta::specta]
pub async fn pause_here(minutes: Option<u32>, app: AppHandle) -> Answer<Pause> {
    let pause = app.state::<Backend>().app().await?.pause_here(minutes)?;
    publish(&app).await;
    Ok(pause)
}

/// Ends this computer's pause: a run starts at once.
#[tauri::command]
#[specta::specta]
pub async fn resume_here(app: AppHandle) -> Answer<()> {
    app.state::<Backend>().app().await?.resume_here()?;
    publish(&app).await;
    Ok(())
}

/// A person's choice about a cloud that is not the one this computer last synced with.
#[tauri::command]
#[specta::specta]
pub async fn choose_cloud(choice: CloudChoice, backend: State<'_, Backend>) -> Answer<()> {
    Ok(backend.engine().await?.choose_cloud(choice).await?)
}

/// Both sides compared by content; with `repair`, the differing documents are listed for the
/// next sync.
#[tauri::command]
#[specta::specta]
pub async fn verify(repair: bool, backend: State<'_, Backend>) -> Answer<VerifyReport> {
    Ok(backend.engine().await?.verify(None, repair).await?)
}

/// The runs, newest first.
#[tauri::command]
#[specta::specta]
pub async fn sync_history(limit: u32, backend: State<'_, Backend>) -> Answer<Vec<SyncRun>> {
    Ok(backend.app().await?.history(limit).await?)
}

/// The unresolved conflicts, or all of them; newest first.
#[tauri::command]
#[specta::specta]
pub async fn conflicts(
    include_resolved: bool,
    backend: State<'_, Backend>,
) -> Answer<Vec<Conflict>> {
    let which = if include_resolved { None } else { Some(false) };
    Ok(backend.app().await?.conflicts(which, None).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn conflict(id: String, backend: State<'_, Backend>) -> Answer<Conflict> {
    Ok(backend.app().await?.conflict(&id).await?)
}

/// A person's decision on a conflict.
#[derive(Debug, Clone, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct Choice {
    pub strategy: Strategy,
    /// The new value (rename, merge); `None` takes the engine's suggestion.
    pub value: Option<ChoiceValue>,
    pub notes: Option<String>,
}

/// A value typed by a person (stored with the type of the value it replaces), or a JSON
/// value picked from one side (stored as it is).
#[derive(Debug, Clone, Deserialize, specta::Type)]
#[serde(tag = "kind", content = "value", rename_all = "camelCase")]
pub enum ChoiceValue {
    Text(String),
    Json(serde_json::Value),
}

impl Choice {
    fn decision(self, by: String) -> Decision {
        Decision {
            strategy: self.strategy,
            value: self.value.map(|v| match v {
                ChoiceValue::Text(t) => ResolveValue::Text(t),
                ChoiceValue::Json(j) => ResolveValue::Json(j),
            }),
            notes: self.notes,
            by: Some(by),
        }
    }
}

/// Settles one conflict; the next sync carries the decision out.
#[tauri::command]
#[specta::specta]
pub async fn resolve_conflict(
    id: String,
    choice: Choice,
    app: AppHandle,
    backend: State<'_, Backend>,
) -> Answer<ResolveOutcome> {
    let decision = choice.decision(your_name(&app));
    let outcome = backend
        .app()
        .await?
        .resolve(&id, decision, Via::Desktop)
        .await?;
    publish(&app).await;
    Ok(outcome)
}

/// Settles the simple cases (as many as one request may); leaves the rest for a person.
#[tauri::command]
#[specta::specta]
pub async fn auto_resolve(
    app: AppHandle,
    backend: State<'_, Backend>,
) -> Answer<AutoResolveReport> {
    let max = *AUTO_RESOLVE_LIMITS.end();
    let by = your_name(&app);
    let report = backend
        .app()
        .await?
        .auto_resolve(max, Some(&by), Via::Desktop)
        .await?;
    publish(&app).await;
    Ok(report)
}

/// The name set in the app's preferences (blank: the application layer picks one).
fn your_name(app: &AppHandle) -> String {
    connection::preferences(app).your_name
}

/// The sync settings (`sync_config`).
#[tauri::command]
#[specta::specta]
pub async fn sync_settings(backend: State<'_, Backend>) -> Answer<SyncConfig> {
    Ok(backend.app().await?.settings().await?)
}

/// Validates and stores the sync settings; the monitor picks them up at once.
#[tauri::command]
#[specta::specta]
pub async fn save_sync_settings(
    config: SyncConfig,
    backend: State<'_, Backend>,
) -> Answer<SyncConfig> {
    let change = SettingsChange::Whole(config);
    Ok(backend.app().await?.change_settings(change).await?)
}

/// The connection in use, passwords masked.
#[tauri::command]
#[specta::specta]
pub async fn connection(backend: State<'_, Backend>) -> Answer<ConnectionView> {
    Ok(backend.connection().await.view())
}

/// One database's answer to "Test connection".
#[derive(Debug, Clone, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    pub ok: bool,
    pub host: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionTest {
    pub local: Check,
    /// `None` when no cloud database was given.
    pub cloud: Option<Check>,
}

/// Tries the typed settings without saving them.
#[tauri::command]
#[specta::specta]
pub async fn test_connection(
    input: ConnectionInput,
    backend: State<'_, Backend>,
) -> Answer<ConnectionTest> {
    let settings = backend.connection().await.apply(&input)?;
    let engine = Engine::open(settings.clone()).await?;
    let local = check(&settings.local_url, local_answers(&engine)).await;
    let cloud = match &settings.remote_url {
        Some(url) => Some(check(url, engine.ping_remote(Duration::from_secs(6))).await),
        None => None,
    };
    Ok(ConnectionTest { local, cloud })
}

/// Reads the local settings: an answer, even "those settings are invalid", means connected.
async fn local_answers(engine: &Engine) -> templesync_engine::Result<()> {
    match engine.config().await {
        Err(templesync_engine::Error::InvalidConfig { .. }) | Ok(_) => Ok(()),
        Err(e) => Err(e),
    }
}

async fn check(url: &str, answer: impl Future<Output = templesync_engine::Result<()>>) -> Check {
    let host = host_of(url);
    match tokio::time::timeout(Duration::from_secs(10), answer).await {
        Ok(Ok(())) => Check {
            ok: true,
            message: format!("Connected to {host}"),
            host,
        },
        Ok(Err(e)) => Check {
            ok: false,
            message: e.to_string(),
            host,
        },
        Err(_) => Check {
            ok: false,
            message: format!(
                "No answer from {host} within 10 seconds: check the address and the network"
            ),
            host,
        },
    }
}

/// Saves the connection settings in the app and reconnects with them.
#[tauri::command]
#[specta::specta]
pub async fn save_connection(
    input: ConnectionInput,
    app: AppHandle,
    backend: State<'_, Backend>,
) -> Answer<ConnectionView> {
    let first_setup = !backend.connection().await.configured();
    let settings = backend.connection().await.apply(&input)?;
    let password_in = connection::save(&app, &settings)?;
    if first_setup && settings.remote_url.is_some() {
        crate::system::start_with_computer_by_default(&app);
    }
    let c = Connection {
        settings,
        source: Source::Saved,
        password_in,
        password_problem: None,
    };
    let view = c.view();
    backend.start(&app, Some(c)).await;
    Ok(view)
}

#[tauri::command]
#[specta::specta]
pub async fn preferences(app: AppHandle) -> Answer<Preferences> {
    Ok(connection::preferences(&app))
}

#[tauri::command]
#[specta::specta]
pub async fn save_preferences(preferences: Preferences, app: AppHandle) -> Answer<Preferences> {
    connection::save_preferences(&app, &preferences)?;
    Ok(preferences)
}
