//! After a batch's writes: the synced versions (bases), the local copies marked synced
//! (last, and only while unchanged since read), and the conflicts found.

use super::*;

impl CollectionSync<'_> {
    /// Records the versions both sides now hold: new ones inserted, changed ones replaced and
    /// gone ones deleted, each by `_id` (statements by `_id` cost half what one `$in` filter
    /// does on some servers, and a replacement never leaves a document without its base).
    pub(super) async fn write_bases(&self, items: &[Item]) -> Result<()> {
        let mut puts = Vec::new();
        let mut replaces = Vec::new();
        let mut drops = Vec::new();
        for it in items.iter().filter(|it| it.ok && it.clash.is_none()) {
            let settled: Option<Document> = match &it.decision {
                Decision::InSync => it.local.as_ref().map(content),
                Decision::Push(d) | Decision::Pull(d) | Decision::Merge(d) => Some(d.clone()),
                Decision::AutoResolved { apply, .. } => match apply.as_ref() {
                    Decision::Push(d) | Decision::Pull(d) | Decision::Merge(d) => Some(d.clone()),
                    _ => None,
                },
                Decision::DeleteLocal | Decision::DeleteRemote | Decision::Forget => {
                    drops.push(doc! { "q": { "_id": it.id.clone() }, "limit": 1 });
                    None
                }
                _ => None,
            };
            if let Some(d) = settled {
                let h = content_hash(&d);
                match &it.base {
                    Some(b) if b.hash == h => {}
                    // No `_id` in the replacement: the stored one stays (it may be `1` where
                    // the item's is `1.0`, and an `_id` never changes).
                    Some(_) => replaces.push(doc! {
                        "q": { "_id": it.id.clone() },
                        "u": { "h": h, "doc": d },
                        "upsert": true,
                    }),
                    None => puts.push(doc! { "_id": it.id.clone(), "h": h, "doc": d }),
                }
            }
        }
        let what = "recording synced versions";
        if !drops.is_empty() {
            write_by_id(&self.base, Side::Local, "delete", drops, what).await?;
        }
        if !replaces.is_empty() {
            write_by_id(&self.base, Side::Local, "update", replaces, what).await?;
        }
        if !puts.is_empty() {
            self.base
                .insert_many(puts)
                .ordered(false)
                .await
                .map_err(db_err(Side::Local, what))?;
        }
        Ok(())
    }

    /// Marks pushed (or already equal) local documents synced, only if nobody edited them
    /// since they were read: an edit made during the push stays pending. One `update`
    /// command for the batch.
    pub(super) async fn mark_synced(&self, items: &[Item]) -> Result<()> {
        let now = self.now();
        let mut updates = Vec::new();
        for it in items.iter().filter(|it| it.ok && it.clash.is_none()) {
            let pushed_as_is = match &it.decision {
                Decision::InSync | Decision::Push(_) => true,
                Decision::AutoResolved { apply, .. } => matches!(apply.as_ref(), Decision::Push(_)),
                _ => false,
            };
            let Some(l) = it.local.as_ref().filter(|_| pushed_as_is) else {
                continue;
            };
            let synced_at = synced_at_for(l, now);
            let done = l.get_str("syncStatus").ok() == Some("synced")
                && match l.get(UPDATED_AT) {
                    Some(_) => crate::content::same_value(l.get("syncedAt"), Some(&synced_at)),
                    None => l.get("syncedAt").is_some_and(|v| !matches!(v, Bson::Null)),
                };
            if !done {
                // Only while the document is as read: an office edit made meanwhile stays
                // pending. With this computer's change feed open, `updatedAt` is enough (an
                // edit that moved no `updatedAt` comes through the feed, and comparing every
                // field doubles the cost of marking on some servers); without it, every
                // field is compared, so that such an edit stays pending too.
                let q = match (self.local_feed_open, l.get(UPDATED_AT)) {
                    (true, Some(v)) => {
                        doc! { "_id": it.id.clone(), UPDATED_AT: { "$eq": v.clone() } }
                    }
                    _ => unchanged(l),
                };
                updates.push(doc! {
                    "q": q,
                    "u": { "$set": { "syncedAt": synced_at, "syncStatus": "synced" } },
                });
            }
        }
        // A statement refused (a validator) leaves its document pending: it is tried again.
        let (mut chunks, alone) = by_size(updates, bson_len);
        chunks.extend(alone.into_iter().map(|s| vec![s]));
        for chunk in chunks {
            let updates: Vec<Bson> = chunk.into_iter().map(Bson::Document).collect();
            self.env
                .dbs
                .local
                .run_command(doc! { "update": &self.name, "updates": updates, "ordered": false })
                .await
                .map_err(db_err(Side::Local, "marking documents synced"))?;
        }
        Ok(())
    }

    /// The document a conflict is recorded for (id, local version, base): the item's own, or
    /// for a clash found here, the local document holding the values.
    pub(super) fn conflict_subject(
        it: &Item,
        clash: Option<&UniqueClash>,
    ) -> (Bson, Option<Document>, Option<Document>) {
        match clash.and_then(|c| c.here.clone()) {
            Some(h) => (h.get("_id").cloned().unwrap_or(Bson::Null), Some(h), None),
            None => (
                it.id.clone(),
                it.local.clone(),
                it.base.as_ref().map(|b| b.doc.clone()),
            ),
        }
    }

    pub(super) async fn record_conflicts(&mut self, items: &[Item]) -> Result<()> {
        let now = self.env.clock.now();
        let mut settled_ids = Vec::new();
        for it in items {
            let found = match (&it.clash, &it.decision) {
                (Some(c), _) => Some((ConflictKind::Unique, None, Some(c.clone()), false, None)),
                (None, Decision::Conflict(f)) => {
                    Some((kind_of(f), Some(f.clone()), None, false, None))
                }
                (
                    None,
                    Decision::AutoResolved {
                        finding, winner, ..
                    },
                ) if it.ok => Some((
                    kind_of(finding),
                    Some(finding.clone()),
                    None,
                    true,
                    Some(*winner),
                )),
                _ => None,
            };
            let Some((kind, finding, clash, auto, winner)) = found else {
                // Synced cleanly, or exists nowhere any more: its open conflicts are moot.
                if it.ok {
                    settled_ids.push(it.id.clone());
                }
                continue;
            };
            let (id, local, base) = Self::conflict_subject(it, clash.as_ref());
            let new = NewConflict {
                kind,
                collection: self.name.clone(),
                local: local.clone(),
                remote: it.remote.clone(),
                base,
                id: id.clone(),
                finding,
                clash,
                auto_resolved: auto,
                winner,
                run_id: self.env.run_id,
            };
            let created = conflicts::record(self.env.dbs, new, now).await?;
            if !auto {
                self.open_conflicts = Some(true);
            }
            if created && !auto {
                self.out.conflicts += 1;
            }
            if !auto
                && let Some(l) = &local
                && l.get_str("syncStatus").ok() != Some("conflict")
            {
                self.local
                    .update_one(
                        doc! { "_id": id },
                        doc! { "$set": { "syncStatus": "conflict" } },
                    )
                    .await
                    .map_err(db_err(Side::Local, "marking a document in conflict"))?;
            }
        }
        // Documents that synced cleanly settle their open conflicts. Asked only while the
        // collection has open conflicts, so a quiet collection costs no extra reads.
        if !settled_ids.is_empty() {
            if self.open_conflicts.is_none() {
                self.open_conflicts = Some(conflicts::any_open(self.env.dbs, &self.name).await?);
            }
            if self.open_conflicts == Some(true) {
                conflicts::close_settled(self.env.dbs, &self.name, &settled_ids, now).await?;
            }
        }
        Ok(())
    }
}

pub(super) fn kind_of(f: &Finding) -> ConflictKind {
    match f {
        Finding::Edit { .. } => ConflictKind::Update,
        Finding::LocalDeletedRemoteEdited | Finding::RemoteDeletedLocalEdited => {
            ConflictKind::Delete
        }
    }
}

#[allow(dead_code)]
pub(super) fn winner_name(w: Winner) -> &'static str {
    match w {
        Winner::Local => "local",
        Winner::Remote => "remote",
    }
}
