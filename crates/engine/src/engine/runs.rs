//! A sync run over every collection: the checks before it (both servers, the lock, which
//! cloud), the run on a thread with a deep stack, the collections a few at a time, and what
//! is recorded in `sync_logs`.

use super::*;

impl Engine {
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
    pub(super) async fn run_on_deep_stack(
        &self,
        req: SyncRequest,
        cfg: SyncConfig,
        progress: Option<ProgressFn>,
    ) -> Result<SyncRun> {
        let engine = self.clone();
        let runtime = tokio::runtime::Handle::current();
        // The caller's span goes along, so that a trace tells whose run each event is.
        let span = tracing::Span::current();
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("templesync-run".into())
            .stack_size(RUN_STACK_BYTES)
            .spawn(move || {
                let _entered = span.enter();
                let run = runtime.block_on(engine.run_locked(&req, &cfg, progress));
                let _ = tx.send(run);
            })
            .map_err(|e| Error::Interrupted(format!("the run could not start: {e}")))?;
        rx.await
            .map_err(|_| Error::Interrupted("the run stopped unexpectedly".into()))?
    }

    pub(super) async fn run_locked(
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

    /// The collections a run covers.
    pub(super) async fn collections_for(
        &self,
        req: &SyncRequest,
        cfg: &SyncConfig,
    ) -> Result<Vec<String>> {
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

    pub(super) async fn run_collections(
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
    pub(super) async fn housekeeping(&self, cfg: &SyncConfig) {
        if let Err(e) = crate::retention::tidy(&self.inner.dbs, cfg, self.now()).await {
            tracing::warn!(error = %self.clean_ref(&e), "could not remove old history");
        }
    }

    /// [`identity::check`], retried on transient errors as a collection's part of a run is.
    pub(super) async fn check_identity(
        &self,
        remote: &mongodb::Database,
        cfg: &SyncConfig,
    ) -> Result<()> {
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
    pub(super) fn exclusive(&self) -> Result<tokio::sync::MutexGuard<'_, ()>> {
        if self.inner.dbs.remote.is_none() {
            return Err(Error::RemoteNotConfigured);
        }
        self.alone()
    }

    /// No run, cloud choice or decision going on in this process (a decision needs no
    /// cloud); across processes, the run lock does the same.
    pub(super) fn alone(&self) -> Result<tokio::sync::MutexGuard<'_, ()>> {
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
    pub(super) async fn sync_collections(
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
    pub(super) async fn sync_each(
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
    pub(super) fn tally(
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
    pub(super) async fn sync_collection(
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
    pub(super) async fn attempt_collection(
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
}

/// Whether a database's server runs transactions (a replica set member, or a mongos), in
/// which a compare-and-set sees every change ([`crate::exact`]). A standalone `mongod` does not.
pub(super) async fn runs_transactions(db: &mongodb::Database) -> bool {
    match db.run_command(doc! { "hello": 1 }).await {
        Ok(h) => h.get_str("setName").is_ok() || h.get_str("msg") == Ok("isdbgrid"),
        Err(_) => false,
    }
}

pub(super) async fn list_names(
    dbs: &Databases,
    db: &mongodb::Database,
    side: Side,
) -> Result<Vec<String>> {
    db.list_collection_names()
        .filter(doc! { "type": "collection" })
        .await
        .map_err(|e| dbs.classify(side, "listing collections", &e))
}
