//! Reading and writing `conflict_logs`, always through [`ConflictRecord`] and [`Settlement`].

use bson::{Bson, Document, doc, oid::ObjectId};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;

use super::apply::mark_dirty;
use super::lookup::suggest_free_value;
use super::record::{ConflictRecord, Settlement};
use super::{Conflict, ConflictKind, NewConflict};
use crate::error::{Error, Result, Side};
use crate::store::{CONFLICT_LOGS, Databases};

pub(super) fn coll(dbs: &Databases) -> mongodb::Collection<Document> {
    dbs.local_coll(CONFLICT_LOGS)
}

pub(super) fn local_err(what: &'static str) -> impl Fn(mongodb::error::Error) -> Error {
    move |e| Error::db(Side::Local, what, &e)
}

async fn find_all(
    find: impl std::future::IntoFuture<Output = mongodb::error::Result<mongodb::Cursor<Document>>>,
) -> Result<Vec<Document>> {
    find.await
        .map_err(local_err("reading conflicts"))?
        .try_collect()
        .await
        .map_err(local_err("reading conflicts"))
}

/// Closes the conflicts `filter` selects as `how`.
async fn settle_many(
    dbs: &Databases,
    filter: Document,
    how: Settlement,
    now: DateTime<Utc>,
    what: &'static str,
) -> Result<()> {
    coll(dbs)
        .update_many(filter, doc! { "$set": how.to_set(now) })
        .await
        .map_err(local_err(what))?;
    Ok(())
}

/// Writes a conflict down. An open conflict for the same document and kind is refreshed
/// instead of duplicated; returns whether a new one was created.
pub(crate) async fn record(dbs: &Databases, c: NewConflict, now: DateTime<Utc>) -> Result<bool> {
    let Some(rec) = ConflictRecord::found(&c, now) else {
        return Ok(false);
    };
    let mut d = rec.finding_fields();
    let c_coll = coll(dbs);
    let same_doc = doc! { "collection": &c.collection, "localId": c.id.clone(), "resolved": false };
    if c.auto_resolved {
        // Settled by last-write-wins: a conflict on the document still open from before
        // (recorded while the strategy was manual) is settled by it too.
        let why = "Settled by last-write-wins (the newer edit won; the other is kept in that conflict's record)";
        settle_many(
            dbs,
            same_doc,
            Settlement::Superseded(why),
            now,
            "recording a conflict",
        )
        .await?;
        d.insert("_id", ObjectId::new());
        d.insert("timestamp", crate::clock::to_bson(now));
        let winner = c.winner.unwrap_or(crate::reconcile::Winner::Local);
        d.extend(Settlement::LastWriteWins(winner).to_set(now));
        c_coll
            .insert_one(d)
            .await
            .map_err(local_err("recording a conflict"))?;
        return Ok(true);
    }
    // A document is in one conflict at a time: one of another kind was overtaken by events
    // (e.g. an edit conflict whose local copy was then deleted).
    let mut other_kind = same_doc.clone();
    other_kind.insert("type", doc! { "$ne": c.kind.as_str() });
    let why = "Replaced by a newer conflict on the same document";
    settle_many(
        dbs,
        other_kind,
        Settlement::Superseded(why),
        now,
        "recording a conflict",
    )
    .await?;
    let mut open = same_doc;
    open.insert("type", c.kind.as_str());
    if let Some(existing) = c_coll
        .find_one(open)
        .await
        .map_err(local_err("reading conflicts"))?
    {
        let id = existing.get("_id").cloned().unwrap_or(Bson::Null);
        c_coll
            .update_one(doc! { "_id": id }, doc! { "$set": d })
            .await
            .map_err(local_err("recording a conflict"))?;
        return Ok(false);
    }
    if c.kind == ConflictKind::Unique
        && c.clash.is_some()
        && let (field, Some(Bson::String(v))) = rec.rename_target()
        && let Some(s) = suggest_free_value(dbs, &c.collection, &field, &v).await?
    {
        d.insert("suggestedValue", s);
    }
    d.extend(ConflictRecord::opening_fields(ObjectId::new(), now));
    c_coll
        .insert_one(d)
        .await
        .map_err(local_err("recording a conflict"))?;
    Ok(true)
}

