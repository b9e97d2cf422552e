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
#[serde(rename_all = "camelCase")]
pub struct SyncStatus {
    pub last_sync_time: Option<DateTime<Utc>>,
    pub last_sync_status: Option<RunStatus>,
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
    /// last measured; `None` before the first successful check.
    pub clock_skew_seconds: Option<f64>,
    /// Set when the clock is off by more than [`CLOCK_SKEW_WARNING_SECONDS`]: what to do.
    pub clock_warning: Option<String>,
    /// How many documents are set aside because a side refused them (see
    /// [`crate::quarantine`]).
    pub quarantined_documents: u64,
    /// The oldest of them (at most [`QUARANTINE_LISTED`]), with why and what to do.
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

    /// Runs one sync of both databases. A run that could not start (not configured, already
    /// running, the cloud unreachable) is an error; a run that started is always recorded in
    /// `sync_logs` and returned, with `status: failed` and the error when it failed midway.
    pub async fn sync(&self, req: SyncRequest) -> Result<SyncRun> {
        self.sync_with_progress(req, None).await
    }

    pub async fn sync_with_progress(
        &self,
        req: SyncRequest,
        progress: Option<ProgressFn>,
    ) -> Result<SyncRun> {
        let dbs = &self.inner.dbs;
        let _guard = self.exclusive()?;
        self.ping_local().await?;
        let cfg = self.config().await?;
        self.ping_remote(Duration::from_secs(8)).await?;
        if req.collections.as_ref().is_some_and(|c| !c.is_empty()) {
            // A mistyped name is a refusal, not a failed run in the history.
            self.collections_for(&req, &cfg)
                .await
                .map_err(|e| self.clean(e))?;
        }
        let acquired = RunLock::acquire(&dbs.local, self.inner.clock.clone(), "sync")
            .await
            .map_err(|e| self.clean(e))?;
        if acquired.took_over_stale {
            tracing::warn!(
                "the previous sync stopped without finishing; this run completes its work"
            );
        }
        let result = self.run_on_deep_stack(req, cfg.clone(), progress).await;
        self.housekeeping(&cfg).await;
        acquired.lock.release().await;
        result.map_err(|e| self.clean(e))
    }

    /// Runs [`Self::run_locked`] on a thread of its own with a deep stack. Decoding a document
    /// nested N levels deep recurses N times in the BSON decoder, and an async runtime's threads
    /// have 2 MiB of stack, which a debug build used up at about 95 levels (a crash, not an
    /// error: nothing could set the document aside). With [`RUN_STACK_BYTES`] every depth a
    /// MongoDB server stores (at most 100 levels, 200 when configured so) fits many times over.
    async fn run_on_deep_stack(
        &self,
        req: SyncRequest,
        cfg: SyncConfig,
        progress: Option<ProgressFn>,
    ) -> Result<SyncRun> {
        let engine = self.clone();
        let runtime = tokio::runtime::Handle::current();
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("templesync-run".into())
            .stack_size(RUN_STACK_BYTES)
            .spawn(move || {
                let run = runtime.block_on(engine.run_locked(&req, &cfg, progress));
                let _ = tx.send(run);
            })
            .map_err(|e| Error::Interrupted(format!("the run could not start: {e}")))?;
        rx.await
            .map_err(|_| Error::Interrupted("the run stopped unexpectedly".into()))?
    }

    async fn run_locked(
        &self,
        req: &SyncRequest,
        cfg: &SyncConfig,
        progress: Option<ProgressFn>,
    ) -> Result<SyncRun> {
        let dbs = &self.inner.dbs;
        let logs = dbs.local_coll(SYNC_LOGS);
        let now = self.now();
        // We hold the lock: any run still marked running was cut short.
        logs.update_many(
            doc! { "status": "running" },
            doc! { "$set": {
                "status": "interrupted",
                "endTime": to_bson(now),
                "error": "The sync was interrupted (the program stopped or lost its connection); the next run completed the work",
            } },
        )
        .await
        .map_err(local_err("updating the sync history"))?;

        let mut run = SyncRun {
            id: ObjectId::new().to_hex(),
            start_time: now,
            end_time: None,
            status: RunStatus::Running,
            trigger: req.trigger,
            collections: Vec::new(),
            local_to_remote: BTreeMap::new(),
            remote_to_local: BTreeMap::new(),
            conflicts: BTreeMap::new(),
            duration_seconds: None,
            error: None,
            error_code: None,
            errors: Vec::new(),
            quarantined: BTreeMap::new(),
            documents_read: BTreeMap::new(),
            host: lock::this_host(),
        };
        logs.insert_one(run.to_document())
            .await
            .map_err(local_err("writing the sync history"))?;
        let outcome = match self.run_collections(req, cfg, &mut run, progress).await {
            Err(e) => Err(self.explain_failure(e).await),
            ok => ok,
        };
        let end = self.now();
        run.end_time = Some(end);
        run.duration_seconds =
            Some(((end - run.start_time).num_milliseconds().max(0) as f64) / 1000.0);
        match &outcome {
            Ok(()) => run.status = RunStatus::Completed,
            Err(e) => {
                run.status = RunStatus::Failed;
                run.error = Some(scrub(&self.clean_ref(e), &self.inner.secrets));
                run.error_code = Some(e.code().to_string());
            }
        }
        let oid = ObjectId::parse_str(&run.id).unwrap_or_default();
        logs.replace_one(doc! { "_id": oid }, run.to_document())
            .await
            .map_err(local_err("writing the sync history"))?;
        tracing::info!(
            status = run.status.as_str(),
            pushed = SyncRun::total(&run.local_to_remote),
            pulled = SyncRun::total(&run.remote_to_local),
            conflicts = SyncRun::total(&run.conflicts),
            seconds = run.duration_seconds.unwrap_or_default(),
            "sync done"
        );
        Ok(run)
    }

