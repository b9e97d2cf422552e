//! Random work and the convergence check, shared by the convergence property test
//! (`tests/convergence.rs`), the fault matrix (`tests/faults.rs`) and the soak
//! (`templesync-soak`): edits as the Temple Management System makes them, a step hook that cuts
//! runs at random, settling (every open conflict resolved, clean syncs until quiet), and the
//! check that all databases are equal and that nothing was lost or duplicated.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bson::{Bson, Document, doc};
use futures::FutureExt;
use mongodb::Database;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use templesync_engine::{
    Engine, Error, Resolution, Step, StepHook, Strategy, SyncRequest, SyncRun,
};

use crate::fixture::{all, coll, contents, tms_doc, tms_edit};

/// What the random work did, and so what must be found at the end: every document inserted
/// and not deleted, once.
#[derive(Debug, Default, Clone)]
pub struct Ledger {
    pub next_id: i32,
    pub inserted: BTreeSet<i32>,
    pub deleted: BTreeSet<i32>,
    pub edits: u64,
    /// Inserts and deletes whose answer was lost (a fault struck): they may or may not have
    /// happened, so the caller decides from what the databases show before checking.
    pub uncertain: BTreeSet<i32>,
}

impl Ledger {
    /// The ids that must exist at the end.
    pub fn expected(&self) -> BTreeSet<i32> {
        self.inserted.difference(&self.deleted).copied().collect()
    }
}

/// One kind of random edit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    Insert,
    Edit,
    Delete,
}

/// Picks insert (3 in 7), edit (3 in 7) or delete (1 in 7).
pub fn random_work(rng: &mut impl Rng) -> Work {
    match rng.random_range(0..7) {
        0..=2 => Work::Insert,
        3..=5 => Work::Edit,
        _ => Work::Delete,
    }
}

/// Does `work` on `db`'s `coll` as the TMS would (a new document with a fresh id and
/// `tag == _id`, a `$set` of one of the fields `a`, `b`, `c` with a new `updatedAt`, or a
/// delete of a random document) and records it in the ledger. Returns `false` when there was
/// nothing to edit or delete.
pub async fn do_work(
    rng: &mut impl Rng,
    db: &Database,
    coll_name: &str,
    work: Work,
    ledger: &mut Ledger,
) -> mongodb::error::Result<bool> {
    match work {
        Work::Insert => {
            ledger.next_id += 1;
            let id = ledger.next_id;
            coll(db, coll_name)
                .insert_one(tms_doc(id, doc! { "tag": id, "a": 0, "b": 0, "c": 0 }))
                .await?;
            ledger.inserted.insert(id);
            Ok(true)
        }
        Work::Edit => {
            let Some(id) = random_id(rng, db, coll_name).await? else {
                return Ok(false);
            };
            let field = ["a", "b", "c"][rng.random_range(0..3)];
            tms_edit(db, coll_name, id, doc! { field: rng.random_range(1..1000) }).await;
            ledger.edits += 1;
            Ok(true)
        }
        Work::Delete => {
            let Some(id) = random_id(rng, db, coll_name).await? else {
                return Ok(false);
            };
            coll(db, coll_name).delete_one(doc! { "_id": id }).await?;
            ledger.deleted.insert(id);
            Ok(true)
        }
    }
}

/// An edit as the TMS makes it (`$set` plus an `updatedAt` later than the document's), if the
/// document is there; `Ok(false)` when it is not. Unlike `fixture::tms_edit`, a database error
/// is returned, not a panic (for editing while faults strike).
pub async fn try_tms_edit(
    db: &Database,
    coll_name: &str,
    id: i32,
    set: Document,
) -> mongodb::error::Result<bool> {
    let c = coll(db, coll_name);
    let Some(prev) = c.find_one(doc! { "_id": id }).await? else {
        return Ok(false);
    };
    let mut now = bson::DateTime::now();
    if let Ok(t) = prev.get_datetime("updatedAt")
        && now <= *t
    {
        now = bson::DateTime::from_millis(t.timestamp_millis() + 1);
    }
    let mut set = set;
    set.insert("updatedAt", now);
    let r = c
        .update_one(doc! { "_id": id }, doc! { "$set": set })
        .await?;
    Ok(r.matched_count == 1)
}

