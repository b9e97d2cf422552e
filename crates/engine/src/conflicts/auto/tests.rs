use bson::{Bson, doc, oid::ObjectId};
use chrono::{Duration, TimeZone, Utc};

use super::*;

fn unique_record(local_id: Bson) -> ConflictRecord {
    ConflictRecord {
        id: Some(ObjectId::new()),
        kind: Some(ConflictKind::Unique),
        type_name: "unique".into(),
        collection: "admins".into(),
        local_id: Some(local_id),
        remote_id: Some(Bson::String("cloud-john".into())),
        field: Some("username".into()),
        key_fields: Some(vec!["username".into()]),
        rename_field: Some("username".into()),
        local_value: Some(Bson::String("john".into())),
        ..ConflictRecord::default()
    }
}

#[test]
fn a_clash_the_cloud_gave_up_is_retried_keeping_the_value_as_stored() {
    let badge = ObjectId::new();
    let mut rec = unique_record(Bson::Int32(1));
    rec.local_value = Some(Bson::ObjectId(badge));
    let now = UniqueNow {
        holder: Some(doc! { "_id": "cloud-john", "username": ObjectId::new() }),
        local: None,
    };
    let (r, why) = choose(&rec, &now, "tester", Utc::now()).expect("retried");
    assert_eq!(r.strategy, Strategy::KeepLocal);
    assert!(
        matches!(r.value, Some(ResolveValue::Exact(Bson::ObjectId(b))) if b == badge),
        "the value keeps its BSON type: {:?}",
        r.value
    );
    assert_eq!(r.by, "tester");
    assert!(why.contains("no longer holds"), "{why}");
}

#[test]
fn a_clash_on_a_document_made_within_the_hour_is_renamed_else_left() {
    let t = Utc.with_ymd_and_hms(2025, 3, 1, 10, 0, 0).unwrap();
    let rec = unique_record(Bson::Int32(1));
    let holds = UniqueNow {
        holder: Some(doc! { "_id": "cloud-john", "username": "john" }),
        local: Some(doc! { "_id": 1, "username": "john", "createdAt": t - Duration::minutes(10) }),
    };
    let (r, _) = choose(&rec, &holds, "tester", t).expect("renamed");
    assert_eq!(
        (r.strategy, r.value.is_none()),
        (Strategy::RenameLocal, true)
    );
    let old = UniqueNow {
        local: Some(doc! { "_id": 1, "username": "john", "createdAt": t - Duration::hours(2) }),
        ..holds.clone()
    };
    assert!(
        choose(&rec, &old, "tester", t).is_none(),
        "a person decides"
    );
    // No `createdAt`: an ObjectId's time tells.
    let rec = unique_record(Bson::ObjectId(ObjectId::new()));
    let none = UniqueNow {
        local: None,
        ..holds
    };
    assert!(choose(&rec, &none, "tester", Utc::now()).is_some());
}

#[test]
fn an_update_takes_the_cloud_only_when_it_is_newer() {
    let old = bson::DateTime::from_millis(1_000);
    let new = bson::DateTime::from_millis(2_000);
    let rec = |l, r| ConflictRecord {
        kind: Some(ConflictKind::Update),
        local_document: Some(doc! { "_id": 1, "updatedAt": l }),
        remote_document: Some(doc! { "_id": 1, "updatedAt": r }),
        ..ConflictRecord::default()
    };
    let none = UniqueNow::default();
    let (r, _) = choose(&rec(old, new), &none, "t", Utc::now()).expect("cloud newer");
    assert_eq!(r.strategy, Strategy::KeepRemote);
    assert!(choose(&rec(new, old), &none, "t", Utc::now()).is_none());
}

#[test]
fn deletes_and_holds_are_left_for_a_person() {
    for kind in [ConflictKind::Delete, ConflictKind::Bulk] {
        let rec = ConflictRecord {
            kind: Some(kind),
            ..ConflictRecord::default()
        };
        assert!(choose(&rec, &UniqueNow::default(), "t", Utc::now()).is_none());
    }
}
