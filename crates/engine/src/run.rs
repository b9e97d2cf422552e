//! One sync run of one collection: find what changed on either side, reconcile it in batches,
//! and save where the next run starts.
//!
//! Crash safety comes from the order of writes and from deciding every document afresh from
//! its current state: a side is written only by compare-and-set against the version that was
//! read; the base (last-synced version) is written only once both sides hold it; the local
//! copy is marked synced last. A run cut anywhere leaves states that the next run recognises
//! (both sides equal, or one side changed since the base) and completes without duplicates.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bson::{Bson, Document, doc, oid::ObjectId};
use futures::TryStreamExt;
use mongodb::Collection;

use crate::clock::{Clock, to_bson};
use crate::config::SyncConfig;
use crate::conflicts::{self, ConflictKind, NewConflict};
use crate::content::{IdKey, UPDATED_AT, content, content_hash, display_id};
use crate::error::{Error, Result, Side};
use crate::feed::{self, ChangeFeed, Op, Opened};
use crate::quarantine;
use crate::reconcile::{Decision, Finding, Winner, decide};
use crate::store::{Databases, SYNC_DIRTY, SYNC_STATE};
use crate::unique::{UniqueKey, UniqueRules};

/// Counts and problems of one collection in one run.
#[derive(Debug, Default, Clone)]
pub(crate) struct CollectionOutcome {
    pub pushed: u64,
    pub pulled: u64,
    pub conflicts: u64,
    pub errors: Vec<crate::logs::DocumentError>,
    /// Documents set aside this run (also listed in `errors`).
    pub quarantined: u64,
    pub scanned: bool,
    pub local_read: u64,
    pub remote_read: u64,
}

impl CollectionOutcome {
    /// Adds another attempt's figures.
    pub fn add(&mut self, other: CollectionOutcome) {
        self.pushed += other.pushed;
        self.pulled += other.pulled;
        self.conflicts += other.conflicts;
        self.errors.extend(other.errors);
        self.quarantined += other.quarantined;
        self.scanned |= other.scanned;
        self.local_read += other.local_read;
        self.remote_read += other.remote_read;
    }
}

/// A live progress report, sent after each batch.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    pub collection: String,
    pub pushed: u64,
    pub pulled: u64,
    pub conflicts: u64,
}

pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// The steps of a run, in order, where a [`StepHook`] is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Local changes were read; nothing written yet for this batch.
    ReadLocalChanges,
    /// The cloud's change feed was read.
    ReadRemoteChanges,
    /// A batch's documents were read from both sides and decided; nothing written yet.
    Decided,
    /// A batch was written to the cloud (and, at the same time, the documents that are
    /// written here only); merged documents are not yet written here.
    PushedBatch,
    /// Documents from the cloud were written here; the synced versions are not yet recorded.
    AppliedLocal,
    /// Synced versions recorded; local documents about to be marked synced.
    MarkSynced,
    /// Conflicts about to be written.
    WriteConflicts,
    /// The collection is done; its checkpoint is about to be saved.
    SaveCheckpoint,
}

impl Step {
    /// Every step, in the order a run reaches them.
    pub const ALL: [Step; 8] = [
        Step::ReadLocalChanges,
        Step::ReadRemoteChanges,
        Step::Decided,
        Step::PushedBatch,
        Step::AppliedLocal,
        Step::MarkSynced,
        Step::WriteConflicts,
        Step::SaveCheckpoint,
    ];
}

/// Called at each [`Step`] with the collection's name. An error stops the run there, as a
/// crash or a lost connection would: this is how tests cut runs at precise points.
pub type StepHook =
    Arc<dyn Fn(Step, &str) -> futures::future::BoxFuture<'static, Result<()>> + Send + Sync>;

pub(crate) struct RunEnv<'a> {
    pub dbs: &'a Databases,
    pub remote: &'a mongodb::Database,
    pub cfg: &'a SyncConfig,
    pub clock: Arc<dyn Clock>,
    pub run_id: ObjectId,
    pub progress: Option<ProgressFn>,
    pub hook: Option<StepHook>,
    pub local_change_streams: bool,
    /// Whether each side (local, cloud) runs transactions, in which a compare-and-set sees
    /// every change to the document ([`crate::exact`]).
    pub exact_cas: [bool; 2],
    /// Each collection's unique keys, read once per run (a collection caught up at the end
    /// of the run uses what its first part read).
    pub unique: std::sync::Mutex<HashMap<String, UniqueRules>>,
}

struct BaseEntry {
    doc: Document,
    hash: String,
}

/// Unique values held by a different document on the other side.
#[derive(Debug, Clone)]
pub(crate) struct UniqueClash {
    /// The fields (one, or a compound index's) and the values they share.
    pub key: UniqueKey,
    pub values: Vec<Bson>,
    pub holder_id: Bson,
    pub holder: Option<Document>,
    /// Set when this computer's database refused the item's cloud version: the local
    /// document holding the values. The conflict is then that document's (the one a person
    /// can rename here), with the refused cloud document as the holder.
    pub here: Option<Document>,
}

impl UniqueClash {
    fn with(key: &UniqueKey, values: Vec<Bson>, holder: &Document) -> UniqueClash {
        UniqueClash {
            key: key.clone(),
            values,
            holder_id: holder.get("_id").cloned().unwrap_or(Bson::Null),
            holder: Some(holder.clone()),
            here: None,
        }
    }
}

struct Item {
    id: Bson,
    key: IdKey,
    local: Option<Document>,
    base: Option<BaseEntry>,
    remote: Option<Document>,
    /// The cloud document's own `_id` where it is another type than [`Item::id`] (`1` against
    /// `1.0`): writes there keep it, since MongoDB never lets an `_id` change.
    remote_id: Option<Bson>,
    decision: Decision,
    clash: Option<UniqueClash>,
    /// Whether every write this item needed went through.
    ok: bool,
    /// The write could not be done now (someone wrote in between): look again later.
    retry: bool,
}

/// A remote write of ours, to recognise its echo in the change feed.
type Echoes = HashMap<IdKey, Vec<Op>>;

