//! Which cloud, and which point in its history, this computer's synced versions belong to.
//!
//! The bases (`sync_base.*`) say what the cloud held after the last sync. Read against another
//! cloud (the URL pointed at a new cluster) or against the same cloud restored from a backup,
//! "same as the base here, absent in the cloud" looks like a cloud delete and "same as the
//! base here, different in the cloud" like a cloud edit: the office's newer data would be
//! deleted or reverted on every PC. So the cloud database holds an identity record
//! ([`CLOUD_IDENTITY`]: a random id and a generation that every run moves forward, at its
//! start and at its end), and this computer keeps a copy (`sync_state`, `_id: "cloud"`). A run
//! starts only when the cloud's id is the one known here and its generation has not gone
//! backwards; otherwise it stops before reading or writing any document and a person chooses
//! ([`CloudChoice`]).
//!
//! Several PCs share one cloud: each moves the same generation forward and remembers the value
//! it saw last, so a restore to a point before any PC's last run is seen by that PC.

use bson::{Bson, Document, doc};
use chrono::{DateTime, Utc};
use mongodb::Database;
use mongodb::options::ReturnDocument;

use crate::clock::to_bson;
use crate::error::{Error, Result, Side};
use crate::store::{BASE_PREFIX, CLOUD_IDENTITY, Databases, SYNC_STATE};

const LOCAL_COPY_ID: &str = "cloud";
const CLOUD_DOC_ID: &str = "identity";

/// What a person decided about a cloud that is not the one this computer last synced with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CloudChoice {
    /// Treat this cloud as new: forget what was synced, so that the next sync sends this
    /// computer's documents and brings the cloud's, deleting nothing on either side (a
    /// document that differs on the two sides becomes a conflict).
    SendLocal,
    /// Accept the cloud as it is now: keep what was synced, so that the next sync treats the
    /// cloud's state as changes (documents it no longer has are removed here, unless edited
    /// here since, which become conflicts). Large deletions are still held for a person.
    AcceptCloud,
}

impl std::str::FromStr for CloudChoice {
    type Err = Error;
    fn from_str(s: &str) -> Result<CloudChoice> {
        match s {
            "send_local" => Ok(CloudChoice::SendLocal),
            "accept_cloud" => Ok(CloudChoice::AcceptCloud),
            other => Err(Error::InvalidConfig {
                field: "choice".into(),
                reason: format!("'{other}' is not a choice: use send_local or accept_cloud"),
            }),
        }
    }
}

/// Why the cloud is not the one the bases were made against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Mismatch {
    /// The cloud has no identity record: a new (or emptied) cluster, or another one.
    Unknown,
    /// Another TempleSync cloud.
    Other,
    /// The same cloud, at an earlier point of its history (restored from a backup).
    WentBack { seen: i64, now: i64 },
}

impl Mismatch {
    fn describe(&self) -> String {
        match self {
            Mismatch::Unknown => "The cloud database is not the one this computer last synced with: it has no record of earlier syncs (a new or emptied cluster, or the connection now points to another one)".into(),
            Mismatch::Other => "The cloud database is not the one this computer last synced with: it belongs to another TempleSync set-up (the connection now points to another cluster)".into(),
            Mismatch::WentBack { seen, now } => format!(
                "The cloud database went back in time: it is at an earlier point than this computer's last sync (sync number {now}, this computer saw {seen}); it was probably restored from a backup"
            ),
        }
    }
}

/// The decision of [`check`], pure: the cloud's identity record and this computer's copy.
pub(crate) fn compare(
    cloud: Option<&Document>,
    here: Option<&Document>,
    synced_before: bool,
) -> std::result::Result<(), Mismatch> {
    let id = |d: &Document| d.get_str("cloudId").ok().map(str::to_string);
    let generation = |d: &Document| d.get_i64("generation").unwrap_or(0);
    match (cloud, here) {
        // Nothing known here: a new PC, or the first run since this check exists. With
        // nothing synced there is nothing to lose; otherwise the cloud is taken as it is.
        (_, None) => Ok(()),
        (None, Some(_)) if !synced_before => Ok(()),
        (None, Some(_)) => Err(Mismatch::Unknown),
        (Some(c), Some(h)) if id(c) != id(h) => {
            if synced_before {
                Err(Mismatch::Other)
            } else {
                Ok(())
            }
        }
        (Some(c), Some(h)) if generation(c) < generation(h) && synced_before => {
            Err(Mismatch::WentBack {
                seen: generation(h),
                now: generation(c),
            })
        }
        _ => Ok(()),
    }
}