    fn clean_ref(&self, e: &Error) -> String {
        scrub(&e.to_string(), &self.inner.secrets)
    }

    /// The collections a run covers.
    async fn collections_for(&self, req: &SyncRequest, cfg: &SyncConfig) -> Result<Vec<String>> {
        let dbs = &self.inner.dbs;
        let remote = dbs.remote().await?;
        let mut all: BTreeSet<String> = list_names(dbs, &dbs.local, Side::Local)
            .await?
            .into_iter()
            .collect();
        all.extend(list_names(dbs, remote, Side::Remote).await?);
        all.retain(|n| !store::is_bookkeeping(n));
        let chosen = match &req.collections {
            Some(names) if !names.is_empty() => {
                for n in names {
                    if store::is_bookkeeping(n) {
                        return Err(Error::InvalidConfig {
                            field: "collections".into(),
                            reason: format!(
                                "'{n}' is one of TempleSync's own collections and is never synced"
                            ),
                        });
                    }
                    if !all.contains(n) && !cfg.collections_to_sync.contains(n) {
                        return Err(Error::UnknownCollection {
                            name: n.clone(),
                            known: all.iter().cloned().collect::<Vec<_>>().join(", "),
                        });
                    }
                }
                names.clone()
            }
            _ if !cfg.collections_to_sync.is_empty() => cfg.collections_to_sync.clone(),
            _ => all.into_iter().collect(),
        };
        Ok(chosen)
    }

    async fn run_collections(
        &self,
        req: &SyncRequest,
        cfg: &SyncConfig,
        run: &mut SyncRun,
        progress: Option<ProgressFn>,
    ) -> Result<()> {
        let collections = self.collections_for(req, cfg).await?;
        run.collections = collections.clone();
        let remote = self.inner.dbs.remote().await?;
        self.check_identity(remote, cfg).await?;
        let env = RunEnv {
            dbs: &self.inner.dbs,
            remote,
            cfg,
            clock: self.inner.clock.clone(),
            run_id: ObjectId::parse_str(&run.id).unwrap_or_default(),
            progress,
            hook: self.inner.hook.clone(),
            local_change_streams: self.inner.local_change_streams,
            unique: Default::default(),
            exact_cas: [
                runs_transactions(&self.inner.dbs.local).await,
                runs_transactions(remote).await,
            ],
        };
        let mut reads = (0, 0);
        let outcome = self
            .sync_collections(&env, &collections, run, &mut reads)
            .await;
        run.documents_read =
            BTreeMap::from([("local".into(), reads.0), ("remote".into(), reads.1)]);
        // A backup of the cloud taken during this run is now behind the point kept here.
        if let Err(e) = identity::advance(&self.inner.dbs, remote, self.now(), false).await {
            tracing::warn!(error = %self.clean_ref(&e), "could not record the end of the run in the cloud");
        }
        outcome
    }

    /// Compares both sides by content without changing anything; with `repair`, lists the
    /// documents that differ for the next sync. `collections`: `None` for those a sync covers.
    pub async fn verify(
        &self,
        collections: Option<Vec<String>>,
        repair: bool,
    ) -> Result<crate::verify::VerifyReport> {
        let dbs = &self.inner.dbs;
        if dbs.remote.is_none() {
            return Err(Error::RemoteNotConfigured);
        }
        self.ping_local().await?;
        self.ping_remote(Duration::from_secs(8)).await?;
        let cfg = self.config().await?;
        let req = SyncRequest {
            trigger: Trigger::Manual,
            collections,
        };
        let names = self
            .collections_for(&req, &cfg)
            .await
            .map_err(|e| self.clean(e))?;
        let remote = dbs.remote().await?;
        crate::verify::run(dbs, remote, &names, repair, self.now())
            .await
            .map_err(|e| self.clean(e))
    }