pub(crate) struct CollectionSync<'a> {
    name: String,
    env: &'a RunEnv<'a>,
    local: Collection<Document>,
    remote: Collection<Document>,
    base: Collection<Document>,
    unique: UniqueRules,
    done: HashSet<IdKey>,
    later: Vec<Bson>,
    echoes_remote: Echoes,
    echoes_local: Echoes,
    /// Sides known to hold nothing yet (during a first scan): no need to look documents up there.
    empty: Empty,
    /// Whether the collection has open conflicts (asked once, when first needed).
    open_conflicts: Option<bool>,
    /// Documents in quarantine (they leave it once a batch with them goes through).
    quarantined: HashSet<IdKey>,
    /// Inserts a side refused in the batch being written: quarantined once it is written.
    refused_inserts: Vec<(Bson, Error)>,
    /// Documents quarantined by the batch just written (they stay in quarantine).
    refused_now: HashSet<IdKey>,
    /// Deletes seen so far, not yet carried out: here (`[0]`) and in the cloud (`[1]`). They
    /// wait until the collection's run has seen them all (the brake, [`crate::bulk`]).
    deferred: [Vec<Bson>; 2],
    /// A few documents this run saw on each side and left there: proof that deleting the
    /// deferred ones does not empty the collection, without asking the server (on some
    /// servers any question but "these ids" costs a scan of the collection).
    kept: [HashSet<IdKey>; 2],
    /// Set while the deferred deletes are carried out.
    allow_deletes: bool,
    /// Documents whose deletion a person approved (a settled `bulk` hold).
    approved: HashSet<IdKey>,
    /// Whether a `bulk` hold was open here (`[0]`) and for the cloud (`[1]`) when the run
    /// started, and whether this run held deletes there.
    held_open: [bool; 2],
    held_now: [bool; 2],
    /// Save no change-stream checkpoint: the next run reads both sides in full (this computer's
    /// collection was dropped or renamed, or more deletes are held than a hold keeps).
    rescan: bool,
    /// This computer's collection was dropped (in this run or the one before): its deletes
    /// are held for a person, however few.
    local_dropped: bool,
    /// It was dropped in this run (kept in the checkpoint for the next run).
    dropped_now: bool,
    pub out: CollectionOutcome,
}

fn side_index(side: Side) -> usize {
    match side {
        Side::Local => 0,
        Side::Remote => 1,
    }
}

#[derive(Default, Clone, Copy)]
struct Empty {
    local: bool,
    remote: bool,
    base: bool,
}

fn db_err(side: Side, what: &str) -> impl Fn(mongodb::error::Error) -> Error + '_ {
    move |e| Error::db(side, what, &e)
}

/// Whether a write failed because another write got there first (duplicate key).
fn is_duplicate_key(e: &mongodb::error::Error) -> bool {
    use mongodb::error::{ErrorKind, WriteFailure};
    match &*e.kind {
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == 11000,
        ErrorKind::Command(c) => c.code == 11000,
        _ => false,
    }
}

/// Above this size a compare-and-set filter does not repeat the document's large fields: the
/// filter and the new version share one command, which MongoDB caps at 16 MB, so repeating a
/// 9 MB document would make a command no server accepts.
const SLIM_FILTER_BYTES: usize = 1024 * 1024;
/// In a large document's filter, fields up to this size are compared by value; larger ones
/// through the document's total size.
const FIELD_IN_FILTER_BYTES: usize = 16 * 1024;

/// A filter that matches the document only while it is as it was read: its `_id` and every
/// top-level field equal. Plain equality keeps the `_id` index usable on every server (an
/// `$expr` over `$$ROOT` would be exact too, but some servers evaluate it without the index).
/// It does not notice a field *added* by another writer in the moment between our read and
/// write; every TempleSync and TMS write changes `updatedAt`, which it does notice. (Sides
/// that run transactions compare the whole document instead: [`crate::exact`].)
///
/// A large document's filter compares its small fields by value and the rest by the
/// document's size in bytes, so that the write stays within the server's command limit
/// whatever the document's size: a change to a large field that keeps both its size and
/// `updatedAt` is then not seen.
pub(crate) fn unchanged(doc: &Document) -> Document {
    let id = doc.get("_id").cloned().unwrap_or(Bson::Null);
    let size = bson_len(doc);
    let large = size > SLIM_FILTER_BYTES;
    let unusable = |k: &str| k.contains('.') || k.starts_with('$');
    if !large && doc.keys().any(|k| unusable(k)) {
        // Such names cannot be written as query paths: compare the whole document instead.
        return doc! { "_id": id, "$expr": { "$eq": [ "$$ROOT", { "$literal": doc.clone() } ] } };
    }
    let mut f = doc! { "_id": id };
    let mut by_size = false;
    for (k, v) in doc.iter().filter(|(k, _)| k.as_str() != "_id") {
        if large && (unusable(k) || value_len(v) > FIELD_IN_FILTER_BYTES) {
            by_size = true;
            continue;
        }
        f.insert(k.clone(), doc! { "$eq": v.clone() });
    }
    if by_size {
        f.insert(
            "$expr",
            doc! { "$eq": [ { "$bsonSize": "$$ROOT" }, size as i64 ] },
        );
    }
    f
}

/// A value's size as BSON (close enough for choosing what a filter repeats).
fn value_len(v: &Bson) -> usize {
    match v {
        Bson::String(s) => s.len(),
        Bson::Binary(b) => b.bytes.len(),
        Bson::Document(d) => bson_len(d),
        Bson::Array(a) => a.iter().map(value_len).sum::<usize>() + a.len() * 8,
        _ => 16,
    }
}

/// A side's refusal of one inserted document, as the quarantine records it.
fn refused_insert(side: Side, code: i32, msg: &str) -> Error {
    Error::Database {
        context: "inserting documents".into(),
        message: format!("{msg} (code {code})"),
        transient: false,
        network: false,
        side,
    }
}

/// A document read under an `_id` equal to `id` in MongoDB's eyes, with `id` as its `_id`
/// (so that both sides' versions compare and merge as one document), and its own `_id` where
/// that differs in type.
fn same_id(doc: Option<Document>, id: &Bson) -> (Option<Document>, Option<Bson>) {
    let Some(mut d) = doc else {
        return (None, None);
    };
    match d.get("_id") {
        Some(own) if !crate::content::same_value(Some(own), Some(id)) => {
            let own = own.clone();
            d.insert("_id", id.clone());
            (Some(d), Some(own))
        }
        _ => (Some(d), None),
    }
}

