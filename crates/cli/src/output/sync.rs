//! What a sync, a check of both sides and a choice about the cloud show.

use super::*;

pub fn sync_start_text(collections: &[String]) -> String {
    if collections.is_empty() {
        "🔄 Starting manual synchronization...\n\n".to_string()
    } else {
        format!(
            "🔄 Starting manual synchronization of {}...\n\n",
            collections.join(", ")
        )
    }
}

pub fn progress_line(p: &Progress) -> String {
    format!(
        "   … {}: {} pushed, {} pulled, {}",
        p.collection,
        p.pushed,
        p.pulled,
        plural(p.conflicts, "conflict")
    )
}

/// What to type when the cloud is not the one this computer last synced with.
pub(super) const CLOUD_CHOICES: &str = "\
To choose:
  templesync cloud send-local    treat this cloud as new and send this computer's data to it
                                 (nothing is deleted; documents that differ become conflicts)
  templesync cloud accept        accept the cloud as it is now (documents it no longer has
                                 are removed here; large removals still ask first)
";

/// What `verify` found, collection by collection.
pub fn verify_text(r: &templesync_engine::VerifyReport) -> String {
    let mut o = String::from("=== Both sides compared ===\n");
    for c in &r.collections {
        let _ = writeln!(
            o,
            "{} {}: {} here, {} in the cloud{}",
            if c.matches { "✓" } else { "✗" },
            c.collection,
            c.local_count,
            c.remote_count,
            if c.matches { ", the same" } else { "" }
        );
        let ids = |v: &[String], n: u64| {
            let more = if n as usize > v.len() { ", …" } else { "" };
            format!("{}{more}", v.join(", "))
        };
        if c.only_local > 0 {
            let _ = writeln!(
                o,
                "    only here: {} ({})",
                c.only_local,
                ids(&c.only_local_ids, c.only_local)
            );
        }
        if c.only_remote > 0 {
            let _ = writeln!(
                o,
                "    only in the cloud: {} ({})",
                c.only_remote,
                ids(&c.only_remote_ids, c.only_remote)
            );
        }
        if c.different > 0 {
            let _ = writeln!(
                o,
                "    different: {} ({})",
                c.different,
                ids(&c.different_ids, c.different)
            );
        }
    }
    o.push('\n');
    o.push_str(&r.summary);
    o.push('\n');
    if r.queued > 0 {
        let _ = writeln!(
            o,
            "{} documents are listed for the next sync: run `templesync sync`.",
            r.queued
        );
    } else if !r.matches {
        o.push_str("Run `templesync sync`; if they still differ, `templesync verify --repair` lists them for the next sync.\n");
    }
    o
}

/// What a person's choice about the cloud did.
pub fn cloud_choice_text(choice: templesync_engine::CloudChoice) -> String {
    match choice {
        templesync_engine::CloudChoice::SendLocal => "Done: the next sync treats this cloud as new. It sends this computer's documents and brings the cloud's, deleting nothing; documents that differ on the two sides are listed by `templesync conflicts`.\nRun `templesync sync` to do it now.\n".into(),
        templesync_engine::CloudChoice::AcceptCloud => "Done: the next sync accepts the cloud as it is now. Documents it no longer has are removed here (large removals are held for you first).\nRun `templesync sync` to do it now.\n".into(),
    }
}

/// The results of a run; `unresolved` is the number of conflicts open after it.
pub fn sync_results_text(run: &SyncRun, unresolved: u64) -> String {
    let mut o = String::from("=== Sync Results ===\n");
    let _ = writeln!(o, "Status: {}", run.status.as_str().to_uppercase());
    let _ = writeln!(o, "Duration: {}", seconds(run.duration_seconds));
    if let Some(e) = &run.error {
        let _ = writeln!(o, "Error: {e}");
    }
    if run.error_code.as_deref() == Some("cloud_changed") {
        o.push_str(CLOUD_CHOICES);
    }

    // The run's collections in its order, then any the counts name that it does not.
    let mut names = run.collections.clone();
    for m in [&run.local_to_remote, &run.remote_to_local, &run.conflicts] {
        for k in m.keys() {
            if !names.contains(k) {
                names.push(k.clone());
            }
        }
    }
    if names.is_empty() {
        o.push_str("\nNo collections to sync: both databases are empty.\n");
    } else {
        let count = |m: &BTreeMap<String, u64>, k: &str| m.get(k).copied().unwrap_or(0);
        o.push_str("\nPushed to remote:\n");
        for n in &names {
            let _ = writeln!(
                o,
                "  • {n}: {}",
                plural(count(&run.local_to_remote, n), "document")
            );
        }
        o.push_str("\nPulled from remote:\n");
        for n in &names {
            let _ = writeln!(
                o,
                "  • {n}: {}",
                plural(count(&run.remote_to_local, n), "document")
            );
        }
        o.push_str("\nConflicts detected:\n");
        let with_conflicts: Vec<_> = names
            .iter()
            .filter(|n| count(&run.conflicts, n) > 0)
            .collect();
        if with_conflicts.is_empty() {
            o.push_str("  (none)\n");
        }
        for n in with_conflicts {
            let _ = writeln!(
                o,
                "  ⚠ {n}: {}",
                plural(count(&run.conflicts, n), "conflict")
            );
        }
    }

    if !run.errors.is_empty() {
        let _ = writeln!(
            o,
            "\nDocuments that could not be synced ({}):",
            run.errors.len()
        );
        for e in &run.errors {
            let _ = writeln!(o, "  ✗ {} {}: {}", e.collection, e.document_id, e.message);
        }
        if run.quarantined.values().any(|n| *n > 0) {
            let _ = writeln!(o, "   {}", templesync_engine::quarantine::QUARANTINE_HINT);
        }
    }
    if unresolved > 0 {
        o.push('\n');
        o.push_str(&needs_resolution(unresolved, "⚠ "));
    }
    o
}