    /// Removes what is kept longer than `retentionDays` (runs, settled conflicts) and the
    /// synced versions of collections no longer synced. Never fails a run: a problem is logged.
    async fn housekeeping(&self, cfg: &SyncConfig) {
        if let Err(e) = crate::retention::tidy(&self.inner.dbs, cfg, self.now()).await {
            tracing::warn!(error = %self.clean_ref(&e), "could not remove old history");
        }
    }

    /// [`identity::check`], retried on transient errors as a collection's part of a run is.
    async fn check_identity(&self, remote: &mongodb::Database, cfg: &SyncConfig) -> Result<()> {
        let mut attempt = 0u32;
        loop {
            match identity::check(&self.inner.dbs, remote, self.now()).await {
                Err(e) if e.is_transient() && attempt < cfg.max_retries => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(250 * 2u64.pow(attempt.min(5)))).await;
                }
                r => return r,
            }
        }
    }

    /// The right to work on both databases alone, within this process: a cloud is configured
    /// and no run (or cloud choice) is going on. Across processes, the run lock does the same.
    fn exclusive(&self) -> Result<tokio::sync::MutexGuard<'_, ()>> {
        if self.inner.dbs.remote.is_none() {
            return Err(Error::RemoteNotConfigured);
        }
        self.inner
            .running
            .try_lock()
            .map_err(|_| Error::SyncInProgress {
                holder: String::new(),
            })
    }

    /// Carries out a person's choice about a cloud that is not the one this computer last
    /// synced with (a run failed with [`Error::CloudChanged`]). The next sync then works on it.
    pub async fn choose_cloud(&self, choice: CloudChoice) -> Result<()> {
        let dbs = &self.inner.dbs;
        let _guard = self.exclusive()?;
        self.ping_remote(Duration::from_secs(8)).await?;
        let acquired = RunLock::acquire(&dbs.local, self.inner.clock.clone(), "cloud choice")
            .await
            .map_err(|e| self.clean(e))?;
        let remote = dbs.remote().await;
        let result = match remote {
            Ok(remote) => identity::choose(dbs, remote, choice, self.now()).await,
            Err(e) => Err(e),
        };
        acquired.lock.release().await;
        result.map_err(|e| self.clean(e))
    }

    /// Each collection's part of the run, a few at a time, then the catch-up below. A
    /// collection that fails does not stop the others; the run fails with the first failure
    /// (in the order of `collections`).
    async fn sync_collections(
        &self,
        env: &RunEnv<'_>,
        collections: &[String],
        run: &mut SyncRun,
        reads: &mut (u64, u64),
    ) -> Result<()> {
        let parts = self.sync_each(env, collections).await;
        let ended = Self::tally(collections, parts, run, reads)?;
        // Each collection's change feeds resume where its own part of the run ended. What the
        // collections still working after that wrote (mostly our own writes: documents,
        // synced versions, marks) lies beyond that point, and the next run would read through
        // all of it just to find it is not about this collection. After a large run, follow
        // those collections' feeds to the end now, so the next run (usually a quiet one)
        // starts at the end. Changes found on the way are synced as usual.
        let behind: Vec<String> = collections
            .iter()
            .zip(&ended)
            .filter_map(|(name, (finished, _))| {
                let later: u64 = ended
                    .iter()
                    .filter(|(f, _)| f > finished)
                    .map(|(_, w)| w)
                    .sum();
                (later >= env.cfg.batch_size.max(1) as u64).then(|| {
                    tracing::debug!(collection = %name, later, "catching up with the change feeds");
                    name.clone()
                })
            })
            .collect();
        let parts = self.sync_each(env, &behind).await;
        Self::tally(&behind, parts, run, reads).map(|_| ())
    }

    /// The collections' parts, [`CONCURRENT_COLLECTIONS`] at a time; outcomes in the order
    /// of `names`, each with its place in the order in which they finished.
    async fn sync_each(
        &self,
        env: &RunEnv<'_>,
        names: &[String],
    ) -> Vec<(CollectionOutcome, usize, Result<()>)> {
        use futures::StreamExt;
        let finished = std::sync::atomic::AtomicUsize::new(0);
        let finished = &finished;
        futures::stream::iter(names)
            .map(|name| async move {
                let (out, r) = self.sync_collection(env, name).await;
                let place = finished.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                (out, place, r)
            })
            .buffered(CONCURRENT_COLLECTIONS)
            .collect()
            .await
    }

    /// Adds the collections' figures to the run. Returns, for each, its place in the order
    /// of finishing and the documents it wrote; or the first failure (in the order of
    /// `names`), once every figure is added.
    fn tally(
        names: &[String],
        parts: Vec<(CollectionOutcome, usize, Result<()>)>,
        run: &mut SyncRun,
        reads: &mut (u64, u64),
    ) -> Result<Vec<(usize, u64)>> {
        let mut ended = Vec::with_capacity(names.len());
        let mut failed = None;
        for (name, (out, finished, r)) in names.iter().zip(parts) {
            ended.push((finished, out.pushed + out.pulled));
            *run.local_to_remote.entry(name.clone()).or_default() += out.pushed;
            *run.remote_to_local.entry(name.clone()).or_default() += out.pulled;
            *run.conflicts.entry(name.clone()).or_default() += out.conflicts;
            run.errors.extend(out.errors);
            if out.quarantined > 0 {
                *run.quarantined.entry(name.clone()).or_default() += out.quarantined;
            }
            reads.0 += out.local_read;
            reads.1 += out.remote_read;
            if let Err(e) = r {
                failed.get_or_insert(e);
            }
        }
        failed.map_or(Ok(ended), Err)
    }

    /// One collection's part of a run, retried on transient errors: its figures over every
    /// attempt, and how it ended.
    async fn sync_collection(
        &self,
        env: &RunEnv<'_>,
        name: &str,
    ) -> (CollectionOutcome, Result<()>) {
        let cfg = env.cfg;
        let mut total = CollectionOutcome::default();
        let mut attempt = 0u32;
        let known = env.unique.lock().ok().and_then(|m| m.get(name).cloned());
        let mut rules = known;
        loop {
            let r = Self::attempt_collection(env, name, &mut rules, &mut total).await;
            match r {
                Ok(()) => return (total, Ok(())),
                Err(e) if e.is_transient() && attempt < cfg.max_retries => {
                    attempt += 1;
                    let wait = Duration::from_millis(250 * 2u64.pow(attempt.min(5)));
                    tracing::warn!(collection = %name, attempt, error = %self.clean_ref(&e), "transient error; retrying");
                    tokio::time::sleep(wait).await;
                }
                Err(e) => return (total, Err(self.clean(e))),
            }
        }
    }

    /// One attempt at a collection's part: its unique keys first (read once per collection
    /// and run, with the cloud's index made for each configured field), then the sync.
    async fn attempt_collection(
        env: &RunEnv<'_>,
        name: &str,
        rules: &mut Option<UniqueRules>,
        total: &mut CollectionOutcome,
    ) -> Result<()> {
        if rules.is_none() {
            let configured = env.cfg.unique_fields.get(name).cloned().unwrap_or_default();
            let local = env.dbs.local_coll(name);
            let remote = env.remote.collection::<Document>(name);
            let found = unique::prepare(&local, &remote, &configured).await?;
            if let Some(why) = &found.warning {
                total.errors.push(crate::logs::DocumentError {
                    collection: name.to_string(),
                    document_id: String::new(),
                    message: why.clone(),
                });
            }
            if let Ok(mut m) = env.unique.lock() {
                m.insert(name.to_string(), found.clone());
            }
            *rules = Some(found);
        }
        let mut cs = CollectionSync::new(env, name, rules.clone().unwrap_or_default())?;
        let r = cs.run().await;
        total.add(cs.out);
        r
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
        let _guard = self
            .inner
            .running
            .try_lock()
            .map_err(|_| Error::SyncInProgress {
                holder: String::new(),
            })?;
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
        let _guard = self
            .inner
            .running
            .try_lock()
            .map_err(|_| Error::SyncInProgress {
                holder: String::new(),
            })?;
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

/// Whether a database's server runs transactions (a replica set member, or a mongos), in
/// which a compare-and-set sees every change ([`crate::exact`]). A standalone `mongod` does not.
async fn runs_transactions(db: &mongodb::Database) -> bool {
    match db.run_command(doc! { "hello": 1 }).await {
        Ok(h) => h.get_str("setName").is_ok() || h.get_str("msg") == Ok("isdbgrid"),
        Err(_) => false,
    }
}

async fn list_names(dbs: &Databases, db: &mongodb::Database, side: Side) -> Result<Vec<String>> {
    db.list_collection_names()
        .filter(doc! { "type": "collection" })
        .await
        .map_err(|e| dbs.classify(side, "listing collections", &e))
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
