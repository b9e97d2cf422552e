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

mod batch;
mod brake;
mod cas;
mod feeds;
mod scan;
mod set_aside;
mod settled;
mod unique_checks;
mod writes;

use cas::*;
use writes::*;

pub(crate) use cas::{CasOutcome, CasWrite, unchanged};

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
    /// This computer's change feed is open in this run: an edit made after a document was
    /// read comes through it, whatever the edit did to `updatedAt`.
    local_feed_open: bool,
    /// Versions the batch being written replaced, on either side, for `sync_history`.
    replaced: Vec<crate::history::Kept>,
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
            local_feed_open: false,
            replaced: Vec::new(),
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
}
