//! Version history: every version of a document that a sync on this computer overwrote or
//! deleted, on either side, kept in the local `sync_history` collection with when, which run,
//! which side and what replaced it, for `historyDays` and within `historyMaxMb` (the oldest go
//! first). The stored version is the document exactly as it was read for the compare-and-set.
//!
//! A person can list a document's versions ([`Engine::history`](crate::Engine)) and write one
//! back here as a new local edit ([`restore`]), which the next sync carries out like any edit.

use bson::{Binary, Bson, Document, doc, oid::ObjectId, spec::BinarySubtype};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use mongodb::Database;
use serde::Serialize;

use crate::clock::to_bson;
use crate::content::IdKey;
use crate::error::{Error, Result, Side};
use crate::store::SYNC_HISTORY;

/// Fields of TempleSync's own on a document: not "what changed".
const BOOKKEEPING: [&str; 2] = ["syncedAt", "syncStatus"];

/// Why a version was replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Replaced {
    /// A sync wrote another version over it.
    Overwritten,
    /// A sync deleted it.
    Deleted,
    /// A person restored an older version over it.
    Restored,
}

/// One version to keep, as a run met it.
#[derive(Debug, Clone)]
pub(crate) struct Kept {
    pub collection: String,
    pub side: Side,
    pub version: Document,
    /// What replaced it; none when it was deleted.
    pub replaced_by: Option<Document>,
    pub why: Replaced,
}

/// A kept version, as a person sees it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Version {
    /// 1 is the newest.
    pub number: u32,
    pub at: DateTime<Utc>,
    /// The run that replaced it (none for a restore).
    pub run_id: Option<String>,
    /// `local` (this computer) or `cloud`.
    pub side: String,
    pub replaced: Replaced,
    /// The fields in which what replaced it differs (all of them for a delete).
    pub changed_fields: Vec<String>,
    pub document: serde_json::Value,
    pub replaced_by: Option<serde_json::Value>,
}

fn id_key(id: &Bson) -> Bson {
    Bson::Binary(Binary {
        subtype: BinarySubtype::Generic,
        bytes: IdKey::of(id).as_bytes().to_vec(),
    })
}

fn db_err(what: &'static str) -> impl Fn(mongodb::error::Error) -> Error {
    move |e| Error::db(Side::Local, what, &e)
}

/// Keeps the versions a batch replaced. `run` is the run's id (none for a person's restore).
pub(crate) async fn keep(
    local: &Database,
    run: Option<ObjectId>,
    now: DateTime<Utc>,
    kept: Vec<Kept>,
) -> Result<()> {
    if kept.is_empty() {
        return Ok(());
    }
    let docs: Vec<Document> = kept
        .into_iter()
        .map(|k| {
            let id = k.version.get("_id").cloned().unwrap_or(Bson::Null);
            let size = bson::to_vec(&k.version).map_or(0, |v| v.len()) as i64;
            doc! {
                "collection": k.collection,
                "docId": id.clone(),
                "idKey": id_key(&id),
                "side": match k.side { Side::Local => "local", Side::Remote => "cloud" },
                "replaced": match k.why {
                    Replaced::Overwritten => "overwritten",
                    Replaced::Deleted => "deleted",
                    Replaced::Restored => "restored",
                },
                "at": to_bson(now),
                "runId": run.map_or(Bson::Null, Bson::ObjectId),
                "size": size,
                "version": k.version,
                "replacedBy": k.replaced_by.map_or(Bson::Null, Bson::Document),
            }
        })
        .collect();
    local
        .collection::<Document>(SYNC_HISTORY)
        .insert_many(docs)
        .await
        .map_err(db_err("keeping the versions a sync replaced"))?;
    Ok(())
}

/// The ids a person may mean by `text`: an ObjectId's hex, a number, or the text itself.
pub(crate) fn ids_meant(text: &str) -> Vec<Bson> {
    let mut ids = vec![Bson::String(text.to_string())];
    if let Ok(o) = ObjectId::parse_str(text) {
        ids.push(Bson::ObjectId(o));
    }
    if let Ok(i) = text.parse::<i64>() {
        ids.push(Bson::Int64(i));
    } else if let Ok(f) = text.parse::<f64>()
        && f.is_finite()
    {
        ids.push(Bson::Double(f));
    }
    ids
}

