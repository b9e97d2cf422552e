//! The settings screen, and pause/resume.

use super::*;

pub fn config_text(cfg: &SyncConfig, settings: &Settings) -> String {
    let yes_no = |b: bool| if b { "Yes" } else { "No" };
    let mut o = String::from("=== Sync Configuration ===\n\n");
    let _ = writeln!(o, "Local database: {}", redact_url(&settings.local_url));
    let _ = writeln!(
        o,
        "Cloud database: {}",
        settings.remote_url.as_deref().map_or_else(
            || "NOT CONFIGURED (set MONGODB_CLOUD_URL)".into(),
            redact_url
        )
    );
    let _ = writeln!(o, "Database name: {}\n", settings.database);

    let _ = writeln!(
        o,
        "Auto-sync on reconnect (autoSyncEnabled): {}",
        yes_no(cfg.auto_sync_enabled)
    );
    let interval = cfg.sync_interval_minutes.map_or_else(
        || "Disabled".into(),
        |m| format!("every {}", plural(m.into(), "minute")),
    );
    let _ = writeln!(
        o,
        "Periodic sync interval (syncIntervalMinutes): {interval}"
    );
    let _ = writeln!(
        o,
        "Default conflict resolution (conflictResolutionStrategy): {}",
        cfg.conflict_resolution_strategy.as_str()
    );
    let _ = writeln!(o, "Batch size (batchSize): {}", cfg.batch_size);
    let _ = writeln!(o, "Max retries (maxRetries): {}", cfg.max_retries);
    let _ = writeln!(
        o,
        "Connection check every (checkIntervalSeconds): {} seconds",
        cfg.check_interval_seconds
    );

    if cfg.collections_to_sync.is_empty() {
        o.push_str("\nCollections to sync (collectionsToSync): all\n");
    } else {
        let _ = writeln!(
            o,
            "\nCollections to sync (collectionsToSync) ({}):",
            cfg.collections_to_sync.len()
        );
        for c in &cfg.collections_to_sync {
            let _ = writeln!(o, "  • {c}");
        }
    }
    o.push_str("\nUnique fields (uniqueFields):\n");
    if cfg.unique_fields.is_empty() {
        o.push_str("  (none)\n");
    }
    for (coll, fields) in &cfg.unique_fields {
        let _ = writeln!(o, "  • {coll}: {}", fields.join(", "));
    }
    o.push_str(
        "\nTo change a setting: templesync config set syncIntervalMinutes=60 batchSize=200\n",
    );
    o
}

pub fn config_saved_text(cfg: &SyncConfig, settings: &Settings) -> String {
    format!("✓ Saved\n\n{}", config_text(cfg, settings))
}

/// What `templesync pause` and `resume` answer (`--json`: `{"pause": null}` when resumed).
#[derive(Debug, serde::Serialize)]
pub struct PausedHere {
    pub pause: Option<templesync_engine::Pause>,
}

/// After `templesync pause` or `resume`.
pub fn paused_text(p: &PausedHere) -> String {
    match p.pause.as_ref().map(|p| p.until) {
        None => {
            "✓ Syncing by itself again on this computer (at once, when TempleSync is running).\n"
                .to_string()
        }
        Some(until) => {
            let when = match until {
                Some(t) => format!(
                    "until {}",
                    t.with_timezone(&chrono::Local).format("%-d %b %H:%M")
                ),
                None => "until you resume".to_string(),
            };
            format!(
                "✓ Paused on this computer {when}: nothing syncs by itself here; the other computers go on.\n  Sync by hand with: templesync sync    Resume with: templesync resume\n"
            )
        }
    }
}

