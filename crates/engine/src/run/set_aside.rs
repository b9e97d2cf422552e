//! Documents a side refuses: found one by one when a batch fails, set aside in
//! [`crate::quarantine`] so that the rest of the collection syncs, and tried again every run.

use super::*;

impl CollectionSync<'_> {
    /// A batch failed with `err`: tries it again in halves, reading both sides afresh, down to
    /// the documents that fail on their own; quarantines those and syncs the rest.
    pub(super) async fn isolate(&mut self, ids: Vec<Bson>, err: Error) -> Result<u64> {
        tracing::debug!(collection = %self.name, batch = ids.len(), error = %err, "a batch was refused; looking for the document at fault");
        // Written meanwhile by the failed attempt: no side can be assumed empty any more.
        let empty = std::mem::take(&mut self.empty);
        let (mut new_local, mut failed, mut parts) = (0, Vec::new(), Vec::new());
        match ids.len() {
            1 => failed.push((ids[0].clone(), err)),
            n => {
                parts.push(ids[n / 2..].to_vec());
                parts.push(ids[..n / 2].to_vec());
            }
        }
        while let Some(part) = parts.pop() {
            match self.reconcile_batch_once(part.clone(), None).await {
                Ok(n) => {
                    new_local += n;
                    self.release_quarantined(&part).await?;
                }
                Err(e) if quarantine::may_be_a_document(&e) && part.len() == 1 => {
                    failed.push((part[0].clone(), e));
                }
                Err(e) if quarantine::may_be_a_document(&e) => {
                    parts.push(part[part.len() / 2..].to_vec());
                    parts.push(part[..part.len() / 2].to_vec());
                }
                Err(e) => {
                    self.empty = empty;
                    return Err(e);
                }
            }
        }
        self.empty = empty;
        let held_before = failed
            .iter()
            .filter(|(id, _)| self.quarantined.contains(&IdKey::of(id)))
            .count();
        if quarantine::looks_systemic(ids.len(), &failed, held_before) {
            // Every document alone fails the same way: the documents are not the problem.
            return Err(failed.swap_remove(0).1);
        }
        self.set_aside(failed).await?;
        Ok(new_local)
    }

    /// Quarantines documents a side refused: listed in the run, tried again every run.
    pub(super) async fn set_aside(&mut self, refused: Vec<(Bson, Error)>) -> Result<()> {
        let now = self.env.clock.now();
        for (id, e) in refused {
            let held =
                quarantine::hold(self.env.dbs, &self.name, &id, &e, self.env.run_id, now).await?;
            self.out.errors.push(crate::logs::DocumentError {
                collection: self.name.clone(),
                document_id: held.document_id,
                message: format!("set aside (quarantined): {}", held.reason),
            });
            self.out.quarantined += 1;
            self.quarantined.insert(IdKey::of(&id));
            self.done.insert(IdKey::of(&id));
        }
        Ok(())
    }

    /// Documents of a batch that went through leave the quarantine.
    pub(super) async fn release_quarantined(&mut self, ids: &[Bson]) -> Result<()> {
        if self.quarantined.is_empty() {
            return Ok(());
        }
        let refused_now = std::mem::take(&mut self.refused_now);
        let back: Vec<Bson> = ids
            .iter()
            .filter(|id| {
                let k = IdKey::of(id);
                !refused_now.contains(&k) && self.quarantined.remove(&k)
            })
            .cloned()
            .collect();
        quarantine::release(self.env.dbs, &self.name, &back).await
    }
}
