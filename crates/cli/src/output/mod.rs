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

mod config;
mod conflicts;
mod logs;
mod resolve;
mod status;
mod sync;

pub use config::*;
pub use conflicts::*;
pub use logs::*;
pub use resolve::*;
pub use status::*;
pub use sync::*;

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

#[cfg(test)]
mod tests;
