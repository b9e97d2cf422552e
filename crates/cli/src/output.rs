//! Everything the CLI shows. The screens are pure functions from engine values to text (so
//! they are unit-tested); [`Out`] is the one place that writes to stdout.
//!
//! The wording follows the original Python tool's screens, in words office staff can follow.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, Local, Utc};
use serde::Serialize;
use serde_json::Value;
use templesync_engine::conflicts::AutoResolveItem;
use templesync_engine::{
    AutoResolveReport, Conflict, ConflictKind, Progress, ProgressFn, ResolveOutcome, RunStatus,
    Settings, SyncConfig, SyncRun, SyncStatus, redact_url,
};

/// Where output goes: text for people, or exactly one JSON document for scripts.
pub struct Out {
    json: bool,
}

impl Out {
    pub fn new(json: bool) -> Out {
        Out { json }
    }

    /// Text shown to people only (nothing in `--json` mode).
    pub fn text(&self, text: &str) {
        if !self.json {
            write_stdout(text);
        }
    }

    /// The answer of a command: `value` as JSON, or the text `human` makes of it.
    pub fn show<T: Serialize>(
        &self,
        value: &T,
        human: impl FnOnce(&T) -> String,
    ) -> anyhow::Result<()> {
        if self.json {
            let mut doc = serde_json::to_string_pretty(value)?;
            doc.push('\n');
            write_stdout(&doc);
        } else {
            write_stdout(&human(value));
        }
        Ok(())
    }

    /// Live progress of a sync, on stderr and only when a person is watching it.
    pub fn progress(&self) -> Option<ProgressFn> {
        if self.json || !std::io::stderr().is_terminal() {
            return None;
        }
        Some(Arc::new(|p: Progress| eprintln!("{}", progress_line(&p))))
    }

    /// An error: always `Error: ...` on stderr, plus `{"error": {code, message}}` on stdout in
    /// `--json` mode, so a script still gets one JSON document.
    pub fn error(&self, code: &str, message: &str, hint: Option<&str>) {
        eprintln!("Error: {message}");
        if let Some(h) = hint {
            eprintln!("{h}");
        }
        if self.json {
            json_error(code, message);
        }
    }
}

/// One line on stderr.
pub fn stderr_line(line: &str) {
    eprintln!("{line}");
}

/// `{"error": {"code", "message"}}` on stdout: what a script gets instead of an answer.
pub fn json_error(code: &str, message: &str) {
    let doc = serde_json::json!({ "error": { "code": code, "message": message } });
    write_stdout(&format!("{doc:#}\n"));
}

/// Writes to stdout; a closed pipe (`templesync logs | head`) is not an error worth a panic.
fn write_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// "Now" and the time zone screens are shown in: the computer's, or a fixed one in tests.
pub struct Clock {
    now: DateTime<Utc>,
    zone: Option<FixedOffset>,
}

impl Clock {
    pub fn system() -> Clock {
        Clock {
            now: Utc::now(),
            zone: None,
        }
    }

    #[cfg(test)]
    pub fn fixed(now: DateTime<Utc>, zone: FixedOffset) -> Clock {
        Clock {
            now,
            zone: Some(zone),
        }
    }

    /// A moment as local wall-clock time, e.g. `2025-10-19 10:30:00`.
    pub fn time(&self, t: DateTime<Utc>) -> String {
        const FORMAT: &str = "%Y-%m-%d %H:%M:%S";
        match self.zone {
            Some(z) => t.with_timezone(&z).format(FORMAT).to_string(),
            None => t.with_timezone(&Local).format(FORMAT).to_string(),
        }
    }

    pub fn ago(&self, t: DateTime<Utc>) -> String {
        relative_time(t, self.now)
    }
}

/// How long ago `then` was, in the words every front end uses.
pub use templesync_engine::app::words::{ago as relative_time, plural};