/// `templesync about`.
pub fn about_text(a: &templesync_engine::app::about::About) -> String {
    let mut s = format!(
        "TempleSync {} (engine {}) on {}\n\n",
        a.version, a.engine_version, a.system
    );
    let folder = |p: &std::path::Path| p.display().to_string();
    match &a.places {
        Some(p) => {
            s.push_str(&format!("  Settings folder   {}\n", folder(&p.config)));
            s.push_str(&format!("  Data folder       {}\n", folder(&p.data)));
            s.push_str(&format!("  Log folder        {}\n", folder(&p.logs)));
        }
        None => s.push_str(
            "  This computer does not say where the home folder is: set TEMPLESYNC_HOME\n",
        ),
    }
    s.push_str(&format!(
        "\n  This computer     {} · {}\n",
        a.local_database, a.database_name
    ));
    s.push_str(&format!(
        "  Cloud             {}\n",
        a.cloud_database
            .as_deref()
            .unwrap_or("not set (MONGODB_CLOUD_URL)")
    ));
    s
}

/// After `templesync support-bundle`.
pub fn support_file_text(f: &templesync_engine::app::support::SupportFile) -> String {
    let mut s = format!(
        "✓ Support file written: {} ({} KB, {} parts). Every password was removed from it.\n",
        f.path,
        f.bytes.div_ceil(1024),
        f.entries.len()
    );
    if !f.missing.is_empty() {
        s.push_str("  Some parts could not be read (the file says so too):\n");
        for m in &f.missing {
            s.push_str(&format!("  - {m}\n"));
        }
    }
    s.push_str("  Send it to whoever helps you with TempleSync.\n");
    s
}

/// `templesync history COLLECTION ID`.
pub fn versions_text(
    collection: &str,
    id: &str,
    versions: &[templesync_engine::history::Version],
    clock: &super::Clock,
) -> String {
    use templesync_engine::history::Replaced;
    let mut s = format!(
        "{collection} {id}: {} kept, newest first\n\n",
        super::plural(versions.len() as u64, "version")
    );
    for v in versions {
        let side = if v.side == "cloud" {
            "the cloud's"
        } else {
            "this computer's"
        };
        let how = match v.replaced {
            Replaced::Overwritten => "overwritten by a sync",
            Replaced::Deleted => "deleted by a sync",
            Replaced::Restored => "replaced by a restore",
        };
        let changed = if v.changed_fields.is_empty() {
            "no field changed".to_string()
        } else if v.replaced == Replaced::Deleted {
            "the whole document".to_string()
        } else {
            format!("changed: {}", v.changed_fields.join(", "))
        };
        s.push_str(&format!(
            "  {:>2}  {} ({})  {side} copy, {how} ({changed})\n      {}\n",
            v.number,
            clock.time(v.at),
            clock.ago(v.at),
            v.document
        ));
    }
    s.push_str(&format!(
        "\nRestore one with: templesync restore {collection} {id} --version N\n"
    ));
    s
}

/// After `templesync restore`.
pub fn restored_text(r: &templesync_engine::Restored) -> String {
    format!(
        "✓ Version {} of {} {} is back on this computer as a new edit.\n  The next sync sends it to the cloud (or shows a conflict if the cloud changed it meanwhile): templesync sync\n",
        r.version, r.collection, r.id
    )
}

/// `templesync undo-run RUN_ID [--dry-run]`.
pub fn undo_run_text(u: &templesync_engine::UndoRun) -> String {
    use templesync_engine::history::Replaced;
    if u.items.is_empty() {
        return format!(
            "Run {} replaced nothing that is still kept: nothing to undo.\n",
            u.run_id
        );
    }
    let mut s = if u.done {
        format!(
            "✓ Run {} taken back: {} written on this computer as new edits.\n  The next sync sends them to the cloud: templesync sync\n\n",
            u.run_id,
            super::plural(u.items.len() as u64, "document")
        )
    } else {
        format!(
            "Undoing run {} would bring back {} (nothing was changed):\n\n",
            u.run_id,
            super::plural(u.items.len() as u64, "document")
        )
    };
    for i in &u.items {
        let what = match (i.replaced, i.side.as_str()) {
            (Replaced::Deleted, "cloud") => "deleted in the cloud",
            (Replaced::Deleted, _) => "deleted here",
            (_, "cloud") => "overwritten in the cloud",
            _ => "overwritten here",
        };
        s.push_str(&format!("  {} {}  ({what})\n", i.collection, i.id));
    }
    if !u.done {
        s.push_str(&format!("\nDo it with: templesync undo-run {}\n", u.run_id));
    }
    s
}