/// A random `_id` of the collection (read as ids only), if it has any document.
async fn random_id(
    rng: &mut impl Rng,
    db: &Database,
    coll_name: &str,
) -> mongodb::error::Result<Option<i32>> {
    use futures::TryStreamExt;
    let ids: Vec<Document> = coll(db, coll_name)
        .find(doc! {})
        .projection(doc! { "_id": 1 })
        .sort(doc! { "_id": 1 })
        .await?
        .try_collect()
        .await?;
    if ids.is_empty() {
        return Ok(None);
    }
    Ok(numeric_id(&ids[rng.random_range(0..ids.len())]))
}

/// A document's `_id` as the ledger counts it: MongoDB's equality, so `5`, `5.0` (as mongosh
/// and Compass write it) and `NumberLong(5)` are one id.
pub fn numeric_id(d: &Document) -> Option<i32> {
    match d.get("_id")? {
        Bson::Int32(i) => Some(*i),
        Bson::Int64(i) => i32::try_from(*i).ok(),
        Bson::Double(f) if f.fract() == 0.0 => Some(*f as i32),
        _ => None,
    }
}

/// A hook that cuts a run at a random step with probability `p` per step, seeded; counts
/// the cuts in `cuts`.
pub fn chaos_hook(seed: u64, cuts: Arc<AtomicU64>, p: f64) -> StepHook {
    let rng = Arc::new(std::sync::Mutex::new(StdRng::seed_from_u64(seed)));
    Arc::new(move |step: Step, _coll: &str| {
        let cut = rng.lock().unwrap().random_bool(p);
        if cut {
            cuts.fetch_add(1, Ordering::SeqCst);
        }
        async move {
            if cut {
                Err(Error::Interrupted(format!("chaos cut at {step:?}")))
            } else {
                Ok(())
            }
        }
        .boxed()
    })
}

/// What settling took.
#[derive(Debug, Default)]
pub struct Settled {
    /// Syncs run.
    pub runs: usize,
    /// Conflicts a person (here: keep-local, or for deletes keep the document) had to settle.
    pub resolved: usize,
    /// Conflict records of all the engines at the end (open or resolved).
    pub conflicts_logged: usize,
    /// Per-document errors reported by the last round of syncs.
    pub document_errors: usize,
    /// Decisions refused because a document moved on since its conflict was recorded (made
    /// again after the next sync).
    pub refused_as_stale: usize,
}

/// Clean syncs from every engine, resolving every open conflict (keeping the local version;
/// deletes by keeping the documents) between rounds, then syncs until a round moves nothing. Errors if a clean sync fails, a
/// conflict cannot be resolved, or it is not quiet after `max_rounds` rounds.
pub async fn settle(engines: &[&Engine], max_rounds: usize) -> anyhow::Result<Settled> {
    let mut settled = Settled::default();
    for _ in 0..max_rounds {
        let mut open = 0;
        // Each engine decides right after its own sync, on conflicts as that sync saw them
        // (another engine's sync in between would make some of them stale).
        for e in engines {
            e.sync(SyncRequest::manual())
                .await
                .map_err(|err| anyhow::anyhow!("a clean sync failed: {err}"))?;
            settled.runs += 1;
            for c in e.conflicts(Some(false), None).await? {
                open += 1;
                // A delete against an edit, and held mass deletes, are settled by keeping the
                // documents (the side that still has them wins): so that a document missing
                // at the end was lost by the engine, never by this choice. Every other
                // conflict keeps the local version.
                let keep = match c.deleted_on.as_deref() {
                    Some("local") => Strategy::KeepRemote,
                    _ => Strategy::KeepLocal,
                };
                let decision = Resolution {
                    strategy: keep,
                    value: None,
                    notes: None,
                    by: "settle".into(),
                };
                match e.resolve(&c.id, decision).await {
                    Ok(_) => settled.resolved += 1,
                    // A document moved on since the conflict was recorded (a late write of
                    // the random work, or another engine's sync): the decision is refused, as
                    // it would be for a person, and the next round's sync shows the conflict
                    // as it is now. One still open after every round fails below.
                    Err(Error::InvalidResolution { .. }) => settled.refused_as_stale += 1,
                    Err(err) => anyhow::bail!("resolving {} failed: {err}", c.id),
                }
            }
        }
        if open == 0 {
            break;
        }
    }
    let mut quiet = false;
    for _ in 0..max_rounds {
        let mut moved = 0;
        let mut errors = 0;
        for e in engines {
            let r = e
                .sync(SyncRequest::manual())
                .await
                .map_err(|err| anyhow::anyhow!("a clean sync failed: {err}"))?;
            settled.runs += 1;
            moved += SyncRun::total(&r.local_to_remote) + SyncRun::total(&r.remote_to_local);
            errors += r.errors.len();
        }
        settled.document_errors = errors;
        if moved == 0 {
            quiet = true;
            break;
        }
    }
    anyhow::ensure!(quiet, "still moving documents after {max_rounds} rounds");
    for e in engines {
        let logged = e.conflicts(None, None).await?;
        anyhow::ensure!(
            logged.iter().all(|c| c.resolved),
            "a conflict is still open after settling"
        );
        settled.conflicts_logged += logged.len();
    }
    Ok(settled)
}

