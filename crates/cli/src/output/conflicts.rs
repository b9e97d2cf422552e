//! The conflicts screen, and what a person can do about each conflict.

use super::*;

pub(super) fn kind_text(c: &Conflict) -> &'static str {
    match c.kind {
        ConflictKind::Unique => {
            "unique (the value is already used by another document in the cloud)"
        }
        ConflictKind::Update => "update (changed on both sides since the last sync)",
        ConflictKind::Delete => "delete (deleted on one side, changed on the other)",
        ConflictKind::Bulk => "bulk (many documents deleted on one side; held until you decide)",
    }
}

pub(super) fn deleted_here(c: &Conflict) -> bool {
    c.deleted_on.as_deref() == Some("local")
}

/// The one-line summary of a conflict, as in the original's list.
pub(super) fn summary_line(c: &Conflict) -> String {
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

pub(super) fn state_tag(c: &Conflict) -> String {
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
        ConflictKind::Unique => unique_choices(c, field),
        ConflictKind::Update => update_choices(c, field),
        ConflictKind::Delete | ConflictKind::Bulk => deletion_choices(c),
    }
}

/// A unique value held by another document: rename, yield, or take it.
fn unique_choices(c: &Conflict, field: &str) -> Vec<(String, String)> {
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

/// The same fields edited on both sides: either side's values, or typed ones.
fn update_choices(c: &Conflict, field: &str) -> Vec<(String, String)> {
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

/// Deleted on one side (one document, or a held mass of them): keep the deletion or undo it.
fn deletion_choices(c: &Conflict) -> Vec<(String, String)> {
    match c.kind {
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
        _ => Vec::new(),
    }
}

pub(super) fn conflict_detail(o: &mut String, i: usize, c: &Conflict, clock: &Clock) {
    let _ = writeln!(o, "{i}. Conflict ID: {}", c.id);
    let _ = writeln!(o, "   Type: {}", kind_text(c));
    let _ = writeln!(o, "   Collection: {}", c.collection);
    if c.kind == ConflictKind::Unique && c.remote_id != c.local_id {
        let _ = writeln!(
            o,
            "   Document: {} (the cloud document holding the value: {})",
            c.local_id, c.remote_id
        );
    } else if c.kind == ConflictKind::Bulk {
        // A hold is of many documents: their count and a sample, not one id.
        let _ = writeln!(
            o,
            "   Documents: {} (e.g. {})",
            c.count.unwrap_or_default(),
            c.sample.join(", ")
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