/// Whether output may carry colours: not when `NO_COLOR` is set (https://no-color.org).
pub fn color_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// A value from a document as a person reads it: text as is, anything else as JSON, long
/// values cut short.
pub fn show_value(v: &Value) -> String {
    const MAX: usize = 100;
    let s = match v {
        Value::Null => "(none)".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.chars().count() > MAX {
        format!("{}…", s.chars().take(MAX).collect::<String>())
    } else {
        s
    }
}

/// A value in quotes when it is text, so `'(none)'` and `(none)` read differently.
fn quoted(v: &Value) -> String {
    match v {
        Value::String(_) => format!("'{}'", show_value(v)),
        other => show_value(other),
    }
}

/// What a person calls a document: its id, with its username or name where it has one.
fn doc_label(c: &Conflict) -> String {
    const NAMING_FIELDS: [&str; 5] = ["username", "name", "title", "email", "employee_id"];
    let named = [&c.local_document, &c.remote_document]
        .into_iter()
        .find_map(|d| {
            NAMING_FIELDS.iter().find_map(|k| {
                d.get(*k)
                    .filter(|v| v.is_string())
                    .map(|v| (k, show_value(v)))
            })
        });
    match named {
        Some((k, v)) => format!("{} ({k} '{v}')", c.local_id),
        None => c.local_id.clone(),
    }
}

/// A value as it must be typed in a shell command.
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.@:/+,=".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn seconds(d: Option<f64>) -> String {
    d.map_or_else(|| "-".to_string(), |d| format!("{d:.2} seconds"))
}

// ---------------------------------------------------------------------------------------------
// status

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

fn needs_resolution(n: u64, prefix: &str) -> String {
    let verb = if n == 1 { "needs" } else { "need" };
    format!(
        "{prefix}{} {verb} resolution\n   Run: templesync conflicts\n",
        plural(n, "conflict")
    )
}

// ---------------------------------------------------------------------------------------------
// sync

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
const CLOUD_CHOICES: &str = "\
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

// ---------------------------------------------------------------------------------------------
// conflicts

fn kind_text(c: &Conflict) -> &'static str {
    match c.kind {
        ConflictKind::Unique => {
            "unique (the value is already used by another document in the cloud)"
        }
        ConflictKind::Update => "update (changed on both sides since the last sync)",
        ConflictKind::Delete => "delete (deleted on one side, changed on the other)",
        ConflictKind::Bulk => "bulk (many documents deleted on one side; held until you decide)",
    }
}

fn deleted_here(c: &Conflict) -> bool {
    c.deleted_on.as_deref() == Some("local")
}

/// The one-line summary of a conflict, as in the original's list.
fn summary_line(c: &Conflict) -> String {
    let field = c.field.as_deref().unwrap_or("?");
    match c.kind {
        ConflictKind::Unique => format!("{field} = '{}'", show_value(&c.local_value)),
        ConflictKind::Update => {
            format!("{field} changed on both sides in document {}", doc_label(c))
        }
        ConflictKind::Delete if deleted_here(c) => {
            format!(
                "document {} deleted here, changed in the cloud",
                doc_label(c)
            )
        }
        ConflictKind::Delete => {
            format!(
                "document {} deleted in the cloud, changed here",
                doc_label(c)
            )
        }
        ConflictKind::Bulk => {
            let n = c.count.unwrap_or_default();
            let sample = c.sample.join(", ");
            match deleted_here(c) {
                true => format!("{n} documents deleted here, kept in the cloud (e.g. {sample})"),
                false => format!("{n} documents deleted in the cloud, kept here (e.g. {sample})"),
            }
        }
    }
}

fn state_tag(c: &Conflict) -> String {
    if !c.resolved {
        return "[⚠ Unresolved]".to_string();
    }
    let how = c.resolution.as_deref().unwrap_or("resolved");
    match (&c.resolved_by, c.auto_resolved) {
        (_, true) => format!("[✓ Resolved automatically: {how}]"),
        (Some(by), false) => format!("[✓ Resolved: {how} by {by}]"),
        (None, false) => format!("[✓ Resolved: {how}]"),
    }
}

