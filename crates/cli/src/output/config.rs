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

/// After `templesync pause` or `resume`.
pub fn paused_text(auto_sync_enabled: bool) -> String {
    if auto_sync_enabled {
        "✓ Automatic sync is on again: TempleSync syncs by itself when the cloud is reachable.\n  A schedule (syncIntervalMinutes) is set with: templesync config set syncIntervalMinutes=60\n".to_string()
    } else {
        "✓ Paused: nothing syncs by itself (no automatic runs, no schedule).\n  Sync by hand with: templesync sync    Turn it back on with: templesync resume\n".to_string()
    }
}
