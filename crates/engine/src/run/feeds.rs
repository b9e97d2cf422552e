//! One collection's run from start to end: the change feeds of both sides, what they
//! bring, and the checkpoint the next run resumes from.

use super::*;

/// A side's change feed, and how it opened; none where the side has no change history.
type Feed = Option<(ChangeFeed, Opened)>;

impl CollectionSync<'_> {
    /// Runs the whole collection.
    pub async fn run(&mut self) -> Result<()> {
        let cp = self.start_checkpoint().await?;
        let crashed_before = cp.get_bool("inProgress").unwrap_or(false);
        self.local_dropped = cp.get_bool("localDropped").unwrap_or(false);
        let (mut local_feed, mut remote_feed) = self.open_feeds(&cp).await?;
        self.local_feed_open = local_feed.is_some();
        // Once a day both sides are read in full: edits that moved no `updatedAt` (a script,
        // a hand edit) and old copies put back from a dump are found at the latest then.
        let content_check_due = cp
            .get_datetime("lastFullScanAt")
            .map(|t| self.env.clock.now() - t.to_chrono() > chrono::Duration::hours(24))
            .unwrap_or(true);
        let full_scan = !matches!(remote_feed, Some((_, Opened::Resumed))) || content_check_due;
        let local_streamed = matches!(local_feed, Some((_, Opened::Resumed)));
        let local_history_lost = matches!(local_feed, Some((_, Opened::HistoryLost)));
        tracing::debug!(collection = %self.name, full_scan, local_streamed, "change feeds opened");

        self.look_again().await?;
        if full_scan {
            self.full_scan().await?;
        } else if !local_streamed {
            // No local change history to follow (a standalone server, or the first run with
            // one): the `updatedAt != syncedAt` query, and the delete check. (Otherwise local
            // changes come through the change feed below.)
            let counts = self.counts().await?;
            let new_local = self.process_local_pending().await?;
            let unsure = crashed_before || local_history_lost;
            self.process_local_deletes(counts, new_local, unsure, &cp)
                .await?;
        }
        if !self
            .drain_and_settle(&mut local_feed, &mut remote_feed)
            .await?
        {
            // Dropped or renamed in the cloud: start over with a scan next time.
            return self.save_checkpoint(None, None, false).await;
        }
        tracing::trace!(target: "templesync::items", collection = %self.name, later = self.later.len(), deferred = self.deferred.iter().map(Vec::len).sum::<usize>(), "saving the checkpoint");
        let token = remote_feed.as_ref().and_then(|(f, _)| f.token());
        let local_token = local_feed.as_ref().and_then(|(f, _)| f.token());
        self.step(Step::SaveCheckpoint).await?;
        if self.out.scanned && full_scan {
            self.note_full_scan().await?;
        }
        self.save_checkpoint(token, local_token, !self.rescan).await
    }

    /// Reads where the last run stopped and marks this run in progress.
    async fn start_checkpoint(&self) -> Result<Document> {
        let state = self.env.dbs.local_coll(SYNC_STATE);
        let cp = state
            .find_one(doc! { "_id": self.checkpoint_id() })
            .await
            .map_err(db_err(Side::Local, "reading the sync checkpoint"))?
            .unwrap_or_default();
        state
            .update_one(
                doc! { "_id": self.checkpoint_id() },
                doc! { "$set": { "inProgress": true, "runId": self.env.run_id } },
            )
            .upsert(true)
            .await
            .map_err(db_err(Side::Local, "saving the sync checkpoint"))?;
        Ok(cp)
    }

    /// Both sides' change feeds, resumed where the last complete run stopped.
    async fn open_feeds(&self, cp: &Document) -> Result<(Feed, Feed)> {
        let scan_complete = cp.get_bool("scanComplete").unwrap_or(false);
        let token = |k: &str| {
            cp.get(k)
                .filter(|_| scan_complete)
                .and_then(feed::decode_token)
        };
        let remote_feed = ChangeFeed::open(&self.remote, Side::Remote, token("token")).await?;
        let local_feed = match self.env.local_change_streams {
            true => ChangeFeed::open(&self.local, Side::Local, token("localToken")).await?,
            false => None,
        };
        Ok((local_feed, remote_feed))
    }

    /// Documents looked at every run whatever the feeds say: those listed to sync again,
    /// held deletes (a cloud delete shows in the feed only once), documents in open conflicts
    /// (a conflict whose cause went away closes by itself) and those set aside earlier.
    async fn look_again(&mut self) -> Result<()> {
        self.process_dirty_list().await?;
        let (held, held_open) = crate::bulk::open_ids(self.env.dbs, &self.name).await?;
        self.held_open = held_open;
        self.reconcile_ids(held).await?;
        let held = conflicts::open_local_ids(self.env.dbs, &self.name).await?;
        self.reconcile_ids(held).await?;
        let quarantined = quarantine::ids(self.env.dbs, &self.name).await?;
        self.quarantined = quarantined.iter().map(IdKey::of).collect();
        self.reconcile_ids(quarantined).await
    }

    /// The feeds until quiet, then the deletes seen, all at once (the brake), then what
    /// arrived meanwhile. Returns `false` when the cloud's collection was dropped or renamed.
    async fn drain_and_settle(
        &mut self,
        local_feed: &mut Feed,
        remote_feed: &mut Feed,
    ) -> Result<bool> {
        if self.drain_feeds(local_feed, remote_feed).await? {
            return Ok(false);
        }
        self.retry_later().await?;
        for _ in 0..4 {
            if self.deferred.iter().all(Vec::is_empty) {
                break;
            }
            self.settle_deletes().await?;
            if self.drain_feeds(local_feed, remote_feed).await? {
                return Ok(false);
            }
        }
        self.settle_deletes().await?;
        self.release_stale_holds().await?;
        // The deletes carried out since the retry above can meet someone else's write too (a
        // transaction's write conflict turns back its whole batch): their feed events are
        // read already, so the next run is told of them here, or they would never sync.
        self.remember_what_is_left().await?;
        Ok(true)
    }

    /// Both sides' changes since the last run (local first, so a local document taking a
    /// unique value is flagged before the cloud document holding it is looked at), then
    /// whatever arrived while we worked, until quiet. Our own writes come back as echoes and
    /// are dropped. Returns whether the cloud's collection was dropped or renamed.
    pub(super) async fn drain_feeds(
        &mut self,
        local_feed: &mut Feed,
        remote_feed: &mut Feed,
    ) -> Result<bool> {
        let mut quiet_rounds = 0;
        for _ in 0..8 {
            let mut moved = false;
            // The two servers are read at the same time; local changes are reconciled first.
            let limit = self.batch() * 50;
            let (local_drained, remote_drained) = tokio::join!(
                async {
                    match local_feed.as_mut() {
                        Some((f, _)) => Some(f.drain(limit).await),
                        None => None,
                    }
                },
                async {
                    match remote_feed.as_mut() {
                        Some((f, _)) => Some(f.drain(limit).await),
                        None => None,
                    }
                },
            );
            let mut ids = Vec::new();
            if let Some(drained) = local_drained {
                let drained = drained?;
                self.step(Step::ReadLocalChanges).await?;
                ids = self.foreign_changes(Side::Local, drained.events);
                moved |= drained.more;
                if drained.invalidated {
                    // This computer's collection was dropped or renamed (a restore from a
                    // dump starts so): read both sides in full next time.
                    *local_feed = None;
                    self.rescan = true;
                    self.local_dropped = true;
                    self.dropped_now = true;
                    self.local_feed_open = false;
                }
            }
            let mut remote_invalidated = false;
            if let Some(drained) = remote_drained {
                let drained = drained?;
                self.step(Step::ReadRemoteChanges).await?;
                ids.extend(self.foreign_changes(Side::Remote, drained.events));
                moved |= drained.more;
                remote_invalidated = drained.invalidated;
            }
            moved |= !ids.is_empty();
            self.reconcile_ids(ids).await?;
            if remote_invalidated {
                return Ok(true);
            }
            if !moved {
                quiet_rounds += 1;
                let echoes_out = !self.echoes_remote.is_empty() || !self.echoes_local.is_empty();
                if !echoes_out || quiet_rounds >= 2 {
                    break;
                }
            }
        }
        Ok(false)
    }

    pub(super) async fn note_full_scan(&self) -> Result<()> {
        self.env
            .dbs
            .local_coll(SYNC_STATE)
            .update_one(
                doc! { "_id": self.checkpoint_id() },
                doc! { "$set": { "lastFullScanAt": self.now() } },
            )
            .upsert(true)
            .await
            .map_err(db_err(Side::Local, "saving the sync checkpoint"))?;
        Ok(())
    }

    pub(super) async fn save_checkpoint(
        &self,
        token: Option<Bson>,
        local_token: Option<Bson>,
        scan_complete: bool,
    ) -> Result<()> {
        let mut set = doc! {
            "inProgress": false,
            "scanComplete": scan_complete && token.is_some(),
            "token": token.unwrap_or(Bson::Null),
            "localToken": local_token.unwrap_or(Bson::Null),
            "localDropped": self.dropped_now,
            "savedAt": self.now(),
        };
        if self.out.scanned {
            set.insert("lastIdScanAt", self.now());
        }
        self.env
            .dbs
            .local_coll(SYNC_STATE)
            .update_one(doc! { "_id": self.checkpoint_id() }, doc! { "$set": set })
            .upsert(true)
            .await
            .map_err(db_err(Side::Local, "saving the sync checkpoint"))?;
        Ok(())
    }

    /// Drops the feed events that are our own: echoes of this run's writes, and (here) the
    /// updates that touched only bookkeeping fields.
    pub(super) fn foreign_changes(
        &mut self,
        side: Side,
        events: Vec<feed::FeedEvent>,
    ) -> Vec<Bson> {
        let mut ids = Vec::new();
        let mut seen = HashSet::new();
        for ev in events {
            if ev.meta_only {
                continue;
            }
            let key = IdKey::of(&ev.id);
            let echoes = match side {
                Side::Local => &mut self.echoes_local,
                Side::Remote => &mut self.echoes_remote,
            };
            tracing::trace!(target: "templesync::items", collection = %self.name, %side, id = %ev.id, op = ?ev.op, "feed event");
            if let Some(ops) = echoes.get_mut(&key)
                && let Some(pos) = ops.iter().position(|o| *o == ev.op)
            {
                tracing::trace!(target: "templesync::items", collection = %self.name, %side, id = %ev.id, "an echo of our own write");
                ops.remove(pos);
                if ops.is_empty() {
                    echoes.remove(&key);
                }
                continue;
            }
            if seen.insert(key.clone()) {
                // A change by someone else to a document we already reconciled this run must
                // be looked at again.
                self.done.remove(&key);
                ids.push(ev.id);
            }
        }
        ids
    }
}
