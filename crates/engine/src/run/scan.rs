//! Finding what changed without a change feed: the list of documents to look at again,
//! local documents pending since their last sync, local deletes, and full scans of both sides.

use super::*;

impl CollectionSync<'_> {
    pub(super) async fn process_dirty_list(&mut self) -> Result<()> {
        let dirty = self.env.dbs.local_coll(SYNC_DIRTY);
        let entries: Vec<Document> = dirty
            .find(doc! { "collection": &self.name })
            .await
            .map_err(db_err(
                Side::Local,
                "reading the list of documents to recheck",
            ))?
            .try_collect()
            .await
            .map_err(db_err(
                Side::Local,
                "reading the list of documents to recheck",
            ))?;
        if entries.is_empty() {
            return Ok(());
        }
        let ids: Vec<Bson> = entries
            .iter()
            .filter_map(|e| e.get("docId").cloned())
            .collect();
        self.approved.extend(
            entries
                .iter()
                .filter(|e| e.get_bool("allowDelete").unwrap_or(false))
                .filter_map(|e| e.get("docId").map(IdKey::of)),
        );
        self.reconcile_ids(ids).await?;
        let entry_ids: Vec<Bson> = entries
            .iter()
            .filter_map(|e| e.get("_id").cloned())
            .collect();
        dirty
            .delete_many(doc! { "_id": { "$in": entry_ids } })
            .await
            .map_err(db_err(
                Side::Local,
                "clearing the list of documents to recheck",
            ))?;
        Ok(())
    }

    /// Reconciles every local document that changed; returns how many of them were new
    /// (never synced), for the delete check.
    pub(super) async fn process_local_pending(&mut self) -> Result<u64> {
        let mut cursor = self
            .local
            .find(pending_filter())
            .batch_size(self.batch() as u32)
            .await
            .map_err(db_err(Side::Local, "reading local changes"))?;
        let mut new_docs = 0u64;
        let mut buf = Vec::new();
        loop {
            let next = cursor
                .try_next()
                .await
                .map_err(db_err(Side::Local, "reading local changes"))?;
            let end = next.is_none();
            if let Some(d) = next {
                buf.push(d);
            }
            if buf.len() >= self.batch() || (end && !buf.is_empty()) {
                self.step(Step::ReadLocalChanges).await?;
                let docs = std::mem::take(&mut buf);
                new_docs += self.reconcile_docs(docs, Side::Local).await?;
            }
            if end {
                return Ok(new_docs);
            }
        }
    }

    /// Finds documents deleted locally. A cheap count tells whether any can be missing; only
    /// then (or after a crash, or once a day) are the ids compared with the bases.
    pub(super) async fn counts(&self) -> Result<(u64, u64)> {
        let local_count = self
            .local
            .estimated_document_count()
            .await
            .map_err(db_err(Side::Local, "counting local documents"))?;
        let base_count = self
            .base
            .estimated_document_count()
            .await
            .map_err(db_err(Side::Local, "counting synced documents"))?;
        Ok((local_count, base_count))
    }

    pub(super) async fn process_local_deletes(
        &mut self,
        (local_count, base_count): (u64, u64),
        new_local: u64,
        crashed_before: bool,
        cp: &Document,
    ) -> Result<()> {
        let held = conflicts::open_local_deletes(self.env.dbs, &self.name).await?;
        let stale = cp
            .get_datetime("lastIdScanAt")
            .map(|t| self.env.clock.now() - t.to_chrono() > chrono::Duration::hours(24))
            .unwrap_or(true);
        let balanced = local_count + held == base_count + new_local;
        if balanced && !crashed_before && !stale {
            return Ok(());
        }
        tracing::debug!(collection = %self.name, local_count, base_count, new_local, held, crashed_before, "comparing ids");
        self.out.scanned = true;
        let local_ids: HashSet<IdKey> = ids_of(&self.local, Side::Local, "listing local ids")
            .await?
            .iter()
            .map(IdKey::of)
            .collect();
        let mut missing = Vec::new();
        let mut based = HashSet::new();
        for id in ids_of(&self.base, Side::Local, "listing synced ids").await? {
            let k = IdKey::of(&id);
            if !local_ids.contains(&k) {
                missing.push(id);
            }
            based.insert(k);
        }
        // Local documents without a base that are not pending: left by a run cut between
        // writing a pulled document and recording its base.
        let unbased: Vec<Bson> = local_ids
            .iter()
            .filter(|k| !based.contains(*k) && !self.done.contains(*k))
            .map(IdKey::to_bson)
            .collect();
        missing.extend(unbased);
        self.reconcile_ids(missing).await
    }

    /// First sync, or the cloud history was lost: look at every document on both sides.
    pub(super) async fn full_scan(&mut self) -> Result<()> {
        self.out.scanned = true;
        let count = async |c: &Collection<Document>, side| {
            c.estimated_document_count()
                .await
                .map_err(db_err(side, "counting documents"))
        };
        // A first sync against an empty side (a new cloud, a new PC) need not look documents
        // up there one batch at a time. Only documents this scan handles are written meanwhile.
        self.empty = Empty {
            local: count(&self.local, Side::Local).await? == 0,
            remote: count(&self.remote, Side::Remote).await? == 0,
            base: count(&self.base, Side::Local).await? == 0,
        };
        let scanned = async {
            self.scan_side(Side::Local).await?;
            self.scan_side(Side::Remote).await
        };
        let r = scanned.await;
        self.empty = Empty::default();
        r?;
        // Bases of documents now on neither side.
        let gone: Vec<Bson> = ids_of(&self.base, Side::Local, "listing synced ids")
            .await?
            .into_iter()
            .filter(|id| !self.done.contains(&IdKey::of(id)))
            .collect();
        tracing::debug!(collection = %self.name, gone = gone.len(), "full scan done");
        self.reconcile_ids(gone).await
    }

    /// Reconciles every document of one side, a batch at a time, skipping those already done.
    pub(super) async fn scan_side(&mut self, side: Side) -> Result<()> {
        let coll = match side {
            Side::Local => self.local.clone(),
            Side::Remote => self.remote.clone(),
        };
        let mut cursor = coll
            .find(doc! {})
            .batch_size(self.batch() as u32)
            .await
            .map_err(db_err(side, "scanning a collection"))?;
        let mut buf = Vec::new();
        loop {
            let next = cursor
                .try_next()
                .await
                .map_err(db_err(side, "scanning a collection"))?;
            let end = next.is_none();
            if let Some(d) = next
                && d.get("_id")
                    .is_some_and(|id| !self.done.contains(&IdKey::of(id)))
            {
                buf.push(d);
            }
            if buf.len() >= self.batch() || (end && !buf.is_empty()) {
                let docs = std::mem::take(&mut buf);
                self.reconcile_docs(docs, side).await?;
            }
            if end {
                return Ok(());
            }
        }
    }
}

/// Every `_id` of a collection, read with `what` named in an error.
async fn ids_of(coll: &Collection<Document>, side: Side, what: &'static str) -> Result<Vec<Bson>> {
    let mut cursor = coll
        .find(doc! {})
        .projection(doc! { "_id": 1 })
        .await
        .map_err(db_err(side, what))?;
    let mut ids = Vec::new();
    while let Some(d) = cursor.try_next().await.map_err(db_err(side, what))? {
        if let Some(id) = d.get("_id") {
            ids.push(id.clone());
        }
    }
    Ok(ids)
}
