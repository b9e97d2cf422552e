use super::*;

fn healthy() -> Facts {
    Facts {
        configured: true,
        local_ok: true,
        checked: true,
        online: true,
        offline_kind: None,
        syncing: false,
        paused: false,
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
                paused: true,
                ..healthy()
            },
            SyncState::Paused,
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

#[test]
fn a_refused_connection_string_is_an_error_to_fix_not_offline_to_wait_for() {
    for kind in [ErrorKind::Config, ErrorKind::Credentials] {
        let f = Facts {
            online: false,
            offline_kind: Some(kind),
            ..healthy()
        };
        assert_eq!(sync_state(&f), SyncState::Failed, "{kind:?}");
    }
    let f = Facts {
        online: false,
        offline_kind: Some(ErrorKind::Unavailable),
        ..healthy()
    };
    assert_eq!(sync_state(&f), SyncState::Offline);
}

#[test]
fn paused_outranks_offline_because_nothing_would_sync_when_the_cloud_is_back() {
    let f = Facts {
        online: false,
        paused: true,
        ..healthy()
    };
    assert_eq!(sync_state(&f), SyncState::Paused);
}

#[test]
fn the_overview_words_its_state_and_what_to_do() {
    let none = Overview::without_engine(false, None);
    assert_eq!(none.state, SyncState::NotConfigured);
    assert_eq!(none.title, "Not set up yet");
    assert_eq!(
        Overview::without_engine(true, None).state,
        SyncState::Checking
    );
    assert_eq!(
        headline(SyncState::Conflicts, 1, None),
        "1 conflict needs a decision"
    );
    assert_eq!(
        headline(SyncState::Conflicts, 3, None),
        "3 conflicts need a decision"
    );
    assert_eq!(headline(SyncState::Synced, 0, None), "Up to date");
}

#[test]
fn a_pause_here_is_worded_as_this_computer_s_with_its_end() {
    let now = Utc::now();
    let forever = crate::this_pc::Pause {
        since: now,
        until: None,
    };
    assert_eq!(
        headline(SyncState::Paused, 0, Some(&forever)),
        "Paused on this computer until you resume"
    );
    let hour = crate::this_pc::Pause {
        since: now,
        until: Some(now + chrono::Duration::hours(1)),
    };
    let said = headline(SyncState::Paused, 0, Some(&hour));
    assert!(said.starts_with("Paused on this computer until "), "{said}");
    assert!(said.contains(':'), "a time of day: {said}");
    assert_eq!(
        headline(SyncState::Paused, 0, None),
        "Paused: nothing syncs by itself until automatic sync is on",
        "the shared setting, worded as before"
    );
}

#[test]
fn conflicts_and_a_failed_run_outrank_paused_because_they_need_a_person() {
    let f = Facts {
        paused: true,
        unresolved: 1,
        ..healthy()
    };
    assert_eq!(sync_state(&f), SyncState::Conflicts);
    let f = Facts {
        paused: true,
        last_run: Some(RunStatus::Failed),
        ..healthy()
    };
    assert_eq!(sync_state(&f), SyncState::Failed);
}