fn local_err(what: &'static str) -> impl Fn(mongodb::error::Error) -> Error {
    move |e| Error::db(Side::Local, what, &e)
}

fn remote_err(what: &'static str) -> impl Fn(mongodb::error::Error) -> Error {
    move |e| Error::db(Side::Remote, what, &e)
}

async fn read_pair(
    dbs: &Databases,
    remote: &Database,
) -> Result<(Option<Document>, Option<Document>)> {
    let cloud = remote
        .collection::<Document>(CLOUD_IDENTITY)
        .find_one(doc! { "_id": CLOUD_DOC_ID })
        .await
        .map_err(remote_err("reading the cloud's identity"))?;
    let here = dbs
        .local_coll(SYNC_STATE)
        .find_one(doc! { "_id": LOCAL_COPY_ID })
        .await
        .map_err(local_err("reading the cloud's identity"))?;
    Ok((cloud, here))
}

/// The collections of synced versions (`sync_base.*`) here.
async fn base_collections(dbs: &Databases) -> Result<Vec<String>> {
    dbs.local
        .list_collection_names()
        .filter(doc! { "name": { "$regex": format!("^{}", regex_escape(BASE_PREFIX)) } })
        .await
        .map_err(local_err("listing synced collections"))
}

/// Whether anything was ever synced here (any collection has synced versions).
async fn synced_before(dbs: &Databases) -> Result<bool> {
    for name in base_collections(dbs).await? {
        let n = dbs
            .local_coll(&name)
            .estimated_document_count()
            .await
            .map_err(local_err("counting synced documents"))?;
        if n > 0 {
            return Ok(true);
        }
    }
    Ok(false)
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = ".^$*+?()[]{}|\\".contains(c);
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}

/// Checks the cloud before a run touches any document, then moves its generation forward.
pub(crate) async fn check(dbs: &Databases, remote: &Database, now: DateTime<Utc>) -> Result<()> {
    let (cloud, here) = read_pair(dbs, remote).await?;
    // Whether anything was synced matters only when the cloud looks changed: asked then.
    let verdict = match compare(cloud.as_ref(), here.as_ref(), true) {
        Err(_) => compare(cloud.as_ref(), here.as_ref(), synced_before(dbs).await?),
        ok => ok,
    };
    if let Err(m) = verdict {
        tracing::warn!(
            ?m,
            "the cloud is not the one the synced versions belong to; run held"
        );
        return Err(Error::CloudChanged { what: m.describe() });
    }
    advance(dbs, remote, now, cloud.is_none()).await
}

/// Moves the cloud's generation forward (creating its identity if it has none) and keeps the
/// new value here. Called at a run's start and end: a backup taken during a run has an
/// earlier generation than the one this computer keeps after it.
pub(crate) async fn advance(
    dbs: &Databases,
    remote: &Database,
    now: DateTime<Utc>,
    create: bool,
) -> Result<()> {
    let ids = remote.collection::<Document>(CLOUD_IDENTITY);
    let mut update =
        doc! { "$inc": { "generation": 1_i64 }, "$set": { "lastRunAt": to_bson(now) } };
    if create {
        update.insert(
            "$setOnInsert",
            doc! { "cloudId": bson::oid::ObjectId::new().to_hex(), "createdAt": to_bson(now) },
        );
    }
    let write = || {
        ids.find_one_and_update(doc! { "_id": CLOUD_DOC_ID }, update.clone())
            .upsert(create)
            .return_document(ReturnDocument::After)
    };
    // Two PCs creating the record at the same moment: the second finds it made.
    let after = match write().await {
        Err(e) if create && crate::error::server_code(&e) == Some(11000) => write().await,
        r => r,
    }
    .map_err(remote_err("recording this sync in the cloud"))?;
    let Some(after) = after else {
        // The record went away between the check and now: the next run's check says so.
        return Ok(());
    };
    keep_copy(dbs, &after, now).await
}

async fn keep_copy(dbs: &Databases, cloud: &Document, now: DateTime<Utc>) -> Result<()> {
    let copy = doc! {
        "cloudId": cloud.get("cloudId").cloned().unwrap_or(Bson::Null),
        "generation": cloud.get_i64("generation").unwrap_or(0),
        "seenAt": to_bson(now),
    };
    dbs.local_coll(SYNC_STATE)
        .update_one(doc! { "_id": LOCAL_COPY_ID }, doc! { "$set": copy })
        .upsert(true)
        .await
        .map_err(local_err("keeping the cloud's identity"))?;
    Ok(())
}

