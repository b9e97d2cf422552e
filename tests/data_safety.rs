//! Data safety against what people do and what real deployments hold: numeric ids of mixed
//! types, a cloud restored from a backup or swapped for another, a local collection emptied,
//! dropped or restored from an old dump, and mass deletes held for a person.

use bson::{Bson, Document, doc};
use templesync_engine::{RunStatus, SyncRun};
use templesync_tests::fixture::*;

async fn dirty_entries(db: &mongodb::Database) -> Vec<Document> {
    all(db, "sync_dirty").await
}

fn moved(run: &SyncRun) -> u64 {
    SyncRun::total(&run.local_to_remote) + SyncRun::total(&run.remote_to_local)
}

/// mongosh and Compass write `_id: 1` as a double; drivers and the TMS as integers. MongoDB
/// treats them as one document; comparing ids by their bytes wedged such a document in
/// `sync_dirty` for ever (an insert refused for its `_id`, retried every run).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numeric_ids_of_different_types_are_one_document() {
    let o = Office::start().await;
    let (l, r) = (o.local(0).await, o.remote().await);
    let same = bson::DateTime::now();
    let mut cloud_one = tms_doc(Bson::Int64(1), doc! { "name": "Puja" });
    cloud_one.insert("updatedAt", same);
    let mut here_one = tms_doc(Bson::Double(1.0), doc! { "name": "Puja" });
    here_one.insert("updatedAt", same);
    coll(&r, "bookings").insert_one(cloud_one).await.unwrap();
    coll(&l, "bookings").insert_one(here_one).await.unwrap();
    let mut cloud_two = tms_doc(Bson::Int32(2), doc! { "name": "Homa" });
    cloud_two.insert("updatedAt", same);
    let mut here_two = tms_doc(Bson::Double(2.0), doc! { "name": "Homa" });
    here_two.insert("updatedAt", same);
    coll(&r, "bookings").insert_one(cloud_two).await.unwrap();
    coll(&l, "bookings").insert_one(here_two).await.unwrap();

    let e = o.engine(0).await;
    let first = sync(&e).await;
    assert_eq!(first.status, RunStatus::Completed);
    assert!(first.errors.is_empty(), "{:?}", first.errors);
    assert!(
        dirty_entries(&l).await.is_empty(),
        "1.0 and NumberLong(1) are one document: nothing is left to recheck"
    );
    assert_eq!(
        all(&r, "bookings").await.len(),
        2,
        "no second copy in the cloud"
    );

    // An edit here reaches the cloud's document, whose `_id` keeps its type.
    tms_edit(
        &l,
        "bookings",
        Bson::Double(2.0),
        doc! { "name": "Rudra Homa" },
    )
    .await;
    let run = sync(&e).await;
    assert_eq!(run.local_to_remote["bookings"], 1);
    let cloud = get(&r, "bookings", 2).await.expect("cloud copy");
    assert_eq!(
        cloud.get("_id"),
        Some(&Bson::Int32(2)),
        "the cloud's _id type is kept"
    );
    assert_eq!(cloud.get_str("name").unwrap(), "Rudra Homa");

    // An edit in the cloud comes here, onto this computer's `1.0`.
    tms_edit(&r, "bookings", Bson::Int64(1), doc! { "name": "Maha Puja" }).await;
    let run = sync(&e).await;
    assert_eq!(run.remote_to_local["bookings"], 1);
    let here = get(&l, "bookings", 1).await.expect("local copy");
    assert_eq!(
        here.get("_id"),
        Some(&Bson::Double(1.0)),
        "this computer's _id type is kept"
    );
    assert_eq!(here.get_str("name").unwrap(), "Maha Puja");
    assert_eq!(all(&l, "bookings").await.len(), 2);

    let quiet = sync(&e).await;
    assert_eq!(moved(&quiet), 0, "in step: nothing moves any more");
    assert!(dirty_entries(&l).await.is_empty());
}
