//! A "local" and a "cloud" server, an engine over them, and helpers to read and write the
//! temple's documents on either side.

use std::sync::Arc;

use bson::{Bson, Document, doc};
use futures::TryStreamExt;
use mongodb::{Collection, Database};
use templesync_engine::clock::{Clock, SystemClock};
use templesync_engine::{Engine, Settings, StepHook, SyncConfig, SyncRequest, SyncRun};

use crate::{MongoServer, ServerOptions};

pub const DB: &str = "temple_db";

/// One office PC (a local server) and the cloud (a remote server), or more PCs.
pub struct Office {
    pub cloud: MongoServer,
    pub pcs: Vec<MongoServer>,
}

impl Office {
    /// The cloud and one office PC.
    pub async fn start() -> Office {
        Self::with_pcs(1).await
    }

    /// The cloud and `n` office PCs.
    pub async fn with_pcs(n: usize) -> Office {
        let opts = || ServerOptions::new().sync_on_commit();
        let mut starts = vec![MongoServer::start_with(opts())];
        for _ in 0..n {
            starts.push(MongoServer::start_with(opts()));
        }
        let mut servers = futures::future::try_join_all(starts)
            .await
            .expect("servers start");
        let cloud = servers.remove(0);
        Office {
            cloud,
            pcs: servers,
        }
    }

    pub fn settings(&self, pc: usize) -> Settings {
        self.settings_on(pc, DB)
    }

    /// The settings of PC `pc` for another database than [`DB`]: tests that share servers
    /// between cases give each case a database of its own.
    pub fn settings_on(&self, pc: usize, database: &str) -> Settings {
        Settings {
            local_url: self.pcs[pc].url(),
            remote_url: Some(self.cloud.url()),
            database: database.to_string(),
        }
    }

    /// The engine of PC `pc` over `settings` (e.g. [`settings_on`](Self::settings_on), or
    /// with the URLs of a [`crate::proxy::Proxy`]), with optional step hook.
    pub async fn engine_with(settings: Settings, hook: Option<StepHook>) -> Engine {
        let opts = templesync_engine::EngineOptions {
            hook,
            ..Default::default()
        };
        Engine::open_with(settings, opts)
            .await
            .expect("engine opens")
    }

    /// The engine of office PC `pc`.
    pub async fn engine(&self, pc: usize) -> Engine {
        Engine::open(self.settings(pc)).await.expect("engine opens")
    }

    /// The engine of PC `pc` as on a standalone `mongod`: local changes found by query.
    pub async fn engine_without_local_streams(&self, pc: usize, hook: Option<StepHook>) -> Engine {
        let opts = templesync_engine::EngineOptions {
            hook,
            no_local_change_streams: true,
            ..Default::default()
        };
        Engine::open_with(self.settings(pc), opts)
            .await
            .expect("engine opens")
    }

    pub async fn engine_with_hook(&self, pc: usize, hook: StepHook) -> Engine {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        Engine::open_with_hook(self.settings(pc), clock, hook)
            .await
            .expect("engine opens")
    }

    pub async fn local(&self, pc: usize) -> Database {
        self.pcs[pc].client().await.database(DB)
    }

    pub async fn remote(&self) -> Database {
        self.cloud.client().await.database(DB)
    }
}

/// Syncs and panics with the run's error if it failed.
pub async fn sync(engine: &Engine) -> SyncRun {
    engine
        .sync(SyncRequest::manual())
        .await
        .expect("sync completes")
}

/// Syncs until a run moves nothing (at most `max` runs); returns the runs.
pub async fn sync_until_quiet(engines: &[&Engine], max: usize) -> Vec<SyncRun> {
    let mut runs = Vec::new();
    for _ in 0..max {
        let mut moved = 0;
        for e in engines {
            let r = sync(e).await;
            moved += SyncRun::total(&r.local_to_remote) + SyncRun::total(&r.remote_to_local);
            runs.push(r);
        }
        if moved == 0 {
            return runs;
        }
    }
    panic!("still moving documents after {max} rounds of syncs: {runs:#?}");
}

