//! The history of runs.

use super::*;

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
