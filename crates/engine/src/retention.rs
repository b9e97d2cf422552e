//! What is kept, and for how long: runs in `sync_logs` and settled conflicts for
//! `retentionDays`; the synced versions (bases) of a collection only while it is synced.

use bson::doc;
use chrono::{DateTime, Utc};

use crate::clock::to_bson;
use crate::config::SyncConfig;
use crate::error::{Error, Result, Side};
use crate::store::{BASE_PREFIX, CONFLICT_LOGS, Databases, SYNC_LOGS, SYNC_STATE};

fn err(what: &'static str) -> impl Fn(mongodb::error::Error) -> Error {
    move |e| Error::db(Side::Local, what, &e)
}

/// The collections whose bases go: those of collections outside a configured list. With no
/// list every collection is synced, so none go. Pure.
pub(crate) fn stale_bases(cfg: &SyncConfig, base_collections: &[String]) -> Vec<String> {
    if cfg.collections_to_sync.is_empty() {
        return Vec::new();
    }
    base_collections
        .iter()
        .filter(|b| {
            b.strip_prefix(BASE_PREFIX)
                .is_some_and(|name| !cfg.collections_to_sync.iter().any(|c| c == name))
        })
        .cloned()
        .collect()
}

pub(crate) async fn tidy(dbs: &Databases, cfg: &SyncConfig, now: DateTime<Utc>) -> Result<()> {
    let cutoff = to_bson(now - chrono::Duration::days(cfg.retention_days as i64));
    dbs.local_coll(SYNC_LOGS)
        .delete_many(doc! { "status": { "$ne": "running" }, "startTime": { "$lt": cutoff } })
        .await
        .map_err(err("removing old runs"))?;
    dbs.local_coll(CONFLICT_LOGS)
        .delete_many(doc! { "resolved": true, "resolvedAt": { "$lt": cutoff } })
        .await
        .map_err(err("removing old settled conflicts"))?;
    let gone = crate::history::prune(&dbs.local, cfg.history_days, cfg.history_max_mb, now).await?;
    if gone > 0 {
        tracing::info!(versions = gone, "old versions removed from the history");
    }
    let names = dbs
        .local
        .list_collection_names()
        .await
        .map_err(err("listing synced collections"))?;
    for base in stale_bases(cfg, &names) {
        // Synced again later, the collection starts as a first sync: nothing is deleted on
        // the evidence of versions this old.
        let name = base.trim_start_matches(BASE_PREFIX).to_string();
        dbs.local_coll(&base).drop().await.map_err(err(
            "removing synced versions of a collection no longer synced",
        ))?;
        dbs.local_coll(SYNC_STATE)
            .delete_many(doc! { "_id": format!("checkpoint:{name}") })
            .await
            .map_err(err(
                "removing the checkpoint of a collection no longer synced",
            ))?;
        tracing::info!(collection = %name, "synced versions removed: the collection is no longer synced");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bases_of_collections_outside_the_list_go() {
        let names = [
            "sync_base.admins",
            "sync_base.events",
            "admins",
            "sync_logs",
        ]
        .map(String::from)
        .to_vec();
        let all = SyncConfig::default();
        assert!(
            stale_bases(&all, &names).is_empty(),
            "no list: every collection is synced"
        );
        let some = SyncConfig {
            collections_to_sync: vec!["admins".into()],
            ..SyncConfig::default()
        };
        assert_eq!(stale_bases(&some, &names), vec!["sync_base.events"]);
    }
}
