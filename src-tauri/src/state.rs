//! What the app shows at a glance: one [`SyncState`] derived from the monitor's and the
//! engine's view, by a pure function (the tray, the status bar and the tests share it).

use serde::Serialize;
use templesync_engine::{NetworkStatus, RunStatus, SyncStatus};

use crate::error::ErrorDto;

/// The state shown by the status bar's colour and the tray icon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, specta::Type)]
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
    /// The last run failed, or the local database cannot be read.
    Failed,
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
    pub syncing: bool,
    pub unresolved: u64,
    pub last_run: Option<RunStatus>,
}

impl Facts {
    pub fn of(
        configured: bool,
        status: Option<&SyncStatus>,
        network: Option<&NetworkStatus>,
    ) -> Facts {
        Facts {
            configured,
            local_ok: status.is_some(),
            checked: network.is_some_and(|n| n.last_check.is_some()),
            online: network.is_some_and(|n| n.is_online),
            syncing: network.is_some_and(|n| n.is_syncing) || status.is_some_and(|s| s.is_syncing),
            unresolved: status.map_or(0, |s| s.unresolved_conflicts),
            last_run: status.and_then(|s| s.last_sync_status),
        }
    }
}

/// Most urgent first: a run in progress is what is happening now; a local database that
/// cannot be read hides everything else; offline explains why nothing moves; then what needs
/// a person.
pub fn sync_state(f: &Facts) -> SyncState {
    if !f.configured {
        SyncState::NotConfigured
    } else if f.syncing {
        SyncState::Syncing
    } else if !f.local_ok {
        SyncState::Failed
    } else if !f.checked {
        SyncState::Checking
    } else if !f.online {
        SyncState::Offline
    } else if f.unresolved > 0 {
        SyncState::Conflicts
    } else if f.last_run == Some(RunStatus::Failed) {
        SyncState::Failed
    } else {
        SyncState::Synced
    }
}

/// Everything the status bar needs, in one answer (and one event).
#[derive(Debug, Clone, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct Overview {
    pub state: SyncState,
    /// The engine's status; `None` when not configured or the local database cannot be read.
    pub status: Option<SyncStatus>,
    /// The monitor's view of the cloud; `None` when not configured.
    pub network: Option<NetworkStatus>,
    /// Why the status could not be read, or why the databases could not be opened.
    pub problem: Option<ErrorDto>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy() -> Facts {
        Facts {
            configured: true,
            local_ok: true,
            checked: true,
            online: true,
            syncing: false,
            unresolved: 0,
            last_run: Some(RunStatus::Completed),
        }
    }

    #[test]
    fn each_state_comes_from_its_facts() {
        let cases = [
            (healthy(), SyncState::Synced),
            (
                Facts {
                    last_run: None,
                    ..healthy()
                },
                SyncState::Synced,
            ),
            (
                Facts {
                    configured: false,
                    ..Facts::default()
                },
                SyncState::NotConfigured,
            ),
            (
                Facts {
                    checked: false,
                    online: false,
                    ..healthy()
                },
                SyncState::Checking,
            ),
            (
                Facts {
                    syncing: true,
                    ..healthy()
                },
                SyncState::Syncing,
            ),
            (
                Facts {
                    online: false,
                    ..healthy()
                },
                SyncState::Offline,
            ),
            (
                Facts {
                    unresolved: 2,
                    ..healthy()
                },
                SyncState::Conflicts,
            ),
            (
                Facts {
                    last_run: Some(RunStatus::Failed),
                    ..healthy()
                },
                SyncState::Failed,
            ),
            (
                Facts {
                    local_ok: false,
                    ..healthy()
                },
                SyncState::Failed,
            ),
        ];
        for (facts, want) in cases {
            assert_eq!(sync_state(&facts), want, "{facts:?}");
        }
    }

    #[test]
    fn a_run_in_progress_shows_even_when_conflicts_or_failures_are_pending() {
        let f = Facts {
            syncing: true,
            unresolved: 3,
            last_run: Some(RunStatus::Failed),
            ..healthy()
        };
        assert_eq!(sync_state(&f), SyncState::Syncing);
    }

    #[test]
    fn offline_outranks_conflicts_because_it_explains_why_nothing_moves() {
        let f = Facts {
            online: false,
            unresolved: 1,
            ..healthy()
        };
        assert_eq!(sync_state(&f), SyncState::Offline);
    }

    #[test]
    fn a_failed_run_that_later_conflicts_shows_the_conflicts_first() {
        let f = Facts {
            unresolved: 1,
            last_run: Some(RunStatus::Failed),
            ..healthy()
        };
        assert_eq!(sync_state(&f), SyncState::Conflicts);
    }
}
