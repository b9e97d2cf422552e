//! The application layer: each thing a person can do, as one function that every front end
//! calls (the `templesync` command, the REST API of `templesync serve`, the desktop app).
//! A front end parses its input, calls [`App`], and maps the error's
//! [`kind`](crate::Error::kind); nothing else.
//!
//! The rules that are the same whatever the front end live here, once: the state a person
//! sees ([`overview`]), the limits of a request, who is recorded as having decided
//! ([`who`]), and one decision (or settings change) at a time within a process. Like the
//! engine's own locks, these are taken here and nowhere below: lower layers do not lock.

pub mod about;
pub mod notices;
pub mod overview;
pub mod support;
pub mod who;
pub mod words;

use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::Mutex;

use crate::conflicts::{AutoResolveReport, Conflict, Resolution, ResolveOutcome, ResolveValue};
use crate::engine::{Engine, SyncRequest};
use crate::error::{Error, ErrorBody, Result};
use crate::logs::{SyncRun, Trigger};
use crate::monitor::Monitor;
use crate::run::ProgressFn;
use crate::this_pc::{Pause, ThisPc};
use crate::{Strategy, SyncConfig};

pub use overview::{Overview, SyncState};
pub use who::Via;

/// Auto-resolve looks at no more than this many conflicts per request.
pub const AUTO_RESOLVE_LIMITS: RangeInclusive<u32> = 1..=1000;
/// The history lists no more than this many runs per request.
pub const HISTORY_LIMITS: RangeInclusive<u32> = 1..=1000;

impl Strategy {
    /// Every strategy, in the order they are offered to a person.
    pub const ALL: [Strategy; 4] = [
        Strategy::RenameLocal,
        Strategy::KeepRemote,
        Strategy::KeepLocal,
        Strategy::Merge,
    ];
}

/// A strategy by its name (`keep_local`...), as front ends receive it.
impl<'de> serde::Deserialize<'de> for Strategy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Strategy, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// A person's decision on one conflict, as a front end received it.
#[derive(Debug, Clone)]
pub struct Decision {
    pub strategy: Strategy,
    /// The new value (rename, merge); `None` takes the engine's suggestion.
    pub value: Option<ResolveValue>,
    /// Why; blank is none.
    pub notes: Option<String>,
    /// Who decided, if the front end was told; see [`who::who`].
    pub by: Option<String>,
}

/// A change to the sync settings, in the form each front end has it.
#[derive(Debug, Clone)]
pub enum SettingsChange {
    /// `KEY=VALUE` pairs, as typed on the command line.
    Assignments(Vec<String>),
    /// A JSON object of the settings to change (REST).
    Patch(serde_json::Value),
    /// The whole settings, as a form holds them (desktop).
    Whole(SyncConfig),
}

/// The one handle each front end holds: cheap to clone; clones share the locks.
#[derive(Clone)]
pub struct App {
    engine: Engine,
    /// The background checks and runs, where the front end keeps one going.
    monitor: Option<Monitor>,
    /// Decisions, one at a time. The engine refuses a decision while another is being
    /// applied (`sync_in_progress`, as for a run); two people deciding at the same moment
    /// should both succeed, one after the other, and be refused only by a real sync.
    decisions: Arc<Mutex<()>>,
    /// Settings changes, one at a time: each reads, changes and stores the whole settings.
    settings: Arc<Mutex<()>>,
}

impl App {
    /// Over an engine alone (the command line: one request, then exit).
    pub fn new(engine: Engine) -> App {
        App {
            engine,
            monitor: None,
            decisions: Arc::default(),
            settings: Arc::default(),
        }
    }

