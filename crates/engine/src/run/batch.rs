//! Reconciling documents in batches: read both sides and the synced versions, decide, write
//! in the order that keeps a cut run safe (see the module above), and try again later what
//! could not be written now.

use super::*;

impl CollectionSync<'_> {
    /// Reconciles documents already read from one side.
    pub(super) async fn reconcile_docs(&mut self, docs: Vec<Document>, side: Side) -> Result<u64> {
        let mut known = HashMap::new();
        let mut ids = Vec::new();
        for d in docs {
            if let Some(id) = d.get("_id").cloned() {
                let k = IdKey::of(&id);
                if self.done.contains(&k) {
                    continue;
                }
                ids.push(id);
                known.insert(k, d);
            }
        }
        match side {
            Side::Local => self.out.local_read += known.len() as u64,
            Side::Remote => self.out.remote_read += known.len() as u64,
        }
        self.reconcile_batch(ids, Some((side, known))).await
    }

    /// Reconciles ids, reading both sides.
    pub(super) async fn reconcile_ids(&mut self, ids: Vec<Bson>) -> Result<()> {
        let mut seen = HashSet::new();
        let ids: Vec<Bson> = ids
            .into_iter()
            .filter(|id| {
                let k = IdKey::of(id);
                !self.done.contains(&k) && seen.insert(k)
            })
            .collect();
        for chunk in ids.chunks(self.batch()) {
            self.reconcile_batch(chunk.to_vec(), None).await?;
        }
        Ok(())
    }

    /// The documents we could not write because someone wrote in between: once more now,
    /// and if that fails too, on the next run.
    pub(super) async fn retry_later(&mut self) -> Result<()> {
        let ids = std::mem::take(&mut self.later);
        if ids.is_empty() {
            return Ok(());
        }
        for id in &ids {
            self.done.remove(&IdKey::of(id));
        }
        self.reconcile_ids(ids).await?;
        let still = std::mem::take(&mut self.later);
        self.remember_for_next_run(still).await
    }

    /// At the end of the collection's run: what is still to retry or set aside (see
    /// [`Self::remember_for_next_run`]).
    pub(super) async fn remember_what_is_left(&mut self) -> Result<()> {
        let mut ids = std::mem::take(&mut self.later);
        for side in &mut self.deferred {
            ids.append(side);
        }
        self.remember_for_next_run(ids).await
    }

    /// Lists documents this run could not finish (writes someone else's got in the way of,
    /// deletes still set aside) for the next run to look at, whatever the change feeds
    /// say then: their feed events are behind the checkpoint this run saves. A person's
    /// permission to delete goes along.
    async fn remember_for_next_run(&mut self, ids: Vec<Bson>) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut seen = HashSet::new();
        let entries: Vec<Document> = ids
            .into_iter()
            .filter(|id| seen.insert(IdKey::of(id)))
            .map(|id| {
                let approved = self.approved.contains(&IdKey::of(&id));
                let mut e = doc! { "collection": &self.name, "docId": id, "since": self.now() };
                if approved {
                    e.insert("allowDelete", true);
                }
                e
            })
            .collect();
        tracing::trace!(target: "templesync::items", collection = %self.name, left = entries.len(), "remembered for the next run");
        self.env
            .dbs
            .local_coll(SYNC_DIRTY)
            .insert_many(entries)
            .await
            .map_err(db_err(Side::Local, "remembering documents to recheck"))?;
        Ok(())
    }

    pub(super) async fn fetch(
        coll: &Collection<Document>,
        side: Side,
        ids: &[Bson],
    ) -> Result<HashMap<IdKey, Document>> {
        let docs: Vec<Document> = coll
            .find(doc! { "_id": { "$in": ids.to_vec() } })
            .await
            .map_err(db_err(side, "reading documents"))?
            .try_collect()
            .await
            .map_err(db_err(side, "reading documents"))?;
        Ok(docs
            .into_iter()
            .filter_map(|d| d.get("_id").map(IdKey::of).map(|k| (k, d)))
            .collect())
    }

    /// Decides and applies one batch, like [`Self::reconcile_batch_once`]. A refusal that may
    /// be caused by one of its documents does not stop the run: the documents that fail on
    /// their own are quarantined and the others synced (see [`crate::quarantine`]).
    pub(super) async fn reconcile_batch(
        &mut self,
        ids: Vec<Bson>,
        known: Option<(Side, HashMap<IdKey, Document>)>,
    ) -> Result<u64> {
        match self.reconcile_batch_once(ids.clone(), known).await {
            Ok(n) => {
                self.release_quarantined(&ids).await?;
                Ok(n)
            }
            Err(e) if quarantine::may_be_a_document(&e) => self.isolate(ids, e).await,
            Err(e) => Err(e),
        }
    }

    /// Decides and applies one batch. Returns how many local documents in it had no base
    /// (were new), for the delete check.
    pub(super) async fn reconcile_batch_once(
        &mut self,
        ids: Vec<Bson>,
        known: Option<(Side, HashMap<IdKey, Document>)>,
    ) -> Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let read = self.read_batch(&ids, known).await?;
        let strategy = self.env.cfg.conflict_resolution_strategy;
        let (mut items, new_local) = decide_items(ids, read, strategy);
        if self.local_dropped {
            nothing_was_deleted_here(&mut items);
        }
        self.defer_deletes(&mut items);
        self.apply_batch(&mut items).await?;
        for it in &items {
            tracing::trace!(
                target: "templesync::items",
                collection = %self.name,
                id = %it.id,
                decision = it.decision.label(),
                ok = it.ok,
                retry = it.retry,
                allow_deletes = self.allow_deletes,
            );
            if it.retry {
                self.later.push(it.id.clone());
            }
            self.done.insert(it.key.clone());
        }
        if let Some(p) = &self.env.progress {
            p(Progress {
                collection: self.name.clone(),
                pushed: self.out.pushed,
                pulled: self.out.pulled,
                conflicts: self.out.conflicts,
            });
        }
        Ok(new_local)
    }

    /// Both sides' documents and their synced versions, read at the same time (a side known
    /// to be empty, or whose documents are in hand, is not asked).
    async fn read_batch(
        &mut self,
        ids: &[Bson],
        known: Option<(Side, HashMap<IdKey, Document>)>,
    ) -> Result<BatchRead> {
        let need_local = !matches!(known, Some((Side::Local, _))) && !self.empty.local;
        let need_remote = !matches!(known, Some((Side::Remote, _))) && !self.empty.remote;
        let need_base = !self.empty.base;
        let fetch = |coll, side, need| async move {
            match need {
                true => Self::fetch(coll, side, ids).await,
                false => Ok(HashMap::new()),
            }
        };
        let (mut locals, mut remotes, bases) = tokio::try_join!(
            fetch(&self.local, Side::Local, need_local),
            fetch(&self.remote, Side::Remote, need_remote),
            fetch(&self.base, Side::Local, need_base),
        )?;
        self.out.remote_read += remotes.len() as u64;
        self.out.local_read += locals.len() as u64;
        match known {
            Some((Side::Local, k)) => locals = k,
            Some((Side::Remote, k)) => remotes = k,
            None => {}
        }
        Ok(BatchRead {
            locals,
            remotes,
            bases,
        })
    }

    /// Carries out a batch's decisions, phase by phase in [`BATCH_PHASES`]' order.
    async fn apply_batch(&mut self, items: &mut [Item]) -> Result<()> {
        let t = std::time::Instant::now();
        let name = self.name.clone();
        let lap = move |what: &str| tracing::debug!(collection = %name, what, ms = t.elapsed().as_millis() as u64, "batch phase");
        lap("read");
        for phase in BATCH_PHASES {
            if let Some(step) = phase.step() {
                self.step(step).await?;
            }
            match phase {
                Phase::CheckUnique => {
                    self.check_unique_remote(items).await?;
                    self.check_unique_local(items).await?;
                }
                Phase::WriteSides => {
                    self.write_sides(items).await?;
                    let refused = std::mem::take(&mut self.refused_inserts);
                    self.refused_now
                        .extend(refused.iter().map(|(id, _)| IdKey::of(id)));
                    self.set_aside(refused).await?;
                }
                Phase::WriteBases => self.write_bases(items).await?,
                Phase::MarkSynced => self.mark_synced(items).await?,
                Phase::RecordConflicts => self.record_conflicts(items).await?,
            }
            lap(phase.name());
        }
        Ok(())
    }
}

