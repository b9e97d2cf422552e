//! Data that the engine once mangled or let through: field names with a `.` or a leading `$`,
//! unique indexes nobody listed in `uniqueFields`, and two PCs pushing the same new values at
//! the same moment (issue 11).

use std::collections::HashMap;

use bson::{Bson, Document, doc, oid::ObjectId};
use mongodb::{IndexModel, options::IndexOptions};
use templesync_engine::{
    ConflictKind, Engine, Resolution, ResolveValue, RunStatus, Strategy, SyncRun,
};
use templesync_tests::fixture::*;

fn res(strategy: Strategy, value: Option<ResolveValue>) -> Resolution {
    Resolution {
        strategy,
        value,
        notes: Some("test".into()),
        by: "tester".into(),
    }
}

/// An edit as the TMS makes it, but by replacing the whole document: `$set` cannot name a
/// field whose name holds a `.` (it would mean a sub-document).
async fn tms_replace(
    db: &mongodb::Database,
    coll_name: &str,
    id: i32,
    edit: impl FnOnce(&mut Document),
) {
    let mut d = get(db, coll_name, id)
        .await
        .expect("document to edit exists");
    edit(&mut d);
    let prev = d.get_datetime("updatedAt").unwrap().timestamp_millis();
    let now = bson::DateTime::now().timestamp_millis().max(prev + 1);
    d.insert("updatedAt", bson::DateTime::from_millis(now));
    let r = coll(db, coll_name)
        .replace_one(doc! { "_id": id }, d)
        .await
        .unwrap();
    assert_eq!(r.matched_count, 1);
}

/// Where the oddly named field sits: top-level (`["price.usd"]`), or inside a sub-document
/// (`["rates", "$price.usd"]`: a server refuses a top-level `$` name in a replacement).
type At<'a> = &'a [&'a str];

fn at_mut<'d>(d: &'d mut Document, at: At) -> &'d mut Document {
    match at.split_first() {
        Some((head, rest)) if !rest.is_empty() => {
            at_mut(d.get_document_mut(*head).expect("sub-document"), rest)
        }
        _ => d,
    }
}

fn set_odd(d: &mut Document, at: At, value: i32) {
    at_mut(d, at).insert(*at.last().unwrap(), value);
}

/// The document's shape: `price` still the plain text, the oddly named field where it was,
/// holding `value`, and no field that a split name would have made.
fn assert_shape(d: &Document, at: At, value: i64, why: &str) {
    assert_eq!(
        d.get("price"),
        Some(&Bson::String("standard".into())),
        "{why}: `price` must stay the text it was, not become a sub-document: {d:?}"
    );
    let mut holder = d;
    for seg in &at[..at.len() - 1] {
        holder = d.get_document(*seg).expect("the sub-document stays");
    }
    let name = *at.last().unwrap();
    let v = match holder.get(name) {
        Some(Bson::Int32(i)) => *i as i64,
        Some(Bson::Int64(i)) => *i,
        other => panic!("{why}: the field `{name}` must survive, found {other:?} in {d:?}"),
    };
    assert_eq!(
        v, value,
        "{why}: `{name}` must hold the chosen value: {d:?}"
    );
    let expected = [
        "_id",
        "price",
        at[0],
        "note",
        "updatedAt",
        "syncedAt",
        "syncStatus",
        "origin",
    ];
    for k in d.keys() {
        assert!(
            expected.contains(&k.as_str()),
            "{why}: no field may appear that a split name made ({k}): {d:?}"
        );
    }
    if at.len() > 1 {
        assert_eq!(
            holder.len(),
            1,
            "{why}: the sub-document keeps its one field: {d:?}"
        );
    }
}