/// The value `syncedAt` takes when a version is synced: its `updatedAt`, so that "changed since
/// synced" is `updatedAt != syncedAt` whatever the clocks say; the run's time for legacy data.
fn synced_at_for(doc: &Document, now: bson::DateTime) -> Bson {
    doc.get(UPDATED_AT).cloned().unwrap_or(Bson::DateTime(now))
}

/// A version as written to a side: its content, marked synced.
fn as_synced(content_doc: &Document, now: bson::DateTime) -> Document {
    let mut d = content_doc.clone();
    d.insert("syncedAt", synced_at_for(content_doc, now));
    d.insert("syncStatus", "synced");
    d
}

/// The local documents that changed since they were last synced (or were never synced, or
/// are held in a conflict and must be looked at again).
pub(crate) fn pending_filter() -> Document {
    doc! { "$or": [
        { "syncedAt": Bson::Null },
        { "syncStatus": "conflict" },
        { "$expr": { "$and": [
            { "$ne": [ { "$type": "$updatedAt" }, "missing" ] },
            { "$ne": [ "$updatedAt", "$syncedAt" ] },
        ] } },
    ] }
}

impl<'a> CollectionSync<'a> {
    pub fn new(env: &'a RunEnv<'a>, name: &str, unique: UniqueRules) -> Result<Self> {
        let remote = env.remote.collection::<Document>(name);
        Ok(CollectionSync {
            name: name.to_string(),
            env,
            local: env.dbs.local_coll(name),
            remote,
            base: env.dbs.base_coll(name),
            unique,
            done: HashSet::new(),
            later: Vec::new(),
            echoes_remote: HashMap::new(),
            echoes_local: HashMap::new(),
            empty: Empty::default(),
            open_conflicts: None,
            quarantined: HashSet::new(),
            refused_inserts: Vec::new(),
            refused_now: HashSet::new(),
            deferred: [Vec::new(), Vec::new()],
            kept: [HashSet::new(), HashSet::new()],
            allow_deletes: false,
            approved: HashSet::new(),
            held_open: [false; 2],
            held_now: [false; 2],
            rescan: false,
            local_dropped: false,
            dropped_now: false,
            out: CollectionOutcome::default(),
        })
    }

    fn batch(&self) -> usize {
        self.env.cfg.batch_size.max(1) as usize
    }

    fn now(&self) -> bson::DateTime {
        to_bson(self.env.clock.now())
    }

    async fn step(&self, step: Step) -> Result<()> {
        match &self.env.hook {
            Some(h) => h(step, &self.name).await,
            None => Ok(()),
        }
    }

    fn checkpoint_id(&self) -> String {
        format!("checkpoint:{}", self.name)
    }

    /// Runs the whole collection.
    pub async fn run(&mut self) -> Result<()> {
        let state = self.env.dbs.local_coll(SYNC_STATE);
        let cp = state
            .find_one(doc! { "_id": self.checkpoint_id() })
            .await
            .map_err(db_err(Side::Local, "reading the sync checkpoint"))?
            .unwrap_or_default();
        let crashed_before = cp.get_bool("inProgress").unwrap_or(false);
        self.local_dropped = cp.get_bool("localDropped").unwrap_or(false);
        let scan_complete = cp.get_bool("scanComplete").unwrap_or(false);
        let token = cp
            .get("token")
            .filter(|_| scan_complete)
            .and_then(feed::decode_token);
        let local_token = cp
            .get("localToken")
            .filter(|_| scan_complete)
            .and_then(feed::decode_token);

        state
            .update_one(
                doc! { "_id": self.checkpoint_id() },
                doc! { "$set": { "inProgress": true, "runId": self.env.run_id } },
            )
            .upsert(true)
            .await
            .map_err(db_err(Side::Local, "saving the sync checkpoint"))?;

        let mut remote_feed = ChangeFeed::open(&self.remote, Side::Remote, token).await?;
        let mut local_feed = if self.env.local_change_streams {
            ChangeFeed::open(&self.local, Side::Local, local_token).await?
        } else {
            None
        };
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

        self.process_dirty_list().await?;
        // Held deletes are looked at every run: a cloud delete shows in the feed only once.
        let (held, held_open) = crate::bulk::open_ids(self.env.dbs, &self.name).await?;
        self.held_open = held_open;
        self.reconcile_ids(held).await?;
        // Documents in open conflicts are looked at every run: a conflict whose cause went
        // away (the value was freed, the document deleted) closes by itself.
        let held = conflicts::open_local_ids(self.env.dbs, &self.name).await?;
        self.reconcile_ids(held).await?;
        // Documents set aside by earlier runs are tried again every run.
        let quarantined = quarantine::ids(self.env.dbs, &self.name).await?;
        self.quarantined = quarantined.iter().map(IdKey::of).collect();
        self.reconcile_ids(quarantined).await?;
        if full_scan {
            self.full_scan().await?;
        } else if local_streamed {
            // Local changes come through the change feed below.
        } else {
            // No local change history to follow (a standalone server, or the first run with
            // one): the `updatedAt != syncedAt` query, and the delete check.
            let counts = self.counts().await?;
            let new_local = self.process_local_pending().await?;
            self.process_local_deletes(
                counts,
                new_local,
                crashed_before || local_history_lost,
                &cp,
            )
            .await?;
        }
        if self.drain_feeds(&mut local_feed, &mut remote_feed).await? {
            // Dropped or renamed in the cloud: start over with a scan next time.
            self.save_checkpoint(None, None, false).await?;
            return Ok(());
        }
        self.retry_later().await?;
        // The deletes seen, all at once (the brake), then what arrived meanwhile.
        for _ in 0..4 {
            if self.deferred.iter().all(Vec::is_empty) {
                break;
            }
            self.settle_deletes().await?;
            if self.drain_feeds(&mut local_feed, &mut remote_feed).await? {
                self.save_checkpoint(None, None, false).await?;
                return Ok(());
            }
        }
        self.settle_deletes().await?;
        self.release_stale_holds().await?;
        let token = remote_feed.as_ref().and_then(|(f, _)| f.token());
        let local_token = local_feed.as_ref().and_then(|(f, _)| f.token());
        self.step(Step::SaveCheckpoint).await?;
        if self.out.scanned && full_scan {
            self.note_full_scan().await?;
        }
        self.save_checkpoint(token, local_token, !self.rescan)
            .await?;
        Ok(())
    }

