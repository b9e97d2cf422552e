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
            (Some(n), 1) => format!("there is no version {n}: the history keeps 1 version of it"),
            (Some(n), c) => format!("there is no version {n}: the history keeps versions 1 (the newest) to {c}"),
            (None, _) => "no version".to_string(),
        },
    }
}