/// A document's kept versions, newest first, numbered from 1.
pub(crate) async fn versions(
    local: &Database,
    collection: &str,
    ids: &[Bson],
) -> Result<Vec<Version>> {
    let keys: Vec<Bson> = ids.iter().map(id_key).collect();
    let found: Vec<Document> = local
        .collection::<Document>(SYNC_HISTORY)
        .find(doc! { "collection": collection, "idKey": { "$in": keys } })
        .sort(doc! { "at": -1, "_id": -1 })
        .await
        .map_err(db_err("reading a document's versions"))?
        .try_collect()
        .await
        .map_err(db_err("reading a document's versions"))?;
    Ok(found
        .iter()
        .enumerate()
        .map(|(i, d)| version_of(i as u32 + 1, d))
        .collect())
}

fn version_of(number: u32, d: &Document) -> Version {
    let version = d.get_document("version").cloned().unwrap_or_default();
    let replaced_by = d.get_document("replacedBy").ok().cloned();
    Version {
        number,
        at: d
            .get_datetime("at")
            .map(|t| t.to_chrono())
            .unwrap_or_default(),
        run_id: d.get_object_id("runId").ok().map(|o| o.to_hex()),
        side: d.get_str("side").unwrap_or("local").to_string(),
        replaced: match d.get_str("replaced") {
            Ok("deleted") => Replaced::Deleted,
            Ok("restored") => Replaced::Restored,
            _ => Replaced::Overwritten,
        },
        changed_fields: changed_fields(&version, replaced_by.as_ref()),
        document: Bson::Document(version).into_relaxed_extjson(),
        replaced_by: replaced_by.map(|r| Bson::Document(r).into_relaxed_extjson()),
    }
}

/// The top-level fields in which `after` differs from `before` (every field when deleted),
/// TempleSync's own marks aside.
pub fn changed_fields(before: &Document, after: Option<&Document>) -> Vec<String> {
    let mut names: Vec<String> = before
        .keys()
        .chain(after.into_iter().flat_map(|a| a.keys()))
        .filter(|k| !BOOKKEEPING.contains(&k.as_str()) && k.as_str() != "_id")
        .cloned()
        .collect();
    names.sort();
    names.dedup();
    names.retain(|k| match after {
        None => true,
        Some(a) => !crate::content::same_value(before.get(k), a.get(k)),
    });
    names
}

/// Writes `version` back as this computer's document: a new local edit (`updatedAt` now,
/// still marked with its last sync so that it counts as changed), which the next sync sends
/// like any edit (and meets as a conflict if the cloud changed meanwhile). What it replaces
/// is kept in the history too. Answers the document as written.
pub(crate) async fn restore(
    local: &Database,
    collection: &str,
    version: &Document,
    now: DateTime<Utc>,
) -> Result<Document> {
    let coll = local.collection::<Document>(collection);
    let id = version.get("_id").cloned().unwrap_or(Bson::Null);
    let current = coll
        .find_one(doc! { "_id": id.clone() })
        .await
        .map_err(db_err("reading the document to restore over"))?;
    let mut restored = version.clone();
    for f in BOOKKEEPING {
        restored.remove(f);
    }
    restored.insert("updatedAt", to_bson(now));
    let synced_at = current
        .as_ref()
        .and_then(|c| c.get("syncedAt").cloned())
        .unwrap_or(Bson::Null);
    restored.insert("syncedAt", synced_at);
    restored.insert("syncStatus", "pending");
    if let Some(c) = &current {
        keep(
            local,
            None,
            now,
            vec![Kept {
                collection: collection.to_string(),
                side: Side::Local,
                version: c.clone(),
                replaced_by: Some(restored.clone()),
                why: Replaced::Restored,
            }],
        )
        .await?;
    }
    coll.replace_one(doc! { "_id": id }, restored.clone())
        .upsert(true)
        .await
        .map_err(db_err("writing the restored version"))?;
    Ok(restored)
}

/// The stored document of version `number` (1 the newest) among `versions`.
pub(crate) async fn stored(
    local: &Database,
    collection: &str,
    ids: &[Bson],
    number: u32,
) -> Result<Option<Document>> {
    let keys: Vec<Bson> = ids.iter().map(id_key).collect();
    let skip = u64::from(number.saturating_sub(1));
    let found = local
        .collection::<Document>(SYNC_HISTORY)
        .find(doc! { "collection": collection, "idKey": { "$in": keys } })
        .sort(doc! { "at": -1, "_id": -1 })
        .skip(skip)
        .limit(1)
        .await
        .map_err(db_err("reading a kept version"))?
        .try_next()
        .await
        .map_err(db_err("reading a kept version"))?;
    Ok(found.and_then(|d| d.get_document("version").ok().cloned()))
}

