//! A test-only pause at one step of a run, so that the fault tests (`tests/faults.rs`) can
//! SIGKILL the real `templesync` process at a precise point of a sync.
//!
//! `TEMPLESYNC_TEST_PAUSE_AT=<step>[:<n>]` (a [`Step`] in snake_case, e.g.
//! `pushed_batch:2` for the second time a batch was pushed) makes the process, when it
//! reaches that step, create the file named by `TEMPLESYNC_TEST_PAUSE_MARKER` (if set) and
//! then wait there for up to 10 minutes before carrying on. Unset (always, outside tests),
//! nothing is installed and the engine runs exactly as in production.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use templesync_engine::{Step, StepHook};

pub const PAUSE_AT: &str = "TEMPLESYNC_TEST_PAUSE_AT";
pub const PAUSE_MARKER: &str = "TEMPLESYNC_TEST_PAUSE_MARKER";

/// How long the process waits at the step: far longer than any test needs to kill it, short
/// enough that a forgotten process does not hang around for good.
const PAUSE: Duration = Duration::from_secs(600);

/// The hook asked for by the environment, if any. `Err` for a value that names no step.
pub fn from_env() -> Result<Option<StepHook>, String> {
    let Some(spec) = std::env::var(PAUSE_AT)
        .ok()
        .filter(|v| !v.trim().is_empty())
    else {
        return Ok(None);
    };
    let (name, nth) = match spec.trim().split_once(':') {
        Some((name, n)) => (
            name,
            n.parse::<u32>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                format!("{PAUSE_AT}={spec}: the count after ':' must be 1 or more")
            })?,
        ),
        None => (spec.trim(), 1),
    };
    let step = parse_step(name).ok_or_else(|| format!("{PAUSE_AT}={spec}: no such step"))?;
    let marker = std::env::var_os(PAUSE_MARKER).map(std::path::PathBuf::from);
    let seen = Arc::new(AtomicU32::new(0));
    Ok(Some(Arc::new(move |at: Step, collection: &str| {
        let hit = at == step && seen.fetch_add(1, Ordering::SeqCst) + 1 == nth;
        let marker = marker.clone();
        let collection = collection.to_string();
        Box::pin(async move {
            if hit {
                tracing::warn!(step = ?at, collection, "pausing for a test ({PAUSE_AT})");
                if let Some(path) = marker {
                    let _ = std::fs::write(path, format!("{at:?} {collection}\n"));
                }
                tokio::time::sleep(PAUSE).await;
            }
            Ok(())
        })
    })))
}

fn parse_step(name: &str) -> Option<Step> {
    Step::ALL.into_iter().find(|s| {
        serde_json::to_value(s)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            == Some(name.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_named_as_in_the_engine_s_serialisation() {
        assert_eq!(parse_step("pushed_batch"), Some(Step::PushedBatch));
        assert_eq!(parse_step("decided"), Some(Step::Decided));
        assert_eq!(parse_step("save_checkpoint"), Some(Step::SaveCheckpoint));
        assert_eq!(parse_step("PushedBatch"), None);
        assert_eq!(parse_step("nowhere"), None);
    }
}
