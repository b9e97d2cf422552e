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

/// Every collection of a database with its documents, as `mongodump` would keep them.
async fn dump(db: &mongodb::Database) -> Vec<(String, Vec<Document>)> {
    let mut names = db.list_collection_names().await.unwrap();
    names.sort();
    let mut out = Vec::new();
    for n in names {
        out.push((n.clone(), all(db, &n).await));
    }
    out
}

/// Puts a database back as `dump` saw it (`mongorestore --drop`).
async fn restore(db: &mongodb::Database, backup: &[(String, Vec<Document>)]) {
    db.drop().await.unwrap();
    for (name, docs) in backup {
        if !docs.is_empty() {
            coll(db, name).insert_many(docs.clone()).await.unwrap();
        }
    }
}

/// The office's own data, byte for byte (TempleSync's collections aside).
async fn office_data(db: &mongodb::Database) -> Vec<(String, Vec<Document>)> {
    dump(db)
        .await
        .into_iter()
        .filter(|(n, _)| !templesync_engine::store::is_bookkeeping(n))
        .collect()
}

async fn sync_once(e: &templesync_engine::Engine) -> SyncRun {
    e.sync(templesync_engine::SyncRequest::manual())
        .await
        .expect("the run starts")
}

/// Atlas restores a cluster from last night's backup: the office's newer data must not be
/// deleted or reverted on the evidence of the older cloud.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloud_restored_from_a_backup_holds_the_run_until_a_person_chooses() {
    let o = Office::start().await;
    let (l, r) = (o.local(0).await, o.remote().await);
    let docs: Vec<Document> = (1..=5)
        .map(|i| tms_doc(i, doc! { "name": format!("booking {i}") }))
        .collect();
    coll(&l, "bookings").insert_many(docs).await.unwrap();
    let e = o.engine(0).await;
    sync(&e).await;
    let backup = dump(&r).await;

    // The office works on: an edit and a new booking, both synced.
    tms_edit(
        &l,
        "bookings",
        1,
        doc! { "name": "booking 1, moved to Friday" },
    )
    .await;
    coll(&l, "bookings")
        .insert_one(tms_doc(6, doc! { "name": "booking 6" }))
        .await
        .unwrap();
    let run = sync(&e).await;
    assert_eq!(run.local_to_remote["bookings"], 2);

    restore(&r, &backup).await;
    let before = office_data(&l).await;
    let held = sync_once(&e).await;
    assert_eq!(held.status, RunStatus::Failed, "the run is held: {held:?}");
    assert_eq!(held.error_code.as_deref(), Some("cloud_changed"));
    let msg = held.error.clone().unwrap_or_default();
    assert!(
        msg.contains("went back in time") && msg.contains("send this computer's data"),
        "the message says what happened and what the choices are: {msg}"
    );
    assert_eq!(
        office_data(&l).await,
        before,
        "nothing here is deleted or reverted on the evidence of an older cloud"
    );
    // Held again on the next try: nothing moves until a person decides.
    assert_eq!(
        sync_once(&e).await.error_code.as_deref(),
        Some("cloud_changed")
    );

    e.choose_cloud(templesync_engine::CloudChoice::SendLocal)
        .await
        .unwrap();
    let sent = sync(&e).await;
    assert_eq!(sent.status, RunStatus::Completed);
    assert_eq!(
        office_contents(&l).await,
        office_contents_of(&before),
        "this computer's data is kept as it was"
    );
    assert!(
        get(&r, "bookings", 6).await.is_some(),
        "the newer booking is in the cloud again"
    );
    // The booking edited since the backup differs on the two sides with nothing to tell which
    // is newer in the cloud's history: a conflict with both versions, not a silent choice.
    let open = e.conflicts(Some(false), Some("bookings")).await.unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    let c = &open[0];
    e.resolve(
        &c.id,
        templesync_engine::Resolution::new(templesync_engine::Strategy::KeepLocal, None, "tester"),
    )
    .await
    .unwrap();
    sync(&e).await;
    assert_same(&l, &r, "bookings").await;
    assert_eq!(
        get(&r, "bookings", 1)
            .await
            .unwrap()
            .get_str("name")
            .unwrap(),
        "booking 1, moved to Friday"
    );
    assert_eq!(moved(&sync(&e).await), 0);
}

