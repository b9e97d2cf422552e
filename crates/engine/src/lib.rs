//! The TempleSync sync engine: keeps a local MongoDB database and a remote (cloud) MongoDB
//! database of the same name in step, both ways, without losing or silently overwriting data.
//!
//! Every front end (the `templesync` CLI and REST API, the desktop app) holds one [`Engine`]
//! and calls it; nothing here knows about any of them. The decisions of a sync are pure
//! functions in [`reconcile`]; the I/O that feeds them lives in the private run machinery.
//! See `docs/sync-protocol.md` for the protocol.

pub mod app;
mod bulk;
pub mod clock;
pub mod config;
pub mod conflicts;
pub mod content;
mod engine;
pub mod error;
mod exact;
mod feed;
pub mod history;
pub mod identity;
pub mod json;
mod lock;
pub mod log_files;
pub mod logs;
pub mod monitor;
#[cfg(feature = "openapi")]
mod openapi;
pub mod places;
pub mod quarantine;
pub mod reconcile;
mod retention;
mod run;
pub mod settings;
pub mod store;
pub mod this_pc;
mod unique;
pub mod verify;

pub use app::{App, Decision, Overview, SettingsChange, SyncState, Via};
pub use config::{ConflictStrategy, SyncConfig};
pub use conflicts::{
    AutoResolveReport, Conflict, ConflictKind, Resolution, ResolveOutcome, ResolveValue, Strategy,
};
pub use engine::{
    CLOCK_SKEW_WARNING_SECONDS, Engine, EngineOptions, Restored, SyncRequest, SyncStatus, UndoItem,
    UndoRun, clock_warning,
};
pub use error::{Error, ErrorBody, ErrorKind, Result};
pub use identity::CloudChoice;
pub use logs::{RunStatus, SyncRun, Trigger};
pub use monitor::{Monitor, MonitorEvent, MonitorOptions, NetworkStatus};
pub use places::Places;
pub use quarantine::QuarantinedDocument;
pub use run::{Progress, ProgressFn, Step, StepHook};
pub use settings::{Settings, redact_url};
pub use this_pc::{Pause, ThisPc};
pub use verify::{CollectionCheck, VerifyReport};
