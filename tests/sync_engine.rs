//! The engine's guarantees, one by one, against real MongoDB wire-protocol servers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use bson::{Bson, DateTime, doc, oid::ObjectId};
use futures::FutureExt;
use templesync_engine::{
    ConflictKind, Error, Resolution, ResolveValue, RunStatus, Step, StepHook, Strategy,
    SyncRequest, SyncRun,
};
use templesync_tests::fixture::*;

fn res(strategy: Strategy, value: Option<&str>) -> Resolution {
    Resolution {
        strategy,
        value: value.map(|v| ResolveValue::Text(v.to_string())),
        notes: Some("test".into()),
        by: "tester".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_and_pull_new_documents_with_counts_in_the_log() {
    let o = Office::start().await;
    let (l, r) = (o.local(0).await, o.remote().await);
    coll(&l, "bookings")
        .insert_many([
            tms_doc(1, doc! { "name": "Puja" }),
            tms_doc(2, doc! { "name": "Homa" }),
        ])
        .await
        .unwrap();
    coll(&r, "events")
        .insert_one(tms_doc("e1", doc! { "title": "Diwali" }))
        .await
        .unwrap();
    let e = o.engine(0).await;
    let run = sync(&e).await;
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.local_to_remote["bookings"], 2);
    assert_eq!(run.remote_to_local["events"], 1);
    assert_eq!(
        run.documents_read["remote"], 1,
        "the first sync reads each cloud document once; its own pushes are not read back"
    );
    assert_eq!(
        run.documents_read["local"], 2,
        "the first sync reads each local document once; marking them synced is not an edit"
    );
    assert_same(&l, &r, "bookings").await;
    assert_same(&l, &r, "events").await;
    let pushed = get(&l, "bookings", 1).await.unwrap();
    assert_eq!(pushed.get_str("syncStatus").unwrap(), "synced");
    assert_eq!(
        pushed.get("syncedAt"),
        pushed.get("updatedAt"),
        "syncedAt records the synced version"
    );

    let logs = e.logs(5).await.unwrap();
    assert_eq!(logs.len(), 1);
    let log = &logs[0];
    assert_eq!(log.trigger, templesync_engine::Trigger::Manual);
    assert!(log.end_time.is_some() && log.duration_seconds.is_some());
    assert!(
        log.collections.contains(&"bookings".to_string())
            && log.collections.contains(&"events".to_string())
    );
    assert!(
        !log.collections.iter().any(|c| c.starts_with("sync_")),
        "bookkeeping collections are not synced"
    );

    // Nothing changed: a quiet sync moves nothing and reads no cloud documents.
    let quiet = sync(&e).await;
    assert_eq!(
        SyncRun::total(&quiet.local_to_remote) + SyncRun::total(&quiet.remote_to_local),
        0
    );
    assert_eq!(
        quiet.documents_read["remote"], 0,
        "a quiet sync must not read cloud documents"
    );
    assert_eq!(
        quiet.documents_read["local"], 0,
        "a quiet sync must not read local documents"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_documents_without_sync_fields_still_sync() {
    let o = Office::start().await;
    let (l, r) = (o.local(0).await, o.remote().await);
    coll(&l, "rituals")
        .insert_one(doc! { "_id": 7, "name": "Abhishekam" })
        .await
        .unwrap();
    coll(&r, "rituals")
        .insert_one(doc! { "_id": 8, "name": "Archana" })
        .await
        .unwrap();
    let e = o.engine(0).await;
    sync(&e).await;
    assert_same(&l, &r, "rituals").await;
    let quiet = sync(&e).await;
    assert_eq!(
        SyncRun::total(&quiet.local_to_remote),
        0,
        "a synced legacy document is not pending again"
    );
    // An edit by the office software (which sets updatedAt) is pushed.
    tms_edit(&l, "rituals", 7, doc! { "name": "Rudra Abhishekam" }).await;
    let run = sync(&e).await;
    assert_eq!(run.local_to_remote["rituals"], 1);
    assert_same(&l, &r, "rituals").await;
}

async fn edit_during_push(local_streams: bool) {
    let o = Office::start().await;
    let l = o.local(0).await;
    let r = o.remote().await;
    coll(&l, "bookings")
        .insert_one(tms_doc(1, doc! { "name": "first" }))
        .await
        .unwrap();
    let edited = Arc::new(AtomicBool::new(false));
    let (l2, flag) = (l.clone(), edited.clone());
    let hook: StepHook = Arc::new(move |step, _coll| {
        let (l2, flag) = (l2.clone(), flag.clone());
        async move {
            if step == Step::PushedBatch && !flag.swap(true, Ordering::SeqCst) {
                // The office edits the document after it reached the cloud, before it is
                // marked synced here.
                tms_edit(&l2, "bookings", 1, doc! { "name": "second" }).await;
            }
            Ok(())
        }
        .boxed()
    });
    let e = if local_streams {
        o.engine_with_hook(0, hook).await
    } else {
        o.engine_without_local_streams(0, Some(hook)).await
    };
    sync(&e).await;
    assert!(edited.load(Ordering::SeqCst));
    let local = get(&l, "bookings", 1).await.unwrap();
    let cloud = get(&r, "bookings", 1).await.unwrap();
    assert_eq!(local.get_str("name").unwrap(), "second");
    assert!(
        local.get_str("syncStatus").ok() != Some("synced")
            || cloud.get_str("name").unwrap() == "second",
        "the edit must not be swallowed: marked synced while the cloud still has the old version"
    );
    if !local_streams {
        // Found by query: the edit is pending until the next run.
        assert_eq!(cloud.get_str("name").unwrap(), "first");
        assert_ne!(local.get_str("syncStatus").ok(), Some("synced"));
    }
    sync_until_quiet(&[&e], 3).await;
    assert_eq!(
        get(&r, "bookings", 1)
            .await
            .unwrap()
            .get_str("name")
            .unwrap(),
        "second"
    );
    assert_same(&l, &r, "bookings").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_made_during_the_push_is_never_swallowed_with_local_change_streams() {
    edit_during_push(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_made_during_the_push_stays_pending_on_a_standalone_local_server() {
    edit_during_push(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_push_with_an_old_updated_at_from_another_office_pc_is_pulled() {
    let o = Office::with_pcs(2).await;
    let (l1, l2, r) = (o.local(0).await, o.local(1).await, o.remote().await);
    coll(&l1, "bookings")
        .insert_one(tms_doc(1, doc! { "name": "today" }))
        .await
        .unwrap();
    let (e1, e2) = (o.engine(0).await, o.engine(1).await);
    sync(&e1).await;
    // PC 2 was offline for days; its booking carries an updatedAt from three days ago.
    let mut old = tms_doc(2, doc! { "name": "made offline" });
    old.insert(
        "updatedAt",
        DateTime::from_millis(DateTime::now().timestamp_millis() - 3 * 86_400_000),
    );
    coll(&l2, "bookings").insert_one(old).await.unwrap();
    sync(&e2).await;
    let run = sync(&e1).await;
    assert_eq!(
        run.remote_to_local["bookings"], 1,
        "PC 1 must pull the late booking"
    );
    assert_same(&l1, &r, "bookings").await;
    assert_same(&l2, &r, "bookings").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_by_any_cloud_writer_are_pulled_and_deletes_go_both_ways_for_good() {
    let o = Office::with_pcs(2).await;
    let (l1, l2, r) = (o.local(0).await, o.local(1).await, o.remote().await);
    coll(&l1, "bookings")
        .insert_many((1..=4).map(|i| tms_doc(i, doc! { "n": i })))
        .await
        .unwrap();
    let (e1, e2) = (o.engine(0).await, o.engine(1).await);
    sync_until_quiet(&[&e1, &e2], 4).await;
    // A cloud web app writes without touching updatedAt.
    coll(&r, "bookings")
        .update_one(doc! { "_id": 1 }, doc! { "$set": { "n": 100 } })
        .await
        .unwrap();
    // Deleted on PC 1 and in the cloud.
    coll(&l1, "bookings")
        .delete_one(doc! { "_id": 2 })
        .await
        .unwrap();
    coll(&r, "bookings")
        .delete_one(doc! { "_id": 3 })
        .await
        .unwrap();
    sync_until_quiet(&[&e1, &e2], 4).await;
    for db in [&l1, &l2] {
        assert_same(db, &r, "bookings").await;
    }
    let ids: Vec<Bson> = all(&r, "bookings")
        .await
        .iter()
        .map(|d| d.get("_id").unwrap().clone())
        .collect();
    assert_eq!(ids, vec![Bson::Int32(1), Bson::Int32(4)]);
    assert_eq!(
        get(&l2, "bookings", 1).await.unwrap().get_i32("n").unwrap(),
        100
    );
    // They stay deleted, however often anyone syncs.
    sync_until_quiet(&[&e2, &e1], 3).await;
    for db in [&l1, &l2, &r] {
        assert!(
            get(db, "bookings", 2).await.is_none() && get(db, "bookings", 3).await.is_none(),
            "a deleted document came back"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_to_different_fields_merge() {
    let o = Office::start().await;
    let (l, r) = (o.local(0).await, o.remote().await);
    coll(&l, "admins")
        .insert_one(tms_doc(
            1,
            doc! { "username": "ravi", "phone": "111", "email": "a@x" },
        ))
        .await
        .unwrap();
    let e = o.engine(0).await;
    sync(&e).await;
    tms_edit(&l, "admins", 1, doc! { "phone": "222" }).await;
    tms_edit(&r, "admins", 1, doc! { "email": "b@x" }).await;
    let run = sync(&e).await;
    assert_eq!(SyncRun::total(&run.conflicts), 0);
    let merged = get(&r, "admins", 1).await.unwrap();
    assert_eq!(merged.get_str("phone").unwrap(), "222");
    assert_eq!(merged.get_str("email").unwrap(), "b@x");
    assert_same(&l, &r, "admins").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_field_edits_are_a_recorded_conflict_and_other_documents_keep_syncing() {
    let o = Office::start().await;
    let (l, r) = (o.local(0).await, o.remote().await);
    coll(&l, "bookings")
        .insert_many([
            tms_doc(1, doc! { "slot": "9am" }),
            tms_doc(2, doc! { "slot": "5pm" }),
        ])
        .await
        .unwrap();
    let e = o.engine(0).await;
    sync(&e).await;
    tms_edit(&l, "bookings", 1, doc! { "slot": "10am" }).await;
    tms_edit(&r, "bookings", 1, doc! { "slot": "11am" }).await;
    tms_edit(&l, "bookings", 2, doc! { "slot": "6pm" }).await;
    let run = sync(&e).await;
    assert_eq!(
        run.status,
        RunStatus::Completed,
        "a run with conflicts still completes"
    );
    assert_eq!(run.conflicts["bookings"], 1);
    assert_eq!(
        get(&r, "bookings", 2)
            .await
            .unwrap()
            .get_str("slot")
            .unwrap(),
        "6pm",
        "other documents keep syncing"
    );
    assert_eq!(
        get(&r, "bookings", 1)
            .await
            .unwrap()
            .get_str("slot")
            .unwrap(),
        "11am",
        "the cloud is untouched"
    );
    let local = get(&l, "bookings", 1).await.unwrap();
    assert_eq!(
        local.get_str("slot").unwrap(),
        "10am",
        "the local edit is kept"
    );
    assert_eq!(local.get_str("syncStatus").unwrap(), "conflict");
    let conflicts = e.conflicts(Some(false), None).await.unwrap();
    assert_eq!(conflicts.len(), 1);
    let c = &conflicts[0];
    assert_eq!(c.kind, ConflictKind::Update);
    assert_eq!(
        (c.collection.as_str(), c.field.as_deref()),
        ("bookings", Some("slot"))
    );
    assert_eq!(c.local_value, serde_json::json!("10am"));
    assert_eq!(c.remote_value, serde_json::json!("11am"));
    assert_eq!(c.base_value, serde_json::json!("9am"));
    assert!(
        c.local_document.is_object() && c.remote_document.is_object(),
        "both documents are kept to show side by side"
    );
    // Syncing again does not duplicate it.
    let again = sync(&e).await;
    assert_eq!(SyncRun::total(&again.conflicts), 0);
    assert_eq!(e.conflicts(Some(false), None).await.unwrap().len(), 1);

    // keep_remote: the cloud value wins; the next sync settles both sides.
    let out = e
        .resolve(&c.id, res(Strategy::KeepRemote, None))
        .await
        .unwrap();
    assert!(out.success && out.resolved_by == "tester");
    sync(&e).await;
    assert_eq!(
        get(&l, "bookings", 1)
            .await
            .unwrap()
            .get_str("slot")
            .unwrap(),
        "11am"
    );
    assert_same(&l, &r, "bookings").await;
    let stored = e.conflict(&c.id).await.unwrap();
    assert!(
        stored.resolved
            && stored.resolution.as_deref() == Some("keep_remote")
            && stored.resolved_at.is_some()
    );
}

async fn edit_conflict(o: &Office) -> (templesync_engine::Engine, String) {
    let (l, r) = (o.local(0).await, o.remote().await);
    coll(&l, "bookings")
        .insert_one(tms_doc(1, doc! { "slot": "9am", "note": "n" }))
        .await
        .unwrap();
    let e = o.engine(0).await;
    sync(&e).await;
    tms_edit(
        &l,
        "bookings",
        1,
        doc! { "slot": "10am", "note": "local note" },
    )
    .await;
    tms_edit(&r, "bookings", 1, doc! { "slot": "11am", "paid": true }).await;
    sync(&e).await;
    let id = e.conflicts(Some(false), None).await.unwrap()[0].id.clone();
    (e, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_local_and_merge_settle_edit_conflicts_keeping_the_other_changes() {
    let o = Office::start().await;
    let (l, r) = (o.local(0).await, o.remote().await);
    let (e, id) = edit_conflict(&o).await;
    e.resolve(&id, res(Strategy::KeepLocal, None))
        .await
        .unwrap();
    sync(&e).await;
    let doc = get(&r, "bookings", 1).await.unwrap();
    assert_eq!(doc.get_str("slot").unwrap(), "10am");
    assert_eq!(
        doc.get_str("note").unwrap(),
        "local note",
        "local-only change kept"
    );
    assert!(doc.get_bool("paid").unwrap(), "cloud-only change kept");
    assert_same(&l, &r, "bookings").await;

    // merge with a typed value.
    tms_edit(&l, "bookings", 1, doc! { "slot": "1pm" }).await;
    tms_edit(&r, "bookings", 1, doc! { "slot": "2pm" }).await;
    sync(&e).await;
    let id2 = e.conflicts(Some(false), None).await.unwrap()[0].id.clone();
    let err = e
        .resolve(&id2, res(Strategy::Merge, None))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::ValueNeeded { .. }),
        "merge without a value is refused, asking for the value: {err}"
    );
    let err = e
        .resolve(&id2, res(Strategy::RenameLocal, Some("x")))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("rename_local is for unique"),
        "{err}"
    );
    e.resolve(&id2, res(Strategy::Merge, Some("1:30pm")))
        .await
        .unwrap();
    sync(&e).await;
    assert_eq!(
        get(&r, "bookings", 1)
            .await
            .unwrap()
            .get_str("slot")
            .unwrap(),
        "1:30pm"
    );
    assert_same(&l, &r, "bookings").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_write_wins_decides_and_keeps_the_losing_version() {
    let o = Office::start().await;
    let (l, r) = (o.local(0).await, o.remote().await);
    let e = o.engine(0).await;
    set_config(&e, &["conflictResolutionStrategy=last_write_wins"]).await;
    coll(&l, "bookings")
        .insert_one(tms_doc(1, doc! { "slot": "9am" }))
        .await
        .unwrap();
    sync(&e).await;
    tms_edit(&l, "bookings", 1, doc! { "slot": "10am" }).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    tms_edit(&r, "bookings", 1, doc! { "slot": "11am" }).await;
    let run = sync(&e).await;
    assert_eq!(
        SyncRun::total(&run.conflicts),
        0,
        "decided by the strategy, not left open"
    );
    assert_eq!(
        get(&l, "bookings", 1)
            .await
            .unwrap()
            .get_str("slot")
            .unwrap(),
        "11am",
        "newer wins"
    );
    assert_same(&l, &r, "bookings").await;
    let all = e.conflicts(None, None).await.unwrap();
    assert_eq!(all.len(), 1);
    assert!(all[0].resolved && all[0].auto_resolved);
    assert_eq!(
        all[0].local_value,
        serde_json::json!("10am"),
        "the losing version is recoverable"
    );
}

async fn username_clash(o: &Office) -> (templesync_engine::Engine, String) {
    let (l, r) = (o.local(0).await, o.remote().await);
    coll(&r, "admins")
        .insert_one(tms_doc(
            ObjectId::new(),
            doc! { "username": "john_admin", "name": "John (cloud)" },
        ))
        .await
        .unwrap();
    let e = o.engine(0).await;
    sync(&e).await;
    coll(&l, "admins")
        .insert_one(tms_doc(
            ObjectId::new(),
            doc! { "username": "john_admin", "name": "John (office)" },
        ))
        .await
        .unwrap();
    coll(&l, "admins")
        .insert_one(tms_doc(
            ObjectId::new(),
            doc! { "username": "priya", "name": "Priya" },
        ))
        .await
        .unwrap();
    let run = sync(&e).await;
    assert_eq!(run.conflicts["admins"], 1);
    assert_eq!(
        run.local_to_remote["admins"], 1,
        "the other admin still syncs"
    );
    let c = e.conflicts(Some(false), None).await.unwrap().remove(0);
    assert_eq!(c.kind, ConflictKind::Unique);
    assert_eq!(c.field.as_deref(), Some("username"));
    assert_eq!(c.local_value, serde_json::json!("john_admin"));
    (e, c.id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_username_is_held_back_and_renamed_with_the_suggestion() {
    let o = Office::start().await;
    let (l, r) = (o.local(0).await, o.remote().await);
    let (e, id) = username_clash(&o).await;
    let c = e.conflict(&id).await.unwrap();
    let suggested = c
        .suggested_value
        .clone()
        .and_then(|v| v.as_str().map(str::to_string))
        .expect("a suggestion");
    assert!(
        suggested.starts_with("john_admin_") && suggested.len() == "john_admin_".len() + 4,
        "{suggested}"
    );
    assert_eq!(
        coll(&r, "admins")
            .count_documents(doc! { "username": "john_admin" })
            .await
            .unwrap(),
        1,
        "cloud untouched"
    );
    // Refusals change nothing.
    let before = all(&l, "admins").await;
    let taken = e
        .resolve(&id, res(Strategy::RenameLocal, Some("priya")))
        .await
        .unwrap_err();
    assert!(taken.to_string().contains("also taken"), "{taken}");
    let unknown = e
        .resolve(&ObjectId::new().to_hex(), res(Strategy::KeepRemote, None))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), "conflict_not_found");
    assert_eq!(
        e.resolve("nonsense", res(Strategy::KeepRemote, None))
            .await
            .unwrap_err()
            .code(),
        "conflict_not_found"
    );
    assert_eq!(
        all(&l, "admins").await,
        before,
        "a refused resolution changes nothing"
    );

    let out = e
        .resolve(&id, res(Strategy::RenameLocal, None))
        .await
        .unwrap();
    assert!(out.message.contains(&suggested), "{}", out.message);
    let again = e
        .resolve(&id, res(Strategy::KeepRemote, None))
        .await
        .unwrap_err();
    assert_eq!(again.code(), "conflict_already_resolved");
    let run = sync(&e).await;
    assert_eq!(run.local_to_remote["admins"], 1);
    assert_eq!(
        coll(&r, "admins")
            .count_documents(doc! { "username": &suggested })
            .await
            .unwrap(),
        1
    );
    assert_same(&l, &r, "admins").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_username_clash_can_keep_remote_keep_local_or_take_a_merge_value() {
    // keep_remote: the office's new admin is dropped (kept in the record); the cloud one stays.
    let o = Office::start().await;
    let (l, r) = (o.local(0).await, o.remote().await);
    let (e, id) = username_clash(&o).await;
    e.resolve(&id, res(Strategy::KeepRemote, None))
        .await
        .unwrap();
    sync(&e).await;
    assert_same(&l, &r, "admins").await;
    assert_eq!(
        coll(&l, "admins")
            .count_documents(doc! { "username": "john_admin" })
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        coll(&l, "admins")
            .count_documents(doc! { "name": "John (cloud)" })
            .await
            .unwrap(),
        1
    );
    let kept = e.conflict(&id).await.unwrap();
    assert!(kept.resolved);

    // keep_local: the office's admin keeps the name; the cloud's is removed (and kept in the record).
    let o = Office::start().await;
    let (l, r) = (o.local(0).await, o.remote().await);
    let (e, id) = username_clash(&o).await;
    e.resolve(&id, res(Strategy::KeepLocal, None))
        .await
        .unwrap();
    sync_until_quiet(&[&e], 3).await;
    assert_same(&l, &r, "admins").await;
    let holders = all(&r, "admins")
        .await
        .into_iter()
        .filter(|d| d.get_str("username").ok() == Some("john_admin"))
        .collect::<Vec<_>>();
    assert_eq!(holders.len(), 1);
    assert_eq!(holders[0].get_str("name").unwrap(), "John (office)");

    // merge with a value: the new value is checked for clashes, then used.
    let o = Office::start().await;
    let (l, r) = (o.local(0).await, o.remote().await);
    let (e, id) = username_clash(&o).await;
    e.resolve(&id, res(Strategy::Merge, Some("john_office")))
        .await
        .unwrap();
    sync(&e).await;
    assert_same(&l, &r, "admins").await;
    assert_eq!(
        coll(&r, "admins")
            .count_documents(doc! { "username": "john_office" })
            .await
            .unwrap(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_against_a_delete_is_a_conflict_either_way() {
    let o = Office::start().await;
    let (l, r) = (o.local(0).await, o.remote().await);
    coll(&l, "bookings")
        .insert_many([tms_doc(1, doc! { "v": 1 }), tms_doc(2, doc! { "v": 1 })])
        .await
        .unwrap();
    let e = o.engine(0).await;
    sync(&e).await;
    // 1: deleted here, edited in the cloud. 2: edited here, deleted in the cloud.
    coll(&l, "bookings")
        .delete_one(doc! { "_id": 1 })
        .await
        .unwrap();
    tms_edit(&r, "bookings", 1, doc! { "v": 2 }).await;
    tms_edit(&l, "bookings", 2, doc! { "v": 2 }).await;
    coll(&r, "bookings")
        .delete_one(doc! { "_id": 2 })
        .await
        .unwrap();
    let run = sync(&e).await;
    assert_eq!(run.conflicts["bookings"], 2);
    assert!(
        get(&r, "bookings", 1).await.is_some(),
        "the cloud edit is not deleted silently"
    );
    assert!(
        get(&l, "bookings", 2).await.is_some(),
        "the local edit is not deleted silently"
    );
    let cs = e.conflicts(Some(false), None).await.unwrap();
    assert!(cs.iter().all(|c| c.kind == ConflictKind::Delete));
    let merge = e
        .resolve(&cs[0].id, res(Strategy::Merge, Some("x")))
        .await
        .unwrap_err();
    assert!(merge.to_string().contains("deleted on one side"), "{merge}");
    // Keep the edits in both cases.
    for c in &cs {
        let strategy = if c.deleted_on.as_deref() == Some("local") {
            Strategy::KeepRemote
        } else {
            Strategy::KeepLocal
        };
        e.resolve(&c.id, res(strategy, None)).await.unwrap();
    }
    sync_until_quiet(&[&e], 3).await;
    assert_same(&l, &r, "bookings").await;
    assert_eq!(
        all(&r, "bookings").await.len(),
        2,
        "both edited documents survive"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_resolve_renames_recent_documents_and_skips_the_rest() {
    let o = Office::start().await;
    let (l, r) = (o.local(0).await, o.remote().await);
    let (e, _) = username_clash(&o).await;
    // An old local admin (ObjectId from 2020) clashing too: left for a person.
    coll(&r, "admins")
        .insert_one(tms_doc(ObjectId::new(), doc! { "username": "old_user" }))
        .await
        .unwrap();
    let old_id = ObjectId::from_bytes([0x5e, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
    coll(&l, "admins")
        .insert_one(tms_doc(old_id, doc! { "username": "old_user" }))
        .await
        .unwrap();
    sync(&e).await;
    let report = e.auto_resolve(10, "tester").await.unwrap();
    assert_eq!(
        (report.resolved, report.skipped, report.failed),
        (1, 1, 0),
        "{report:?}"
    );
    sync(&e).await;
    assert_eq!(e.conflicts(Some(false), None).await.unwrap().len(), 1);
    let l_names: Vec<String> = all(&l, "admins")
        .await
        .iter()
        .filter_map(|d| d.get_str("username").ok().map(String::from))
        .collect();
    assert!(
        l_names.iter().any(|n| n.starts_with("john_admin_")),
        "{l_names:?}"
    );
    assert_eq!(
        coll(&r, "admins")
            .count_documents(doc! { "username": { "$regex": "^john_admin_" } })
            .await
            .unwrap(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sync_while_one_runs_is_refused_and_a_crashed_holder_does_not_block() {
    let o = Office::start().await;
    let l = o.local(0).await;
    coll(&l, "bookings")
        .insert_one(tms_doc(1, doc! { "v": 1 }))
        .await
        .unwrap();
    let entered = Arc::new(tokio::sync::Notify::new());
    let release = Arc::new(tokio::sync::Notify::new());
    let (en, rel) = (entered.clone(), release.clone());
    let hook: StepHook = Arc::new(move |step, _| {
        let (en, rel) = (en.clone(), rel.clone());
        async move {
            if step == Step::PushedBatch {
                en.notify_one();
                rel.notified().await;
            }
            Ok(())
        }
        .boxed()
    });
    let first = o.engine_with_hook(0, hook).await;
    let running = tokio::spawn(async move { first.sync(SyncRequest::manual()).await });
    entered.notified().await;
    // Another process (another engine over the same databases).
    let second = o.engine(0).await;
    let err = second.sync(SyncRequest::manual()).await.unwrap_err();
    assert_eq!(err.code(), "sync_in_progress");
    assert!(
        err.to_string().starts_with("Sync is already in progress"),
        "{err}"
    );
    assert!(second.status().await.unwrap().is_syncing);
    release.notify_one();
    running.await.unwrap().unwrap();

    // A holder that died (its process is gone) does not block the next run.
    coll(&l, "sync_state")
        .update_one(
            doc! { "_id": "run_lock" },
            doc! { "$set": { "holder": "dead", "pid": 999_999_i64, "expiresAt": DateTime::from_millis(DateTime::now().timestamp_millis() + 60_000) } },
        )
        .await
        .unwrap();
    coll(&l, "sync_logs")
        .insert_one(doc! { "status": "running", "startTime": DateTime::now(), "trigger": "manual" })
        .await
        .unwrap();
    sync(&second).await;
    let logs = second.logs(10).await.unwrap();
    assert!(
        logs.iter().all(|r| r.status != RunStatus::Running),
        "no run is left running: {logs:#?}"
    );
    assert!(logs.iter().any(|r| r.status == RunStatus::Interrupted));

    // A lock this very process left behind (its release failed: the link was cut at that
    // moment) blocks neither the status nor the next run of the process.
    let host = get(&l, "sync_state", "run_lock")
        .await
        .unwrap()
        .get_str("host")
        .unwrap()
        .to_string();
    coll(&l, "sync_state")
        .update_one(
            doc! { "_id": "run_lock" },
            doc! { "$set": { "holder": "released-too-late", "host": host, "pid": std::process::id() as i64, "expiresAt": DateTime::from_millis(DateTime::now().timestamp_millis() + 60_000) } },
        )
        .await
        .unwrap();
    assert!(!second.status().await.unwrap().is_syncing);
    sync(&second).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_cut_at_any_step_is_completed_by_the_next_with_no_loss_or_duplicates() {
    let cases = Step::ALL.iter().flat_map(|s| [(*s, true), (*s, false)]);
    for (n, (cut_at, local_streams)) in cases.enumerate() {
        let o = Office::start().await;
        let (l, r) = (o.local(0).await, o.remote().await);
        coll(&l, "bookings")
            .insert_many((0..25).map(|i| tms_doc(i, doc! { "n": i })))
            .await
            .unwrap();
        coll(&r, "bookings")
            .insert_many((100..120).map(|i| tms_doc(i, doc! { "n": i })))
            .await
            .unwrap();
        let calls = Arc::new(AtomicU32::new(0));
        let c2 = calls.clone();
        // Cut the second time the step is reached (mid-run, after some batches went through).
        let hook: StepHook = Arc::new(move |step, _| {
            let hit = step == cut_at && c2.fetch_add(1, Ordering::SeqCst) == 1;
            async move {
                if hit {
                    Err(Error::Interrupted(format!("cut at {step:?}")))
                } else {
                    Ok(())
                }
            }
            .boxed()
        });
        let cut = if local_streams {
            o.engine_with_hook(0, hook).await
        } else {
            o.engine_without_local_streams(0, Some(hook)).await
        };
        set_config(&cut, &["batchSize=10"]).await;
        let first = cut
            .sync(SyncRequest::manual())
            .await
            .expect("the run starts");
        if calls.load(Ordering::SeqCst) >= 2 {
            assert_eq!(
                first.status,
                RunStatus::Failed,
                "case {n}: the cut must fail the run"
            );
            assert_eq!(first.error_code.as_deref(), Some("interrupted"));
        }
        let e = o.engine(0).await;
        sync_until_quiet(&[&e], 4).await;
        assert_same(&l, &r, "bookings").await;
        assert_eq!(
            all(&r, "bookings").await.len(),
            45,
            "case {n} ({cut_at:?}): nothing lost or duplicated"
        );
        let logs = e.logs(20).await.unwrap();
        assert!(
            logs.iter().all(|x| x.status != RunStatus::Running),
            "case {n}: no run left running"
        );
        if calls.load(Ordering::SeqCst) >= 2 {
            assert!(
                logs.iter().any(|x| x.status == RunStatus::Failed),
                "case {n}: the cut run is recorded as failed"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_errors_are_retried_and_a_killed_cloud_is_reported_quickly() {
    let mut o = Office::start().await;
    let (l, r) = (o.local(0).await, o.remote().await);
    coll(&l, "bookings")
        .insert_many((0..30).map(|i| tms_doc(i, doc! { "n": i })))
        .await
        .unwrap();
    let e = o.engine(0).await;
    // One insert fails with a closed connection, one find with a "not primary" error.
    o.cloud
        .fail_command(&["insert"], 1, templesync_tests::FailMode::CloseConnection)
        .await;
    o.cloud
        .fail_command(&["find"], 1, templesync_tests::FailMode::ErrorCode(10107))
        .await;
    let run = sync(&e).await;
    assert_eq!(run.status, RunStatus::Completed);
    assert_same(&l, &r, "bookings").await;

    o.cloud.kill();
    let started = Instant::now();
    let err = e.sync(SyncRequest::manual()).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(err.code(), "remote_unreachable", "{err}");
    assert!(
        err.to_string().contains("127.0.0.1"),
        "the message names the host: {err}"
    );
    let status = e.status().await.unwrap();
    assert!(!status.is_online);
    o.cloud.restart().await.unwrap();
    coll(&l, "bookings")
        .insert_one(tms_doc(99, doc! { "n": 99 }))
        .await
        .unwrap();
    sync(&e).await;
    assert_same(&l, &o.remote().await, "bookings").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cloud_history_lost_falls_back_to_a_scan() {
    let o = Office {
        cloud: templesync_tests::MongoServer::start_with(
            templesync_tests::ServerOptions::new().oplog_max_entries(10),
        )
        .await
        .unwrap(),
        pcs: vec![templesync_tests::MongoServer::start().await.unwrap()],
    };
    let (l, r) = (o.local(0).await, o.remote().await);
    coll(&l, "bookings")
        .insert_one(tms_doc(1, doc! { "v": 1 }))
        .await
        .unwrap();
    let e = o.engine(0).await;
    sync(&e).await;
    // Far more cloud changes than the history keeps.
    for i in 10..60 {
        coll(&r, "bookings")
            .insert_one(tms_doc(i, doc! { "v": i }))
            .await
            .unwrap();
    }
    coll(&r, "bookings")
        .delete_one(doc! { "_id": 1 })
        .await
        .unwrap();
    sync(&e).await;
    assert_same(&l, &r, "bookings").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_are_validated_and_nothing_is_stored_on_error() {
    let o = Office::start().await;
    let e = o.engine(0).await;
    set_config(&e, &["batchSize=250"]).await;
    let cfg = e.config().await.unwrap();
    let err = cfg
        .with_assignments(&["batchSize=300".into(), "syncIntervalMinutes=0".into()])
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidConfig { field, .. } if field == "syncIntervalMinutes"),
        "{err}"
    );
    assert_eq!(e.config().await.unwrap().batch_size, 250, "nothing stored");
    let stored = get(&o.local(0).await, "sync_config", "default")
        .await
        .unwrap();
    assert_eq!(stored.get_i32("batchSize").unwrap(), 250);
    assert_eq!(
        stored.get_document("uniqueFields").unwrap(),
        &doc! { "admins": ["username"] }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_cloud_url_is_a_clear_error() {
    let o = Office::start().await;
    let mut s = o.settings(0);
    s.remote_url = None;
    let e = templesync_engine::Engine::open(s).await.unwrap();
    let err = e.sync(SyncRequest::manual()).await.unwrap_err();
    assert!(
        err.to_string()
            .starts_with("Remote database not configured"),
        "{err}"
    );
    let status = e.status().await.unwrap();
    assert!(!status.remote_configured && !status.is_online);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_conflict_whose_local_copy_is_then_deleted_does_not_stay_open_forever() {
    // Found by the convergence test (seed 109): the edit conflict stayed open beside the
    // delete conflict that replaced it, and could never be resolved.
    let o = Office::start().await;
    let (l, r) = (o.local(0).await, o.remote().await);
    let (e, edit_id) = edit_conflict(&o).await;
    coll(&l, "bookings")
        .delete_one(doc! { "_id": 1 })
        .await
        .unwrap();
    sync(&e).await;
    let edit = e.conflict(&edit_id).await.unwrap();
    assert!(
        edit.resolved && edit.resolution.as_deref() == Some("superseded"),
        "{edit:?}"
    );
    let open = e.conflicts(Some(false), None).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].kind, ConflictKind::Delete);
    e.resolve(&open[0].id, res(Strategy::KeepRemote, None))
        .await
        .unwrap();
    sync_until_quiet(&[&e], 3).await;
    assert_same(&l, &r, "bookings").await;
    assert!(e.conflicts(Some(false), None).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_username_conflict_whose_local_document_is_deleted_closes_in_both_modes() {
    // Found by the convergence test (seed 308): the never-synced document existed nowhere any
    // more, and its conflict stayed open for good.
    for local_streams in [true, false] {
        let o = Office::start().await;
        let l = o.local(0).await;
        let (_, id) = username_clash(&o).await;
        let e = if local_streams {
            o.engine(0).await
        } else {
            o.engine_without_local_streams(0, None).await
        };
        let local_id =
            bson::oid::ObjectId::parse_str(e.conflict(&id).await.unwrap().local_id).unwrap();
        coll(&l, "admins")
            .delete_one(doc! { "_id": local_id })
            .await
            .unwrap();
        sync(&e).await;
        let c = e.conflict(&id).await.unwrap();
        assert!(c.resolved, "local_streams={local_streams}: {c:?}");
        assert_eq!(c.resolution.as_deref(), Some("superseded"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clocks_ten_minutes_off_are_detected_and_lose_nothing_nor_flip() {
    use templesync_engine::clock::SkewedClock;
    let o = Office::with_pcs(2).await;
    let (l0, l1, r) = (o.local(0).await, o.local(1).await, o.remote().await);
    let ten = chrono::Duration::minutes(10);
    let fast =
        templesync_engine::Engine::open_with_clock(o.settings(0), Arc::new(SkewedClock(ten)))
            .await
            .unwrap();
    let slow =
        templesync_engine::Engine::open_with_clock(o.settings(1), Arc::new(SkewedClock(-ten)))
            .await
            .unwrap();
    // Each office's software stamps updatedAt with its own (wrong) clock.
    let stamp =
        |offset_ms: i64| DateTime::from_millis(DateTime::now().timestamp_millis() + offset_ms);
    let mut a = tms_doc(1, doc! { "slot": "9am", "note": "" });
    a.insert("updatedAt", stamp(600_000));
    coll(&l0, "bookings").insert_one(a).await.unwrap();
    sync_until_quiet(&[&fast, &slow], 4).await;
    // The slow PC edits after the fast one: its timestamp is *older*, yet the edit must win
    // its field and reach everyone.
    coll(&l0, "bookings")
        .update_one(
            doc! { "_id": 1 },
            doc! { "$set": { "slot": "10am", "updatedAt": stamp(600_000 + 1000) } },
        )
        .await
        .unwrap();
    sync(&fast).await;
    coll(&l1, "bookings")
        .update_one(
            doc! { "_id": 1 },
            doc! { "$set": { "note": "paid", "updatedAt": stamp(-600_000) } },
        )
        .await
        .unwrap();
    let runs = sync_until_quiet(&[&slow, &fast], 4).await;
    assert!(runs.len() <= 6, "no flip-flopping: {} runs", runs.len());
    for db in [&l0, &l1] {
        assert_same(db, &r, "bookings").await;
    }
    let d = get(&r, "bookings", 1).await.unwrap();
    assert_eq!(
        (d.get_str("slot").unwrap(), d.get_str("note").unwrap()),
        ("10am", "paid"),
        "both edits survive"
    );
    // Quiet afterwards, from either side.
    for e in [&fast, &slow] {
        let again = sync(e).await;
        assert_eq!(
            SyncRun::total(&again.local_to_remote) + SyncRun::total(&again.remote_to_local),
            0
        );
    }
    let s = fast.status().await.unwrap();
    let skew = s.clock_skew_seconds.expect("measured");
    assert!(
        (skew - 600.0).abs() < 5.0,
        "fast clock measured at {skew} s"
    );
    assert!(
        s.clock_warning
            .as_deref()
            .is_some_and(|w| w.contains("10 minutes fast")),
        "{s:?}"
    );
    let s = slow.status().await.unwrap();
    assert!((s.clock_skew_seconds.unwrap() + 600.0).abs() < 5.0);
    assert!(s.clock_warning.unwrap().contains("slow"));
    let ok = o.engine(0).await.status().await.unwrap();
    assert!(
        ok.clock_warning.is_none(),
        "a right clock is not warned about: {ok:?}"
    );
}

/// Cloud versions are written here in one command per batch; when the office edits some of
/// those documents in the moment between our read and our write, exactly those writes must
/// not go through (the others must), and the edits must survive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn office_edits_between_reading_and_writing_a_pulled_batch_are_kept() {
    let o = Office::start().await;
    let (l, r) = (o.local(0).await, o.remote().await);
    let docs: Vec<_> = (1..=6)
        .map(|i| tms_doc(i, doc! { "name": format!("booking {i}"), "status": "new" }))
        .collect();
    coll(&l, "bookings").insert_many(docs).await.unwrap();
    let plain = o.engine(0).await;
    sync(&plain).await;
    // The cloud confirms every booking and cancels number 6.
    for i in 1..=5 {
        tms_edit(&r, "bookings", i, doc! { "status": "confirmed" }).await;
    }
    coll(&r, "bookings")
        .delete_one(doc! { "_id": 6 })
        .await
        .unwrap();
    // While those come down, the office renames booking 3 and edits booking 6.
    let edited = Arc::new(AtomicBool::new(false));
    let (l2, flag) = (l.clone(), edited.clone());
    let hook: StepHook = Arc::new(move |step, coll_name| {
        let (l2, flag) = (l2.clone(), flag.clone());
        let bookings = coll_name == "bookings";
        async move {
            // Read and decided, nothing written yet.
            if bookings && step == Step::Decided && !flag.swap(true, Ordering::SeqCst) {
                tms_edit(&l2, "bookings", 3, doc! { "name": "renamed here" }).await;
                tms_edit(&l2, "bookings", 6, doc! { "name": "still wanted" }).await;
            }
            Ok(())
        }
        .boxed()
    });
    let e = o.engine_with_hook(0, hook).await;
    sync(&e).await;
    assert!(edited.load(Ordering::SeqCst), "the hook ran");
    sync_until_quiet(&[&e], 4).await;
    for i in [1, 2, 4, 5] {
        let d = get(&l, "bookings", i).await.unwrap();
        assert_eq!(d.get_str("status").unwrap(), "confirmed", "booking {i}");
    }
    // Both edits of booking 3 (different fields) are kept, on both sides.
    for db in [&l, &r] {
        let d = get(db, "bookings", 3).await.unwrap();
        assert_eq!(d.get_str("name").unwrap(), "renamed here");
        assert_eq!(d.get_str("status").unwrap(), "confirmed");
    }
    // Booking 6 was not deleted over the office's edit: that is a conflict for a person.
    let kept = get(&l, "bookings", 6)
        .await
        .expect("the edited booking is not deleted");
    assert_eq!(kept.get_str("name").unwrap(), "still wanted");
    let open = e.conflicts(Some(false), None).await.unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0].kind, ConflictKind::Delete);
}
