//! Version history against real servers: every version a sync overwrites or deletes, on
//! either side, is kept byte-exact in `sync_history`, listed newest first, and restorable as a
//! new local edit that the next sync carries to the cloud; the history is kept within
//! `historyDays` and `historyMaxMb`, the oldest going first.

use bson::{Bson, Document, doc};
use templesync_engine::history::Replaced;
use templesync_tests::fixture::*;

async fn history_docs(db: &mongodb::Database) -> Vec<Document> {
    all(db, "sync_history").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pulled_edit_keeps_the_version_it_overwrote_and_restoring_it_reaches_the_cloud() {
    let o = Office::start().await;
    let (l, r) = (o.local(0).await, o.remote().await);
    let e = o.engine(0).await;
    coll(&l, "bookings")
        .insert_one(tms_doc(
            1,
            doc! { "name": "Venkatesh Rao", "slot": "10am", "amount": 2501 },
        ))
        .await
        .unwrap();
    sync(&e).await;
    let synced_here = get(&l, "bookings", 1).await.unwrap();

    // Edited in the cloud; the next sync brings it here, over this computer's version.
    tms_edit(&r, "bookings", 1, doc! { "slot": "11am" }).await;
    let run = sync(&e).await;
    assert_eq!(run.remote_to_local["bookings"], 1);
    let versions = e.history("bookings", "1").await.unwrap();
    let here: Vec<_> = versions.iter().filter(|v| v.side == "local").collect();
    assert_eq!(here.len(), 1, "{versions:#?}");
    let v = here[0];
    assert_eq!(v.replaced, Replaced::Overwritten);
    assert_eq!(v.changed_fields, ["slot", "updatedAt"]);
    assert_eq!(v.run_id.as_deref(), Some(run.id.as_str()));
    // Byte-exact: the stored version is the document as it was here.
    let kept = history_docs(&l).await;
    let stored = kept
        .iter()
        .find(|d| d.get_str("side") == Ok("local"))
        .unwrap()
        .get_document("version")
        .unwrap();
    assert_eq!(
        bson::to_vec(stored).unwrap(),
        bson::to_vec(&synced_here).unwrap(),
        "kept byte for byte"
    );

    // Restored: a local edit, sent by the next sync.
    let number = v.number;
    let restored = e.restore("bookings", "1", number).await.unwrap();
    assert_eq!(restored.document["slot"], "10am");
    let now_here = get(&l, "bookings", 1).await.unwrap();
    assert_eq!(now_here.get_str("slot"), Ok("10am"));
    assert_eq!(now_here.get_str("syncStatus"), Ok("pending"));
    let run = sync(&e).await;
    assert_eq!(run.local_to_remote["bookings"], 1, "{run:#?}");
    assert_eq!(
        get(&r, "bookings", 1).await.unwrap().get_str("slot"),
        Ok("10am")
    );
    // What the restore replaced is kept too: it can be taken back.
    let after = e.history("bookings", "1").await.unwrap();
    assert!(
        after
            .iter()
            .any(|v| v.replaced == Replaced::Restored && v.document["slot"] == "11am"),
        "{after:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_document_is_kept_and_can_be_brought_back() {
    let o = Office::start().await;
    let (l, r) = (o.local(0).await, o.remote().await);
    let e = o.engine(0).await;
    coll(&l, "bookings")
        .insert_many([
            tms_doc(1, doc! { "name": "Puja" }),
            tms_doc(2, doc! { "name": "Homa" }),
            tms_doc(3, doc! { "name": "Archana" }),
        ])
        .await
        .unwrap();
    sync(&e).await;
    // Deleted in the cloud: the sync deletes it here, and keeps what it deleted.
    coll(&r, "bookings")
        .delete_one(doc! { "_id": 2 })
        .await
        .unwrap();
    sync(&e).await;
    assert!(get(&l, "bookings", 2).await.is_none(), "deleted here");
    let versions = e.history("bookings", "2").await.unwrap();
    assert_eq!(versions[0].replaced, Replaced::Deleted);
    assert_eq!(versions[0].document["name"], "Homa");
    e.restore("bookings", "2", 1).await.unwrap();
    sync(&e).await;
    assert_eq!(
        get(&r, "bookings", 2).await.unwrap().get_str("name"),
        Ok("Homa"),
        "back in the cloud"
    );
    assert_eq!(
        get(&l, "bookings", 2).await.unwrap().get_str("name"),
        Ok("Homa")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_keeps_the_cloud_version_it_overwrote() {
    let o = Office::start().await;
    let (l, r) = (o.local(0).await, o.remote().await);
    let e = o.engine(0).await;
    coll(&l, "events")
        .insert_one(tms_doc("diwali", doc! { "title": "Diwali", "hall": "A" }))
        .await
        .unwrap();
    sync(&e).await;
    let cloud_before = get(&r, "events", "diwali").await.unwrap();
    tms_edit(&l, "events", "diwali", doc! { "hall": "B" }).await;
    sync(&e).await;
    let versions = e.history("events", "diwali").await.unwrap();
    let cloud: Vec<_> = versions.iter().filter(|v| v.side == "cloud").collect();
    assert_eq!(cloud.len(), 1, "{versions:#?}");
    assert_eq!(cloud[0].changed_fields, ["hall", "updatedAt"]);
    assert_eq!(
        cloud[0].document,
        Bson::Document(cloud_before).into_relaxed_extjson()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_is_dropped_past_its_days_and_its_size_oldest_first() {
    let o = Office::start().await;
    let (l, r) = (o.local(0).await, o.remote().await);
    let e = o.engine(0).await;
    coll(&l, "bookings")
        .insert_one(tms_doc(
            1,
            doc! { "name": "Puja", "note": "x".repeat(300_000) },
        ))
        .await
        .unwrap();
    sync(&e).await;
    for n in 0..4 {
        tms_edit(&r, "bookings", 1, doc! { "n": n }).await;
        sync(&e).await;
    }
    assert_eq!(e.history("bookings", "1").await.unwrap().len(), 4);
    // The oldest made 40 days old: past the default 30.
    let oldest = history_docs(&l)
        .await
        .into_iter()
        .min_by_key(|d| d.get_datetime("at").unwrap().timestamp_millis())
        .unwrap();
    coll(&l, "sync_history")
        .update_one(
            doc! { "_id": oldest.get("_id").unwrap() },
            doc! { "$set": { "at": bson::DateTime::from_millis(
            bson::DateTime::now().timestamp_millis() - 40 * 86_400_000) } },
        )
        .await
        .unwrap();
    // Each version is ~300 KB; one megabyte keeps three at most.
    set_config(&e, &["historyMaxMb=1"]).await;
    tms_edit(&r, "bookings", 1, doc! { "n": 9 }).await;
    sync(&e).await;
    let left = e.history("bookings", "1").await.unwrap();
    let total: i64 = history_docs(&l)
        .await
        .iter()
        .map(|d| d.get_i64("size").unwrap())
        .sum();
    assert!(total <= 1024 * 1024, "{total} bytes kept");
    assert!(left.len() >= 2 && left.len() <= 3, "{} left", left.len());
    // The newest are those kept.
    assert_eq!(left[0].replaced_by.as_ref().unwrap()["n"], 9);
    assert!(
        !left
            .iter()
            .any(|v| v.at.timestamp_millis()
                == oldest.get_datetime("at").unwrap().timestamp_millis()),
        "the oldest went first"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_collections_ids_and_versions_are_named_and_change_nothing() {
    let o = Office::start().await;
    let (l, r) = (o.local(0).await, o.remote().await);
    let e = o.engine(0).await;
    coll(&l, "bookings")
        .insert_one(tms_doc(1, doc! { "name": "Puja" }))
        .await
        .unwrap();
    sync(&e).await;
    tms_edit(&r, "bookings", 1, doc! { "name": "Puja (evening)" }).await;
    sync(&e).await;
    let before = dump(&l).await;
    let err = e.history("bokings", "1").await.unwrap_err();
    assert_eq!(err.code(), "unknown_collection");
    assert!(err.to_string().contains("bokings"), "{err}");
    let err = e.history("bookings", "99").await.unwrap_err();
    assert_eq!(err.code(), "version_not_found");
    assert!(err.to_string().contains("bookings 99"), "{err}");
    for bad in [0, 2, 7] {
        let err = e.restore("bookings", "1", bad).await.unwrap_err();
        assert_eq!(err.code(), "version_not_found", "{bad}");
        assert!(
            err.to_string().contains("versions 1") || err.to_string().contains("1 version"),
            "{err}"
        );
    }
    let err = e.restore("sync_logs", "1", 1).await.unwrap_err();
    assert_eq!(err.code(), "unknown_collection");
    assert_eq!(dump(&l).await, before, "nothing changed");
}

/// A run that pulled 20 edits and 3 deletes, taken back: the preview lists the 23 and changes
/// nothing; the undo brings all 23 back here, and the next sync takes them to the cloud.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undoing_a_run_brings_back_everything_it_overwrote_or_deleted_here_and_in_the_cloud() {
    let o = Office::start().await;
    let (l, r) = (o.local(0).await, o.remote().await);
    let e = o.engine(0).await;
    let docs: Vec<Document> = (1..=30)
        .map(|i| tms_doc(i, doc! { "name": format!("Booking {i}"), "slot": "10am" }))
        .collect();
    coll(&l, "bookings").insert_many(docs).await.unwrap();
    sync(&e).await;
    let before_here = all(&l, "bookings").await;
    for i in 1..=20 {
        tms_edit(&r, "bookings", i, doc! { "slot": "6pm" }).await;
    }
    coll(&r, "bookings")
        .delete_many(doc! { "_id": { "$in": [21, 22, 23] } })
        .await
        .unwrap();
    let run = sync(&e).await;
    assert_eq!(run.remote_to_local["bookings"], 23, "{run:#?}");
    assert_eq!(all(&l, "bookings").await.len(), 27);

    let untouched = dump(&l).await;
    let preview = e.undo_run(&run.id, true).await.unwrap();
    assert!(!preview.done);
    assert_eq!(preview.items.len(), 23, "{preview:#?}");
    assert_eq!(dump(&l).await, untouched, "a preview changes nothing");

    let undone = e.undo_run(&run.id, false).await.unwrap();
    assert!(undone.done);
    assert_eq!(undone.items.len(), 23);
    sync(&e).await;
    let content = |docs: Vec<Document>| -> Vec<(i32, String)> {
        let mut v: Vec<(i32, String)> = docs
            .iter()
            .map(|d| {
                (
                    d.get_i32("_id").unwrap(),
                    d.get_str("slot").unwrap().to_string(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let expected = content(before_here);
    assert_eq!(
        content(all(&l, "bookings").await),
        expected,
        "all back here"
    );
    assert_eq!(
        content(all(&r, "bookings").await),
        expected,
        "and in the cloud"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_or_unfinished_run_is_named_and_nothing_changes() {
    let o = Office::start().await;
    let l = o.local(0).await;
    let e = o.engine(0).await;
    coll(&l, "bookings")
        .insert_one(tms_doc(1, doc! { "name": "Puja" }))
        .await
        .unwrap();
    sync(&e).await;
    let before = dump(&l).await;
    for bad in ["not-a-run", "6b0f00000000000000000001"] {
        let err = e.undo_run(bad, false).await.unwrap_err();
        assert_eq!(err.code(), "run_not_found", "{bad}");
        assert!(err.to_string().contains(bad), "{err}");
    }
    // A run still going (as another process's would be, mid-run).
    let going = bson::oid::ObjectId::new();
    coll(&l, "sync_logs")
        .insert_one(doc! { "_id": going, "status": "running", "startTime": bson::DateTime::now(), "trigger": "manual" })
        .await
        .unwrap();
    let err = e.undo_run(&going.to_hex(), false).await.unwrap_err();
    assert_eq!(err.code(), "run_still_going");
    coll(&l, "sync_logs")
        .delete_one(doc! { "_id": going })
        .await
        .unwrap();
    assert_eq!(dump(&l).await, before, "nothing changed");
}
