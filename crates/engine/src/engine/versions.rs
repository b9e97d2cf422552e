//! A person's look at what syncs replaced, and taking a version back
//! ([`crate::history`] keeps them).

use super::*;
use crate::history::{self, Version};
use bson::Bson;

/// What `restore` did.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Restored {
    pub collection: String,
    pub id: String,
    pub version: u32,
    /// The document as now written here (a local edit the next sync sends).
    pub document: serde_json::Value,
}

impl Engine {
    /// The versions of `collection`'s document `id` that syncs on this computer replaced,
    /// newest first (numbered from 1). `id` as a person types it: an ObjectId's hex, a number
    /// or a string.
    pub async fn history(&self, collection: &str, id: &str) -> Result<Vec<Version>> {
        self.check_known(collection).await?;
        let dbs = &self.inner.dbs;
        let versions = history::versions(&dbs.local, collection, &history::ids_meant(id)).await?;
        if versions.is_empty() {
            return Err(no_version(collection, id, None, 0));
        }
        Ok(versions)
    }

    /// Writes version `number` of the document back here as a new local edit.
    pub async fn restore(&self, collection: &str, id: &str, number: u32) -> Result<Restored> {
        self.check_known(collection).await?;
        let dbs = &self.inner.dbs;
        let ids = history::ids_meant(id);
        let count = history::versions(&dbs.local, collection, &ids).await?.len() as u32;
        if number == 0 || number > count {
            return Err(no_version(collection, id, Some(number), count));
        }
        let version = history::stored(&dbs.local, collection, &ids, number)
            .await?
            .ok_or_else(|| no_version(collection, id, Some(number), count))?;
        let written = history::restore(&dbs.local, collection, &version, self.now()).await?;
        tracing::info!(
            collection,
            id,
            version = number,
            "version restored as a local edit"
        );
        Ok(Restored {
            collection: collection.to_string(),
            id: id.to_string(),
            version: number,
            document: Bson::Document(written).into_relaxed_extjson(),
        })
    }

    /// `collection` is one this computer's database has (or had: its history may outlive it).
    async fn check_known(&self, collection: &str) -> Result<()> {
        let dbs = &self.inner.dbs;
        let names = runs::list_names(dbs, &dbs.local, Side::Local).await?;
        let in_history = dbs
            .local_coll(crate::store::SYNC_HISTORY)
            .find_one(doc! { "collection": collection })
            .await
            .map_err(|e| Error::db(Side::Local, "reading the history", &e))?
            .is_some();
        if store::is_bookkeeping(collection)
            || (!names.iter().any(|n| n == collection) && !in_history)
        {
            let known: Vec<String> = names
                .into_iter()
                .filter(|n| !store::is_bookkeeping(n))
                .collect();
            return Err(Error::UnknownCollection {
                name: collection.to_string(),
                known: known.join(", "),
            });
        }
        Ok(())
    }
}

fn no_version(collection: &str, id: &str, number: Option<u32>, count: u32) -> Error {
    Error::VersionNotFound {
        collection: collection.to_string(),
        id: id.to_string(),
        reason: match (number, count) {
            (_, 0) => "this computer's history holds no version of it (a version is kept when a sync overwrites or deletes a document, for historyDays days)".to_string(),
            (Some(n), 1) => format!("there is no version {n}; the history keeps 1 version of it"),
            (Some(n), c) => format!("there is no version {n}; the history keeps versions 1 (the newest) to {c}"),
            (None, _) => "no version".to_string(),
        },
    }
}

/// One document an undo of a run brings back.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct UndoItem {
    pub collection: String,
    pub id: String,
    /// What the run did to it: `overwritten` or `deleted`, here (`local`) or in the cloud.
    pub side: String,
    pub replaced: history::Replaced,
}

/// What undoing a run does (or did).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct UndoRun {
    pub run_id: String,
    /// False for a preview (`--dry-run`): nothing was changed.
    pub done: bool,
    pub items: Vec<UndoItem>,
}

impl Engine {
    /// Takes a run back: every document it overwrote or deleted here, and every cloud
    /// version its pushes replaced, is written here as a new local edit, which the next sync
    /// sends on. `dry_run` only lists what it would do.
    pub async fn undo_run(&self, run_id: &str, dry_run: bool) -> Result<UndoRun> {
        let dbs = &self.inner.dbs;
        let not_found = || Error::RunNotFound {
            id: run_id.to_string(),
        };
        let oid = bson::oid::ObjectId::parse_str(run_id.trim()).map_err(|_| not_found())?;
        let run = dbs
            .local_coll(SYNC_LOGS)
            .find_one(doc! { "_id": oid })
            .await
            .map_err(|e| Error::db(Side::Local, "reading the run", &e))?
            .ok_or_else(not_found)?;
        if run.get_str("status") == Ok("running") {
            return Err(Error::RunStillGoing {
                id: run_id.to_string(),
            });
        }
        let kept = history::of_run(&dbs.local, oid).await?;
        let items: Vec<UndoItem> = kept
            .iter()
            .map(|d| UndoItem {
                collection: d.get_str("collection").unwrap_or_default().to_string(),
                id: crate::content::display_id(d.get("docId").unwrap_or(&Bson::Null)),
                side: d.get_str("side").unwrap_or("local").to_string(),
                replaced: if d.get_str("replaced") == Ok("deleted") {
                    history::Replaced::Deleted
                } else {
                    history::Replaced::Overwritten
                },
            })
            .collect();
        if !dry_run {
            for d in &kept {
                let (Ok(collection), Ok(version)) =
                    (d.get_str("collection"), d.get_document("version"))
                else {
                    continue;
                };
                history::restore(&dbs.local, collection, version, self.now()).await?;
            }
            tracing::info!(
                run = run_id,
                documents = items.len(),
                "run undone as local edits"
            );
        }
        Ok(UndoRun {
            run_id: run_id.to_string(),
            done: !dry_run,
            items,
        })
    }
}