/// What the convergence check found. Everything but `documents` must be empty.
#[derive(Debug, Default)]
pub struct Convergence {
    /// Documents at the end (on the first database).
    pub documents: usize,
    /// Ids inserted, never deleted, and missing from some database.
    pub lost: Vec<i32>,
    /// Ids present that were never inserted, or whose `tag` is held by another document too.
    pub duplicated: Vec<i32>,
    /// Content differences between the databases (id and the two versions), and documents
    /// not marked synced.
    pub differences: Vec<String>,
}

impl Convergence {
    pub fn is_clean(&self) -> bool {
        self.lost.is_empty() && self.duplicated.is_empty() && self.differences.is_empty()
    }
}

/// Compares `coll_name` across `dbs` (the first is the reference): the same contents byte for
/// byte, every expected id present, no phantom or doubled document. With `marks`, also that
/// the local databases (all but the last) hold every document marked synced with
/// `syncedAt == updatedAt`.
pub async fn check_convergence(
    dbs: &[&Database],
    coll_name: &str,
    ledger: &Ledger,
    marks: bool,
) -> Convergence {
    let mut out = Convergence::default();
    let mut sides = Vec::new();
    for db in dbs {
        let docs = all(db, coll_name).await;
        let by_id: BTreeMap<String, Document> = contents(&docs)
            .into_iter()
            .map(|d| (format!("{:?}", d.get("_id")), d))
            .collect();
        sides.push((docs, by_id));
    }
    out.documents = sides[0].0.len();
    let reference = &sides[0].1;
    for (i, (_, other)) in sides.iter().enumerate().skip(1) {
        for id in reference
            .keys()
            .chain(other.keys())
            .collect::<BTreeSet<_>>()
        {
            let (a, b) = (reference.get(id), other.get(id));
            let same = match (a, b) {
                (Some(a), Some(b)) => bson::to_vec(a).ok() == bson::to_vec(b).ok(),
                _ => false,
            };
            if !same {
                out.differences.push(format!(
                    "{coll_name} {id}: db 0 has {a:?}, db {i} has {b:?}"
                ));
            }
        }
    }
    let expected = ledger.expected();
    let mut lost = BTreeSet::new();
    let mut duplicated = BTreeSet::new();
    for (docs, _) in &sides {
        let present: BTreeSet<i32> = docs.iter().filter_map(numeric_id).collect();
        lost.extend(expected.difference(&present));
        let mut tags: BTreeMap<i32, u32> = BTreeMap::new();
        for d in docs {
            let id = numeric_id(d);
            if id.is_none_or(|id| !ledger.inserted.contains(&id)) {
                duplicated.insert(id.unwrap_or(-1));
            }
            if let Ok(tag) = d.get_i32("tag") {
                *tags.entry(tag).or_default() += 1;
            }
        }
        duplicated.extend(tags.into_iter().filter(|(_, n)| *n > 1).map(|(t, _)| t));
    }
    out.lost = lost.into_iter().collect();
    out.duplicated = duplicated.into_iter().collect();
    if marks {
        for (docs, _) in &sides[..sides.len() - 1] {
            for d in docs {
                let marked = d.get_str("syncStatus").ok() == Some("synced")
                    && d.get("syncedAt") == d.get("updatedAt")
                    && !matches!(d.get("syncedAt"), None | Some(Bson::Null));
                if !marked {
                    out.differences.push(format!("not marked synced: {d:?}"));
                }
            }
        }
    }
    out
}