/// One case: both sides change the odd field (and `note`) differently, then the strategy
/// (last-write-wins when `strategy` is `None`, else a person's resolution) decides.
async fn odd_name_case(
    o: &Office,
    database: &str,
    at: At<'_>,
    strategy: Option<(Strategy, Option<ResolveValue>)>,
    expected: i64,
) {
    let e = Office::engine_with(o.settings_on(0, database), None).await;
    let l = o.pcs[0].client().await.database(database);
    let r = o.cloud.client().await.database(database);
    if strategy.is_none() {
        set_config(&e, &["conflictResolutionStrategy=last_write_wins"]).await;
    }
    let mut d = tms_doc(1, doc! { "price": "standard" });
    if at.len() > 1 {
        d.insert(at[0], Document::new());
    }
    set_odd(&mut d, at, 10);
    d.insert("note", "n");
    coll(&l, "items").insert_one(d).await.unwrap();
    sync(&e).await;
    tms_replace(&l, "items", 1, |d| {
        set_odd(d, at, 11);
        d.insert("note", "local");
    })
    .await;
    tms_replace(&r, "items", 1, |d| {
        set_odd(d, at, 12);
        d.insert("note", "cloud");
    })
    .await;
    let run = sync(&e).await;
    let why = format!("{database}: {strategy:?}");
    let shown = at.join(".");
    if let Some((s, value)) = strategy {
        assert_eq!(
            run.conflicts["items"], 1,
            "{why}: an edit conflict is flagged"
        );
        let c = e.conflicts(Some(false), None).await.unwrap().remove(0);
        let paths: Vec<&str> = c.fields.iter().map(|f| f.path.as_str()).collect();
        assert!(
            paths.contains(&shown.as_str()),
            "{why}: the conflict shows the field's path, {shown}: {paths:?}"
        );
        e.resolve(&c.id, res(s, value)).await.unwrap();
        sync_until_quiet(&[&e], 3).await;
    }
    for (side, db) in [("local", &l), ("cloud", &r)] {
        let d = get(db, "items", 1).await.unwrap();
        assert_shape(&d, at, expected, &format!("{why} on the {side} side"));
    }
    assert_same(&l, &r, "items").await;
}

