//! [`Engine`]: the one handle front ends hold. Cheap to clone (an `Arc` inside), like
//! `mongodb::Client`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use bson::{Document, doc, oid::ObjectId};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use serde::Serialize;

use crate::clock::{Clock, SystemClock, to_bson};
use crate::config::SyncConfig;
use crate::conflicts::{self, AutoResolveReport, Conflict, Resolution, ResolveOutcome};
use crate::error::{Error, Result, Side};
use crate::identity::{self, CloudChoice};
use crate::lock::{self, RunLock};
use crate::logs::{RunStatus, SyncRun, Trigger};
use crate::quarantine::{self, QuarantinedDocument};
use crate::run::{CollectionOutcome, CollectionSync, ProgressFn, RunEnv, StepHook};
use crate::settings::{Settings, scrub};
use crate::store::{self, Databases, SYNC_CONFIG, SYNC_LOGS};
use crate::unique::{self, UniqueRules};

mod runs;
mod versions;

pub use versions::{Restored, UndoItem, UndoRun};

/// What to sync and why.
#[derive(Debug, Clone)]
pub struct SyncRequest {
    pub trigger: Trigger,
    /// `None`: the configured collections (or all of them).
    pub collections: Option<Vec<String>>,
}

impl SyncRequest {
    pub fn manual() -> SyncRequest {
        SyncRequest {
            trigger: Trigger::Manual,
            collections: None,
        }
    }
}

/// The state of syncing, for `status` screens.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SyncStatus {
    pub last_sync_time: Option<DateTime<Utc>>,
    pub last_sync_status: Option<RunStatus>,
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub last_sync_duration: Option<f64>,
    pub last_sync_error: Option<String>,
    pub total_syncs_completed: u64,
    pub total_conflicts: u64,
    pub unresolved_conflicts: u64,
    pub is_online: bool,
    pub is_syncing: bool,
    pub remote_configured: bool,
    /// The cloud's host (never its password).
    pub remote_host: Option<String>,
    pub local_host: String,
    pub database: String,
    /// Why the cloud is offline, when it is.
    pub offline_reason: Option<String>,
    /// How far this computer's clock is ahead of the cloud server's (negative: behind), as
    /// last measured; none (null) before the first successful check.
    pub clock_skew_seconds: Option<f64>,
    /// Set when the clock is off by more than 2 minutes (`CLOCK_SKEW_WARNING_SECONDS`): what
    /// to do.
    pub clock_warning: Option<String>,
    /// How many documents are set aside because a side refused them; every sync tries them
    /// again.
    pub quarantined_documents: u64,
    /// The oldest of them (at most 20, `QUARANTINE_LISTED`), with why and what to do.
    pub quarantined: Vec<QuarantinedDocument>,
}

/// The stack of the thread a run works on (reserved address space; only what is used is
/// memory): about 6,000 levels of nesting in a debug build, 25,000 in a release build.
const RUN_STACK_BYTES: usize = 64 * 1024 * 1024;

/// How many quarantined documents [`SyncStatus`] lists.
pub const QUARANTINE_LISTED: i64 = 20;

/// Beyond this, `status` warns that the computer's clock is wrong. Syncing stays correct (it
/// never orders edits by this computer's clock, except under `last_write_wins`), but times
/// shown to people and `last_write_wins` decisions are off.
pub const CLOCK_SKEW_WARNING_SECONDS: f64 = 120.0;

/// The warning for a measured skew, if it deserves one.
pub fn clock_warning(skew_seconds: f64) -> Option<String> {
    if skew_seconds.abs() <= CLOCK_SKEW_WARNING_SECONDS {
        return None;
    }
    let minutes = (skew_seconds.abs() / 60.0).round();
    let which = if skew_seconds > 0.0 { "fast" } else { "slow" };
    Some(format!(
        "This computer's clock is about {minutes} minutes {which} compared with the cloud database. Syncing still works, but times shown here (and \"last write wins\" decisions) are off: set the clock right (or turn on automatic time in the system settings)"
    ))
}

struct Inner {
    dbs: Databases,
    settings: Settings,
    clock: Arc<dyn Clock>,
    secrets: Vec<String>,
    running: tokio::sync::Mutex<()>,
    /// The last measured clock skew against the cloud, in seconds.
    skew: std::sync::Mutex<Option<f64>>,
    hook: Option<StepHook>,
    local_change_streams: bool,
}