    /// Over a running monitor (a server, the desktop app).
    pub fn with_monitor(monitor: Monitor) -> App {
        App {
            monitor: Some(monitor.clone()),
            ..App::new(monitor.engine().clone())
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn monitor(&self) -> Option<&Monitor> {
        self.monitor.as_ref()
    }

    /// The state a person sees, its words and what to do. Never fails: a problem is part of
    /// the answer.
    pub async fn overview(&self) -> Overview {
        let config = self.engine.config().await.ok();
        let configured = self.engine.remote_host().is_some();
        let (status, network, offline_kind) = match &self.monitor {
            Some(m) => (m.sync_status().await, Some(m.status()), None),
            None => {
                let checked = self.engine.ping_remote(Duration::from_secs(3)).await;
                let kind = checked.as_ref().err().map(Error::kind);
                let known = (checked.is_ok(), checked.err().map(|e| e.to_string()));
                (self.engine.status_knowing(Some(known)).await, None, kind)
            }
        };
        let (status, problem) = match status {
            Ok(s) => (Some(s), None),
            Err(e) => (None, Some(ErrorBody::from(e))),
        };
        let paused_here = match &network {
            Some(n) => n.paused_here,
            None => ThisPc::of_this_user()
                .and_then(|pc| pc.pause_at(Utc::now()))
                .ok()
                .flatten(),
        };
        let seen = overview::Seen {
            configured,
            status: status.as_ref(),
            network: network.as_ref(),
            config: config.as_ref(),
            offline_kind,
            problem,
            paused_here,
        };
        Overview::new(seen, Utc::now())
    }

    /// Conflicts, newest first: the open ones (`Some(false)`), the settled ones, or all
    /// (`None`); of one collection or all.
    pub async fn conflicts(
        &self,
        resolved: Option<bool>,
        collection: Option<&str>,
    ) -> Result<Vec<Conflict>> {
        self.engine.conflicts(resolved, collection).await
    }

    /// One conflict; `conflict_not_found` for an id that names none (or is not an id).
    pub async fn conflict(&self, id: &str) -> Result<Conflict> {
        self.engine.conflict(id).await
    }

    /// Applies a person's decision; waits for any other decision being applied here.
    pub async fn resolve(&self, id: &str, d: Decision, via: Via) -> Result<ResolveOutcome> {
        let resolution = Resolution {
            notes: d.notes.filter(|n| !n.trim().is_empty()),
            ..Resolution::new(d.strategy, d.value, who::who(d.by.as_deref(), via))
        };
        let _one_at_a_time = self.decisions.lock().await;
        self.engine.resolve(id, resolution).await
    }

    /// Settles the simple conflicts (at most `max`, within [`AUTO_RESOLVE_LIMITS`]).
    pub async fn auto_resolve(
        &self,
        max: u32,
        by: Option<&str>,
        via: Via,
    ) -> Result<AutoResolveReport> {
        within("max", max, AUTO_RESOLVE_LIMITS)?;
        let by = who::who(by, via);
        let _one_at_a_time = self.decisions.lock().await;
        self.engine.auto_resolve(max, &by).await
    }

    /// The newest runs first (at most `limit`, within [`HISTORY_LIMITS`]).
    pub async fn history(&self, limit: u32) -> Result<Vec<SyncRun>> {
        within("limit", limit, HISTORY_LIMITS)?;
        self.engine.logs(limit).await
    }

    /// The versions of a document that syncs on this computer replaced, newest first.
    pub async fn versions(
        &self,
        collection: &str,
        id: &str,
    ) -> Result<Vec<crate::history::Version>> {
        self.engine.history(collection, id).await
    }

    /// Writes a kept version back here as a new local edit (one decision at a time).
    pub async fn restore(
        &self,
        collection: &str,
        id: &str,
        version: u32,
    ) -> Result<crate::Restored> {
        let _one_at_a_time = self.decisions.lock().await;
        self.engine.restore(collection, id, version).await
    }

    /// Takes a run back as new local edits (one decision at a time); `dry_run` lists only.
    pub async fn undo_run(&self, run_id: &str, dry_run: bool) -> Result<crate::UndoRun> {
        let _one_at_a_time = self.decisions.lock().await;
        self.engine.undo_run(run_id, dry_run).await
    }

    pub async fn settings(&self) -> Result<SyncConfig> {
        self.engine.config().await
    }

    /// Validates the change against the stored settings and stores the result whole; nothing
    /// is stored on error. The monitor picks the new settings up at once.
    pub async fn change_settings(&self, change: SettingsChange) -> Result<SyncConfig> {
        let _one_at_a_time = self.settings.lock().await;
        let next = match change {
            SettingsChange::Assignments(a) => self.engine.config().await?.with_assignments(&a)?,
            SettingsChange::Patch(p) => self.engine.config().await?.with_json_patch(&p)?,
            SettingsChange::Whole(c) => c,
        };
        let saved = self.engine.set_config(&next).await?;
        if let Some(m) = &self.monitor {
            m.config_changed();
        }
        Ok(saved)
    }

    /// Pauses syncing on this computer alone for `minutes` (none: until someone resumes):
    /// nothing runs by itself here meanwhile, the other computers go on, and the shared
    /// settings (the schedule) stay as they are. Through the monitor where there is one, so
    /// that it stops at once; else in this computer's settings file, which a running monitor
    /// (the app, `serve`) reads before each run.
    pub fn pause_here(&self, minutes: Option<u32>) -> Result<Pause> {
        match &self.monitor {
            Some(m) => m.pause_here(minutes),
            None => ThisPc::of_this_user()?.pause(minutes, Utc::now()),
        }
    }

    /// Ends this computer's pause; a running monitor syncs at once and goes on by itself.
    pub fn resume_here(&self) -> Result<()> {
        match &self.monitor {
            Some(m) => m.resume_here(),
            None => ThisPc::of_this_user()?.resume(),
        }
    }

    /// One run now, of these collections (none: those configured). Through the monitor where
    /// there is one, so that it knows (and no automatic run starts meanwhile).
    pub async fn sync_now(
        &self,
        collections: Vec<String>,
        progress: Option<ProgressFn>,
    ) -> Result<SyncRun> {
        let collections = (!collections.is_empty()).then_some(collections);
        match &self.monitor {
            Some(m) => m.sync_now(collections).await,
            None => {
                let req = SyncRequest {
                    trigger: Trigger::Manual,
                    collections,
                };
                self.engine.sync_with_progress(req, progress).await
            }
        }
    }
}

/// `value` within `range`, or an `invalid_request` naming `field`.
fn within(field: &str, value: u32, range: RangeInclusive<u32>) -> Result<()> {
    if range.contains(&value) {
        return Ok(());
    }
    Err(Error::InvalidRequest {
        field: field.to_string(),
        reason: format!(
            "{value} is out of range: use {} to {}",
            range.start(),
            range.end()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_checked_alike_for_every_front_end() {
        assert!(within("max", 1000, AUTO_RESOLVE_LIMITS).is_ok());
        let e = within("max", 1001, AUTO_RESOLVE_LIMITS).unwrap_err();
        assert_eq!(e.code(), "invalid_request");
        assert_eq!(e.field(), Some("max"));
        assert_eq!(
            e.to_string(),
            "Invalid value for max: 1001 is out of range: use 1 to 1000"
        );
        assert!(within("limit", 0, HISTORY_LIMITS).is_err());
    }

    #[test]
    fn every_strategy_is_offered_once() {
        let mut names: Vec<_> = Strategy::ALL.iter().map(|s| s.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 4);
    }
}