/// What a person can do about a conflict: (advice, the options to type).
pub fn recommendations(c: &Conflict) -> Vec<(String, String)> {
    let field = c.field.as_deref().unwrap_or("value");
    match c.kind {
        ConflictKind::Unique => {
            let suggested = c.suggested_value.as_ref().map(show_value);
            let rename = match &suggested {
                Some(s) => (
                    format!("Rename local '{field}' to '{s}' to avoid conflict"),
                    format!("--strategy rename_local --value {}", shell_quote(s)),
                ),
                None => (
                    format!("Rename local '{field}' to a new value to avoid conflict"),
                    "--strategy rename_local --value NEW_VALUE".to_string(),
                ),
            };
            vec![
                rename,
                (
                    "Discard local changes and use remote value".into(),
                    "--strategy keep_remote".into(),
                ),
                (
                    format!(
                        "Keep the local document's '{field}' and delete the cloud document that holds it"
                    ),
                    "--strategy keep_local".into(),
                ),
                (
                    format!("Contact the user to choose a new {field}, then rename to it"),
                    "--strategy rename_local --value NEW_VALUE".into(),
                ),
            ]
        }
        ConflictKind::Update => {
            let merge_value = if c.fields.len() > 1 {
                let example: serde_json::Map<String, Value> = c
                    .fields
                    .iter()
                    .map(|f| (f.path.clone(), Value::String("...".into())))
                    .collect();
                shell_quote(&Value::Object(example).to_string())
            } else {
                "VALUE".to_string()
            };
            vec![
                (
                    "Keep the local values (this computer's version wins)".into(),
                    "--strategy keep_local".into(),
                ),
                (
                    "Use the remote values (the cloud version wins)".into(),
                    "--strategy keep_remote".into(),
                ),
                (
                    format!("Type the right value for {field} yourself"),
                    format!("--strategy merge --value {merge_value}"),
                ),
            ]
        }
        ConflictKind::Delete if deleted_here(c) => vec![
            (
                "Bring the document back here with the cloud's changes".into(),
                "--strategy keep_remote".into(),
            ),
            (
                "Keep it deleted: delete it in the cloud too".into(),
                "--strategy keep_local".into(),
            ),
        ],
        ConflictKind::Delete => vec![
            (
                "Keep this computer's version: put the document back in the cloud".into(),
                "--strategy keep_local".into(),
            ),
            (
                "Accept the deletion: remove the document here too".into(),
                "--strategy keep_remote".into(),
            ),
        ],
        ConflictKind::Bulk if deleted_here(c) => vec![
            (
                "Bring the documents back here from the cloud (if deleting them was a mistake)"
                    .into(),
                "--strategy keep_remote".into(),
            ),
            (
                "Keep them deleted: delete them in the cloud too".into(),
                "--strategy keep_local".into(),
            ),
        ],
        ConflictKind::Bulk => vec![
            (
                "Put the documents back in the cloud from this computer".into(),
                "--strategy keep_local".into(),
            ),
            (
                "Accept the deletions: remove them here too".into(),
                "--strategy keep_remote".into(),
            ),
        ],
    }
}

fn conflict_detail(o: &mut String, i: usize, c: &Conflict, clock: &Clock) {
    let _ = writeln!(o, "{i}. Conflict ID: {}", c.id);
    let _ = writeln!(o, "   Type: {}", kind_text(c));
    let _ = writeln!(o, "   Collection: {}", c.collection);
    if c.kind == ConflictKind::Unique && c.remote_id != c.local_id {
        let _ = writeln!(
            o,
            "   Document: {} (the cloud document holding the value: {})",
            c.local_id, c.remote_id
        );
    } else {
        let _ = writeln!(o, "   Document: {}", doc_label(c));
    }
    if let Some(f) = &c.field {
        let _ = writeln!(o, "   Field: {f}");
    }
    if c.fields.len() > 1 {
        for f in &c.fields {
            let _ = writeln!(
                o,
                "     {}: local {}, remote {} (last synced: {})",
                f.path,
                quoted(&f.local),
                quoted(&f.remote),
                quoted(&f.base)
            );
        }
    } else {
        let _ = writeln!(o, "   Local Value: {}", show_value(&c.local_value));
        let _ = writeln!(o, "   Remote Value: {}", show_value(&c.remote_value));
        if c.kind == ConflictKind::Update && !c.base_value.is_null() {
            let _ = writeln!(o, "   Last Synced Value: {}", show_value(&c.base_value));
        }
    }
    let _ = writeln!(o, "   Time: {}", clock.time(c.timestamp));
    let _ = writeln!(o, "   Notes: {}", c.notes);

    let recs = recommendations(c);
    o.push_str("\n   Recommendations:\n");
    for (n, (advice, how)) in recs.iter().enumerate() {
        let _ = writeln!(o, "     {}. {advice}\n        ({how})", n + 1);
    }
    o.push_str("\n   To resolve:\n");
    let _ = writeln!(o, "     templesync resolve {} --strategy <strategy>", c.id);
    if let Some((_, how)) = recs.first() {
        let _ = writeln!(o, "   For example:\n     templesync resolve {} {how}", c.id);
    }
}