/// How an [`Engine`] is built. The defaults are what production uses.
#[derive(Clone, Default)]
pub struct EngineOptions {
    pub clock: Option<Arc<dyn Clock>>,
    /// Called at each step of a run (fault-injection tests).
    pub hook: Option<StepHook>,
    /// Find local changes by query even where the local server has change streams, as on a
    /// standalone `mongod` (tests of that path).
    pub no_local_change_streams: bool,
}

/// How many collections' parts of a run go on at once. Each holds at most a batch of
/// documents in memory; the servers interleave the work, so a large collection no longer
/// makes the small ones wait, and a run's fixed costs (opening feeds, checkpoints) overlap.
const CONCURRENT_COLLECTIONS: usize = 4;

#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

fn local_err(what: &'static str) -> impl Fn(mongodb::error::Error) -> Error {
    move |e| Error::db(Side::Local, what, &e)
}

impl Engine {
    /// Prepares both connections (the driver connects on first use).
    pub async fn open(settings: Settings) -> Result<Engine> {
        Self::open_with(settings, EngineOptions::default()).await
    }

    pub async fn open_with_clock(settings: Settings, clock: Arc<dyn Clock>) -> Result<Engine> {
        Self::open_with(
            settings,
            EngineOptions {
                clock: Some(clock),
                ..Default::default()
            },
        )
        .await
    }

    /// The same engine with a hook called at every step of a run (fault-injection tests).
    pub async fn open_with_hook(
        settings: Settings,
        clock: Arc<dyn Clock>,
        hook: StepHook,
    ) -> Result<Engine> {
        Self::open_with(
            settings,
            EngineOptions {
                clock: Some(clock),
                hook: Some(hook),
                ..Default::default()
            },
        )
        .await
    }

    pub async fn open_with(settings: Settings, options: EngineOptions) -> Result<Engine> {
        let dbs = Databases::connect(&settings).await?;
        Ok(Engine {
            inner: Arc::new(Inner {
                dbs,
                secrets: settings.secrets(),
                settings,
                clock: options.clock.unwrap_or_else(|| Arc::new(SystemClock)),
                running: tokio::sync::Mutex::new(()),
                skew: std::sync::Mutex::new(None),
                hook: options.hook,
                local_change_streams: !options.no_local_change_streams,
            }),
        })
    }

