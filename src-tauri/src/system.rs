//! The app's place on this computer: About, the log file and its folder, the support file,
//! and starting with the computer. Each command is a few lines over the engine (which knows
//! the folders and writes the support file) or a Tauri plugin.

use std::path::PathBuf;

use tauri::{AppHandle, Manager, State};
use tauri_plugin_autostart::ManagerExt as _;
use tauri_plugin_opener::OpenerExt as _;
use templesync_engine::app::about::About;
use templesync_engine::app::support::{self, SupportFile};
use templesync_engine::{Places, log_files};

use crate::backend::Backend;
use crate::connection::{self, STORE_FILE};
use crate::error::ErrorDto;

type Answer<T> = Result<T, ErrorDto>;

/// The argument the autostart entry starts the app with: straight to the tray, no window.
pub const AUTOSTART_ARG: &str = "--autostart";

/// Whether this start came from the computer starting (the autostart entry).
pub fn started_with_computer() -> bool {
    std::env::args().any(|a| a == AUTOSTART_ARG)
}

/// This app's "About".
pub async fn about_of(app: &AppHandle) -> About {
    let settings = app.state::<Backend>().connection().await.settings;
    let mut about = About::new("TempleSync", env!("CARGO_PKG_VERSION"), &settings);
    about.app_settings_file = tauri_plugin_store::resolve_store_path(app, STORE_FILE)
        .ok()
        .map(|p| p.display().to_string());
    about
}

/// Versions, and where the data, settings and logs are.
#[tauri::command]
#[specta::specta]
pub async fn about(app: AppHandle) -> Answer<About> {
    Ok(about_of(&app).await)
}

/// Opens the log folder in the system's file manager.
#[tauri::command]
#[specta::specta]
pub async fn open_log_folder(app: AppHandle) -> Answer<String> {
    let logs = Places::of_this_user()?.logs;
    templesync_engine::places::make_private_dir(&logs)?;
    open(&app, &logs)?;
    Ok(logs.display().to_string())
}

/// Writes the support file into the Downloads folder (else the home folder) and answers where.
#[tauri::command]
#[specta::specta]
pub async fn save_support_file(app: AppHandle, backend: State<'_, Backend>) -> Answer<SupportFile> {
    let folder = app
        .path()
        .download_dir()
        .ok()
        .filter(|d| d.is_dir())
        .or_else(|| app.path().home_dir().ok())
        .ok_or_else(|| not_found("a Downloads or home folder"))?;
    let path = folder.join(support::file_name(chrono::Utc::now()));
    let about = about_of(&app).await;
    // A saved connection that is not the one in use may hold another password.
    let saved = connection::saved_secrets(&app);
    Ok(backend
        .app()
        .await?
        .support_file(&path, &about, &saved)
        .await?)
}

/// Shows a file in its folder (the support file, after saving it).
#[tauri::command]
#[specta::specta]
pub async fn show_in_folder(path: String, app: AppHandle) -> Answer<()> {
    app.opener()
        .reveal_item_in_dir(PathBuf::from(&path))
        .map_err(|e| cannot_open(&path, e))
}

fn open(app: &AppHandle, path: &std::path::Path) -> Answer<()> {
    app.opener()
        .open_path(path.display().to_string(), None::<&str>)
        .map_err(|e| cannot_open(&path.display().to_string(), e))
}

fn cannot_open(path: &str, e: impl std::fmt::Display) -> ErrorDto {
    ErrorDto::from(templesync_engine::Error::LocalFile {
        action: "open",
        path: path.to_string(),
        reason: e.to_string(),
        advice: "Open it from the file manager instead",
    })
}

fn not_found(what: &str) -> ErrorDto {
    ErrorDto::from(templesync_engine::Error::InvalidConfig {
        field: templesync_engine::places::HOME_VAR.to_string(),
        reason: format!("this computer does not say where {what} is"),
    })
}

/// Whether TempleSync starts with the computer.
#[tauri::command]
#[specta::specta]
pub async fn start_with_computer(app: AppHandle) -> Answer<bool> {
    app.autolaunch().is_enabled().map_err(autostart_failed)
}

/// Turns starting with the computer on or off, and remembers that a person chose.
#[tauri::command]
#[specta::specta]
pub async fn set_start_with_computer(on: bool, app: AppHandle) -> Answer<bool> {
    set_autostart(&app, on)?;
    let mut p = connection::preferences(&app);
    p.start_with_computer = Some(on);
    connection::save_preferences(&app, &p)?;
    Ok(on)
}

fn set_autostart(app: &AppHandle, on: bool) -> Answer<()> {
    let manager = app.autolaunch();
    let done = if on {
        manager.enable()
    } else {
        manager.disable()
    };
    done.map_err(autostart_failed)?;
    tracing::info!(on, "start with the computer");
    Ok(())
}

/// After the first setup: start with the computer, unless a person chose otherwise.
pub fn start_with_computer_by_default(app: &AppHandle) {
    if connection::preferences(app).start_with_computer.is_none()
        && let Err(e) = set_autostart(app, true)
    {
        tracing::warn!(error = %e.message, "could not set TempleSync to start with the computer");
    }
}

fn autostart_failed(e: tauri_plugin_autostart::Error) -> ErrorDto {
    ErrorDto::from(templesync_engine::Error::LocalFile {
        action: "change",
        path: "the list of programs that start with the computer".to_string(),
        reason: e.to_string(),
        advice: "Add TempleSync to the programs that start with the computer in the system's settings",
    })
}

/// The app's log file: kept for as long as the app runs.
pub struct LogGuard(#[allow(dead_code)] pub Option<tracing_appender::non_blocking::WorkerGuard>);

/// Where the app's log goes: stderr as before, and the app's log file.
pub fn init_tracing() -> LogGuard {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    use tracing_subscriber::{EnvFilter, Layer as _};
    let filter = EnvFilter::try_from_env("TEMPLESYNC_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,tao=warn,wry=warn,mongodb=warn"));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_filter(filter);
    let (file, guard, problem) = match log_files::open(log_files::Program::App) {
        Ok(f) => (
            Some(
                tracing_subscriber::fmt::layer()
                    .with_writer(f.writer)
                    .with_ansi(false)
                    .with_filter(EnvFilter::new(log_files::FILE_FILTER)),
            ),
            Some(f.guard),
            None,
        ),
        Err(e) => (None, None, Some(e)),
    };
    tracing_subscriber::registry()
        .with(stderr)
        .with(file)
        .init();
    if let Some(e) = problem {
        tracing::warn!("no log file: {e}");
    }
    LogGuard(guard)
}