async fn odd_name_all_strategies(o: &Office, prefix: &str, at: At<'_>) {
    // A merge of several fields is a JSON object keyed by the paths as shown.
    let merge_value = serde_json::json!({ at.join("."): 13, "note": "merged" });
    odd_name_case(o, &format!("{prefix}_lww"), at, None, 12).await;
    let kl = Some((Strategy::KeepLocal, None));
    odd_name_case(o, &format!("{prefix}_kl"), at, kl, 11).await;
    let kr = Some((Strategy::KeepRemote, None));
    odd_name_case(o, &format!("{prefix}_kr"), at, kr, 12).await;
    let mg = Some((Strategy::Merge, Some(ResolveValue::Json(merge_value))));
    odd_name_case(o, &format!("{prefix}_mg"), at, mg, 13).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_field_name_with_a_dot_is_never_split_into_a_sub_document_by_a_conflict() {
    let o = Office::start().await;
    odd_name_all_strategies(&o, "dot", &["price.usd"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_field_name_starting_with_dollar_and_holding_a_dot_survives_conflicts() {
    let o = Office::start().await;
    // The server takes `$` names at insert, but (like MongoDB) not at the top level of a
    // replacement, which every sync write is: the name sits in a sub-document here.
    let probe = o.pcs[0].client().await.database("probe");
    let p = coll(&probe, "p");
    let accepted = match p
        .insert_one(doc! { "_id": 1, "r": { "$rate.usd": 1 } })
        .await
    {
        Ok(_) => p
            .replace_one(doc! { "_id": 1 }, doc! { "r": { "$rate.usd": 2 } })
            .await
            .map(|_| ()),
        Err(e) => Err(e),
    };
    if let Err(err) = accepted {
        eprintln!("skipped: the test server refuses a field starting with $: {err}");
        return;
    }
    odd_name_all_strategies(&o, "dollar", &["rates", "$price.usd"]).await;
}

async fn unique_index(db: &mongodb::Database, coll_name: &str, keys: Document) {
    coll(db, coll_name)
        .create_index(
            IndexModel::builder()
                .keys(keys)
                .options(IndexOptions::builder().unique(true).build())
                .build(),
        )
        .await
        .unwrap();
}

/// No document on either side and no conflict record may carry the old made-up field.
async fn assert_no_placeholder(e: &Engine, l: &mongodb::Database, r: &mongodb::Database, c: &str) {
    for db in [l, r] {
        for d in all(db, c).await {
            assert!(
                !d.contains_key("(unique index)"),
                "a placeholder field must never be written into a document: {d:?}"
            );
        }
    }
    for c in e.conflicts(None, None).await.unwrap() {
        assert_ne!(
            c.field.as_deref(),
            Some("(unique index)"),
            "a conflict names real fields: {c:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloud_unique_index_not_in_unique_fields_clashes_on_the_real_field() {
    let o = Office::start().await;
    let (l, r) = (o.local(0).await, o.remote().await);
    unique_index(&r, "employees", doc! { "employeeId": 1 }).await;
    let holder = ObjectId::new();
    coll(&r, "employees")
        .insert_one(tms_doc(
            holder,
            doc! { "employeeId": "E100", "name": "Asha" },
        ))
        .await
        .unwrap();
    let e = o.engine(0).await;
    sync(&e).await;
    let newcomer = ObjectId::new();
    coll(&l, "employees")
        .insert_many([
            tms_doc(newcomer, doc! { "employeeId": "E100", "name": "Ravi" }),
            tms_doc(
                ObjectId::new(),
                doc! { "employeeId": "E101", "name": "Mala" },
            ),
        ])
        .await
        .unwrap();
    let run = sync(&e).await;
    assert_eq!(
        run.conflicts["employees"], 1,
        "the taken employeeId is a conflict"
    );
    assert_eq!(
        run.local_to_remote["employees"], 1,
        "the other employee still syncs"
    );
    let c = e.conflicts(Some(false), None).await.unwrap().remove(0);
    assert_eq!(c.kind, ConflictKind::Unique);
    assert_eq!(
        c.field.as_deref(),
        Some("employeeId"),
        "the clash is on the field the cloud's index guards"
    );
    assert_eq!(c.local_id, newcomer.to_hex());
    assert_eq!(
        c.remote_id,
        holder.to_hex(),
        "the document holding the value is named"
    );
    let suggested = c
        .suggested_value
        .as_ref()
        .and_then(|v| v.as_str())
        .expect("a free value is suggested for a text field")
        .to_string();
    assert!(suggested.starts_with("E100_"), "{suggested}");
    assert_no_placeholder(&e, &l, &r, "employees").await;

    e.resolve(&c.id, res(Strategy::RenameLocal, None))
        .await
        .unwrap();
    sync_until_quiet(&[&e], 3).await;
    let pushed = get(&r, "employees", newcomer)
        .await
        .expect("renamed document is in the cloud");
    assert_eq!(pushed.get_str("employeeId").unwrap(), suggested);
    assert_same(&l, &r, "employees").await;
    assert_no_placeholder(&e, &l, &r, "employees").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_refused_by_a_local_unique_index_is_a_recorded_conflict_not_a_silent_retry() {
    let o = Office::start().await;
    let (l, r) = (o.local(0).await, o.remote().await);
    unique_index(&l, "employees", doc! { "employeeId": 1 }).await;
    let here = ObjectId::new();
    coll(&l, "employees")
        .insert_one(tms_doc(here, doc! { "employeeId": "E7", "name": "Office" }))
        .await
        .unwrap();
    let e = o.engine(0).await;
    sync(&e).await;
    // Another writer adds a second E7 in the cloud, which has no such index.
    let cloud_one = ObjectId::new();
    coll(&r, "employees")
        .insert_one(tms_doc(
            cloud_one,
            doc! { "employeeId": "E7", "name": "Cloud" },
        ))
        .await
        .unwrap();
    let run = sync(&e).await;
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(
        run.conflicts.get("employees").copied().unwrap_or(0),
        1,
        "a pull this database refuses must be a conflict a person sees: {run:?}"
    );
    let open = e.conflicts(Some(false), None).await.unwrap();
    assert_eq!(open.len(), 1);
    let c = &open[0];
    assert_eq!(c.kind, ConflictKind::Unique);
    assert_eq!(c.field.as_deref(), Some("employeeId"));
    assert_eq!(c.local_id, here.to_hex(), "the local holder of the value");
    assert_eq!(
        c.remote_id,
        cloud_one.to_hex(),
        "the cloud document refused here"
    );
    assert_no_placeholder(&e, &l, &r, "employees").await;
    // Syncing again keeps the one conflict (no duplicate, no flapping).
    let again = sync(&e).await;
    assert_eq!(SyncRun::total(&again.conflicts), 0, "{again:?}");
    let still = e.conflicts(Some(false), None).await.unwrap();
    assert_eq!(still.len(), 1, "the same conflict stays open: {still:?}");
    assert_eq!(still[0].id, c.id);

    e.resolve(&c.id, res(Strategy::RenameLocal, None))
        .await
        .unwrap();
    sync_until_quiet(&[&e], 4).await;
    assert!(
        get(&l, "employees", cloud_one).await.is_some(),
        "the cloud document arrives once the value is free"
    );
    assert_same(&l, &r, "employees").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compound_unique_index_clash_names_all_its_fields() {
    let o = Office::start().await;
    let (l, r) = (o.local(0).await, o.remote().await);
    unique_index(&r, "slots", doc! { "templeId": 1, "slot": 1 }).await;
    let holder = ObjectId::new();
    coll(&r, "slots")
        .insert_one(tms_doc(holder, doc! { "templeId": "T1", "slot": "9am" }))
        .await
        .unwrap();
    let e = o.engine(0).await;
    sync(&e).await;
    let newcomer = ObjectId::new();
    coll(&l, "slots")
        .insert_many([
            tms_doc(newcomer, doc! { "templeId": "T1", "slot": "9am" }),
            // Only one of the two fields equal: no clash.
            tms_doc(ObjectId::new(), doc! { "templeId": "T2", "slot": "9am" }),
        ])
        .await
        .unwrap();
    let run = sync(&e).await;
    assert_eq!(
        run.conflicts["slots"], 1,
        "all the index's fields equal is a clash"
    );
    assert_eq!(
        run.local_to_remote["slots"], 1,
        "a partial match is no clash"
    );
    let c = e.conflicts(Some(false), None).await.unwrap().remove(0);
    assert_eq!(c.kind, ConflictKind::Unique);
    let field = c.field.clone().unwrap_or_default();
    assert!(
        field.contains("templeId") && field.contains("slot"),
        "the conflict names every field of the index: {field}"
    );
    assert_eq!(c.remote_id, holder.to_hex());
    assert_no_placeholder(&e, &l, &r, "slots").await;
    e.resolve(&c.id, res(Strategy::RenameLocal, None))
        .await
        .unwrap();
    sync_until_quiet(&[&e], 3).await;
    assert!(
        get(&r, "slots", newcomer).await.is_some(),
        "renamed, it syncs"
    );
    assert_same(&l, &r, "slots").await;
    assert_no_placeholder(&e, &l, &r, "slots").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pcs_pushing_the_same_new_usernames_at_once_never_duplicate_them_in_the_cloud() {
    let o = Office::with_pcs(2).await;
    let r = o.remote().await;
    let mut locals = Vec::new();
    for pc in 0..2 {
        let l = o.local(pc).await;
        let admins: Vec<Document> = (0..100)
            .map(|i| {
                tms_doc(
                    ObjectId::new(),
                    doc! { "username": format!("user{i:03}"), "pc": pc as i32 },
                )
            })
            .collect();
        coll(&l, "admins").insert_many(admins).await.unwrap();
        locals.push(l);
    }
    let (e0, e1) = (o.engine(0).await, o.engine(1).await);
    for _ in 0..3 {
        let (a, b) = tokio::join!(sync(&e0), sync(&e1));
        assert_eq!(a.status, RunStatus::Completed);
        assert_eq!(b.status, RunStatus::Completed);
    }
    sync_until_quiet(&[&e0, &e1], 5).await;

    let mut held: HashMap<String, usize> = HashMap::new();
    for d in all(&r, "admins").await {
        *held
            .entry(d.get_str("username").unwrap().to_string())
            .or_default() += 1;
    }
    let twice: Vec<_> = held.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "a username is held once in the cloud, whatever the timing: {twice:?}"
    );
    // Nothing lost: every office admin is in the cloud or in a recorded conflict.
    for (pc, (l, e)) in locals.iter().zip([&e0, &e1]).enumerate() {
        let in_conflict: Vec<String> = e
            .conflicts(Some(false), Some("admins"))
            .await
            .unwrap()
            .into_iter()
            .filter(|c| c.kind == ConflictKind::Unique)
            .map(|c| c.local_id)
            .collect();
        for d in all(l, "admins").await {
            if d.get_i32("pc").ok() != Some(pc as i32) {
                continue;
            }
            let id = d.get_object_id("_id").unwrap();
            let in_cloud = get(&r, "admins", id).await.is_some();
            assert!(
                in_cloud || in_conflict.contains(&id.to_hex()),
                "PC {pc}'s admin {} is neither in the cloud nor in a conflict: it would be lost",
                d.get_str("username").unwrap()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloud_already_holding_duplicate_usernames_syncs_and_says_once_why_it_has_no_index() {
    let o = Office::start().await;
    let r = o.remote().await;
    coll(&r, "admins")
        .insert_many([
            tms_doc(ObjectId::new(), doc! { "username": "twin" }),
            tms_doc(ObjectId::new(), doc! { "username": "twin" }),
        ])
        .await
        .unwrap();
    let e = o.engine(0).await;
    for _ in 0..2 {
        let run = sync(&e).await;
        assert_eq!(
            run.status,
            RunStatus::Completed,
            "duplicates in the cloud must not stop syncing"
        );
        let said: Vec<_> = run
            .errors
            .iter()
            .filter(|err| err.collection == "admins" && err.message.contains("more than one"))
            .collect();
        assert_eq!(
            said.len(),
            1,
            "each run says once that the cloud cannot refuse duplicate usernames: {:?}",
            run.errors
        );
    }
}

/// MongoDB's limit for a write command with its documents: 16 MB plus 16 KB. SecantusDB does
/// not enforce it, so the test measures what the engine sends.
const COMMAND_LIMIT: u64 = 16 * 1024 * 1024 + 16 * 1024;

/// A booking with a 9 MB scan attached: any write whose filter repeats the document as read
/// is over 18 MB.
fn large_doc(id: i32, name: &str) -> Document {
    tms_doc(
        id,
        doc! { "name": name, "scan": "x".repeat(9 * 1024 * 1024) },
    )
}

/// A cloud, and this computer's standalone server (no transactions: a compare-and-set is the
/// filter's alone) reached through a proxy that measures every command.
struct LargeOffice {
    _servers: (templesync_tests::MongoServer, templesync_tests::MongoServer),
    proxy: templesync_tests::proxy::Proxy,
    e: Engine,
    l: mongodb::Database,
    r: mongodb::Database,
}

async fn large_office() -> LargeOffice {
    let (cloud, local) = tokio::join!(
        templesync_tests::MongoServer::start_with(templesync_tests::ServerOptions::new()),
        templesync_tests::MongoServer::start_with(
            templesync_tests::ServerOptions::new().arg("--standalone")
        ),
    );
    let (cloud, local) = (cloud.unwrap(), local.unwrap());
    let proxy = templesync_tests::proxy::Proxy::start(local.port())
        .await
        .unwrap();
    let settings = templesync_engine::Settings {
        local_url: proxy.url(),
        remote_url: Some(cloud.url()),
        database: DB.into(),
    };
    let opts = templesync_engine::EngineOptions {
        no_local_change_streams: true,
        ..Default::default()
    };
    let e = Engine::open_with(settings, opts).await.unwrap();
    let l = local.client().await.database(DB);
    let r = cloud.client().await.database(DB);
    LargeOffice {
        _servers: (cloud, local),
        proxy,
        e,
        l,
        r,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nine_megabyte_document_is_updated_within_the_command_size_limit() {
    let LargeOffice {
        proxy,
        e,
        l,
        r,
        _servers,
    } = large_office().await;
    coll(&l, "bookings")
        .insert_one(large_doc(1, "Ravi"))
        .await
        .unwrap();
    sync(&e).await;
    assert!(
        get(&r, "bookings", 1).await.is_some(),
        "the large booking reaches the cloud"
    );

    // Edited in the cloud: pulled here with a compare-and-set on the standalone server.
    tms_edit(&r, "bookings", 1, doc! { "name": "Ravi Kumar" }).await;
    let run = sync(&e).await;
    assert_eq!(run.status, RunStatus::Completed, "{:?}", run.error);
    let here = get(&l, "bookings", 1).await.unwrap();
    assert_eq!(
        here.get_str("name").unwrap(),
        "Ravi Kumar",
        "the cloud's edit is pulled"
    );
    assert_eq!(here.get_str("scan").unwrap().len(), 9 * 1024 * 1024);

    // Edited here: pushed, and marked synced here, again by compare-and-set.
    tms_edit(&l, "bookings", 1, doc! { "phone": "98450" }).await;
    sync(&e).await;
    assert_eq!(
        get(&r, "bookings", 1)
            .await
            .unwrap()
            .get_str("phone")
            .unwrap(),
        "98450",
        "this computer's edit reaches the cloud"
    );
    assert_eq!(
        get(&l, "bookings", 1)
            .await
            .unwrap()
            .get_str("syncStatus")
            .unwrap(),
        "synced",
        "the pushed edit is marked synced here"
    );
    assert!(
        proxy.largest_request() <= COMMAND_LIMIT,
        "every command to this computer's server fits MongoDB's limit: the largest was {} bytes",
        proxy.largest_request()
    );
}

/// The same field of a 9 MB booking edited on both sides: the conflict's record holds both
/// versions and the synced one, which whole would be 27 MB (over MongoDB's 16 MB for one
/// document and for one command). Large values are left out of the record; the decision is
/// still made and carried out on the documents themselves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_on_a_nine_megabyte_document_is_recorded_and_resolved() {
    let LargeOffice {
        proxy,
        e,
        l,
        r,
        _servers,
    } = large_office().await;
    coll(&l, "bookings")
        .insert_one(large_doc(1, "Ravi"))
        .await
        .unwrap();
    sync(&e).await;
    tms_edit(&l, "bookings", 1, doc! { "name": "Ravi (office)" }).await;
    tms_edit(&r, "bookings", 1, doc! { "name": "Ravi (cloud)" }).await;
    let run = sync(&e).await;
    assert_eq!(run.status, RunStatus::Completed, "{:?}", run.error);
    let open = e.conflicts(Some(false), None).await.unwrap();
    assert_eq!(open.len(), 1, "the clash on name is asked about: {open:?}");
    assert!(
        proxy.largest_request() <= COMMAND_LIMIT,
        "the conflict's record fits MongoDB's limits: the largest command was {} bytes",
        proxy.largest_request()
    );
    e.resolve(&open[0].id, res(Strategy::KeepRemote, None))
        .await
        .expect("the decision is made on the documents, not refused as stale");
    sync(&e).await;
    let here = get(&l, "bookings", 1).await.unwrap();
    assert_eq!(here.get_str("name").unwrap(), "Ravi (cloud)");
    assert_eq!(
        here.get_str("scan").unwrap().len(),
        9 * 1024 * 1024,
        "the scan is whole"
    );
    assert_same(&l, &r, "bookings").await;
    assert!(
        proxy.largest_request() <= COMMAND_LIMIT,
        "{}",
        proxy.largest_request()
    );
}
