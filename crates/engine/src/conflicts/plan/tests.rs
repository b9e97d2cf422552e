//! The planners, without a database: each kind × strategy, the refusals, and the order of
//! the writes (the crash-safety argument).

use bson::{Bson, doc, oid::ObjectId};
use chrono::{DateTime, TimeZone, Utc};

use super::*;
use crate::conflicts::record::FieldRecord;
use crate::conflicts::{ResolveValue, Strategy};
use crate::error::Side;

pub(crate) fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 10, 0, 0).unwrap()
}

pub(crate) fn decide(strategy: Strategy, value: Option<ResolveValue>) -> Resolution {
    Resolution::new(strategy, value, "tester")
}

fn text(s: &str) -> Option<ResolveValue> {
    Some(ResolveValue::Text(s.into()))
}

/// An edit conflict on `name`; `phone` is the same on all three versions.
pub(crate) fn update_record() -> ConflictRecord {
    ConflictRecord {
        id: Some(ObjectId::new()),
        kind: Some(ConflictKind::Update),
        type_name: "update".into(),
        collection: "devotees".into(),
        local_id: Some(Bson::Int32(1)),
        remote_id: Some(Bson::Int32(1)),
        local_document: Some(doc! { "_id": 1, "name": "Ravi K", "phone": "111" }),
        remote_document: Some(doc! { "_id": 1, "name": "Ravi Kumar", "phone": "111" }),
        base_document: Some(doc! { "_id": 1, "name": "Ravi", "phone": "111" }),
        fields: Some(vec![FieldRecord {
            shown: "name".into(),
            path: Some(vec!["name".into()]),
            ..FieldRecord::default()
        }]),
        ..ConflictRecord::default()
    }
}

/// Both sides as recorded (the local copy carries its bookkeeping, which is no change).
pub(crate) fn as_recorded(rec: &ConflictRecord) -> Current {
    let mut local = rec.local_document.clone();
    if let Some(l) = &mut local {
        l.insert("syncStatus", "conflict");
    }
    Current {
        local,
        remote: Some(rec.remote_document.clone()),
        ..Current::default()
    }
}

fn planned(rec: &ConflictRecord, cur: &Current, r: &Resolution) -> Plan {
    plan("c1", rec, cur, r, at(), false).expect("planned")
}

fn refused(rec: &ConflictRecord, cur: &Current, r: &Resolution) -> String {
    let e = plan("c1", rec, cur, r, at(), false).expect_err("refused");
    assert_eq!(e.code(), "invalid_resolution", "{e}");
    e.to_string()
}

/// The writes' order in short, for the order tests.
fn shape(p: &Plan) -> Vec<&'static str> {
    p.writes
        .iter()
        .map(|w| match w {
            Write::SetLocal { .. } => "set_local",
            Write::ReplaceLocal { .. } => "replace_local",
            Write::DeleteLocal { .. } => "delete_local",
            Write::SetSynced { .. } => "set_synced",
            Write::ForgetSynced { .. } => "forget_synced",
            Write::Recheck { approved: true, .. } => "recheck_approved",
            Write::Recheck {
                approved: false, ..
            } => "recheck",
            Write::Close { .. } => "close",
        })
        .collect()
}

fn closing(p: &Plan) -> &Settlement {
    match p.writes.last() {
        Some(Write::Close { how, .. }) => how,
        other => panic!("a plan ends by closing the conflict, not {other:?}"),
    }
}

fn unique_record() -> ConflictRecord {
    ConflictRecord {
        id: Some(ObjectId::new()),
        kind: Some(ConflictKind::Unique),
        type_name: "unique".into(),
        collection: "admins".into(),
        local_id: Some(Bson::String("here".into())),
        remote_id: Some(Bson::String("cloud-john".into())),
        field: Some("username".into()),
        key_fields: Some(vec!["username".into()]),
        rename_field: Some("username".into()),
        local_value: Some(Bson::String("john".into())),
        remote_value: Some(Bson::String("john".into())),
        local_document: Some(doc! { "_id": "here", "username": "john" }),
        remote_document: Some(doc! { "_id": "cloud-john", "username": "john", "role": "x" }),
        ..ConflictRecord::default()
    }
}