/// A batch's documents as read: both sides' and the synced versions, by id.
pub(super) struct BatchRead {
    locals: HashMap<IdKey, Document>,
    remotes: HashMap<IdKey, Document>,
    bases: HashMap<IdKey, Document>,
}

/// The batch's items, each with its decision: a pure function of the documents read and the
/// strategy. Also how many local documents had no synced version (were new).
pub(super) fn decide_items(
    ids: Vec<Bson>,
    read: BatchRead,
    strategy: crate::config::ConflictStrategy,
) -> (Vec<Item>, u64) {
    let BatchRead {
        mut locals,
        mut remotes,
        mut bases,
    } = read;
    let mut new_local = 0;
    let items = ids
        .into_iter()
        .map(|id| {
            let key = IdKey::of(&id);
            let local = locals.remove(&key);
            // One `_id` for the item: this computer's as it is written here (`1.0` and `1`
            // are one document to MongoDB). The cloud's own is kept for writing there.
            let remote = remotes.remove(&key);
            let id = [&local, &remote]
                .into_iter()
                .find_map(|d| d.as_ref().and_then(|d| d.get("_id").cloned()))
                .unwrap_or(id);
            let (remote, remote_id) = same_id(remote, &id);
            let base = bases.remove(&key).map(|b| BaseEntry {
                hash: b.get_str("h").unwrap_or_default().to_string(),
                doc: same_id(b.get_document("doc").ok().cloned(), &id)
                    .0
                    .unwrap_or_default(),
            });
            if local.is_some() && base.is_none() {
                new_local += 1;
            }
            let decision = decide(
                local.as_ref(),
                base.as_ref().map(|b| &b.doc),
                remote.as_ref(),
                strategy,
            );
            Item {
                id,
                key,
                local,
                base,
                remote,
                remote_id,
                decision,
                clash: None,
                ok: true,
                retry: false,
            }
        })
        .collect();
    (items, new_local)
}