/// Closes the open conflicts of documents that have since synced cleanly (someone fixed them
/// in the office software), and rechecks the other documents they involved.
pub(crate) async fn close_settled(
    dbs: &Databases,
    collection: &str,
    ids: &[Bson],
    now: DateTime<Utc>,
) -> Result<()> {
    let filter =
        doc! { "collection": collection, "localId": { "$in": ids.to_vec() }, "resolved": false };
    let open = find_all(coll(dbs).find(filter.clone())).await?;
    if open.is_empty() {
        return Ok(());
    }
    let others: Vec<Bson> = open
        .iter()
        .map(ConflictRecord::from_document)
        .filter_map(|c| c.remote_id)
        .collect();
    mark_dirty(dbs, collection, &others, now, false).await?;
    let why = "Settled by a later change to the document";
    settle_many(
        dbs,
        filter,
        Settlement::Superseded(why),
        now,
        "closing conflicts",
    )
    .await
}

/// The local documents of the collection's open conflicts (looked at again every run).
pub(crate) async fn open_local_ids(dbs: &Databases, collection: &str) -> Result<Vec<Bson>> {
    let logs = coll(dbs);
    let find = logs
        .find(doc! { "collection": collection, "resolved": false, "type": { "$ne": ConflictKind::Bulk.as_str() } })
        .projection(doc! { "localId": 1 });
    Ok(find_all(find)
        .await?
        .iter()
        .filter_map(|d| ConflictRecord::from_document(d).local_id)
        .collect())
}

/// Whether any conflict of the collection is open.
pub(crate) async fn any_open(dbs: &Databases, collection: &str) -> Result<bool> {
    Ok(coll(dbs)
        .find_one(doc! { "collection": collection, "resolved": false })
        .projection(doc! { "_id": 1 })
        .await
        .map_err(local_err("reading conflicts"))?
        .is_some())
}

/// Open conflicts whose document was deleted here (their bases stay, by design).
pub(crate) async fn open_local_deletes(dbs: &Databases, collection: &str) -> Result<u64> {
    coll(dbs)
        .count_documents(doc! { "collection": collection, "type": ConflictKind::Delete.as_str(), "deletedOn": "local", "resolved": false })
        .await
        .map_err(local_err("counting conflicts"))
}

pub(crate) fn parse_id(id: &str) -> Result<ObjectId> {
    ObjectId::parse_str(id.trim()).map_err(|_| Error::ConflictNotFound { id: id.to_string() })
}

/// The stored record, as stored.
pub(crate) async fn load(dbs: &Databases, id: &str) -> Result<Document> {
    let oid = parse_id(id)?;
    coll(dbs)
        .find_one(doc! { "_id": oid })
        .await
        .map_err(local_err("reading conflicts"))?
        .ok_or_else(|| Error::ConflictNotFound { id: id.to_string() })
}

/// The stored record as people and programs see it.
pub(crate) fn view(d: &Document) -> Conflict {
    ConflictRecord::from_document(d).view()
}

pub(crate) async fn list(
    dbs: &Databases,
    resolved: Option<bool>,
    collection: Option<&str>,
    limit: i64,
) -> Result<Vec<Conflict>> {
    let mut filter = doc! {};
    if let Some(r) = resolved {
        filter.insert("resolved", r);
    }
    if let Some(c) = collection {
        filter.insert("collection", c);
    }
    let logs = coll(dbs);
    let find = logs
        .find(filter)
        .sort(doc! { "timestamp": -1 })
        .limit(limit);
    Ok(find_all(find).await?.iter().map(view).collect())
}

/// The open conflicts, oldest first, at most `max`.
pub(super) async fn oldest_open(dbs: &Databases, max: u32) -> Result<Vec<ConflictRecord>> {
    let logs = coll(dbs);
    let find = logs
        .find(doc! { "resolved": false })
        .sort(doc! { "timestamp": 1 })
        .limit(max as i64);
    Ok(find_all(find)
        .await?
        .iter()
        .map(ConflictRecord::from_document)
        .collect())
}

/// Closes one conflict as `how`.
pub(super) async fn close(
    dbs: &Databases,
    id: ObjectId,
    how: &Settlement,
    now: DateTime<Utc>,
) -> Result<()> {
    coll(dbs)
        .update_one(doc! { "_id": id }, doc! { "$set": how.to_set(now) })
        .await
        .map_err(local_err("recording the resolution"))?;
    Ok(())
}