    /// Both sides' changes since the last run (local first, so a local document taking a
    /// unique value is flagged before the cloud document holding it is looked at), then
    /// whatever arrived while we worked, until quiet. Our own writes come back as echoes and
    /// are dropped. Returns whether the cloud's collection was dropped or renamed.
    async fn drain_feeds(
        &mut self,
        local_feed: &mut Option<(ChangeFeed, Opened)>,
        remote_feed: &mut Option<(ChangeFeed, Opened)>,
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

    async fn note_full_scan(&self) -> Result<()> {
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

    /// Carries out the deletes the run deferred, side by side, when they are few; holds them
    /// for a person otherwise ([`crate::bulk`]).
    async fn settle_deletes(&mut self) -> Result<()> {
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
    async fn size_for_brake(
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
    async fn release_stale_holds(&mut self) -> Result<()> {
        for side in [Side::Local, Side::Remote] {
            let i = side_index(side);
            if self.held_open[i] && !self.held_now[i] {
                crate::bulk::release(self.env.dbs, &self.name, side, self.env.clock.now()).await?;
                self.held_open[i] = false;
            }
        }
        Ok(())
    }

    async fn save_checkpoint(
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
    fn foreign_changes(&mut self, side: Side, events: Vec<feed::FeedEvent>) -> Vec<Bson> {
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
            if let Some(ops) = echoes.get_mut(&key)
                && let Some(pos) = ops.iter().position(|o| *o == ev.op)
            {
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

    async fn process_dirty_list(&mut self) -> Result<()> {
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
    async fn process_local_pending(&mut self) -> Result<u64> {
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
    async fn counts(&self) -> Result<(u64, u64)> {
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

    async fn process_local_deletes(
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
        let mut local_ids = HashSet::new();
        let mut cursor = self
            .local
            .find(doc! {})
            .projection(doc! { "_id": 1 })
            .await
            .map_err(db_err(Side::Local, "listing local ids"))?;
        while let Some(d) = cursor
            .try_next()
            .await
            .map_err(db_err(Side::Local, "listing local ids"))?
        {
            if let Some(id) = d.get("_id") {
                local_ids.insert(IdKey::of(id));
            }
        }
        let mut missing = Vec::new();
        let mut based = HashSet::new();
        let mut cursor = self
            .base
            .find(doc! {})
            .projection(doc! { "_id": 1 })
            .await
            .map_err(db_err(Side::Local, "listing synced ids"))?;
        while let Some(d) = cursor
            .try_next()
            .await
            .map_err(db_err(Side::Local, "listing synced ids"))?
        {
            if let Some(id) = d.get("_id") {
                let k = IdKey::of(id);
                if !local_ids.contains(&k) {
                    missing.push(id.clone());
                }
                based.insert(k);
            }
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
    async fn full_scan(&mut self) -> Result<()> {
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
        let mut gone = Vec::new();
        let mut cursor = self
            .base
            .find(doc! {})
            .projection(doc! { "_id": 1 })
            .await
            .map_err(db_err(Side::Local, "listing synced ids"))?;
        while let Some(d) = cursor
            .try_next()
            .await
            .map_err(db_err(Side::Local, "listing synced ids"))?
        {
            if let Some(id) = d.get("_id")
                && !self.done.contains(&IdKey::of(id))
            {
                gone.push(id.clone());
            }
        }
        tracing::debug!(collection = %self.name, gone = gone.len(), "full scan done");
        self.reconcile_ids(gone).await
    }

    /// Reconciles every document of one side, a batch at a time, skipping those already done.
    async fn scan_side(&mut self, side: Side) -> Result<()> {
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

    /// Reconciles documents already read from one side.
    async fn reconcile_docs(&mut self, docs: Vec<Document>, side: Side) -> Result<u64> {
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
    async fn reconcile_ids(&mut self, ids: Vec<Bson>) -> Result<()> {
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
    async fn retry_later(&mut self) -> Result<()> {
        let ids = std::mem::take(&mut self.later);
        if ids.is_empty() {
            return Ok(());
        }
        for id in &ids {
            self.done.remove(&IdKey::of(id));
        }
        self.reconcile_ids(ids).await?;
        let still = std::mem::take(&mut self.later);
        if !still.is_empty() {
            let entries: Vec<Document> = still
                .iter()
                .map(|id| doc! { "collection": &self.name, "docId": id.clone(), "since": self.now() })
                .collect();
            self.env
                .dbs
                .local_coll(SYNC_DIRTY)
                .insert_many(entries)
                .await
                .map_err(db_err(Side::Local, "remembering documents to recheck"))?;
        }
        Ok(())
    }

    async fn fetch(
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
    async fn reconcile_batch(
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

    /// A batch failed with `err`: tries it again in halves, reading both sides afresh, down to
    /// the documents that fail on their own; quarantines those and syncs the rest.
    async fn isolate(&mut self, ids: Vec<Bson>, err: Error) -> Result<u64> {
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
    async fn set_aside(&mut self, refused: Vec<(Bson, Error)>) -> Result<()> {
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
    async fn release_quarantined(&mut self, ids: &[Bson]) -> Result<()> {
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

    /// Decides and applies one batch. Returns how many local documents in it had no base
    /// (were new), for the delete check.
    async fn reconcile_batch_once(
        &mut self,
        ids: Vec<Bson>,
        known: Option<(Side, HashMap<IdKey, Document>)>,
    ) -> Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let need_local = !matches!(known, Some((Side::Local, _))) && !self.empty.local;
        let need_remote = !matches!(known, Some((Side::Remote, _))) && !self.empty.remote;
        let need_base = !self.empty.base;
        let (locals, remotes, bases) = tokio::try_join!(
            async {
                if need_local {
                    Self::fetch(&self.local, Side::Local, &ids).await
                } else {
                    Ok(HashMap::new())
                }
            },
            async {
                if need_remote {
                    Self::fetch(&self.remote, Side::Remote, &ids).await
                } else {
                    Ok(HashMap::new())
                }
            },
            async {
                if need_base {
                    Self::fetch(&self.base, Side::Local, &ids).await
                } else {
                    Ok(HashMap::new())
                }
            },
        )?;
        if need_remote {
            self.out.remote_read += remotes.len() as u64;
        }
        if need_local {
            self.out.local_read += locals.len() as u64;
        }
        let (mut locals, mut remotes, mut bases) = (locals, remotes, bases);
        match known {
            Some((Side::Local, k)) => locals = k,
            Some((Side::Remote, k)) => remotes = k,
            None => {}
        }
        let strategy = self.env.cfg.conflict_resolution_strategy;
        let mut new_local = 0;
        let mut items: Vec<Item> = ids
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

        self.defer_deletes(&mut items);
        let t = std::time::Instant::now();
        let name = self.name.clone();
        let lap = move |what: &str| tracing::debug!(collection = %name, what, ms = t.elapsed().as_millis() as u64, "batch phase");
        lap("read");
        self.check_unique_remote(&mut items).await?;
        self.check_unique_local(&mut items).await?;
        lap("unique");
        self.step(Step::Decided).await?;
        self.write_sides(&mut items).await?;
        let refused = std::mem::take(&mut self.refused_inserts);
        self.refused_now
            .extend(refused.iter().map(|(id, _)| IdKey::of(id)));
        self.set_aside(refused).await?;
        lap("written");
        self.step(Step::AppliedLocal).await?;
        self.write_bases(&items).await?;
        lap("bases");
        self.step(Step::MarkSynced).await?;
        self.mark_synced(&items).await?;
        lap("marks");
        self.step(Step::WriteConflicts).await?;
        self.record_conflicts(&items).await?;
        lap("conflicts");

        for it in &items {
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

    /// Sets a batch's deletes aside until the collection's run has seen them all, unless they
    /// are being carried out now or a person approved them.
    fn defer_deletes(&mut self, items: &mut [Item]) {
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
    fn note_kept(&mut self, items: &[Item]) {
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

    /// The version an item sends to the cloud, if any.
    fn outgoing(d: &Decision) -> Option<&Document> {
        match d {
            Decision::Push(doc) | Decision::Merge(doc) => Some(doc),
            Decision::AutoResolved { apply, .. } => Self::outgoing(apply),
            _ => None,
        }
    }

    /// The version an item brings here, if any.
    fn incoming(d: &Decision) -> Option<&Document> {
        match d {
            Decision::Pull(doc) | Decision::Merge(doc) => Some(doc),
            Decision::AutoResolved { apply, .. } => Self::incoming(apply),
            _ => None,
        }
    }

    /// The values of `key` that an item sends to the cloud and that its cloud version does
    /// not hold already; for a document held in a conflict and otherwise in sync, the values
    /// it holds (so a clash that is still there is seen again, not closed as settled).
    fn taking(key: &UniqueKey, it: &Item) -> Option<Vec<Bson>> {
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
    async fn check_unique_remote(&mut self, items: &mut [Item]) -> Result<()> {
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
    async fn check_unique_local(&mut self, items: &mut [Item]) -> Result<()> {
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

    /// Writes the batch to both sides: the cloud's writes, and at the same time the local
    /// writes of documents that go nowhere else (pulls, deletes here); then the local writes
    /// of merged documents, once their cloud write went through (a cut between the two leaves
    /// the cloud ahead, which the next run sees as in sync or as a change to bring here).
    async fn write_sides(&mut self, items: &mut [Item]) -> Result<()> {
        let exact = self.env.exact_cas;
        let (cloud, local) = tokio::join!(
            send(
                &self.remote,
                Side::Remote,
                self.remote_writes(items),
                exact[1]
            ),
            send(
                &self.local,
                Side::Local,
                self.local_writes(items, false),
                exact[0]
            ),
        );
        let (cloud, local) = (cloud?, local?);
        self.remote_outcomes(items, cloud).await?;
        self.step(Step::PushedBatch).await?;
        let mut refused = self.local_outcomes(items, local);
        let merged = send(
            &self.local,
            Side::Local,
            self.local_writes(items, true),
            exact[0],
        )
        .await?;
        refused.extend(self.local_outcomes(items, merged));
        self.clashes_here(items, refused).await
    }

    /// The cloud's writes of a batch: compare-and-set replacements and deletes, and inserts.
    fn remote_writes(&self, items: &[Item]) -> Writes {
        let now = self.now();
        let mut inserts = Vec::new();
        let mut cas = Vec::new();
        for (i, it) in items.iter().enumerate() {
            if it.clash.is_some() || !it.ok {
                continue;
            }
            match (&it.decision, &it.remote) {
                (Decision::DeleteRemote, Some(r)) => cas.push((i, CasWrite::Delete(r.clone()))),
                (d, r) => {
                    let Some(doc) = Self::outgoing(d) else {
                        continue;
                    };
                    let mut out = as_synced(doc, now);
                    if let Some(own) = &it.remote_id {
                        out.insert("_id", own.clone());
                    }
                    match r {
                        None => inserts.push((i, out)),
                        Some(r) => cas.push((i, CasWrite::Replace(r.clone(), out))),
                    }
                }
            }
        }
        Writes { cas, inserts }
    }

    /// What the cloud said to a batch's writes.
    async fn remote_outcomes(&mut self, items: &mut [Item], sent: Sent) -> Result<()> {
        for (i, outcome) in sent.cas {
            let it = &mut items[i];
            match outcome {
                CasOutcome::Done(op) => {
                    self.echoes_remote
                        .entry(it.key.clone())
                        .or_default()
                        .push(op);
                    self.out.pushed += 1;
                }
                CasOutcome::Changed => {
                    it.ok = false;
                    it.retry = true;
                }
                CasOutcome::Duplicate => {
                    it.ok = false;
                    let doc = Self::outgoing(&it.decision).cloned().unwrap_or_default();
                    it.clash = self.clash_from_index(&doc).await?;
                    // The holder went meanwhile: look again at the end of the run.
                    it.retry = it.clash.is_none();
                }
            }
        }
        for (pos, (i, doc)) in sent.inserts.iter().enumerate() {
            let it = &mut items[*i];
            match sent.refused.get(&pos) {
                None => {
                    self.echoes_remote
                        .entry(it.key.clone())
                        .or_default()
                        .push(Op::Insert);
                    self.out.pushed += 1;
                }
                Some((11000, msg)) if is_id_key(msg) => {
                    // Someone inserted the same document meanwhile: decide again.
                    it.ok = false;
                    it.retry = true;
                }
                Some((11000, _)) => {
                    it.ok = false;
                    it.clash = self.clash_from_index(doc).await?;
                    it.retry = it.clash.is_none();
                }
                Some((code, msg)) => {
                    it.ok = false;
                    self.refused_inserts
                        .push((it.id.clone(), refused_insert(Side::Remote, *code, msg)));
                }
            }
        }
        Ok(())
    }

    /// A cloud unique index refused a document: find which document holds its values, on
    /// any unique key (configured, or either side's index). `None` if none does any more.
    async fn clash_from_index(&self, doc: &Document) -> Result<Option<UniqueClash>> {
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
    async fn clashes_here(&mut self, items: &mut [Item], refused: Vec<usize>) -> Result<()> {
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

    /// The local writes of a batch: those of documents that are written here only
    /// (`merged` false), or of those also written to the cloud (`merged` true), which wait
    /// for their cloud write.
    fn local_writes(&self, items: &[Item], merged: bool) -> Writes {
        let now = self.now();
        let mut inserts = Vec::new();
        let mut cas = Vec::new();
        for (i, it) in items.iter().enumerate() {
            if it.clash.is_some() || !it.ok || Self::outgoing(&it.decision).is_some() != merged {
                continue;
            }
            match (&it.decision, &it.local) {
                (Decision::DeleteLocal, Some(l)) => cas.push((i, CasWrite::Delete(l.clone()))),
                (d, l) => {
                    let Some(doc) = Self::incoming(d) else {
                        continue;
                    };
                    let out = as_synced(doc, now);
                    match l {
                        None => inserts.push((i, out)),
                        Some(l) => cas.push((i, CasWrite::Replace(l.clone(), out))),
                    }
                }
            }
        }
        Writes { cas, inserts }
    }

    /// What this computer's database said to a batch's writes. Returns the positions of the
    /// items that a unique index here refused.
    fn local_outcomes(&mut self, items: &mut [Item], sent: Sent) -> Vec<usize> {
        let mut refused = Vec::new();
        for (i, outcome) in sent.cas {
            let it = &mut items[i];
            match outcome {
                CasOutcome::Done(op) => {
                    self.echoes_local
                        .entry(it.key.clone())
                        .or_default()
                        .push(op);
                    self.out.pulled += 1;
                }
                // Edited here meanwhile (it is pending now): look again at the end of the run.
                CasOutcome::Changed => {
                    it.ok = false;
                    it.retry = true;
                }
                CasOutcome::Duplicate => {
                    it.ok = false;
                    refused.push(i);
                }
            }
        }
        for (pos, (i, _)) in sent.inserts.iter().enumerate() {
            let it = &mut items[*i];
            match sent.refused.get(&pos) {
                None => {
                    self.echoes_local
                        .entry(it.key.clone())
                        .or_default()
                        .push(Op::Insert);
                    self.out.pulled += 1;
                }
                Some((11000, msg)) if is_id_key(msg) => {
                    it.ok = false;
                    it.retry = true;
                }
                Some((11000, _)) => {
                    it.ok = false;
                    refused.push(*i);
                }
                Some((code, msg)) => {
                    it.ok = false;
                    self.refused_inserts
                        .push((it.id.clone(), refused_insert(Side::Local, *code, msg)));
                }
            }
        }
        refused
    }

    /// Records the versions both sides now hold: new ones inserted, changed ones replaced and
    /// gone ones deleted, each by `_id` (statements by `_id` cost half what one `$in` filter
    /// does on some servers, and a replacement never leaves a document without its base).
    async fn write_bases(&self, items: &[Item]) -> Result<()> {
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
    async fn mark_synced(&self, items: &[Item]) -> Result<()> {
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
                // pending, including one that moved no `updatedAt` (a script, a hand edit).
                let q = unchanged(l);
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
    fn conflict_subject(
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

    async fn record_conflicts(&mut self, items: &[Item]) -> Result<()> {
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

fn kind_of(f: &Finding) -> ConflictKind {
    match f {
        Finding::Edit { .. } => ConflictKind::Update,
        Finding::LocalDeletedRemoteEdited | Finding::RemoteDeletedLocalEdited => {
            ConflictKind::Delete
        }
    }
}

#[allow(dead_code)]
fn winner_name(w: Winner) -> &'static str {
    match w {
        Winner::Local => "local",
        Winner::Remote => "remote",
    }
}

/// A write that must only happen if the document is still as it was read: the document as
/// read, and for a replacement the new version.
pub(crate) enum CasWrite {
    Replace(Document, Document),
    Delete(Document),
}

pub(crate) enum CasOutcome {
    Done(Op),
    /// The document changed (or went) since it was read.
    Changed,
    /// A unique index refused the write.
    Duplicate,
}

/// How many single-document writes are in flight at once.
const CONCURRENT_WRITES: usize = 16;

/// Above this size a write is sent in a command of its own; smaller ones share commands.
const SHARED_COMMAND_BYTES: usize = 4 * 1024 * 1024;

/// Applies compare-and-set writes; each outcome is known per document. They go as a few
/// `update` and `delete` commands of many statements each: one round trip, and far less work
/// for the server per document than a command each. When a command matched fewer documents
/// than it had statements (someone wrote in between), the documents are read back to tell
/// which writes went through.
async fn apply_cas(
    coll: &Collection<Document>,
    side: Side,
    writes: Vec<(usize, CasWrite)>,
    exact: bool,
) -> Result<Vec<(usize, CasOutcome)>> {
    let mut out = Vec::with_capacity(writes.len());
    let writes = match exact && !writes.is_empty() {
        true => {
            // Writes refused inside a transaction (a unique index) come back: each one's
            // outcome is then found the ordinary way.
            let (done, back) = crate::exact::apply(coll, side, writes).await?;
            out.extend(done);
            back
        }
        false => writes,
    };
    let (deletes, replaces): (Vec<_>, Vec<_>) = writes
        .into_iter()
        .partition(|(_, w)| matches!(w, CasWrite::Delete(_)));
    let mut alone = Vec::new();
    for group in [replaces, deletes] {
        let (chunks, large) = by_size(group, |(_, w)| w.size());
        for chunk in chunks {
            out.extend(apply_cas_command(coll, side, chunk).await?);
        }
        alone.extend(large);
    }
    out.extend(apply_cas_each(coll, side, alone).await?);
    Ok(out)
}

/// Splits writes into groups of at most [`SHARED_COMMAND_BYTES`] to share a command, and
/// those larger than that, which go alone.
fn by_size<T>(writes: Vec<T>, size: impl Fn(&T) -> usize) -> (Vec<Vec<T>>, Vec<T>) {
    let (mut chunks, mut alone) = (Vec::new(), Vec::new());
    let (mut chunk, mut bytes) = (Vec::new(), 0);
    for w in writes {
        let n = size(&w);
        if n > SHARED_COMMAND_BYTES {
            alone.push(w);
            continue;
        }
        if bytes + n > SHARED_COMMAND_BYTES && !chunk.is_empty() {
            chunks.push(std::mem::take(&mut chunk));
            bytes = 0;
        }
        chunk.push(w);
        bytes += n;
    }
    if !chunk.is_empty() {
        chunks.push(chunk);
    }
    (chunks, alone)
}

fn bson_len(d: &Document) -> usize {
    bson::to_vec(d).map(|v| v.len()).unwrap_or(usize::MAX / 4)
}

/// The error in a write command's reply, if it has one: the first statement refused, or a
/// write concern that failed.
fn refusal(reply: &Document, what: &str, side: Side, allow_duplicates: bool) -> Result<()> {
    let refused = |code: i32, message: &str| Error::Database {
        context: what.into(),
        message: format!("{message} (code {code})"),
        transient: crate::error::TRANSIENT_CODES.contains(&code),
        network: false,
        side,
    };
    if let Ok(wce) = reply.get_document("writeConcernError") {
        let code = wce.get_i32("code").unwrap_or(0);
        return Err(refused(code, wce.get_str("errmsg").unwrap_or_default()));
    }
    for e in reply.get_array("writeErrors").into_iter().flatten() {
        let Some(e) = e.as_document() else { continue };
        let code = e.get_i32("code").unwrap_or(0);
        if !(allow_duplicates && code == 11000) {
            return Err(refused(code, e.get_str("errmsg").unwrap_or_default()));
        }
    }
    Ok(())
}

/// Sends `statements` (of an `update` or `delete` command, by `_id`) in as few commands as
/// their sizes allow; fails on the first refused statement.
async fn write_by_id(
    coll: &Collection<Document>,
    side: Side,
    kind: &str,
    statements: Vec<Document>,
    what: &str,
) -> Result<()> {
    let (mut chunks, alone) = by_size(statements, bson_len);
    chunks.extend(alone.into_iter().map(|s| vec![s]));
    let db = coll.client().database(&coll.namespace().db);
    let list = if kind == "delete" {
        "deletes"
    } else {
        "updates"
    };
    for chunk in chunks {
        let statements: Vec<Bson> = chunk.into_iter().map(Bson::Document).collect();
        let command = doc! { kind: coll.name(), list: statements, "ordered": false };
        let reply = db.run_command(command).await.map_err(db_err(side, what))?;
        refusal(&reply, what, side, false)?;
    }
    Ok(())
}

impl CasWrite {
    /// The size of the write: its filter, plus the new version.
    fn size(&self) -> usize {
        match self {
            CasWrite::Replace(_, u) => bson_len(&self.filter()) + bson_len(u),
            CasWrite::Delete(_) => bson_len(&self.filter()),
        }
    }

    pub(crate) fn read(&self) -> &Document {
        match self {
            CasWrite::Replace(q, _) | CasWrite::Delete(q) => q,
        }
    }

    pub(crate) fn id(&self) -> Bson {
        self.read().get("_id").cloned().unwrap_or(Bson::Null)
    }

    /// The filter that matches the document only while it is as read.
    fn filter(&self) -> Document {
        unchanged(self.read())
    }
}

/// One `update` or `delete` command for writes of one kind.
async fn apply_cas_command(
    coll: &Collection<Document>,
    side: Side,
    writes: Vec<(usize, CasWrite)>,
) -> Result<Vec<(usize, CasOutcome)>> {
    let deleting = matches!(writes.first(), Some((_, CasWrite::Delete(_))));
    let what = if deleting {
        "deleting documents"
    } else {
        "writing documents"
    };
    let statements: Vec<Bson> = writes
        .iter()
        .map(|(_, w)| match w {
            CasWrite::Replace(_, u) => Bson::Document(doc! { "q": w.filter(), "u": u.clone() }),
            CasWrite::Delete(_) => Bson::Document(doc! { "q": w.filter(), "limit": 1 }),
        })
        .collect();
    let command = if deleting {
        doc! { "delete": coll.name(), "deletes": statements, "ordered": false }
    } else {
        doc! { "update": coll.name(), "updates": statements, "ordered": false }
    };
    let db = coll.client().database(&coll.namespace().db);
    let reply = db.run_command(command).await.map_err(db_err(side, what))?;
    // A refusal other than a clash stops the batch here (and the quarantine looks for the
    // document at fault).
    refusal(&reply, what, side, true)?;
    let mut duplicates = HashSet::new();
    for e in reply.get_array("writeErrors").into_iter().flatten() {
        let Some(e) = e.as_document() else { continue };
        let index = match e.get("index") {
            Some(Bson::Int32(i)) => *i as usize,
            Some(Bson::Int64(i)) => *i as usize,
            _ => continue,
        };
        duplicates.insert(index);
    }
    let n = match reply.get("n") {
        Some(Bson::Int32(n)) => *n as usize,
        Some(Bson::Int64(n)) => *n as usize,
        _ => 0,
    };
    let op = if deleting { Op::Delete } else { Op::Replace };
    if n + duplicates.len() == writes.len() {
        return Ok(writes
            .into_iter()
            .enumerate()
            .map(|(pos, (i, _))| match duplicates.contains(&pos) {
                true => (i, CasOutcome::Duplicate),
                false => (i, CasOutcome::Done(op)),
            })
            .collect());
    }
    // Some documents changed since they were read: see which writes went through.
    let ids: Vec<Bson> = writes.iter().map(|(_, w)| w.id()).collect();
    let mut now = CollectionSync::fetch(coll, side, &ids).await?;
    Ok(writes
        .into_iter()
        .enumerate()
        .map(|(pos, (i, w))| {
            let current = now.remove(&IdKey::of(&w.id()));
            let outcome = match (&w, current) {
                _ if duplicates.contains(&pos) => CasOutcome::Duplicate,
                (CasWrite::Replace(_, u), Some(d)) if same_fields(u, &d) => CasOutcome::Done(op),
                (CasWrite::Delete(_), None) => CasOutcome::Done(op),
                _ => CasOutcome::Changed,
            };
            (i, outcome)
        })
        .collect())
}

/// The same fields with the same values, in any order.
fn same_fields(a: &Document, b: &Document) -> bool {
    a.len() == b.len() && a.iter().all(|(k, v)| b.get(k) == Some(v))
}

/// Applies compare-and-set writes one command each, concurrently: for writes too large to
/// share a command.
async fn apply_cas_each(
    coll: &Collection<Document>,
    side: Side,
    writes: Vec<(usize, CasWrite)>,
) -> Result<Vec<(usize, CasOutcome)>> {
    use futures::StreamExt;
    futures::stream::iter(writes)
        .map(|(i, w)| async move {
            let filter = w.filter();
            let outcome = match w {
                CasWrite::Replace(_, doc) => match coll.replace_one(filter, doc).await {
                    Ok(r) if r.matched_count == 1 => CasOutcome::Done(Op::Replace),
                    Ok(_) => CasOutcome::Changed,
                    Err(e) if is_duplicate_key(&e) => CasOutcome::Duplicate,
                    Err(e) => return Err(Error::db(side, "writing a document", &e)),
                },
                CasWrite::Delete(_) => match coll.delete_one(filter).await {
                    Ok(r) if r.deleted_count == 1 => CasOutcome::Done(Op::Delete),
                    Ok(_) => CasOutcome::Changed,
                    Err(e) => return Err(Error::db(side, "deleting a document", &e)),
                },
            };
            Ok((i, outcome))
        })
        .buffer_unordered(CONCURRENT_WRITES)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// A batch's writes to one side, each with its item's position in the batch.
struct Writes {
    cas: Vec<(usize, CasWrite)>,
    inserts: Vec<(usize, Document)>,
}

/// What one side said to a batch's writes: each compare-and-set's outcome, and the inserts
/// with the refused ones by position.
struct Sent {
    cas: Vec<(usize, CasOutcome)>,
    inserts: Vec<(usize, Document)>,
    refused: HashMap<usize, (i32, String)>,
}

/// Sends a batch's writes to one side.
async fn send(
    coll: &Collection<Document>,
    side: Side,
    writes: Writes,
    exact: bool,
) -> Result<Sent> {
    let Writes { cas, inserts } = writes;
    let cas = apply_cas(coll, side, cas, exact).await?;
    let refused = if inserts.is_empty() {
        HashMap::new()
    } else {
        insert_all(coll, side, inserts.iter().map(|(_, d)| d)).await?
    };
    Ok(Sent {
        cas,
        inserts,
        refused,
    })
}

/// Inserts unordered; returns the refused ones by position, with code and message.
async fn insert_all<'d>(
    coll: &Collection<Document>,
    side: Side,
    docs: impl IntoIterator<Item = &'d Document>,
) -> Result<HashMap<usize, (i32, String)>> {
    match coll.insert_many(docs).ordered(false).await {
        Ok(_) => Ok(HashMap::new()),
        Err(e) => match &*e.kind {
            mongodb::error::ErrorKind::InsertMany(ime) if ime.write_concern_error.is_none() => {
                Ok(ime
                    .write_errors
                    .iter()
                    .flatten()
                    .map(|w| (w.index, (w.code, w.message.clone())))
                    .collect())
            }
            _ => Err(Error::db(side, "inserting documents", &e)),
        },
    }
}

/// Whether a duplicate-key message is about `_id` (the same document) rather than another
/// unique index.
fn is_id_key(msg: &str) -> bool {
    msg.contains("_id_") || msg.contains("{ _id:") || msg.contains("_id:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_documents_filter_repeats_every_field() {
        let d = doc! { "_id": 1, "name": "Ravi", "updatedAt": bson::DateTime::from_millis(5) };
        let f = unchanged(&d);
        assert_eq!(
            f,
            doc! { "_id": 1, "name": { "$eq": "Ravi" }, "updatedAt": { "$eq": bson::DateTime::from_millis(5) } }
        );
    }

    #[test]
    fn a_large_documents_filter_stays_small_and_still_compares_its_size() {
        let scan = "x".repeat(9 * 1024 * 1024);
        let d = doc! { "_id": 1, "name": "Ravi", "scan": scan, "updatedAt": bson::DateTime::from_millis(5) };
        let f = unchanged(&d);
        assert!(
            bson_len(&f) < 4096,
            "the 9 MB field is not repeated: {} bytes",
            bson_len(&f)
        );
        assert_eq!(f.get_document("name").unwrap(), &doc! { "$eq": "Ravi" });
        assert!(
            f.get("updatedAt").is_some(),
            "updatedAt is compared by value"
        );
        assert!(f.get("scan").is_none());
        let size = f.get_document("$expr").unwrap().get_array("$eq").unwrap()[1].clone();
        assert_eq!(
            size,
            Bson::Int64(bson_len(&d) as i64),
            "the large field is compared by the document's size"
        );
    }

    #[test]
    fn a_large_document_with_a_dotted_name_leaves_that_name_to_the_size() {
        let d = doc! { "_id": 1, "price.usd": 10, "scan": "x".repeat(2 * 1024 * 1024) };
        let f = unchanged(&d);
        assert!(
            f.keys().all(|k| k == "_id" || k == "$expr"),
            "{:?}",
            f.keys().collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_large_write_is_sized_by_its_filter_not_twice_the_document() {
        let d = doc! { "_id": 1, "scan": "x".repeat(9 * 1024 * 1024) };
        let w = CasWrite::Replace(d.clone(), d.clone());
        assert!(w.size() < bson_len(&d) + 4096, "{}", w.size());
    }
}
