//! What a person sees at a glance: one [`SyncState`], its words and what to do, derived by
//! pure functions from the engine's and the monitor's view. The tray, the status bar, the web
//! screens and the REST API all get it from here, so they cannot disagree.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::words::{ago, seconds};
use crate::error::{ErrorBody, ErrorKind};
use crate::logs::RunStatus;
use crate::monitor::NetworkStatus;
use crate::this_pc::Pause;
use crate::{SyncConfig, SyncStatus};

/// The state shown by the status bar's colour and the tray icon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SyncState {
    /// No cloud database configured yet: the setup screen.
    NotConfigured,
    /// Started; the first look at the cloud has not answered yet.
    Checking,
    /// Online, nothing waiting for a person, the last run went well.
    Synced,
    /// A run is in progress.
    Syncing,
    /// The cloud cannot be reached; changes wait here and sync when it is back.
    Offline,
    /// Conflicts need a person's decision.
    Conflicts,
    /// Nothing syncs by itself (paused on this computer, or automatic sync off and no
    /// schedule): only "Sync now" does.
    Paused,
    /// The last run failed, the local database cannot be read, or a setting must be fixed.
    Failed,
}

impl SyncState {
    /// The state in a few words: the status bar's title.
    pub fn title(self) -> &'static str {
        match self {
            SyncState::NotConfigured => "Not set up yet",
            SyncState::Checking => "Checking the connection",
            SyncState::Synced => "Up to date",
            SyncState::Syncing => "Syncing",
            SyncState::Offline => "Offline",
            SyncState::Conflicts => "Needs a decision",
            SyncState::Paused => "Paused",
            SyncState::Failed => "Sync did not finish",
        }
    }
}

/// The facts the state is derived from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    pub configured: bool,
    /// The local database answered (the status could be read).
    pub local_ok: bool,
    /// The cloud was checked at least once.
    pub checked: bool,
    pub online: bool,
    /// Why the cloud is offline, when it is and that is known.
    pub offline_kind: Option<ErrorKind>,
    pub syncing: bool,
    /// Automatic sync is off and no schedule is set, or syncing is paused on this computer.
    pub paused: bool,
    pub unresolved: u64,
    pub last_run: Option<RunStatus>,
}

impl Facts {
    pub fn of(
        configured: bool,
        status: Option<&SyncStatus>,
        network: Option<&NetworkStatus>,
        config: Option<&SyncConfig>,
    ) -> Facts {
        Facts {
            configured,
            local_ok: status.is_some(),
            checked: network.is_none_or(|n| n.last_check.is_some()),
            online: match network {
                Some(n) => n.is_online,
                None => status.is_some_and(|s| s.is_online),
            },
            offline_kind: network.and_then(|n| n.last_error_kind),
            syncing: network.is_some_and(|n| n.is_syncing) || status.is_some_and(|s| s.is_syncing),
            paused: config
                .is_some_and(|c| !c.auto_sync_enabled && c.sync_interval_minutes.is_none()),
            unresolved: status.map_or(0, |s| s.unresolved_conflicts),
            last_run: status.and_then(|s| s.last_sync_status),
        }
    }
}

/// Most urgent first: a run in progress is what is happening now; a local database that
/// cannot be read hides everything else; a setting to fix never mends by itself; offline
/// explains why nothing moves (paused, when nothing would move anyway); then what needs a
/// person; paused last, as it is a choice someone made.
pub fn sync_state(f: &Facts) -> SyncState {
    let needs_setting = f
        .offline_kind
        .is_some_and(|k| matches!(k, ErrorKind::Config | ErrorKind::Credentials));
    if !f.configured {
        SyncState::NotConfigured
    } else if f.syncing {
        SyncState::Syncing
    } else if !f.local_ok {
        SyncState::Failed
    } else if !f.checked {
        SyncState::Checking
    } else if !f.online && needs_setting {
        SyncState::Failed
    } else if !f.online && f.paused {
        SyncState::Paused
    } else if !f.online {
        SyncState::Offline
    } else if f.unresolved > 0 {
        SyncState::Conflicts
    } else if f.last_run == Some(RunStatus::Failed) {
        SyncState::Failed
    } else if f.paused {
        SyncState::Paused
    } else {
        SyncState::Synced
    }
}

/// Everything a status screen needs, in one answer: the state, its words, what to do, and
/// the figures it was derived from.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Overview {
    pub state: SyncState,
    /// The state in a few words ("Up to date", "Needs a decision").
    pub title: String,
    /// The state in one sentence, for the tray and the first line of a status.
    pub headline: String,
    /// What to do now, when something waits for a person or explains why nothing moves.
    pub todo: Option<String>,
    /// "Last sync 5 minutes ago, completed in 1.2 s", or "Not synced yet"; none (null) when the
    /// history could not be read.
    pub last_sync: Option<String>,
    /// "Checked just now": when the cloud was last looked at.
    pub last_check: Option<String>,
    pub unresolved_conflicts: u64,
    /// The engine's status; none (null) when not configured or the local database cannot be read.
    pub status: Option<SyncStatus>,
    /// The monitor's view of the cloud; none (null) without a monitor (the command line).
    pub network: Option<NetworkStatus>,
    /// Why the status could not be read, or why the databases could not be opened.
    pub problem: Option<ErrorBody>,
    /// Syncing is paused on this computer (the Resume button's cue).
    pub paused_here: Option<Pause>,
}