/// After this computer's collection was dropped (`mongorestore --drop` starts so), a document
/// missing here was deleted by nobody here: it was not in the dump. The cloud's edit of it
/// comes back, rather than a "deleted here, edited in the cloud" question whose answer "keep
/// this computer's" would delete it everywhere.
pub(super) fn nothing_was_deleted_here(items: &mut [Item]) {
    for it in items {
        if let (Decision::Conflict(Finding::LocalDeletedRemoteEdited), Some(r)) =
            (&it.decision, &it.remote)
        {
            it.decision = Decision::Pull(content(r));
        }
    }
}

/// The phases of writing a batch. Their order is the crash-safety argument of a run (see the
/// module above): a run cut between any two phases leaves states the next run completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Unique values looked up on the other side; a clash stops that document's writes.
    CheckUnique,
    /// The cloud, then this computer: compare-and-set writes and inserts.
    WriteSides,
    /// The synced versions: only once both sides hold the version.
    WriteBases,
    /// The local copies marked synced: last of the document's writes, so a cut before leaves
    /// them pending (looked at again), never marked synced with the cloud behind.
    MarkSynced,
    /// The conflicts found, once the documents' own writes are done.
    RecordConflicts,
}

/// The order in which a batch is written.
pub(super) const BATCH_PHASES: [Phase; 5] = [
    Phase::CheckUnique,
    Phase::WriteSides,
    Phase::WriteBases,
    Phase::MarkSynced,
    Phase::RecordConflicts,
];

