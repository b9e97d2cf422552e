//! The status screen.

use super::*;

pub fn status_text(s: &SyncStatus, clock: &Clock) -> String {
    let mut o = String::from("=== Synchronization Status ===\n\n");
    if s.remote_configured {
        let host = s.remote_host.as_deref().unwrap_or("?");
        let _ = writeln!(o, "✓ Cloud database: CONFIGURED ({host})");
    } else {
        o.push_str("✗ Cloud database: NOT CONFIGURED\n");
        o.push_str("   Set MONGODB_CLOUD_URL in the .env file (or pass --remote-url) to sync with the cloud\n");
    }
    let _ = writeln!(
        o,
        "✓ Local database: {} (database '{}')\n",
        s.local_host, s.database
    );

    if !s.remote_configured {
        o.push_str("Connection Status: 🔴 OFFLINE (no cloud database configured)\n");
    } else if s.is_online {
        o.push_str("Connection Status: 🟢 ONLINE\n");
    } else {
        o.push_str("Connection Status: 🔴 OFFLINE\n");
        if let Some(r) = &s.offline_reason {
            let _ = writeln!(o, "   {r}");
        }
    }
    o.push_str(if s.is_syncing {
        "Sync Status: 🔄 Sync in progress\n\n"
    } else {
        "Sync Status: ✓ Ready\n\n"
    });

    match s.last_sync_time {
        Some(t) => {
            let _ = writeln!(o, "Last Sync: {} ({})", clock.time(t), clock.ago(t));
            if let Some(st) = s.last_sync_status {
                let _ = writeln!(o, "Status: {}", st.as_str());
            }
            let _ = writeln!(o, "Duration: {}", seconds(s.last_sync_duration));
            if let Some(e) = &s.last_sync_error {
                let _ = writeln!(o, "Error: {e}");
            }
        }
        None => o.push_str("Last Sync: Never\n"),
    }

    o.push_str(&totals_text(s));
    o
}

/// The totals, and what needs a person: open conflicts, documents set aside, the clock.
fn totals_text(s: &SyncStatus) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "\nTotal Syncs: {}", s.total_syncs_completed);
    let _ = writeln!(o, "Total Conflicts: {}", s.total_conflicts);
    let _ = writeln!(o, "Unresolved Conflicts: {}", s.unresolved_conflicts);
    if s.unresolved_conflicts > 0 {
        o.push('\n');
        o.push_str(&needs_resolution(s.unresolved_conflicts, "⚠ WARNING: "));
    }
    if s.quarantined_documents > 0 {
        let _ = writeln!(
            o,
            "\n⚠ {} could not be synced and {} set aside (quarantined):",
            plural(s.quarantined_documents, "document"),
            if s.quarantined_documents == 1 {
                "is"
            } else {
                "are"
            }
        );
        for q in &s.quarantined {
            let _ = writeln!(
                o,
                "  ✗ {} {} ({} database): {}",
                q.collection, q.document_id, q.side, q.reason
            );
        }
        let listed = s.quarantined.len() as u64;
        if s.quarantined_documents > listed {
            let _ = writeln!(o, "  … and {} more", s.quarantined_documents - listed);
        }
        let _ = writeln!(o, "   {}", templesync_engine::quarantine::QUARANTINE_HINT);
    }
    if let Some(w) = &s.clock_warning {
        let _ = writeln!(o, "\n⚠ CLOCK: {w}");
    }
    o
}

/// `templesync status`: the words every front end shows (the state, and what to do), then the
/// details.
pub fn overview_text(
    ov: &templesync_engine::app::Overview,
    s: &SyncStatus,
    clock: &Clock,
) -> String {
    let mut o = format!("Now: {}. {}\n", ov.title, ov.headline);
    if let Some(todo) = &ov.todo {
        let _ = writeln!(o, "What to do: {todo}");
    }
    o.push('\n');
    o.push_str(&status_text(s, clock));
    o
}

pub(super) fn needs_resolution(n: u64, prefix: &str) -> String {
    let verb = if n == 1 { "needs" } else { "need" };
    format!(
        "{prefix}{} {verb} resolution\n   Run: templesync conflicts\n",
        plural(n, "conflict")
    )
}