/// Carries out a person's choice about a changed cloud. The caller holds the run lock.
pub(crate) async fn choose(
    dbs: &Databases,
    remote: &Database,
    choice: CloudChoice,
    now: DateTime<Utc>,
) -> Result<()> {
    // Either way the change history of the old cloud means nothing here: the next run reads
    // both sides in full once.
    dbs.local_coll(SYNC_STATE)
        .delete_many(doc! { "_id": { "$regex": "^checkpoint:" } })
        .await
        .map_err(local_err("forgetting the old cloud's change history"))?;
    if choice == CloudChoice::SendLocal {
        for name in base_collections(dbs).await? {
            dbs.local_coll(&name)
                .drop()
                .await
                .map_err(local_err("forgetting what was synced with the old cloud"))?;
        }
    }
    let (cloud, here) = read_pair(dbs, remote).await?;
    if let Err(Mismatch::WentBack { .. }) = compare(cloud.as_ref(), here.as_ref(), true) {
        // The cloud's own history went back: it gets a new id, so that every other PC that
        // synced with it before the restore is asked too, however far the generation has
        // moved on by then (a PC that was off for a week would otherwise see a generation
        // past its own and trust its synced versions against the restored cloud).
        remint(remote, now).await?;
    }
    advance(dbs, remote, now, cloud.is_none()).await?;
    tracing::info!(
        ?choice,
        "the person's choice about the cloud is carried out"
    );
    Ok(())
}

/// Gives the cloud a new id (keeping the old one beside it), after its history went back.
async fn remint(remote: &Database, now: DateTime<Utc>) -> Result<()> {
    let ids = remote.collection::<Document>(CLOUD_IDENTITY);
    let Some(old) = ids
        .find_one(doc! { "_id": CLOUD_DOC_ID })
        .await
        .map_err(remote_err("reading the cloud's identity"))?
    else {
        return Ok(());
    };
    let set = doc! {
        "cloudId": bson::oid::ObjectId::new().to_hex(),
        "previousCloudId": old.get("cloudId").cloned().unwrap_or(Bson::Null),
        "restoredSeenAt": to_bson(now),
    };
    ids.update_one(doc! { "_id": CLOUD_DOC_ID }, doc! { "$set": set })
        .await
        .map_err(remote_err("recording the cloud's new identity"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, generation: i64) -> Document {
        doc! { "cloudId": id, "generation": generation }
    }

    #[test]
    fn the_same_cloud_at_or_past_the_known_point_syncs() {
        assert_eq!(
            compare(Some(&rec("a", 5)), Some(&rec("a", 5)), true),
            Ok(())
        );
        // Another PC moved it forward meanwhile.
        assert_eq!(
            compare(Some(&rec("a", 9)), Some(&rec("a", 5)), true),
            Ok(())
        );
    }

    #[test]
    fn a_cloud_restored_to_an_earlier_point_is_held() {
        assert_eq!(
            compare(Some(&rec("a", 3)), Some(&rec("a", 5)), true),
            Err(Mismatch::WentBack { seen: 5, now: 3 })
        );
    }

    #[test]
    fn a_new_or_other_cloud_is_held_once_something_was_synced() {
        assert_eq!(
            compare(None, Some(&rec("a", 5)), true),
            Err(Mismatch::Unknown)
        );
        assert_eq!(
            compare(Some(&rec("b", 50)), Some(&rec("a", 5)), true),
            Err(Mismatch::Other)
        );
        // Nothing synced here yet: nothing to lose, the cloud is taken as it is.
        assert_eq!(compare(None, Some(&rec("a", 5)), false), Ok(()));
        assert_eq!(
            compare(Some(&rec("b", 1)), Some(&rec("a", 5)), false),
            Ok(())
        );
    }

    #[test]
    fn a_first_run_takes_the_cloud_it_finds() {
        assert_eq!(compare(None, None, true), Ok(()));
        assert_eq!(compare(Some(&rec("a", 3)), None, true), Ok(()));
    }

    #[test]
    fn choices_parse_and_a_wrong_one_is_named() {
        assert_eq!(
            "send_local".parse::<CloudChoice>().unwrap(),
            CloudChoice::SendLocal
        );
        assert_eq!(
            "accept_cloud".parse::<CloudChoice>().unwrap(),
            CloudChoice::AcceptCloud
        );
        let e = "keep".parse::<CloudChoice>().unwrap_err().to_string();
        assert!(e.contains("'keep'") && e.contains("send_local"), "{e}");
    }
}