impl Phase {
    /// The [`Step`] a hook sees just before the phase.
    fn step(self) -> Option<Step> {
        match self {
            Phase::CheckUnique => None,
            Phase::WriteSides => Some(Step::Decided),
            Phase::WriteBases => Some(Step::AppliedLocal),
            Phase::MarkSynced => Some(Step::MarkSynced),
            Phase::RecordConflicts => Some(Step::WriteConflicts),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Phase::CheckUnique => "unique",
            Phase::WriteSides => "written",
            Phase::WriteBases => "bases",
            Phase::MarkSynced => "marks",
            Phase::RecordConflicts => "conflicts",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConflictStrategy;

    fn position(p: Phase) -> usize {
        BATCH_PHASES
            .iter()
            .position(|x| *x == p)
            .expect("every phase runs")
    }

    #[test]
    fn a_batch_writes_both_sides_before_the_synced_version_and_marks_last() {
        // A base written before both sides hold the version would make the next run read
        // "unchanged since synced" on the side that does not have it, and delete or revert it.
        assert!(position(Phase::WriteSides) < position(Phase::WriteBases));
        // A local copy marked synced before its base would never be looked at again.
        assert!(position(Phase::WriteBases) < position(Phase::MarkSynced));
        // A clash is found before anything is written.
        assert_eq!(position(Phase::CheckUnique), 0);
        assert_eq!(BATCH_PHASES.len(), 5, "each phase once");
    }

    #[test]
    fn the_hook_steps_come_in_the_documented_order() {
        let steps: Vec<Step> = BATCH_PHASES.iter().filter_map(|p| p.step()).collect();
        let documented: Vec<Step> = Step::ALL
            .into_iter()
            .filter(|s| steps.contains(s))
            .collect();
        assert_eq!(
            steps, documented,
            "tests cut runs at these steps, in this order"
        );
    }

    fn t(ms: i64) -> bson::DateTime {
        bson::DateTime::from_millis(ms)
    }

    fn read(locals: Vec<Document>, remotes: Vec<Document>, bases: Vec<Document>) -> BatchRead {
        let by_id = |docs: Vec<Document>| {
            docs.into_iter()
                .map(|d| (IdKey::of(d.get("_id").unwrap()), d))
                .collect()
        };
        BatchRead {
            locals: by_id(locals),
            remotes: by_id(remotes),
            bases: by_id(bases),
        }
    }

    #[test]
    fn decisions_are_made_from_the_documents_read_with_one_id_per_document() {
        let l = doc! { "_id": 1.0, "name": "Ravi K", "updatedAt": t(2) };
        let r = doc! { "_id": 1, "name": "Ravi", "updatedAt": t(1) };
        let base = doc! { "_id": 1, "h": "x", "doc": r.clone() };
        let new_here = doc! { "_id": 2, "name": "Sita", "updatedAt": t(1) };
        let ids = vec![Bson::Int32(1), Bson::Int32(2), Bson::Int32(3)];
        let (items, new_local) = decide_items(
            ids,
            read(vec![l, new_here], vec![r], vec![base]),
            ConflictStrategy::Manual,
        );
        assert_eq!(new_local, 1, "only document 2 has no synced version");
        assert_eq!(items[0].id, Bson::Double(1.0), "this computer's own _id");
        assert_eq!(
            items[0].remote_id,
            Some(Bson::Int32(1)),
            "the cloud's own, for writing there"
        );
        assert!(
            matches!(items[0].decision, Decision::Push(_)),
            "edited here only"
        );
        assert!(matches!(items[1].decision, Decision::Push(_)), "new here");
        assert_eq!(items[2].decision, Decision::Nothing, "on neither side");
    }
}
