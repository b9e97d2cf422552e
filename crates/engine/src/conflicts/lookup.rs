//! The reads a decision needs, made before planning: what both sides hold now, whether a
//! value is free, a free value to suggest. Reads only; the planner decides.

use bson::{Bson, Document, doc};
use rand::Rng;

use super::Resolution;
use super::log::local_err;
use super::plan::{Current, unique_new_value};
use super::record::ConflictRecord;
use crate::content::{get_path, key_path};
use crate::error::{Result, Side};
use crate::store::Databases;

/// How long a decision waits for the cloud's copy before deciding on what was seen.
const CLOUD_LOOK: std::time::Duration = std::time::Duration::from_secs(4);

async fn local_doc(dbs: &Databases, collection: &str, id: &Bson) -> Result<Option<Document>> {
    dbs.local_coll(collection)
        .find_one(doc! { "_id": id.clone() })
        .await
        .map_err(local_err("reading the document"))
}

/// The cloud's copy of a document, or `None` when the cloud does not answer in a few
/// seconds (offline: the next sync flags a later cloud change).
async fn cloud_copy(dbs: &Databases, collection: &str, id: &Bson) -> Option<Option<Document>> {
    dbs.remote.as_ref()?;
    let look = async {
        dbs.remote()
            .await?
            .collection::<Document>(collection)
            .find_one(doc! { "_id": id.clone() })
            .await
            .map_err(|e| dbs.classify(Side::Remote, "reading the cloud document", &e))
    };
    match tokio::time::timeout(CLOUD_LOOK, look).await {
        Ok(Ok(now)) => Some(now),
        _ => None,
    }
}

/// What both sides hold now, as far as deciding `r` on `rec` needs it.
pub(super) async fn current(
    dbs: &Databases,
    id: &str,
    rec: &ConflictRecord,
    r: &Resolution,
) -> Result<Current> {
    // A settled conflict is refused, and a hold is decided on its record alone.
    if rec.resolved || rec.kind == Some(super::ConflictKind::Bulk) {
        return Ok(Current::default());
    }
    let collection = rec.collection.as_str();
    let (local_id, remote_id) = (rec.local_id(), rec.remote_id());
    let mut cur = Current {
        local: local_doc(dbs, collection, &local_id).await?,
        ..Current::default()
    };
    if super::plan::moved_on(rec, &cur).is_some() {
        return Ok(cur);
    }
    match rec.kind {
        Some(super::ConflictKind::Unique) => unique_facts(dbs, id, rec, r, &mut cur).await?,
        _ if !matches!(remote_id, Bson::Null) => {
            cur.remote = cloud_copy(dbs, collection, &remote_id).await;
        }
        _ => {}
    }
    Ok(cur)
}

/// A unique conflict's facts: the local document's synced version, this computer's copy of
/// the value's holder, a suggestion for a rename given no value, and whether the value the
/// decision would write is free.
async fn unique_facts(
    dbs: &Databases,
    id: &str,
    rec: &ConflictRecord,
    r: &Resolution,
    cur: &mut Current,
) -> Result<()> {
    let Some(local) = cur.local.clone() else {
        return Ok(());
    };
    let collection = rec.collection.as_str();
    let local_id = rec.local_id();
    cur.synced = dbs
        .base_coll(collection)
        .find_one(doc! { "_id": local_id.clone() })
        .await
        .map_err(local_err("reading the synced version"))?
        .and_then(|b| b.get_document("doc").ok().cloned());
    cur.holder_here = local_doc(dbs, collection, &rec.remote_id()).await?;
    let (field, _) = rec.rename_target();
    let wants_suggestion = r.value.is_none()
        && r.strategy == super::Strategy::RenameLocal
        && !matches!(rec.suggested_value, Some(Bson::String(_)));
    if wants_suggestion && let Some(Bson::String(taken)) = get_path(&local, &key_path(&field)) {
        cur.suggestion = suggest_free_value(dbs, collection, &field, taken).await?;
    }
    // A value the planner refuses anyway is not looked up (offline, it would fail instead).
    if let Ok(Some(v)) = unique_new_value(id, rec, &local, r, cur.suggestion.as_deref()) {
        cur.value_taken = !value_is_free(dbs, collection, &field, &v, Some(&local_id)).await?;
    }
    Ok(())
}

/// A value such as `john_admin_a7k2` that neither side holds in that field.
pub(crate) async fn suggest_free_value(
    dbs: &Databases,
    collection: &str,
    field: &str,
    taken: &str,
) -> Result<Option<String>> {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    for _ in 0..8 {
        let suffix: String = {
            let mut rng = rand::rng();
            (0..4)
                .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
                .collect()
        };
        let candidate = format!("{taken}_{suffix}");
        let value = Bson::String(candidate.clone());
        if value_is_free(dbs, collection, field, &value, None).await? {
            return Ok(Some(candidate));
        }
    }
    Ok(None)
}

/// Whether no document but `except` holds `value` in `field`, on either side.
async fn value_is_free(
    dbs: &Databases,
    collection: &str,
    field: &str,
    value: &Bson,
    except: Option<&Bson>,
) -> Result<bool> {
    let mut filter = doc! { field: value.clone() };
    if let Some(id) = except {
        filter.insert("_id", doc! { "$ne": id.clone() });
    }
    let local = dbs
        .local_coll(collection)
        .find_one(filter.clone())
        .await
        .map_err(local_err("checking a value here"))?;
    if local.is_some() {
        return Ok(false);
    }
    let remote = dbs
        .remote()
        .await?
        .collection::<Document>(collection)
        .find_one(filter)
        .await
        .map_err(|e| dbs.classify(Side::Remote, "checking a value in the cloud", &e))?;
    Ok(remote.is_none())
}

/// Auto-resolve's facts on a unique conflict: the cloud's holder of the value now, and this
/// computer's document.
pub(super) async fn holder_and_local(
    dbs: &Databases,
    rec: &ConflictRecord,
) -> Result<(Option<Document>, Option<Document>)> {
    let holder = dbs
        .remote()
        .await?
        .collection::<Document>(&rec.collection)
        .find_one(doc! { "_id": rec.remote_id() })
        .await
        .map_err(|e| dbs.classify(Side::Remote, "reading the cloud document", &e))?;
    let local = local_doc(dbs, &rec.collection, &rec.local_id()).await?;
    Ok((holder, local))
}
