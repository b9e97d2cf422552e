//! The typed events the UI listens to (tauri-specta generates their TypeScript).

use serde::Serialize;
use templesync_engine::MonitorEvent;

use templesync_engine::Overview;

/// What the monitor reports as it happens: runs starting and ending, live progress per
/// collection, connectivity changes.
#[derive(Debug, Clone, Serialize, specta::Type, tauri_specta::Event)]
pub struct SyncActivity(pub MonitorEvent);

/// The status bar's content changed (sent after every change of state, and every few
/// seconds so relative times stay fresh).
#[derive(Debug, Clone, Serialize, specta::Type, tauri_specta::Event)]
pub struct OverviewChanged(pub Overview);
