//! What resolving a conflict, and auto-resolve, show.

use super::*;

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

pub(super) fn item_line(i: &AutoResolveItem) -> String {
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