/// Drops versions older than `days`, then the oldest until the rest fit in `max_mb`.
/// Answers how many went.
pub(crate) async fn prune(
    local: &Database,
    days: u32,
    max_mb: u32,
    now: DateTime<Utc>,
) -> Result<u64> {
    let coll = local.collection::<Document>(SYNC_HISTORY);
    let cutoff = to_bson(now - chrono::Duration::days(i64::from(days)));
    let mut gone = coll
        .delete_many(doc! { "at": { "$lt": cutoff } })
        .await
        .map_err(db_err("removing old versions"))?
        .deleted_count;
    let limit = i64::from(max_mb) * 1024 * 1024;
    let total: i64 = coll
        .aggregate([doc! { "$group": { "_id": Bson::Null, "bytes": { "$sum": "$size" } } }])
        .await
        .map_err(db_err("measuring the kept versions"))?
        .try_next()
        .await
        .map_err(db_err("measuring the kept versions"))?
        .and_then(|d| match d.get("bytes") {
            Some(Bson::Int64(n)) => Some(*n),
            Some(Bson::Int32(n)) => Some(i64::from(*n)),
            Some(Bson::Double(n)) => Some(*n as i64),
            _ => None,
        })
        .unwrap_or(0);
    if total <= limit {
        return Ok(gone);
    }
    // Oldest first, until what is left fits.
    let mut over = total - limit;
    let mut oldest = coll
        .find(doc! {})
        .projection(doc! { "_id": 1, "size": 1 })
        .sort(doc! { "at": 1, "_id": 1 })
        .await
        .map_err(db_err("finding the oldest versions"))?;
    let mut ids = Vec::new();
    while over > 0
        && let Some(d) = oldest
            .try_next()
            .await
            .map_err(db_err("finding the oldest versions"))?
    {
        over -= d.get_i64("size").unwrap_or(0).max(1);
        ids.push(d.get("_id").cloned().unwrap_or(Bson::Null));
    }
    for chunk in ids.chunks(1000) {
        gone += coll
            .delete_many(doc! { "_id": { "$in": chunk.to_vec() } })
            .await
            .map_err(db_err("removing the oldest versions"))?
            .deleted_count;
    }
    Ok(gone)
}

/// What a run replaced here and in the cloud, one entry per document (this computer's
/// version first where the run replaced both), oldest first.
pub(crate) async fn of_run(local: &Database, run: ObjectId) -> Result<Vec<Document>> {
    let found: Vec<Document> = local
        .collection::<Document>(SYNC_HISTORY)
        .find(doc! { "runId": run })
        .sort(doc! { "at": 1, "_id": 1 })
        .await
        .map_err(db_err("reading what a run replaced"))?
        .try_collect()
        .await
        .map_err(db_err("reading what a run replaced"))?;
    let mut seen = std::collections::HashSet::new();
    let mut mine: Vec<Document> = Vec::new();
    // This computer's versions first: where the run replaced both, the one here is what it
    // was here before.
    for side in ["local", "cloud"] {
        for d in found.iter().filter(|d| d.get_str("side") == Ok(side)) {
            let key = (
                d.get_str("collection").unwrap_or_default().to_string(),
                d.get("idKey").cloned().map(|k| format!("{k:?}")),
            );
            if seen.insert(key) {
                mine.push(d.clone());
            }
        }
    }
    Ok(mine)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_fields_name_what_differs_without_the_sync_marks() {
        let before = doc! { "_id": 1, "name": "Puja", "slot": "10am", "syncedAt": 1, "syncStatus": "synced" };
        let after = doc! { "_id": 1, "name": "Puja", "slot": "11am", "people": 3, "syncedAt": 2 };
        assert_eq!(changed_fields(&before, Some(&after)), ["people", "slot"]);
        assert_eq!(changed_fields(&before, None), ["name", "slot"]);
        let same_number = doc! { "_id": 1, "n": 1 };
        let as_double = doc! { "_id": 1, "n": 1.0 };
        assert_eq!(
            changed_fields(&same_number, Some(&as_double)),
            ["n"],
            "1 and 1.0 are different values to store (only ids are one)"
        );
    }

    #[test]
    fn an_id_is_looked_for_as_each_type_a_person_may_mean() {
        let ids = ids_meant("6b0f00000000000000000001");
        assert!(ids.iter().any(|b| matches!(b, Bson::ObjectId(_))));
        assert!(ids.iter().any(|b| matches!(b, Bson::String(_))));
        let ids = ids_meant("17");
        assert!(ids.contains(&Bson::Int64(17)) && ids.contains(&Bson::String("17".into())));
        assert_eq!(IdKey::of(&Bson::Int64(17)), IdKey::of(&Bson::Int32(17)));
        assert_eq!(ids_meant("Puja").len(), 1);
    }
}
