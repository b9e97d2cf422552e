//! Carrying out a [`Plan`]: each write in order, nothing decided here. A failure stops at that
//! write; the plan's order makes that safe (the conflict is closed last, so it stays open).

use bson::{Bson, Document, doc};
use chrono::{DateTime, Utc};

use super::log::{close, local_err};
use super::plan::{Plan, Write};
use crate::clock::to_bson;
use crate::content::content_hash;
use crate::error::Result;
use crate::store::{Databases, SYNC_DIRTY};

/// Carries out `plan`'s writes, in order.
pub(crate) async fn apply(dbs: &Databases, plan: &Plan, now: DateTime<Utc>) -> Result<()> {
    for w in &plan.writes {
        write(dbs, &plan.collection, w, now).await?;
    }
    Ok(())
}

async fn write(dbs: &Databases, collection: &str, w: &Write, now: DateTime<Utc>) -> Result<()> {
    let local = dbs.local_coll(collection);
    let base = dbs.base_coll(collection);
    match w {
        Write::SetLocal { id, set } => {
            local
                .update_one(doc! { "_id": id.clone() }, doc! { "$set": set.clone() })
                .await
                .map_err(local_err("updating the local document"))?;
        }
        Write::ReplaceLocal { id, doc } => {
            local
                .replace_one(doc! { "_id": id.clone() }, doc.clone())
                .await
                .map_err(local_err("writing the resolved document"))?;
        }
        Write::DeleteLocal { id } => {
            local
                .delete_one(doc! { "_id": id.clone() })
                .await
                .map_err(local_err("removing the local document"))?;
        }
        Write::SetSynced { id, doc } => {
            base.delete_many(doc! { "_id": id.clone() })
                .await
                .map_err(local_err("updating the synced version"))?;
            let synced = doc! { "_id": id.clone(), "h": content_hash(doc), "doc": doc.clone() };
            base.insert_one(synced)
                .await
                .map_err(local_err("updating the synced version"))?;
        }
        Write::ForgetSynced { ids } => {
            base.delete_many(doc! { "_id": { "$in": ids.clone() } })
                .await
                .map_err(local_err("updating the synced version"))?;
        }
        Write::Recheck { ids, approved } => {
            mark_dirty(dbs, collection, ids, now, *approved).await?;
        }
        Write::Close { id, how } => close(dbs, *id, how, now).await?,
    }
    Ok(())
}

/// Lists documents for the next run to look at whatever the feeds say. `approved`: a person
/// decided about them, so deleting them is theirs, not a mass delete to hold (the brake).
pub(crate) async fn mark_dirty(
    dbs: &Databases,
    collection: &str,
    ids: &[Bson],
    now: DateTime<Utc>,
    approved: bool,
) -> Result<()> {
    let entries: Vec<Document> = ids
        .iter()
        .filter(|i| !matches!(i, Bson::Null))
        .map(|id| doc! { "collection": collection, "docId": id.clone(), "since": to_bson(now), "allowDelete": approved })
        .collect();
    if entries.is_empty() {
        return Ok(());
    }
    dbs.local_coll(SYNC_DIRTY)
        .insert_many(entries)
        .await
        .map_err(local_err("remembering documents to recheck"))?;
    Ok(())
}