/// The conflicts screen: a summary grouped by collection, then the open ones in detail.
pub fn conflicts_text(list: &[Conflict], clock: &Clock, all: bool) -> String {
    if list.is_empty() {
        return if all {
            "✓ No conflicts recorded\n".into()
        } else {
            "✓ No unresolved conflicts\n".into()
        };
    }
    let mut o = String::from("=== Sync Conflicts ===\n");
    let mut by_collection: BTreeMap<&str, Vec<&Conflict>> = BTreeMap::new();
    for c in list {
        by_collection
            .entry(c.collection.as_str())
            .or_default()
            .push(c);
    }
    for (name, cs) in &by_collection {
        let _ = writeln!(
            o,
            "\nCollection: {name} ({})",
            plural(cs.len() as u64, "conflict")
        );
        for (i, c) in cs.iter().enumerate() {
            let _ = writeln!(o, "  {}. {} {}", i + 1, summary_line(c), state_tag(c));
        }
    }
    let open: Vec<&Conflict> = list.iter().filter(|c| !c.resolved).collect();
    if open.is_empty() {
        o.push_str("\n✓ No unresolved conflicts\n");
        return o;
    }
    o.push_str("\n=== Unresolved Conflicts (Detailed) ===\n");
    for (i, c) in open.iter().enumerate() {
        o.push('\n');
        conflict_detail(&mut o, i + 1, c, clock);
    }
    o
}

// ---------------------------------------------------------------------------------------------
// resolve, auto-resolve

pub fn resolving_text(id: &str) -> String {
    format!("🔧 Resolving conflict {id}...\n\n")
}

pub fn resolved_text(r: &ResolveOutcome, strategy: &str) -> String {
    // The engine's message starts with the strategy, which the line above already says.
    let detail = r
        .message
        .split_once(" strategy. ")
        .map_or(r.message.as_str(), |(_, rest)| rest);
    format!(
        "✓ Conflict resolved successfully using '{strategy}' strategy\n  {detail}\n\nNext steps:\n  1. Run: templesync sync\n  2. The sync carries out the decision on both databases\n"
    )
}

pub fn auto_resolving_text(max: u32) -> String {
    format!(
        "🤖 Auto-resolving up to {}...\n\n",
        plural(max.into(), "conflict")
    )
}

fn item_line(i: &AutoResolveItem) -> String {
    let mark = match i.outcome.as_str() {
        "resolved" => "✓",
        "skipped" => "⚠",
        _ => "❌",
    };
    format!("  {mark} {} {}: {}", i.collection, i.conflict_id, i.detail)
}

pub fn auto_resolve_text(r: &AutoResolveReport) -> String {
    if r.items.is_empty() {
        return "✓ No unresolved conflicts\n".to_string();
    }
    let mut o = String::from("=== Auto-Resolution Results ===\n");
    let _ = writeln!(o, "✓ Resolved: {}", r.resolved);
    let _ = writeln!(o, "⚠ Skipped (manual needed): {}", r.skipped);
    let _ = writeln!(o, "❌ Failed: {}\n", r.failed);
    for i in &r.items {
        let _ = writeln!(o, "{}", item_line(i));
    }
    if r.resolved > 0 {
        o.push_str(
            "\n💡 Tip: Run sync to apply resolved changes to remote\n     templesync sync\n",
        );
    }
    if r.skipped + r.failed > 0 {
        o.push_str("\nFor the others, see what to do with:\n     templesync conflicts\n");
    }
    o
}

// ---------------------------------------------------------------------------------------------
// config

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

// ---------------------------------------------------------------------------------------------
// logs

pub fn logs_text(runs: &[SyncRun], clock: &Clock) -> String {
    if runs.is_empty() {
        return "No syncs yet. Run: templesync sync\n".to_string();
    }
    let mut o = String::from("=== Sync History (newest first) ===\n\n");
    let _ = writeln!(
        o,
        "{:<19}  {:<9}  {:<11}  {:>6}  {:>6}  {:>9}  {:>9}",
        "Time", "Trigger", "Status", "Pushed", "Pulled", "Conflicts", "Duration"
    );
    for r in runs {
        let duration = r
            .duration_seconds
            .map_or_else(|| "-".into(), |d| format!("{d:.2} s"));
        let _ = writeln!(
            o,
            "{:<19}  {:<9}  {:<11}  {:>6}  {:>6}  {:>9}  {:>9}",
            clock.time(r.start_time),
            r.trigger.as_str(),
            r.status.as_str(),
            SyncRun::total(&r.local_to_remote),
            SyncRun::total(&r.remote_to_local),
            SyncRun::total(&r.conflicts),
            duration
        );
        if let (RunStatus::Failed | RunStatus::Interrupted, Some(e)) = (r.status, &r.error) {
            let _ = writeln!(o, "    Error: {e}");
        }
        if !r.errors.is_empty() {
            let _ = writeln!(
                o,
                "    {} could not be synced",
                plural(r.errors.len() as u64, "document")
            );
        }
    }
    o
}

#[cfg(test)]
mod tests {
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
}
