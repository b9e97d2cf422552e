//! Unique values: before a batch is written, the values each document would take on the
//! other side are looked up there; a value held by another document is a clash.

use super::*;

impl CollectionSync<'_> {
    /// The version an item sends to the cloud, if any.
    pub(super) fn outgoing(d: &Decision) -> Option<&Document> {
        match d {
            Decision::Push(doc) | Decision::Merge(doc) => Some(doc),
            Decision::AutoResolved { apply, .. } => Self::outgoing(apply),
            _ => None,
        }
    }

    /// The version an item brings here, if any.
    pub(super) fn incoming(d: &Decision) -> Option<&Document> {
        match d {
            Decision::Pull(doc) | Decision::Merge(doc) => Some(doc),
            Decision::AutoResolved { apply, .. } => Self::incoming(apply),
            _ => None,
        }
    }

    /// The values of `key` that an item sends to the cloud and that its cloud version does
    /// not hold already; for a document held in a conflict and otherwise in sync, the values
    /// it holds (so a clash that is still there is seen again, not closed as settled).
    pub(super) fn taking(key: &UniqueKey, it: &Item) -> Option<Vec<Bson>> {
        let Some(doc) = Self::outgoing(&it.decision) else {
            let held = it.local.as_ref().filter(|l| {
                it.decision == Decision::InSync && l.get_str("syncStatus").ok() == Some("conflict")
            });
            return held.and_then(|l| key.values(l));
        };
        let values = key.values(doc)?;
        let before = it.remote.as_ref().and_then(|r| key.values(r));
        (!before.is_some_and(|b| UniqueKey::same(&b, &values))).then_some(values)
    }

    /// Flags items whose outgoing values a different cloud document already holds.
    pub(super) async fn check_unique_remote(&mut self, items: &mut [Item]) -> Result<()> {
        for key in self.unique.keys.clone() {
            let wanted: Vec<Vec<Bson>> = items
                .iter()
                .filter_map(|it| Self::taking(&key, it))
                .collect();
            if wanted.is_empty() {
                continue;
            }
            let what = "checking unique values in the cloud";
            let holders: Vec<Document> = self
                .remote
                .find(key.query(&wanted))
                .await
                .map_err(db_err(Side::Remote, what))?
                .try_collect()
                .await
                .map_err(db_err(Side::Remote, what))?;
            // A holder that this batch deletes from the cloud, or moves off the values, frees them.
            let leaving: HashSet<IdKey> = items
                .iter()
                .filter(|it| match &it.decision {
                    Decision::DeleteRemote => true,
                    d => Self::outgoing(d).is_some_and(|doc| {
                        let old = it.remote.as_ref().and_then(|r| key.values(r));
                        old.is_some_and(|old| !key.holds(doc, &old))
                    }),
                })
                .map(|it| it.key.clone())
                .collect();
            for it in items.iter_mut().filter(|it| it.clash.is_none()) {
                let Some(values) = Self::taking(&key, it) else {
                    continue;
                };
                let holder = holders.iter().find(|h| {
                    h.get("_id").is_some_and(|hid| {
                        IdKey::of(hid) != it.key && !leaving.contains(&IdKey::of(hid))
                    }) && key.holds(h, &values)
                });
                if let Some(h) = holder {
                    it.clash = Some(UniqueClash::with(&key, values, h));
                }
            }
        }
        Ok(())
    }

    /// Holds back incoming versions whose unique values a local document in conflict holds:
    /// that conflict decides which one keeps them.
    pub(super) async fn check_unique_local(&mut self, items: &mut [Item]) -> Result<()> {
        let incoming =
            |key: &UniqueKey, it: &Item| Self::incoming(&it.decision).and_then(|d| key.values(d));
        for key in self.unique.keys.clone() {
            let wanted: Vec<Vec<Bson>> = items
                .iter()
                .filter(|it| it.clash.is_none())
                .filter_map(|it| incoming(&key, it))
                .collect();
            if wanted.is_empty() {
                continue;
            }
            let mut filter = key.query(&wanted);
            filter.insert("syncStatus", "conflict");
            let what = "checking unique values here";
            let mut holders: Vec<Document> = self
                .local
                .find(filter)
                .await
                .map_err(db_err(Side::Local, what))?
                .try_collect()
                .await
                .map_err(db_err(Side::Local, what))?;
            // Local documents of this same batch that go into a conflict over the value hold
            // it too (they are marked in conflict only when the batch's conflicts are written).
            holders.extend(
                items
                    .iter()
                    .filter(|it| it.clash.is_some())
                    .filter_map(|it| it.local.clone()),
            );
            for it in items.iter_mut().filter(|it| it.clash.is_none()) {
                let Some(values) = incoming(&key, it) else {
                    continue;
                };
                if holders.iter().any(|h| {
                    h.get("_id").is_some_and(|hid| IdKey::of(hid) != it.key)
                        && key.holds(h, &values)
                }) {
                    tracing::info!(collection = %self.name, id = %display_id(&it.id), "cloud document held back: its unique value is in a local conflict");
                    it.ok = false;
                    it.decision = Decision::Nothing;
                }
            }
        }
        Ok(())
    }

    /// A cloud unique index refused a document: find which document holds its values, on
    /// any unique key (configured, or either side's index). `None` if none does any more.
    pub(super) async fn clash_from_index(&self, doc: &Document) -> Result<Option<UniqueClash>> {
        let id = doc.get("_id").cloned().unwrap_or(Bson::Null);
        for key in &self.unique.keys {
            let Some(values) = key.values(doc) else {
                continue;
            };
            let mut filter = key.filter(&values);
            filter.insert("_id", doc! { "$ne": id.clone() });
            let holder = self
                .remote
                .find_one(filter)
                .await
                .map_err(db_err(Side::Remote, "checking unique values in the cloud"))?;
            if let Some(h) = holder {
                return Ok(Some(UniqueClash::with(key, values, &h)));
            }
        }
        Ok(None)
    }

    /// This computer's database refused incoming versions (a local unique index): each
    /// becomes a clash with the local document holding the values, so a person sees it,
    /// rather than a retry that can never succeed. `refused` are positions in `items`.
    pub(super) async fn clashes_here(
        &mut self,
        items: &mut [Item],
        refused: Vec<usize>,
    ) -> Result<()> {
        for i in refused {
            let it = &mut items[i];
            let doc = Self::incoming(&it.decision).cloned().unwrap_or_default();
            let mut found = None;
            for key in self.unique.local_keys.iter().chain(&self.unique.keys) {
                let Some(values) = key.values(&doc) else {
                    continue;
                };
                let mut filter = key.filter(&values);
                filter.insert("_id", doc! { "$ne": it.id.clone() });
                let here = self
                    .local
                    .find_one(filter)
                    .await
                    .map_err(db_err(Side::Local, "checking unique values here"))?;
                if let Some(here) = here {
                    let mut clash = UniqueClash::with(key, values, &doc);
                    clash.here = Some(here);
                    found = Some(clash);
                    break;
                }
            }
            // No holder any more (it changed meanwhile): look again at the end of the run.
            it.retry = found.is_none();
            it.clash = found;
        }
        Ok(())
    }
}