fn delete_record(deleted_on: Side) -> ConflictRecord {
    let edited = doc! { "_id": 7, "amount": 2 };
    let (local, remote) = match deleted_on {
        Side::Local => (None, Some(edited)),
        Side::Remote => (Some(edited), None),
    };
    ConflictRecord {
        id: Some(ObjectId::new()),
        kind: Some(ConflictKind::Delete),
        type_name: "delete".into(),
        collection: "bookings".into(),
        local_id: Some(Bson::Int32(7)),
        remote_id: Some(Bson::Int32(7)),
        local_document: local,
        remote_document: remote,
        base_document: Some(doc! { "_id": 7, "amount": 1 }),
        deleted_on: Some(deleted_on),
        ..ConflictRecord::default()
    }
}

pub(crate) fn bulk_record(deleted_on: Side) -> ConflictRecord {
    ConflictRecord {
        id: Some(ObjectId::new()),
        kind: Some(ConflictKind::Bulk),
        type_name: "bulk".into(),
        collection: "bookings".into(),
        local_id: Some(Bson::Null),
        remote_id: Some(Bson::Null),
        deleted_on: Some(deleted_on),
        count: Some(3),
        doc_ids: vec![Bson::Int32(1), Bson::Int32(2), Bson::Int32(3)],
        ..ConflictRecord::default()
    }
}

// ---- Update ----

#[test]
fn an_update_writes_the_decided_document_before_the_synced_version_then_closes() {
    let rec = update_record();
    let p = planned(
        &rec,
        &as_recorded(&rec),
        &decide(Strategy::KeepRemote, None),
    );
    // The local document first: a crash before the synced version is set leaves both sides
    // changed since the last sync, so the next sync flags the conflict again. The other way
    // round, the cloud version would be the synced one while the local edit is still there,
    // and the next sync would push the local edit over the cloud's: the decision reversed.
    assert_eq!(
        shape(&p),
        ["replace_local", "set_synced", "recheck_approved", "close"]
    );
    assert_eq!(
        p.writes[0],
        Write::ReplaceLocal {
            id: Bson::Int32(1),
            doc: doc! { "_id": 1, "name": "Ravi Kumar", "phone": "111", "syncedAt": Bson::Null, "syncStatus": "pending" },
        }
    );
    assert_eq!(
        p.writes[1],
        Write::SetSynced {
            id: Bson::Int32(1),
            doc: rec.remote_document.clone().unwrap()
        },
        "the cloud version the person saw becomes the synced one"
    );
    assert_eq!(
        p.writes[2],
        Write::Recheck {
            ids: vec![Bson::Int32(1), Bson::Int32(1)],
            approved: true
        }
    );
    assert!(
        p.message.contains("cloud values are taken"),
        "{}",
        p.message
    );
}