    /// Closes the connections cleanly; call before the process exits.
    pub async fn shutdown(&self) {
        self.inner.dbs.shutdown().await;
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    pub fn remote_host(&self) -> Option<&str> {
        self.inner.dbs.remote_host.as_deref()
    }

    /// A run that failed on a connection error (not an answer) of a database that no longer answers is
    /// reported as "cannot reach" it: that tells people what is wrong and what to do, and
    /// front ends show it as offline.
    async fn explain_failure(&self, e: Error) -> Error {
        match &e {
            Error::Database {
                side: Side::Remote,
                network: true,
                ..
            } => match self.ping_remote(Duration::from_secs(3)).await {
                Err(unreachable @ Error::RemoteUnreachable { .. }) => unreachable,
                _ => e,
            },
            Error::Database {
                side: Side::Local,
                network: true,
                ..
            } => match tokio::time::timeout(Duration::from_secs(3), self.ping_local()).await {
                Ok(Err(unreachable @ Error::LocalUnreachable { .. })) => unreachable,
                Err(_) => Error::LocalUnreachable {
                    host: self.inner.dbs.local_host.clone(),
                    reason: "no answer within 3 s".into(),
                },
                _ => e,
            },
            _ => e,
        }
    }

    /// The error with any password scrubbed out of its text.
    fn clean(&self, e: Error) -> Error {
        match e {
            Error::Database {
                context,
                message,
                transient,
                network,
                side,
            } => Error::Database {
                context,
                message: scrub(&message, &self.inner.secrets),
                transient,
                network,
                side,
            },
            Error::RemoteUnreachable { host, reason } => Error::RemoteUnreachable {
                host,
                reason: scrub(&reason, &self.inner.secrets),
            },
            Error::LocalUnreachable { host, reason } => Error::LocalUnreachable {
                host,
                reason: scrub(&reason, &self.inner.secrets),
            },
            other => other,
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    /// Checks that the cloud answers, within `timeout`.
    pub async fn ping_remote(&self, timeout: Duration) -> Result<()> {
        let dbs = &self.inner.dbs;
        let host = dbs.remote_host.clone().unwrap_or_default();
        let remote = dbs.remote().await?;
        let sent = self.now();
        match tokio::time::timeout(timeout, remote.run_command(doc! { "hello": 1 })).await {
            Ok(Ok(reply)) => {
                // The server's clock against ours, halfway through the round trip.
                if let Ok(server) = reply.get_datetime("localTime") {
                    let received = self.now();
                    let mid = sent + (received - sent) / 2;
                    let skew = (mid - server.to_chrono()).num_milliseconds() as f64 / 1000.0;
                    *self.inner.skew.lock().expect("skew") = Some(skew);
                    if clock_warning(skew).is_some() {
                        tracing::warn!(skew_seconds = skew, "this computer's clock is off");
                    }
                }
                Ok(())
            }
            Ok(Err(e)) => Err(self.clean(dbs.classify(Side::Remote, "checking the cloud", &e)))
                .map_err(|e| match e {
                    Error::Database { message, .. } => Error::RemoteUnreachable {
                        host: host.clone(),
                        reason: message,
                    },
                    other => other,
                }),
            Err(_) => Err(Error::RemoteUnreachable {
                host,
                reason: format!("no answer within {:.1} s", timeout.as_secs_f64()),
            }),
        }
    }

    async fn ping_local(&self) -> Result<()> {
        let dbs = &self.inner.dbs;
        dbs.local
            .run_command(doc! { "ping": 1 })
            .await
            .map(|_| ())
            .map_err(|e| self.clean(dbs.classify(Side::Local, "checking the local database", &e)))
    }

    /// The settings in `sync_config` (the defaults when none are stored).
    pub async fn config(&self) -> Result<SyncConfig> {
        let stored = self
            .inner
            .dbs
            .local_coll(SYNC_CONFIG)
            .find_one(doc! { "_id": "default" })
            .await
            .map_err(|e| {
                self.clean(
                    self.inner
                        .dbs
                        .classify(Side::Local, "reading the settings", &e),
                )
            })?;
        match stored {
            Some(d) => SyncConfig::from_document(&d),
            None => Ok(SyncConfig::default()),
        }
    }

    /// Validates and stores new settings.
    pub async fn set_config(&self, cfg: &SyncConfig) -> Result<SyncConfig> {
        cfg.validate()?;
        let mut d = cfg.to_document();
        d.insert("updatedAt", to_bson(self.now()));
        self.inner
            .dbs
            .local_coll(SYNC_CONFIG)
            .update_one(doc! { "_id": "default" }, doc! { "$set": d })
            .upsert(true)
            .await
            .map_err(|e| {
                self.clean(
                    self.inner
                        .dbs
                        .classify(Side::Local, "saving the settings", &e),
                )
            })?;
        Ok(cfg.clone())
    }

    fn clean_ref(&self, e: &Error) -> String {
        scrub(&e.to_string(), &self.inner.secrets)
    }

    /// The state of syncing. Never fails because the cloud is offline: that is part of the
    /// answer.
    pub async fn status(&self) -> Result<SyncStatus> {
        self.status_knowing(None).await
    }

    /// The same, with the cloud's reachability already known (from a [`crate::Monitor`]), so
    /// no check is made: `(online, why offline)`.
    pub async fn status_knowing(
        &self,
        connectivity: Option<(bool, Option<String>)>,
    ) -> Result<SyncStatus> {
        let dbs = &self.inner.dbs;
        let logs = dbs.local_coll(SYNC_LOGS);
        let last = logs
            .find_one(doc! { "status": { "$ne": "running" } })
            .sort(doc! { "startTime": -1 })
            .await
            .map_err(|e| self.clean(dbs.classify(Side::Local, "reading the sync history", &e)))?
            .map(|d| SyncRun::from_document(&d));
        let completed = logs
            .count_documents(doc! { "status": "completed" })
            .await
            .map_err(local_err("reading the sync history"))?;
        let conflicts = dbs.local_coll(store::CONFLICT_LOGS);
        let total_conflicts = conflicts
            .count_documents(doc! {})
            .await
            .map_err(local_err("reading conflicts"))?;
        let unresolved = conflicts
            .count_documents(doc! { "resolved": false })
            .await
            .map_err(local_err("reading conflicts"))?;
        let is_syncing = lock::is_held(&dbs.local, self.inner.clock.as_ref()).await?;
        let (quarantined_documents, quarantined) = quarantine::list(dbs, QUARANTINE_LISTED).await?;
        let (is_online, offline_reason) = match connectivity {
            Some(known) => known,
            None => match self.ping_remote(Duration::from_secs(3)).await {
                Ok(()) => (true, None),
                Err(e) => (false, Some(e.to_string())),
            },
        };
        // Read once: a second lock in the same expression would wait for the first.
        let skew = *self.inner.skew.lock().expect("skew");
        Ok(SyncStatus {
            last_sync_time: last.as_ref().map(|r| r.end_time.unwrap_or(r.start_time)),
            last_sync_status: last.as_ref().map(|r| r.status),
            last_sync_duration: last.as_ref().and_then(|r| r.duration_seconds),
            last_sync_error: last.as_ref().and_then(|r| r.error.clone()),
            total_syncs_completed: completed,
            total_conflicts,
            unresolved_conflicts: unresolved,
            is_online,
            is_syncing,
            remote_configured: dbs.remote.is_some(),
            remote_host: dbs.remote_host.clone(),
            local_host: dbs.local_host.clone(),
            database: self.inner.settings.database.clone(),
            offline_reason,
            clock_skew_seconds: skew,
            clock_warning: skew.and_then(clock_warning),
            quarantined_documents,
            quarantined,
        })
    }

    /// Conflicts, newest first. `resolved: None` lists all.
    pub async fn conflicts(
        &self,
        resolved: Option<bool>,
        collection: Option<&str>,
    ) -> Result<Vec<Conflict>> {
        conflicts::list(&self.inner.dbs, resolved, collection, 1000)
            .await
            .map_err(|e| self.clean(e))
    }

    pub async fn conflict(&self, id: &str) -> Result<Conflict> {
        conflicts::load(&self.inner.dbs, id)
            .await
            .map(|d| conflicts::view(&d))
    }

    /// Applies a person's decision on one conflict.
    pub async fn resolve(&self, id: &str, resolution: Resolution) -> Result<ResolveOutcome> {
        let _guard = self.alone()?;
        // An id that names no conflict is refused before the lock is taken: a refusal writes
        // nothing at all. (Under the lock, `resolve` checks again.)
        conflicts::load(&self.inner.dbs, id)
            .await
            .map_err(|e| self.clean(e))?;
        let acquired =
            RunLock::acquire(&self.inner.dbs.local, self.inner.clock.clone(), "resolve").await?;
        let r = conflicts::resolve(&self.inner.dbs, id, &resolution, self.now()).await;
        acquired.lock.release().await;
        r.map_err(|e| self.clean(e))
    }

    pub async fn auto_resolve(&self, max: u32, by: &str) -> Result<AutoResolveReport> {
        let _guard = self.alone()?;
        let acquired = RunLock::acquire(
            &self.inner.dbs.local,
            self.inner.clock.clone(),
            "auto-resolve",
        )
        .await?;
        let r = conflicts::auto_resolve(&self.inner.dbs, max, by, self.now()).await;
        acquired.lock.release().await;
        r.map_err(|e| self.clean(e))
    }

    /// The newest runs first.
    pub async fn logs(&self, limit: u32) -> Result<Vec<SyncRun>> {
        let docs: Vec<Document> = self
            .inner
            .dbs
            .local_coll(SYNC_LOGS)
            .find(doc! {})
            .sort(doc! { "startTime": -1 })
            .limit(limit.max(1) as i64)
            .await
            .map_err(|e| {
                self.clean(
                    self.inner
                        .dbs
                        .classify(Side::Local, "reading the sync history", &e),
                )
            })?
            .try_collect()
            .await
            .map_err(local_err("reading the sync history"))?;
        Ok(docs.iter().map(SyncRun::from_document).collect())
    }
}

/// Front ends spawn runs on their own tasks: the futures must be `Send`.
#[allow(dead_code)]
fn assert_send(e: &Engine) {
    fn is_send<T: Send>(_: &T) {}
    is_send(&e.sync(SyncRequest::manual()));
    is_send(&e.status());
    is_send(&e.auto_resolve(1, ""));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_ten_minutes_off_is_warned_about_in_plain_words() {
        assert_eq!(clock_warning(30.0), None);
        assert_eq!(clock_warning(-119.0), None);
        let fast = clock_warning(600.0).unwrap();
        assert!(fast.contains("10 minutes fast"), "{fast}");
        assert!(clock_warning(-600.0).unwrap().contains("10 minutes slow"));
    }
}
