//! The brake: a run that would delete many documents of a collection on one side holds those
//! deletes and asks a person first.
//!
//! A collection emptied or dropped on this computer, a cloud restored without some data, a
//! script gone wrong: each shows up as a mass of ordinary deletes, which the sync would
//! otherwise carry to every PC. So a run defers every delete of a collection until it has seen
//! them all ([`crate::run`]), then carries them out only when they are few: at most
//! `massDeleteLimit` documents or `massDeletePercent` of the collection on the side that would
//! lose them, whichever is larger, and never all of a collection's documents (see [`held`]).
//! Otherwise the deletes are held as one `bulk` conflict in the ordinary inbox, with the
//! count and a sample; inserts and edits of the collection, and other collections, go on.
//!
//! A person settles it like any conflict: the side whose state should win (planned in
//! `conflicts::plan`). Applying the
//! deletes lists the ids for the next run with permission to delete them; restoring forgets
//! their synced versions, so that the next run sees them as new on the side that still has
//! them and copies them back.

use bson::{Bson, Document, doc, oid::ObjectId};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;

use crate::clock::to_bson;
use crate::config::SyncConfig;
use crate::conflicts::{ConflictKind, ConflictRecord, Settlement};
use crate::content::display_id;
use crate::error::{Error, Result, Side};
use crate::store::{CONFLICT_LOGS, Databases};

/// How many ids one `bulk` record keeps (about 0.5 MB of ObjectIds). Beyond that the run
/// keeps no change-stream checkpoint, so the next run finds the rest again by a full scan.
pub(crate) const MAX_IDS_KEPT: usize = 20_000;

/// How many ids a record shows people as a sample.
const SAMPLE: usize = 10;

/// Whether deleting `deleting` of the `size` documents a side holds must wait for a person.
pub(crate) fn held(cfg: &SyncConfig, deleting: u64, size: u64) -> bool {
    let share = size.saturating_mul(cfg.mass_delete_percent as u64) / 100;
    let limit = share.max(cfg.mass_delete_limit as u64);
    // Emptying a collection is never routine: it is how a dropped or emptied collection looks.
    let empties = size >= 2 && deleting >= size;
    deleting > limit || empties
}

/// The `deletedOn` of a hold: which side deleted the documents, the opposite of where the held
/// deletes would happen.
fn deleted_on(deleting_on: Side) -> &'static str {
    match deleting_on {
        Side::Local => "remote",
        Side::Remote => "local",
    }
}

fn local_err(what: &'static str) -> impl Fn(mongodb::error::Error) -> Error {
    move |e| Error::db(Side::Local, what, &e)
}

fn coll(dbs: &Databases) -> mongodb::Collection<Document> {
    dbs.local_coll(CONFLICT_LOGS)
}

fn open_filter(collection: &str, deleting_on: Side) -> Document {
    doc! { "type": "bulk", "collection": collection, "deletedOn": deleted_on(deleting_on), "resolved": false }
}

/// The words of a hold, for people.
fn notes(deleting_on: Side, count: usize, size: u64) -> String {
    match deleting_on {
        Side::Local => format!(
            "{count} of the {size} documents here were deleted in the cloud. Deleting them on this computer too is held until you decide"
        ),
        Side::Remote => format!(
            "{count} documents were deleted (or are missing) on this computer, of the {size} in the cloud. Deleting them in the cloud too is held until you decide"
        ),
    }
}

