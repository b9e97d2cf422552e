use super::*;
use chrono::TimeZone;
use serde_json::json;
use templesync_engine::Trigger;
use templesync_engine::conflicts::FieldView;
use templesync_engine::logs::DocumentError;

fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 10, 19, h, m, s).unwrap()
}

fn clock() -> Clock {
    Clock::fixed(at(10, 35, 0), FixedOffset::east_opt(0).unwrap())
}

fn unique_conflict() -> Conflict {
    Conflict {
        id: "670abc123def456789012345".into(),
        kind: ConflictKind::Unique,
        collection: "admins".into(),
        local_id: "6710aa00aa00aa00aa00aa01".into(),
        remote_id: "6710bb00bb00bb00bb00bb02".into(),
        field: Some("username".into()),
        local_value: json!("john_admin"),
        remote_value: json!("john_admin"),
        base_value: Value::Null,
        timestamp: at(10, 25, 0),
        resolved: false,
        notes: "Unique field 'username' conflicts with existing remote document".into(),
        deleted_on: None,
        fields: vec![],
        local_document: json!({}),
        remote_document: json!({}),
        base_document: Value::Null,
        suggested_value: Some(json!("john_admin_a7k2")),
        resolution: None,
        resolved_by: None,
        resolved_at: None,
        resolution_notes: None,
        auto_resolved: false,
        count: None,
        sample: Vec::new(),
    }
}

fn run() -> SyncRun {
    SyncRun {
        id: "6710cc00cc00cc00cc00cc03".into(),
        start_time: at(10, 30, 0),
        end_time: Some(at(10, 30, 15)),
        status: RunStatus::Completed,
        trigger: Trigger::Manual,
        collections: vec!["admins".into(), "bookings".into()],
        local_to_remote: BTreeMap::from([("admins".into(), 5), ("bookings".into(), 12)]),
        remote_to_local: BTreeMap::from([("admins".into(), 1), ("bookings".into(), 0)]),
        conflicts: BTreeMap::from([("admins".into(), 1), ("bookings".into(), 0)]),
        duration_seconds: Some(15.234),
        error: None,
        error_code: None,
        errors: vec![],
        quarantined: BTreeMap::new(),
        documents_read: BTreeMap::new(),
        host: "office-pc".into(),
    }
}

#[test]
fn how_long_ago_is_worded_as_the_tray_and_the_screens_word_it() {
    let now = at(10, 35, 0);
    assert_eq!(relative_time(at(10, 30, 0), now), "5 minutes ago");
    assert_eq!(
        relative_time(at(10, 30, 0), now),
        templesync_engine::app::words::ago(at(10, 30, 0), now)
    );
}

#[test]
fn sync_results_list_every_collection_and_only_those_with_conflicts() {
    let text = sync_results_text(&run(), 1);
    let expected = "\
=== Sync Results ===
Status: COMPLETED
Duration: 15.23 seconds

Pushed to remote:
  • admins: 5 documents
  • bookings: 12 documents

Pulled from remote:
  • admins: 1 document
  • bookings: 0 documents

Conflicts detected:
  ⚠ admins: 1 conflict

⚠ 1 conflict needs resolution
   Run: templesync conflicts
";
    assert_eq!(text, expected);
}

#[test]
fn sync_results_say_none_and_list_document_errors() {
    let mut r = run();
    r.conflicts.clear();
    r.errors.push(DocumentError {
        collection: "bookings".into(),
        document_id: "42".into(),
        message: "the cloud refused the document".into(),
    });
    let text = sync_results_text(&r, 0);
    assert!(text.contains("Conflicts detected:\n  (none)\n"), "{text}");
    assert!(
        text.contains("  ✗ bookings 42: the cloud refused the document"),
        "{text}"
    );
    assert!(
        !text.contains("templesync conflicts"),
        "no advice without open conflicts: {text}"
    );
}

