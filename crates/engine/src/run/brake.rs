//! The brake's part of a run: deletes wait until the collection's run has seen them all,
//! then go through when they are few, or are held for a person ([`crate::bulk`]).

use super::*;

impl CollectionSync<'_> {
    /// Carries out the deletes the run deferred, side by side, when they are few; holds them
    /// for a person otherwise ([`crate::bulk`]).
    pub(super) async fn settle_deletes(&mut self) -> Result<()> {
        for side in [Side::Local, Side::Remote] {
            let i = side_index(side);
            let ids = std::mem::take(&mut self.deferred[i]);
            if ids.is_empty() {
                continue;
            }
            let coll = match side {
                Side::Local => &self.local,
                Side::Remote => &self.remote,
            };
            // A hold waits for a person: once open, its side's deletes stay held whatever their
            // number. So do the cloud's after this computer's collection was dropped (a restore
            // from a dump starts so): documents created since the dump look deleted here.
            let must_hold = self.held_open[i] || (side == Side::Remote && self.local_dropped);
            let deleting: HashSet<IdKey> = ids.iter().map(IdKey::of).collect();
            let others_stay = self.kept[i].iter().any(|k| !deleting.contains(k));
            let size = match others_stay
                && !must_hold
                && ids.len() <= self.env.cfg.mass_delete_limit as usize
            {
                // A few deletes, and documents this run saw stay: nothing to count.
                true => ids.len() as u64 + 1,
                false => Self::size_for_brake(coll, side, &ids, self.env.cfg, must_hold).await?,
            };
            tracing::trace!(target: "templesync::items", collection = %self.name, %side, deletes = ids.len(), size, must_hold, "deferred deletes");
            if must_hold || crate::bulk::held(self.env.cfg, ids.len() as u64, size) {
                let now = self.env.clock.now();
                let created = crate::bulk::hold(
                    self.env.dbs,
                    &self.name,
                    side,
                    &ids,
                    size,
                    self.env.run_id,
                    now,
                )
                .await?;
                self.out.conflicts += created as u64;
                self.held_now[i] = true;
                self.rescan |= ids.len() > crate::bulk::MAX_IDS_KEPT;
                continue;
            }
            for id in &ids {
                self.done.remove(&IdKey::of(id));
            }
            self.allow_deletes = true;
            let r = self.reconcile_ids(ids).await;
            self.allow_deletes = false;
            r?;
        }
        Ok(())
    }

    /// The size of the side's collection as far as the brake needs it. Counting can cost a
    /// scan on some servers (as much as a whole incremental sync on the test server at 100,000
    /// documents; so does a `$nin` filter there), so for a few deletes it reads at most one id
    /// more than there are deletes, with no filter: fewer means that is the whole collection,
    /// and one more means "more than these", which is all the brake needs to know then.
    pub(super) async fn size_for_brake(
        coll: &Collection<Document>,
        side: Side,
        ids: &[Bson],
        cfg: &SyncConfig,
        must_hold: bool,
    ) -> Result<u64> {
        let few = ids.len() as u64 <= cfg.mass_delete_limit as u64;
        if few && !must_hold {
            let first: Vec<Document> = coll
                .find(doc! {})
                .projection(doc! { "_id": 1 })
                .limit(ids.len() as i64 + 1)
                .await
                .map_err(db_err(side, "looking for other documents"))?
                .try_collect()
                .await
                .map_err(db_err(side, "looking for other documents"))?;
            return Ok(first.len() as u64);
        }
        coll.estimated_document_count()
            .await
            .map_err(db_err(side, "counting documents"))
    }

    /// Closes the holds of earlier runs that this run did not renew: nothing is held there
    /// any more (the documents are back, or few enough to delete).
    pub(super) async fn release_stale_holds(&mut self) -> Result<()> {
        for side in [Side::Local, Side::Remote] {
            let i = side_index(side);
            if self.held_open[i] && !self.held_now[i] {
                crate::bulk::release(self.env.dbs, &self.name, side, self.env.clock.now()).await?;
                self.held_open[i] = false;
            }
        }
        Ok(())
    }

    /// Sets a batch's deletes aside until the collection's run has seen them all, unless they
    /// are being carried out now or a person approved them.
    pub(super) fn defer_deletes(&mut self, items: &mut [Item]) {
        if self.allow_deletes {
            return;
        }
        for it in items.iter_mut() {
            let side = match it.decision {
                Decision::DeleteLocal => Side::Local,
                Decision::DeleteRemote => Side::Remote,
                _ => continue,
            };
            if self.approved.contains(&it.key) {
                continue;
            }
            self.deferred[side_index(side)].push(it.id.clone());
            it.decision = Decision::Nothing;
            it.ok = false;
        }
        self.note_kept(items);
    }

    /// Remembers a few documents the batch leaves on each side (see [`Self::kept`]).
    pub(super) fn note_kept(&mut self, items: &[Item]) {
        const ENOUGH: usize = 64;
        for it in items {
            if matches!(it.decision, Decision::Nothing | Decision::Forget) {
                continue;
            }
            let there = [
                it.local.is_some() || Self::incoming(&it.decision).is_some(),
                it.remote.is_some() || Self::outgoing(&it.decision).is_some(),
            ];
            for (i, there) in there.into_iter().enumerate() {
                if there && self.kept[i].len() < ENOUGH {
                    self.kept[i].insert(it.key.clone());
                }
            }
        }
    }
}