/// What [`Overview::new`] is made from.
pub struct Seen<'a> {
    pub configured: bool,
    pub status: Option<&'a SyncStatus>,
    pub network: Option<&'a NetworkStatus>,
    pub config: Option<&'a SyncConfig>,
    /// Why the cloud did not answer, when it was checked without a monitor.
    pub offline_kind: Option<ErrorKind>,
    pub problem: Option<ErrorBody>,
    /// This computer's pause, when one holds.
    pub paused_here: Option<Pause>,
}

impl Overview {
    pub fn new(seen: Seen<'_>, now: DateTime<Utc>) -> Overview {
        let mut facts = Facts::of(seen.configured, seen.status, seen.network, seen.config);
        facts.offline_kind = facts.offline_kind.or(seen.offline_kind);
        facts.paused = facts.paused || seen.paused_here.is_some();
        Overview::with_state(sync_state(&facts), seen, now)
    }

    /// Before the databases are open: "checking" while the app starts, else "not set up"
    /// (with why the saved settings could not be opened, for the setup screen to show).
    pub fn without_engine(starting: bool, problem: Option<ErrorBody>) -> Overview {
        let state = if starting {
            SyncState::Checking
        } else {
            SyncState::NotConfigured
        };
        let seen = Seen {
            configured: false,
            status: None,
            network: None,
            config: None,
            offline_kind: None,
            problem,
            paused_here: None,
        };
        Overview::with_state(state, seen, Utc::now())
    }

    fn with_state(state: SyncState, seen: Seen<'_>, now: DateTime<Utc>) -> Overview {
        let unresolved = seen.status.map_or(0, |s| s.unresolved_conflicts);
        Overview {
            state,
            title: state.title().to_string(),
            headline: headline(state, unresolved, seen.paused_here.as_ref()),
            todo: todo(state, &seen),
            last_sync: seen.status.map(|s| last_sync(s, now)),
            last_check: seen
                .network
                .and_then(|n| n.last_check)
                .map(|t| format!("Checked {}", ago(t, now))),
            unresolved_conflicts: unresolved,
            status: seen.status.cloned(),
            network: seen.network.cloned(),
            paused_here: seen.paused_here,
            problem: seen.problem,
        }
    }
}

/// The state in one sentence (the tray's menu line: Linux trays show no tooltips).
fn headline(state: SyncState, unresolved: u64, paused_here: Option<&Pause>) -> String {
    match state {
        SyncState::Offline => "Offline: changes will sync when the cloud is back".to_string(),
        SyncState::Syncing => "Syncing now".to_string(),
        SyncState::Conflicts => match unresolved {
            1 => "1 conflict needs a decision".to_string(),
            n => format!("{n} conflicts need a decision"),
        },
        SyncState::Paused => match paused_here {
            Some(Pause {
                until: Some(until), ..
            }) => format!("Paused on this computer until {}", clock_time(*until)),
            Some(_) => "Paused on this computer until you resume".to_string(),
            None => "Paused: nothing syncs by itself until automatic sync is on".to_string(),
        },
        SyncState::Failed => "The last sync did not finish: open TempleSync to see why".to_string(),
        other => other.title().to_string(),
    }
}

/// What to do, in the words of the problem itself where there is one.
fn todo(state: SyncState, seen: &Seen<'_>) -> Option<String> {
    let status = seen.status;
    let network_error = seen.network.and_then(|n| n.last_error.clone());
    match state {
        _ if seen.problem.is_some() => seen.problem.as_ref().map(|p| p.message.clone()),
        SyncState::Offline => Some(
            network_error
                .or_else(|| status.and_then(|s| s.offline_reason.clone()))
                .unwrap_or_else(|| {
                    "Cannot reach the cloud database: check the internet connection; TempleSync will sync by itself when it is back".to_string()
                }),
        ),
        SyncState::Failed if status.is_some_and(|s| !s.is_online) => network_error
            .or_else(|| status.and_then(|s| s.offline_reason.clone())),
        SyncState::Failed => status
            .and_then(|s| s.last_sync_error.as_ref())
            .map(|e| format!("The last sync stopped: {e}")),
        SyncState::Paused if seen.paused_here.is_some() => Some(
            "Nothing syncs by itself on this computer while it is paused; the other computers go on. Sync now still sends and fetches changes; Resume syncing goes on by itself".to_string(),
        ),
        SyncState::Paused => Some(
            "Automatic sync is off: changes are sent only when someone presses Sync now. Turn automatic sync on in the settings to sync by itself again".to_string(),
        ),
        _ => status.and_then(|s| s.clock_warning.clone()),
    }
}

/// "Last sync 5 minutes ago, completed in 1.2 s".
fn last_sync(s: &SyncStatus, now: DateTime<Utc>) -> String {
    let (Some(at), Some(status)) = (s.last_sync_time, s.last_sync_status) else {
        return "Not synced yet".to_string();
    };
    let how = match (status, s.last_sync_duration) {
        (RunStatus::Completed, Some(d)) => format!("completed in {}", seconds(d)),
        (RunStatus::Completed, None) => "completed".to_string(),
        (RunStatus::Failed, _) => "failed".to_string(),
        (RunStatus::Interrupted, _) => "interrupted".to_string(),
        (RunStatus::Running, _) => "running".to_string(),
    };
    format!("Last sync {}, {how}", ago(at, now))
}

#[cfg(test)]
mod tests;

/// A time of day on this computer's clock ("15:30"), with the date when it is not today.
fn clock_time(at: DateTime<Utc>) -> String {
    let local = at.with_timezone(&chrono::Local);
    if local.date_naive() == chrono::Local::now().date_naive() {
        local.format("%H:%M").to_string()
    } else {
        local.format("%-d %b %H:%M").to_string()
    }
}