#[test]
fn an_update_kept_local_keeps_the_local_values_and_the_discarded_copy() {
    let rec = update_record();
    let cur = as_recorded(&rec);
    let p = planned(&rec, &cur, &decide(Strategy::KeepLocal, None));
    let Write::ReplaceLocal { doc, .. } = &p.writes[0] else {
        panic!("{:?}", p.writes)
    };
    assert_eq!(doc.get_str("name").unwrap(), "Ravi K");
    match closing(&p) {
        Settlement::Decided {
            strategy,
            discarded,
            automatic,
            by,
            ..
        } => {
            assert_eq!(*strategy, Strategy::KeepLocal);
            assert_eq!(discarded, &cur.local, "the replaced local copy is kept");
            assert!(!automatic);
            assert_eq!(by, "tester");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_update_merge_stores_the_value_typed_like_the_field() {
    let mut rec = update_record();
    rec.local_document
        .as_mut()
        .unwrap()
        .insert("name", Bson::Int64(5));
    let cur = as_recorded(&rec);
    let p = planned(&rec, &cur, &decide(Strategy::Merge, text("9")));
    let Write::ReplaceLocal { doc, .. } = &p.writes[0] else {
        panic!("{:?}", p.writes)
    };
    assert_eq!(doc.get("name"), Some(&Bson::Int64(9)), "{doc:?}");
    assert!(matches!(
        closing(&p),
        Settlement::Decided {
            applied_value: Some(Bson::Int64(9)),
            ..
        }
    ));
}

#[test]
fn an_update_refuses_a_merge_without_value_and_a_rename() {
    let rec = update_record();
    let cur = as_recorded(&rec);
    let why = refused(&rec, &cur, &decide(Strategy::Merge, None));
    assert!(why.contains("merge needs a value"), "{why}");
    let why = refused(&rec, &cur, &decide(Strategy::RenameLocal, None));
    assert!(why.contains("rename_local is for unique"), "{why}");
}

#[test]
fn an_update_whose_local_document_is_gone_is_refused_as_stale() {
    let rec = update_record();
    let cur = Current {
        local: None,
        ..as_recorded(&rec)
    };
    let why = refused(&rec, &cur, &decide(Strategy::KeepLocal, None));
    assert!(why.contains("This computer's copy was deleted"), "{why}");
}

// ---- Stale decisions ----

#[test]
fn a_decision_on_a_local_copy_that_moved_on_is_refused_with_the_field() {
    let rec = update_record();
    let mut cur = as_recorded(&rec);
    cur.local.as_mut().unwrap().insert("phone", "222");
    let why = refused(&rec, &cur, &decide(Strategy::KeepRemote, None));
    assert!(
        why.contains("This computer's copy changed (phone)") && why.contains("Sync first"),
        "{why}"
    );
}

#[test]
fn a_decision_on_a_cloud_copy_that_moved_on_is_refused_but_offline_it_stands() {
    let rec = update_record();
    let mut cur = as_recorded(&rec);
    cur.remote = Some(Some(
        doc! { "_id": 1, "name": "Ravi Kumar", "phone": "333" },
    ));
    let why = refused(&rec, &cur, &decide(Strategy::KeepLocal, None));
    assert!(why.contains("The cloud's copy changed (phone)"), "{why}");
    cur.remote = Some(None);
    let why = refused(&rec, &cur, &decide(Strategy::KeepLocal, None));
    assert!(why.contains("The cloud's copy was deleted"), "{why}");
    cur.remote = None;
    planned(&rec, &cur, &decide(Strategy::KeepLocal, None));
}

#[test]
fn a_settled_conflict_is_refused_saying_how_and_by_whom() {
    let mut rec = update_record();
    rec.resolved = true;
    rec.resolution = Some("keep_local".into());
    rec.resolved_by = Some("asha".into());
    let e = plan(
        "c1",
        &rec,
        &as_recorded(&rec),
        &decide(Strategy::KeepRemote, None),
        at(),
        false,
    )
    .unwrap_err();
    assert_eq!(e.code(), "conflict_already_resolved");
    assert!(e.to_string().contains("keep_local by asha"), "{e}");
}

#[test]
fn a_record_of_an_unknown_kind_is_refused() {
    let mut rec = update_record();
    rec.kind = None;
    rec.type_name = "split".into();
    let why = refused(&rec, &as_recorded(&rec), &decide(Strategy::KeepLocal, None));
    assert!(why.contains("unknown conflict type 'split'"), "{why}");
}

#[test]
fn a_change_is_told_by_its_fields() {
    let then = doc! { "_id": 1, "name": "x", "phone": "1", "syncStatus": "pending" };
    let now = doc! { "_id": 1, "name": "x", "phone": "2", "syncStatus": "conflict" };
    assert_eq!(
        change_between(Some(&then), Some(&now)).as_deref(),
        Some("changed (phone)")
    );
    assert_eq!(
        change_between(Some(&then), Some(&then)),
        None,
        "bookkeeping aside, the same"
    );
    assert_eq!(
        change_between(Some(&then), None).as_deref(),
        Some("was deleted")
    );
    assert_eq!(change_between(None, None), None);
}

// ---- Delete ----

#[test]
fn a_delete_conflict_touches_the_synced_version_and_the_local_copy_as_decided() {
    let forget = Write::ForgetSynced {
        ids: vec![Bson::Int32(7)],
    };
    let recheck = Write::Recheck {
        ids: vec![Bson::Int32(7), Bson::Int32(7)],
        approved: true,
    };
    // Deleted here, kept deleted: the cloud version becomes the synced one, so it is deleted.
    let rec = delete_record(Side::Local);
    let cur = as_recorded(&rec);
    let p = planned(&rec, &cur, &decide(Strategy::KeepLocal, None));
    assert_eq!(
        p.writes[..2],
        [
            Write::SetSynced {
                id: Bson::Int32(7),
                doc: doc! { "_id": 7, "amount": 2 }
            },
            recheck.clone()
        ]
    );
    // Deleted here, the cloud's version wins: forgotten, so it is new in the cloud.
    let p = planned(&rec, &cur, &decide(Strategy::KeepRemote, None));
    assert_eq!(p.writes[..2], [forget.clone(), recheck.clone()]);
    // Deleted in the cloud, the local version wins: forgotten and sent again.
    let rec = delete_record(Side::Remote);
    let cur = as_recorded(&rec);
    let p = planned(&rec, &cur, &decide(Strategy::KeepLocal, None));
    assert_eq!(
        shape(&p),
        ["forget_synced", "set_local", "recheck_approved", "close"]
    );
    assert_eq!(p.writes[0], forget);
    // Deleted in the cloud, the deletion wins: the local copy goes, kept in the record.
    let p = planned(&rec, &cur, &decide(Strategy::KeepRemote, None));
    assert_eq!(
        shape(&p),
        ["delete_local", "forget_synced", "recheck_approved", "close"]
    );
    assert!(matches!(
        closing(&p),
        Settlement::Decided { discarded: Some(d), .. } if d.get_i32("amount") == Ok(2)
    ));
}

#[test]
fn a_delete_conflict_refuses_merge_and_rename() {
    let rec = delete_record(Side::Remote);
    let cur = as_recorded(&rec);
    for s in [Strategy::Merge, Strategy::RenameLocal] {
        let why = refused(&rec, &cur, &decide(s, text("x")));
        assert!(why.contains("needs two versions"), "{why}");
    }
}

// ---- Unique ----

#[test]
fn a_rename_writes_the_value_and_refuses_one_that_is_taken_or_empty() {
    let rec = unique_record();
    let mut cur = as_recorded(&rec);
    let p = planned(&rec, &cur, &decide(Strategy::RenameLocal, text("john2")));
    assert_eq!(shape(&p), ["set_local", "recheck_approved", "close"]);
    assert_eq!(
        p.writes[0],
        Write::SetLocal {
            id: Bson::String("here".into()),
            set: doc! { "updatedAt": crate::clock::to_bson(at()), "syncStatus": "pending", "username": "john2" },
        }
    );
    cur.value_taken = true;
    let why = refused(&rec, &cur, &decide(Strategy::RenameLocal, text("john2")));
    assert!(why.contains("'john2' is also taken"), "{why}");
    let why = refused(&rec, &cur, &decide(Strategy::Merge, text("  ")));
    assert!(why.contains("must not be empty"), "{why}");
    let why = refused(&rec, &cur, &decide(Strategy::Merge, None));
    assert!(why.contains("merge needs a value"), "{why}");
}

#[test]
fn a_rename_without_value_takes_the_stored_suggestion_else_the_one_found() {
    let mut rec = unique_record();
    let mut cur = as_recorded(&rec);
    cur.suggestion = Some("john_found".into());
    let p = planned(&rec, &cur, &decide(Strategy::RenameLocal, None));
    assert!(p.message.contains("'john_found'"), "{}", p.message);
    rec.suggested_value = Some(Bson::String("john_stored".into()));
    let p = planned(&rec, &cur, &decide(Strategy::RenameLocal, None));
    assert!(p.message.contains("'john_stored'"), "{}", p.message);
    // No suggestion found: the rename asked for is refused, not turned into keep_local.
    let rec = unique_record();
    let why = refused(
        &rec,
        &as_recorded(&rec),
        &decide(Strategy::RenameLocal, None),
    );
    assert!(why.contains("no free value"), "{why}");
    // A value that is no text cannot be suffixed.
    let mut rec = unique_record();
    rec.local_document = Some(doc! { "_id": "here", "username": 5 });
    let why = refused(
        &rec,
        &as_recorded(&rec),
        &decide(Strategy::RenameLocal, None),
    );
    assert!(why.contains("no suggestion is possible"), "{why}");
}

#[test]
fn a_unique_keep_remote_restores_the_synced_version_or_removes_a_new_document() {
    let rec = unique_record();
    let mut cur = as_recorded(&rec);
    let p = planned(&rec, &cur, &decide(Strategy::KeepRemote, None));
    assert_eq!(shape(&p), ["delete_local", "recheck_approved", "close"]);
    let when = bson::DateTime::from_millis(1_700_000_000_000);
    cur.synced = Some(doc! { "_id": "here", "username": "jo", "updatedAt": when });
    let p = planned(&rec, &cur, &decide(Strategy::KeepRemote, None));
    assert_eq!(
        p.writes[0],
        Write::ReplaceLocal {
            id: Bson::String("here".into()),
            doc: doc! { "_id": "here", "username": "jo", "updatedAt": when, "syncedAt": when, "syncStatus": "synced" },
        }
    );
    assert!(matches!(
        closing(&p),
        Settlement::Decided { discarded: Some(d), .. } if d.get_str("username") == Ok("john")
    ));
}

#[test]
fn a_unique_keep_local_makes_the_holder_synced_before_removing_its_copy_here() {
    let rec = unique_record();
    let mut cur = as_recorded(&rec);
    cur.holder_here = Some(doc! { "_id": "cloud-john", "username": "john" });
    let p = planned(&rec, &cur, &decide(Strategy::KeepLocal, None));
    let holder = Bson::String("cloud-john".into());
    assert_eq!(
        p.writes[..3],
        [
            Write::SetSynced {
                id: holder.clone(),
                doc: rec.remote_document.clone().unwrap()
            },
            Write::DeleteLocal { id: holder },
            Write::SetLocal {
                id: Bson::String("here".into()),
                set: doc! { "syncStatus": "pending", "syncedAt": Bson::Null }
            },
        ]
    );
    assert!(matches!(
        closing(&p),
        Settlement::Decided { discarded, .. } if discarded == &cur.holder_here
    ));
    let mut rec = unique_record();
    rec.remote_document = None;
    let why = refused(&rec, &cur, &decide(Strategy::KeepLocal, None));
    assert!(why.contains("use rename_local instead"), "{why}");
}

#[test]
fn a_unique_decision_needs_the_local_document() {
    let rec = unique_record();
    let mut rec_gone = rec.clone();
    rec_gone.local_document = None;
    let why = refused(
        &rec_gone,
        &Current::default(),
        &decide(Strategy::KeepLocal, None),
    );
    assert!(why.contains("no longer exists"), "{why}");
    // The cloud's holder moving on is no staleness: only whether the value is free counts.
    let mut cur = as_recorded(&rec);
    cur.remote = Some(None);
    planned(&rec, &cur, &decide(Strategy::RenameLocal, text("john2")));
}

// ---- Bulk ----

#[test]
fn held_cloud_deletes_kept_remote_are_approved_before_the_hold_closes() {
    let rec = bulk_record(Side::Remote);
    let p = planned(
        &rec,
        &Current::default(),
        &decide(Strategy::KeepRemote, None),
    );
    assert_eq!(
        p.writes[0],
        Write::Recheck {
            ids: rec.doc_ids.clone(),
            approved: true
        },
        "the deletes are approved first: closing first and crashing would lose the decision \
         and leave the deletes held with no open conflict to decide them"
    );
    assert_eq!(shape(&p), ["recheck_approved", "close"]);
    assert!(
        p.message
            .contains("deletes these 3 documents on this computer")
    );
}

#[test]
fn held_deletes_undone_forget_the_synced_versions_then_recheck_unapproved() {
    let rec = bulk_record(Side::Remote);
    let p = planned(
        &rec,
        &Current::default(),
        &decide(Strategy::KeepLocal, None),
    );
    assert_eq!(shape(&p), ["forget_synced", "recheck", "close"]);
    assert_eq!(
        p.writes[0],
        Write::ForgetSynced {
            ids: rec.doc_ids.clone()
        }
    );
    let here = bulk_record(Side::Local);
    let p = planned(
        &here,
        &Current::default(),
        &decide(Strategy::KeepLocal, None),
    );
    assert_eq!(
        shape(&p),
        ["recheck_approved", "close"],
        "deleted here, kept so"
    );
    let p = planned(
        &here,
        &Current::default(),
        &decide(Strategy::KeepRemote, None),
    );
    assert_eq!(shape(&p), ["forget_synced", "recheck", "close"]);
    assert!(p.message.contains("back to this computer"), "{}", p.message);
}

#[test]
fn held_deletes_refuse_merge_and_rename() {
    let rec = bulk_record(Side::Local);
    for s in [Strategy::Merge, Strategy::RenameLocal] {
        let why = refused(&rec, &Current::default(), &decide(s, None));
        assert!(why.contains("choosing a side"), "{why}");
    }
}

// ---- Every plan ----

#[test]
fn every_plan_closes_its_conflict_last_and_once() {
    let mut unique_cur = as_recorded(&unique_record());
    unique_cur.holder_here = Some(doc! { "_id": "cloud-john" });
    let cases: Vec<(ConflictRecord, Current)> = vec![
        (update_record(), as_recorded(&update_record())),
        (
            delete_record(Side::Local),
            as_recorded(&delete_record(Side::Local)),
        ),
        (
            delete_record(Side::Remote),
            as_recorded(&delete_record(Side::Remote)),
        ),
        (unique_record(), unique_cur),
        (bulk_record(Side::Local), Current::default()),
        (bulk_record(Side::Remote), Current::default()),
    ];
    let strategies = [
        (Strategy::KeepLocal, None),
        (Strategy::KeepRemote, None),
        (Strategy::Merge, text("v")),
        (Strategy::RenameLocal, text("v")),
    ];
    let mut planned_count = 0;
    for (rec, cur) in &cases {
        for (s, v) in &strategies {
            let Ok(p) = plan("c1", rec, cur, &decide(*s, v.clone()), at(), true) else {
                continue;
            };
            planned_count += 1;
            let closes = shape(&p).iter().filter(|w| **w == "close").count();
            assert_eq!(closes, 1, "{:?} {s:?}: {:?}", rec.kind, p.writes);
            assert_eq!(
                p.writes.last(),
                Some(&Write::Close {
                    id: rec.id.unwrap(),
                    how: closing(&p).clone()
                }),
                "{:?} {s:?}: the conflict closes after every write it settles",
                rec.kind
            );
            assert!(
                matches!(closing(&p), Settlement::Decided { automatic: true, message, .. } if *message == p.message)
            );
        }
    }
    assert_eq!(planned_count, 15, "the kinds × strategies that plan");
}

#[test]
fn a_value_left_out_of_the_record_counts_as_unchanged_while_its_size_is() {
    let scan = "x".repeat(3 * 1024 * 1024);
    let now = doc! { "_id": 1, "name": "Ravi", "scan": scan.clone() };
    let then = crate::conflicts::record::kept(&now);
    assert_eq!(change_between(Some(&then), Some(&now)), None);
    let mut edited = now.clone();
    edited.insert("scan", "y".repeat(10));
    let how = change_between(Some(&then), Some(&edited)).expect("a change of size is seen");
    assert!(how.contains("scan"), "{how}");
}