/// Holds deletes: records (or refreshes) the collection's open `bulk` conflict for that side.
/// Returns whether a new one was created.
pub(crate) async fn hold(
    dbs: &Databases,
    collection: &str,
    deleting_on: Side,
    ids: &[Bson],
    size: u64,
    run_id: ObjectId,
    now: DateTime<Utc>,
) -> Result<bool> {
    let kept: Vec<Bson> = ids.iter().take(MAX_IDS_KEPT).cloned().collect();
    let sample: Vec<String> = ids.iter().take(SAMPLE).map(display_id).collect();
    let (local_value, remote_value) = match deleting_on {
        Side::Local => (format!("{} documents kept", ids.len()), "(deleted)".into()),
        Side::Remote => ("(deleted)".into(), format!("{} documents kept", ids.len())),
    };
    let rec = ConflictRecord {
        kind: Some(ConflictKind::Bulk),
        type_name: ConflictKind::Bulk.as_str().into(),
        collection: collection.into(),
        local_id: Some(Bson::Null),
        remote_id: Some(Bson::Null),
        deleted_on: Some(match deleting_on {
            Side::Local => Side::Remote,
            Side::Remote => Side::Local,
        }),
        count: Some(ids.len() as i64),
        collection_size: Some(size as i64),
        doc_ids: kept,
        sample,
        local_value: Some(Bson::String(local_value)),
        remote_value: Some(Bson::String(remote_value)),
        notes: Some(notes(deleting_on, ids.len(), size)),
        last_seen: Some(now),
        run_id: Some(run_id),
        ..ConflictRecord::default()
    };
    let set = rec.finding_fields();
    let r = coll(dbs)
        .update_one(
            open_filter(collection, deleting_on),
            doc! {
                "$set": set,
                "$setOnInsert": {
                    "timestamp": to_bson(now),
                    "autoResolved": false,
                },
            },
        )
        .upsert(true)
        .await
        .map_err(local_err("recording held deletes"))?;
    tracing::warn!(collection, count = ids.len(), side = %deleting_on, "deletes held for a person");
    Ok(r.upserted_id.is_some())
}

/// Closes the collection's open hold for that side: nothing is held there any more (the
/// documents came back, or their deletion went through as a small one).
pub(crate) async fn release(
    dbs: &Databases,
    collection: &str,
    deleting_on: Side,
    now: DateTime<Utc>,
) -> Result<()> {
    coll(dbs)
        .update_many(
            open_filter(collection, deleting_on),
            doc! { "$set": Settlement::Superseded(
                "Nothing is held any more: the documents are back, or few enough to delete",
            ).to_set(now) },
        )
        .await
        .map_err(local_err("closing held deletes"))?;
    Ok(())
}

/// The ids of the collection's open holds (looked at again every run: a cloud delete is seen
/// once in the change stream), and whether a hold is open on each side (local, remote).
pub(crate) async fn open_ids(dbs: &Databases, collection: &str) -> Result<(Vec<Bson>, [bool; 2])> {
    let open: Vec<Document> = coll(dbs)
        .find(doc! { "type": "bulk", "collection": collection, "resolved": false })
        .projection(doc! { "docIds": 1, "deletedOn": 1 })
        .await
        .map_err(local_err("reading held deletes"))?
        .try_collect()
        .await
        .map_err(local_err("reading held deletes"))?;
    let mut sides = [false; 2];
    let mut ids = Vec::new();
    for hold in open.iter().map(ConflictRecord::from_document) {
        match hold.deleted_on {
            Some(Side::Remote) => sides[0] = true,
            _ => sides[1] = true,
        }
        ids.extend(hold.doc_ids);
    }
    Ok((ids, sides))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(limit: u32, percent: u32) -> SyncConfig {
        SyncConfig {
            mass_delete_limit: limit,
            mass_delete_percent: percent,
            ..SyncConfig::default()
        }
    }

    #[test]
    fn the_limit_is_the_larger_of_a_count_and_a_share() {
        let c = cfg(50, 20);
        assert!(!held(&c, 50, 1000), "50 of 1000 is within the count");
        assert!(!held(&c, 200, 1000), "20% of 1000 is 200");
        assert!(held(&c, 201, 1000));
        assert!(
            held(&c, 51, 100),
            "20% of 100 is 20; the count, 50, is larger"
        );
        assert!(!held(&c, 0, 0));
    }

    #[test]
    fn emptying_a_collection_is_always_held() {
        let c = cfg(50, 20);
        assert!(
            held(&c, 10, 10),
            "a small collection emptied is how a drop looks"
        );
        assert!(held(&c, 2, 2));
        assert!(
            !held(&c, 1, 1),
            "the last document of a one-document collection"
        );
        assert!(!held(&c, 9, 10));
    }
}