fn office_contents_of(data: &[(String, Vec<Document>)]) -> Vec<(String, Vec<Document>)> {
    data.iter()
        .map(|(n, docs)| (n.clone(), contents(docs)))
        .collect()
}

async fn office_contents(db: &mongodb::Database) -> Vec<(String, Vec<Document>)> {
    office_contents_of(&office_data(db).await)
}

/// `MONGODB_CLOUD_URL` pointed at a new, empty cluster: today the engine either deletes the
/// office's data (the old bases say "deleted in the cloud") or, where the server accepts the old
/// resume token, never sends anything. Either way, silently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cloud_url_pointed_at_another_cluster_holds_the_run() {
    let o = Office::start().await;
    let l = o.local(0).await;
    let docs: Vec<Document> = (1..=4)
        .map(|i| tms_doc(i, doc! { "name": format!("devotee {i}") }))
        .collect();
    coll(&l, "devotees").insert_many(docs).await.unwrap();
    sync(&o.engine(0).await).await;

    let other = templesync_tests::MongoServer::start().await.unwrap();
    let mut settings = o.settings(0);
    settings.remote_url = Some(other.url());
    let e = Office::engine_with(settings.clone(), None).await;
    let before = office_data(&l).await;
    let held = sync_once(&e).await;
    assert_eq!(
        held.error_code.as_deref(),
        Some("cloud_changed"),
        "{held:?}"
    );
    assert!(
        held.error
            .as_deref()
            .unwrap_or("")
            .contains("not the one this computer last synced with"),
        "{:?}",
        held.error
    );
    assert_eq!(office_data(&l).await, before, "nothing deleted here");
    let new_cloud = other.client().await.database(DB);
    assert!(all(&new_cloud, "devotees").await.is_empty());

    // Another PC's cloud (with an identity of its own) is held the same way.
    let e2 = Office::engine_with(o.settings(0), None).await;
    assert_eq!(
        sync(&e2).await.status,
        RunStatus::Completed,
        "the old cloud still syncs"
    );

    e.choose_cloud(templesync_engine::CloudChoice::SendLocal)
        .await
        .unwrap();
    assert_eq!(sync(&e).await.status, RunStatus::Completed);
    assert_same(&l, &new_cloud, "devotees").await;
    // Back to the old cloud: it is not the one this computer last synced with any more.
    let back = sync_once(&e2).await;
    assert_eq!(
        back.error_code.as_deref(),
        Some("cloud_changed"),
        "{back:?}"
    );
}

/// "Accept the cloud as it is now": the cloud's state is taken as changes, so a booking it no
/// longer has goes here too, and an edit it lacks is reverted, as the person chose.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepting_a_restored_cloud_takes_its_state() {
    let o = Office::start().await;
    let (l, r) = (o.local(0).await, o.remote().await);
    let docs: Vec<Document> = (1..=3)
        .map(|i| tms_doc(i, doc! { "name": format!("event {i}") }))
        .collect();
    coll(&l, "events").insert_many(docs).await.unwrap();
    let e = o.engine(0).await;
    sync(&e).await;
    let backup = dump(&r).await;
    coll(&l, "events")
        .insert_one(tms_doc(4, doc! { "name": "event 4" }))
        .await
        .unwrap();
    sync(&e).await;
    restore(&r, &backup).await;
    assert_eq!(
        sync_once(&e).await.error_code.as_deref(),
        Some("cloud_changed")
    );
    e.choose_cloud(templesync_engine::CloudChoice::AcceptCloud)
        .await
        .unwrap();
    let run = sync(&e).await;
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_same(&l, &r, "events").await;
    assert!(
        get(&l, "events", 4).await.is_none(),
        "the person chose the cloud's state"
    );
}
