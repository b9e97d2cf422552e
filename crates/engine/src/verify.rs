//! Do both sides hold the same? A check by content that changes nothing (or, asked to, lists
//! the documents that differ for the next sync to look at).
//!
//! Each side is read once, in `_id` order; a document is reduced to a hash of its content
//! (TempleSync's bookkeeping fields aside), so memory grows with the number of documents, not
//! their size.

use std::collections::BTreeMap;

use bson::{Bson, Document, doc};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use mongodb::Collection;
use serde::Serialize;

use crate::content::{IdKey, content_hash, display_id};
use crate::error::{Error, Result, Side};
use crate::store::Databases;

/// How many ids of each kind a report names (the counts are always whole).
const LISTED: usize = 20;

/// One collection compared.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CollectionCheck {
    pub collection: String,
    pub local_count: u64,
    pub remote_count: u64,
    /// Documents only on this computer: how many, and the first few ids.
    pub only_local: u64,
    pub only_local_ids: Vec<String>,
    pub only_remote: u64,
    pub only_remote_ids: Vec<String>,
    /// Documents on both sides whose content differs.
    pub different: u64,
    pub different_ids: Vec<String>,
    pub matches: bool,
}

/// What `verify` found.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    pub checked_at: DateTime<Utc>,
    pub matches: bool,
    pub collections: Vec<CollectionCheck>,
    /// Documents listed for the next sync (`--repair`); 0 when not asked.
    pub queued: u64,
    /// The verdict in plain words.
    pub summary: String,
}

type Hashes = BTreeMap<IdKey, (Bson, String)>;

async fn hashes(coll: &Collection<Document>, side: Side) -> Result<Hashes> {
    let what = "reading documents to compare";
    let mut cursor = coll
        .find(doc! {})
        .await
        .map_err(|e| Error::db(side, what, &e))?;
    let mut out = BTreeMap::new();
    while let Some(d) = cursor
        .try_next()
        .await
        .map_err(|e| Error::db(side, what, &e))?
    {
        if let Some(id) = d.get("_id") {
            out.insert(IdKey::of(id), (id.clone(), content_hash(&d)));
        }
    }
    Ok(out)
}

/// Compares two sides' hashes. Pure. Returns the check and the ids that differ in any way.
pub(crate) fn compare(name: &str, local: &Hashes, remote: &Hashes) -> (CollectionCheck, Vec<Bson>) {
    let (mut only_l, mut only_r, mut diff) = (Vec::new(), Vec::new(), Vec::new());
    for (k, (id, h)) in local {
        match remote.get(k) {
            None => only_l.push(id.clone()),
            Some((_, rh)) if rh != h => diff.push(id.clone()),
            Some(_) => {}
        }
    }
    for (k, (id, _)) in remote {
        if !local.contains_key(k) {
            only_r.push(id.clone());
        }
    }
    let names = |v: &[Bson]| v.iter().take(LISTED).map(display_id).collect();
    let check = CollectionCheck {
        collection: name.to_string(),
        local_count: local.len() as u64,
        remote_count: remote.len() as u64,
        only_local: only_l.len() as u64,
        only_local_ids: names(&only_l),
        only_remote: only_r.len() as u64,
        only_remote_ids: names(&only_r),
        different: diff.len() as u64,
        different_ids: names(&diff),
        matches: only_l.is_empty() && only_r.is_empty() && diff.is_empty(),
    };
    let all = only_l.into_iter().chain(only_r).chain(diff).collect();
    (check, all)
}

/// The verdict in plain words.
pub(crate) fn summary(checks: &[CollectionCheck]) -> String {
    let off: Vec<&CollectionCheck> = checks.iter().filter(|c| !c.matches).collect();
    if off.is_empty() {
        return format!(
            "This computer and the cloud hold the same documents ({} collections checked).",
            checks.len()
        );
    }
    let parts: Vec<String> = off
        .iter()
        .map(|c| {
            format!(
                "{}: {} only here, {} only in the cloud, {} different",
                c.collection, c.only_local, c.only_remote, c.different
            )
        })
        .collect();
    format!(
        "This computer and the cloud differ. {}. A sync brings changes across; differences that stay after a quiet sync can be listed for the next sync with repair.",
        parts.join("; ")
    )
}

/// Compares `collections` on both sides; with `repair`, lists every id that differs in
/// `sync_dirty` for the next sync. Changes nothing else.
pub(crate) async fn run(
    dbs: &Databases,
    remote: &mongodb::Database,
    collections: &[String],
    repair: bool,
    now: DateTime<Utc>,
) -> Result<VerifyReport> {
    let mut checks = Vec::new();
    let mut queued = 0;
    for name in collections {
        let (here, cloud) = (dbs.local_coll(name), remote.collection(name));
        let (l, r) = tokio::try_join!(hashes(&here, Side::Local), hashes(&cloud, Side::Remote))?;
        let (check, ids) = compare(name, &l, &r);
        if repair && !ids.is_empty() {
            queued += ids.len() as u64;
            crate::conflicts::mark_dirty(dbs, name, &ids, now, false).await?;
        }
        checks.push(check);
    }
    Ok(VerifyReport {
        checked_at: now,
        matches: checks.iter().all(|c| c.matches),
        summary: summary(&checks),
        collections: checks,
        queued,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(docs: &[Document]) -> Hashes {
        docs.iter()
            .map(|d| {
                let id = d.get("_id").unwrap().clone();
                (IdKey::of(&id), (id, content_hash(d)))
            })
            .collect()
    }

    #[test]
    fn bookkeeping_fields_do_not_count_and_each_difference_is_named() {
        let l = side(&[
            doc! { "_id": 1, "n": 1, "syncStatus": "synced" },
            doc! { "_id": 2, "n": 2 },
            doc! { "_id": 3, "n": 3 },
        ]);
        let r = side(&[
            doc! { "_id": 1, "n": 1, "syncStatus": "pending" },
            doc! { "_id": 2, "n": 20 },
            doc! { "_id": 4, "n": 4 },
        ]);
        let (c, ids) = compare("bookings", &l, &r);
        assert!(!c.matches);
        assert_eq!((c.only_local, c.only_remote, c.different), (1, 1, 1));
        assert_eq!(c.only_local_ids, vec!["3"]);
        assert_eq!(c.only_remote_ids, vec!["4"]);
        assert_eq!(c.different_ids, vec!["2"]);
        assert_eq!(ids.len(), 3);
        let s = summary(&[c]);
        assert!(
            s.contains("differ") && s.contains("bookings: 1 only here"),
            "{s}"
        );
    }

    #[test]
    fn the_same_documents_match() {
        let l = side(&[doc! { "_id": 1.0, "n": 1 }]);
        let r = side(&[doc! { "_id": 1, "n": 1 }]);
        let (c, ids) = compare("x", &l, &r);
        assert!(
            c.matches && ids.is_empty(),
            "1.0 and 1 are one document: {c:?}"
        );
        assert!(summary(&[c]).starts_with("This computer and the cloud hold the same"));
    }
}