pub async fn set_config(engine: &Engine, assignments: &[&str]) -> SyncConfig {
    let cfg = engine.config().await.unwrap();
    let next = cfg
        .with_assignments(
            &assignments
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>(),
        )
        .unwrap();
    engine.set_config(&next).await.unwrap()
}

/// All documents of a collection, by `_id`.
pub async fn all(db: &Database, coll: &str) -> Vec<Document> {
    db.collection::<Document>(coll)
        .find(doc! {})
        .sort(doc! { "_id": 1 })
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap()
}

pub async fn get(db: &Database, coll: &str, id: impl Into<Bson>) -> Option<Document> {
    db.collection::<Document>(coll)
        .find_one(doc! { "_id": id.into() })
        .await
        .unwrap()
}

pub fn coll(db: &Database, name: &str) -> Collection<Document> {
    db.collection(name)
}

/// The documents without the per-side bookkeeping fields, for comparing the two sides.
pub fn contents(docs: &[Document]) -> Vec<Document> {
    docs.iter()
        .map(templesync_engine::content::content)
        .collect()
}

/// Asserts that both databases hold the same content in `coll`.
pub async fn assert_same(a: &Database, b: &Database, coll: &str) {
    let (x, y) = (contents(&all(a, coll).await), contents(&all(b, coll).await));
    assert_eq!(
        x.len(),
        y.len(),
        "{coll}: different number of documents:\n{x:#?}\nvs\n{y:#?}"
    );
    for (dx, dy) in x.iter().zip(&y) {
        assert_eq!(
            bson::to_vec(dx).unwrap(),
            bson::to_vec(dy).unwrap(),
            "{coll}: documents differ byte for byte:\n{dx:#?}\nvs\n{dy:#?}"
        );
    }
}

/// A document as the Temple Management System writes it.
pub fn tms_doc(id: impl Into<Bson>, fields: Document) -> Document {
    let mut d = doc! { "_id": id.into() };
    d.extend(fields);
    d.insert("updatedAt", bson::DateTime::now());
    d.insert("syncedAt", Bson::Null);
    d.insert("origin", "local");
    d.insert("syncStatus", "pending");
    d
}

/// An edit as the Temple Management System makes it: `$set` plus a new `updatedAt`.
pub async fn tms_edit(db: &Database, coll: &str, id: impl Into<Bson>, set: Document) {
    let mut set = set;
    let id: Bson = id.into();
    // Strictly later than any earlier edit, even within the same millisecond.
    let prev = get(db, coll, id.clone()).await;
    let mut now = bson::DateTime::now();
    if let Some(Ok(t)) = prev.as_ref().map(|p| p.get_datetime("updatedAt"))
        && now <= *t
    {
        now = bson::DateTime::from_millis(t.timestamp_millis() + 1);
    }
    set.insert("updatedAt", now);
    assert!(prev.is_some(), "document to edit exists");
    let r = db
        .collection::<Document>(coll)
        .update_one(doc! { "_id": id }, doc! { "$set": set })
        .await
        .unwrap();
    assert_eq!(r.matched_count, 1);
}

/// Every collection of a database with its documents, as `mongodump` would keep them.
pub async fn dump(db: &Database) -> Vec<(String, Vec<Document>)> {
    let mut names = db.list_collection_names().await.unwrap();
    names.sort();
    let mut out = Vec::new();
    for n in names {
        out.push((n.clone(), all(db, &n).await));
    }
    out
}

/// Puts a database back as [`dump`] saw it (`mongorestore --drop`).
pub async fn restore(db: &Database, backup: &[(String, Vec<Document>)]) {
    db.drop().await.unwrap();
    for (name, docs) in backup {
        if !docs.is_empty() {
            coll(db, name).insert_many(docs.clone()).await.unwrap();
        }
    }
}