#[test]
fn the_conflicts_screen_shows_summary_details_and_a_command_to_copy() {
    let text = conflicts_text(&[unique_conflict()], &clock(), false);
    assert!(
        text.starts_with("=== Sync Conflicts ===\n\nCollection: admins (1 conflict)\n"),
        "{text}"
    );
    assert!(
        text.contains("  1. username = 'john_admin' [⚠ Unresolved]\n"),
        "{text}"
    );
    assert!(text.contains(
        "=== Unresolved Conflicts (Detailed) ===\n\n1. Conflict ID: 670abc123def456789012345\n"
    ));
    for line in [
        "   Collection: admins\n",
        "   Field: username\n",
        "   Local Value: john_admin\n",
        "   Remote Value: john_admin\n",
        "   Time: 2025-10-19 10:25:00\n",
        "   Notes: Unique field 'username' conflicts with existing remote document\n",
        "     1. Rename local 'username' to 'john_admin_a7k2' to avoid conflict\n",
        "     2. Discard local changes and use remote value\n",
        "     templesync resolve 670abc123def456789012345 --strategy <strategy>\n",
        "     templesync resolve 670abc123def456789012345 --strategy rename_local --value john_admin_a7k2\n",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
}

#[test]
fn resolved_conflicts_are_listed_but_not_detailed() {
    let mut c = unique_conflict();
    c.resolved = true;
    c.resolution = Some("keep_remote".into());
    c.resolved_by = Some("priya".into());
    let text = conflicts_text(&[c], &clock(), true);
    assert!(
        text.contains("[✓ Resolved: keep_remote by priya]"),
        "{text}"
    );
    assert!(!text.contains("Detailed"), "{text}");
    assert_eq!(
        conflicts_text(&[], &clock(), false),
        "✓ No unresolved conflicts\n"
    );
}

#[test]
fn multi_field_update_conflicts_suggest_a_json_merge_value() {
    let mut c = unique_conflict();
    c.kind = ConflictKind::Update;
    c.field = Some("name, phone".into());
    c.suggested_value = None;
    c.fields = ["name", "phone"]
        .map(|p| FieldView {
            path: p.into(),
            local: json!("l"),
            remote: json!("r"),
            base: json!("b"),
        })
        .to_vec();
    let recs = recommendations(&c);
    assert_eq!(recs[0].1, "--strategy keep_local");
    assert_eq!(
        recs[2].1,
        r#"--strategy merge --value '{"name":"...","phone":"..."}'"#
    );
    let text = conflicts_text(&[c], &clock(), false);
    assert!(
        text.contains("     phone: local 'l', remote 'r' (last synced: 'b')"),
        "{text}"
    );
    assert!(
        text.contains(
            "  1. name, phone changed on both sides in document 6710aa00aa00aa00aa00aa01 [⚠"
        ),
        "{text}"
    );
}

#[test]
fn documents_are_named_by_their_username_where_they_have_one() {
    let mut c = unique_conflict();
    c.kind = ConflictKind::Delete;
    c.deleted_on = Some("local".into());
    c.remote_document = json!({ "username": "ravi", "name": "Ravi K" });
    let text = conflicts_text(&[c], &clock(), false);
    assert!(
        text.contains("  1. document 6710aa00aa00aa00aa00aa01 (username 'ravi') deleted here, changed in the cloud"),
        "{text}"
    );
}

#[test]
fn delete_conflicts_offer_the_choice_that_keeps_data_first() {
    let mut c = unique_conflict();
    c.kind = ConflictKind::Delete;
    c.deleted_on = Some("local".into());
    assert_eq!(recommendations(&c)[0].1, "--strategy keep_remote");
    c.deleted_on = Some("remote".into());
    assert_eq!(recommendations(&c)[0].1, "--strategy keep_local");
}

#[test]
fn status_shows_offline_reason_and_warning() {
    let s = SyncStatus {
        last_sync_time: Some(at(10, 30, 0)),
        last_sync_status: Some(RunStatus::Completed),
        last_sync_duration: Some(15.2),
        last_sync_error: None,
        total_syncs_completed: 42,
        total_conflicts: 3,
        unresolved_conflicts: 2,
        is_online: false,
        is_syncing: false,
        remote_configured: true,
        remote_host: Some("cluster0.example.net".into()),
        local_host: "localhost:27017".into(),
        database: "temple_db".into(),
        offline_reason: Some("Cannot reach the cloud database".into()),
        clock_skew_seconds: Some(600.0),
        clock_warning: templesync_engine::clock_warning(600.0),
        quarantined_documents: 0,
        quarantined: Vec::new(),
    };
    let text = status_text(&s, &clock());
    for line in [
        "✓ Cloud database: CONFIGURED (cluster0.example.net)\n",
        "Connection Status: 🔴 OFFLINE\n   Cannot reach the cloud database\n",
        "Last Sync: 2025-10-19 10:30:00 (5 minutes ago)\n",
        "Duration: 15.20 seconds\n",
        "⚠ WARNING: 2 conflicts need resolution\n   Run: templesync conflicts\n",
        "⚠ CLOCK: This computer's clock is about 10 minutes fast",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
}

#[test]
fn status_without_a_cloud_says_how_to_configure_it() {
    let s = SyncStatus {
        last_sync_time: None,
        last_sync_status: None,
        last_sync_duration: None,
        last_sync_error: None,
        total_syncs_completed: 0,
        total_conflicts: 0,
        unresolved_conflicts: 0,
        is_online: false,
        is_syncing: false,
        remote_configured: false,
        remote_host: None,
        local_host: "localhost:27017".into(),
        database: "temple_db".into(),
        offline_reason: Some("Remote database not configured".into()),
        clock_skew_seconds: None,
        clock_warning: None,
        quarantined_documents: 0,
        quarantined: Vec::new(),
    };
    let text = status_text(&s, &clock());
    assert!(
        text.contains("✗ Cloud database: NOT CONFIGURED\n   Set MONGODB_CLOUD_URL"),
        "{text}"
    );
    assert!(text.contains("Last Sync: Never\n"), "{text}");
    assert!(!text.contains("WARNING"), "{text}");
}

#[test]
fn the_resolve_screen_does_not_repeat_the_strategy() {
    let r = ResolveOutcome {
        success: true,
        message: "Conflict resolved using rename_local strategy. Local username changed to 'x_2'; the next sync sends it to the cloud".into(),
        conflict_id: "id".into(),
        resolved_by: "priya".into(),
        resolved_at: at(10, 0, 0),
    };
    let text = resolved_text(&r, "rename_local");
    assert!(text.starts_with(
        "✓ Conflict resolved successfully using 'rename_local' strategy\n  Local username changed to 'x_2'; the next sync"
    ));
    assert!(text.contains("Next steps:\n  1. Run: templesync sync\n"));
}

#[test]
fn logs_are_a_table_with_errors_under_failed_runs() {
    let mut failed = run();
    failed.status = RunStatus::Failed;
    failed.error = Some("Cannot reach the cloud database".into());
    failed.duration_seconds = Some(0.5);
    let text = logs_text(&[run(), failed], &clock());
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[2].starts_with("Time "), "{text}");
    assert!(
        lines[3].starts_with(
            "2025-10-19 10:30:00  manual     completed        17       1          1    15.23 s"
        ),
        "{text}"
    );
    assert_eq!(lines[5], "    Error: Cannot reach the cloud database");
}

#[test]
fn values_are_quoted_for_the_shell_only_when_needed() {
    assert_eq!(shell_quote("john_admin_a7k2"), "john_admin_a7k2");
    assert_eq!(shell_quote("Sri Rama"), "'Sri Rama'");
    assert_eq!(shell_quote("it's"), r"'it'\''s'");
    assert_eq!(show_value(&json!(3)), "3");
    assert_eq!(show_value(&Value::Null), "(none)");
    assert!(show_value(&json!("x".repeat(300))).ends_with('…'));
}

#[test]
fn a_held_mass_delete_shows_its_count_and_a_sample_not_one_document() {
    let mut c = unique_conflict();
    c.kind = ConflictKind::Bulk;
    c.collection = "bookings".into();
    c.local_id = String::new();
    c.field = None;
    c.deleted_on = Some("remote".into());
    c.count = Some(60);
    c.sample = vec!["1".into(), "2".into(), "3".into()];
    let text = conflicts_text(&[c], &clock(), false);
    assert!(text.contains("   Documents: 60 (e.g. 1, 2, 3)\n"), "{text}");
    assert!(!text.contains("Document: null"), "{text}");
}
