//! Bad input, surface by surface, against real MongoDB wire-protocol servers.
//!
//! Documents of odd shapes, made on either side, either sync faithfully (the other side holds
//! the same BSON, byte for byte and in the same field order, apart from the per-side
//! `syncedAt`/`syncStatus`) or are refused alone: set aside (quarantined) with a reason naming
//! the document and the problem, listed in the run's `sync_logs` entry and in `status`, tried
//! again by every run, and released once a person fixes them. One bad document never stops
//! the rest of a run.
//!
//! Then what people and programs type: command-line arguments, settings, REST bodies and
//! parameters, connection strings. Each row says what must come back (exit code or HTTP
//! status, error code, a message naming the problem), and both databases must be byte for
//! byte as they were.
//!
//! The CLI rows run the `templesync` binary: build it first with
//! `cargo build -p templesync-cli` (the tests refuse a missing or stale one).

use std::time::{Duration, Instant};

use bson::spec::BinarySubtype;
use bson::{Binary, Bson, Document, RawDocumentBuf, doc, oid::ObjectId};
use futures::TryStreamExt;
use mongodb::Database;
use serde_json::Value;
use templesync_engine::{RunStatus, SyncRequest, SyncRun, Trigger};
use templesync_tests::FailMode;
use templesync_tests::fixture::*;

// ---------------------------------------------------------------------------------------------
// Odd documents

/// MongoDB's limit on a document, which the driver checks before sending one.
const MAX_BSON: usize = 16 * 1024 * 1024;

/// What must become of a shape.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// The other side holds the same bytes.
    Synced,
    /// Set aside, with a reason containing this.
    Quarantined(&'static str),
}

struct Shape {
    label: &'static str,
    /// The document made on the office PC, and the one made in the cloud (a different `_id`).
    local: RawDocumentBuf,
    cloud: RawDocumentBuf,
    expect: Expect,
}

fn raw(d: &Document) -> RawDocumentBuf {
    RawDocumentBuf::from_document(d).expect("a document encodes")
}

/// `{_id, d: {n: {n: ... 1}}}` nested `depth` levels, built without recursion (so that the
/// test itself does not need a deep stack).
fn nested(id: Bson, depth: usize) -> RawDocumentBuf {
    let mut inner = RawDocumentBuf::new();
    inner.append("n", 1);
    for _ in 1..depth {
        let mut outer = RawDocumentBuf::new();
        outer.append("n", inner);
        inner = outer;
    }
    let mut d = RawDocumentBuf::new();
    d.append("_id", bson::RawBson::try_from(id).unwrap());
    d.append("d", inner);
    d.append("updatedAt", bson::DateTime::now());
    d
}

/// A legacy document (no bookkeeping fields) of exactly `size` bytes.
fn sized(id: &str, size: usize) -> RawDocumentBuf {
    let base = doc! { "_id": id, "s": "", "updatedAt": bson::DateTime::now() };
    let overhead = raw(&base).as_bytes().len();
    let mut d = base;
    d.insert("s", "x".repeat(size - overhead));
    let r = raw(&d);
    assert_eq!(r.as_bytes().len(), size);
    r
}

fn bin(subtype: BinarySubtype, byte: u8) -> Bson {
    Bson::Binary(Binary {
        subtype,
        bytes: vec![byte; 16],
    })
}

/// One field set, made on each side with its own `_id` (`L:label` / `R:label` unless the
/// shape is about the `_id`).
fn pair(label: &'static str, fields: Document, expect: Expect) -> Shape {
    let make = |prefix: &str| {
        let mut d = doc! { "_id": format!("{prefix}:{label}") };
        d.extend(fields.clone());
        raw(&d)
    };
    Shape {
        label,
        local: make("L"),
        cloud: make("R"),
        expect,
    }
}

fn with_ids(label: &'static str, local_id: Bson, cloud_id: Bson) -> Shape {
    let make =
        |id: Bson| raw(&doc! { "_id": id, "label": label, "updatedAt": bson::DateTime::now() });
    Shape {
        label,
        local: make(local_id),
        cloud: make(cloud_id),
        expect: Expect::Synced,
    }
}

fn shapes() -> Vec<Shape> {
    let now = bson::DateTime::now();
    let mut v = vec![
        Shape {
            label: "nested 90 levels",
            local: nested("L:deep90".into(), 90),
            cloud: nested("R:deep90".into(), 90),
            expect: Expect::Synced,
        },
        // MongoDB refuses to store more than 100 levels; SecantusDB stores up to about 900 (its
        // decoder's recursion limit), so this is what a sync does with what a server holds: it
        // must neither crash (it did, from about 95 levels, on a 2 MiB stack) nor refuse.
        Shape {
            label: "nested 300 levels (beyond MongoDB's 100)",
            local: nested("L:deep300".into(), 300),
            cloud: nested("R:deep300".into(), 300),
            expect: Expect::Synced,
        },
        pair(
            "array of 100,000 elements",
            doc! { "a": (0..100_000).collect::<Vec<i32>>(), "updatedAt": now },
            Expect::Synced,
        ),
        pair(
            "numbers at their limits",
            doc! {
                "dec": Bson::Decimal128("-1234567890.123456789012345678901234".parse().unwrap()),
                "decMax": Bson::Decimal128("9.999999999999999999999999999999999E+6144".parse().unwrap()),
                "i64min": i64::MIN, "i64max": i64::MAX, "i32min": i32::MIN, "i32max": i32::MAX,
                "nan": f64::NAN, "inf": f64::INFINITY, "ninf": f64::NEG_INFINITY, "negzero": -0.0f64,
                "tiny": f64::MIN_POSITIVE, "updatedAt": now,
            },
            Expect::Synced,
        ),
        pair(
            "binary of every subtype",
            doc! {
                "generic": bin(BinarySubtype::Generic, 0), "function": bin(BinarySubtype::Function, 1),
                "old": bin(BinarySubtype::BinaryOld, 2), "uuidOld": bin(BinarySubtype::UuidOld, 3),
                "uuid": bin(BinarySubtype::Uuid, 4), "md5": bin(BinarySubtype::Md5, 5),
                "encrypted": bin(BinarySubtype::Encrypted, 6), "column": bin(BinarySubtype::Column, 7),
                "sensitive": bin(BinarySubtype::Sensitive, 8), "user": bin(BinarySubtype::UserDefined(0x80), 9),
                "empty": Bson::Binary(Binary { subtype: BinarySubtype::Generic, bytes: vec![] }),
                "updatedAt": now,
            },
            Expect::Synced,
        ),
        pair(
            "unicode values and names",
            doc! {
                "name": "ॐ नमः शिवाय 🙏 👨‍👩‍👧‍👦", "rtl": "\u{202e}שלום عليكم\u{202c}", "zw": "a\u{200d}b\u{feff}c",
                "combining": "e\u{301}\u{302}", "ज़िला": "नाम", "🕉": "emoji key", "updatedAt": now,
            },
            Expect::Synced,
        ),
        pair(
            "dotted and $ field names",
            doc! {
                "a.b": 1, "$price": 2, "nested": { "c.d": 3, "$ref": "x", "$id": 4 },
                "arr": [ { "$x": 1, "y.z": 2 } ], "": "empty name", "updatedAt": now,
            },
            Expect::Synced,
        ),
        pair(
            "other BSON types",
            doc! {
                "ts": Bson::Timestamp(bson::Timestamp { time: 5, increment: 6 }),
                "re": Bson::RegularExpression(bson::Regex { pattern: "^a.*$".into(), options: "im".into() }),
                "js": Bson::JavaScriptCode("function () { return 1; }".into()),
                "min": Bson::MinKey, "max": Bson::MaxKey, "oid": ObjectId::new(),
                "year1": bson::DateTime::from_millis(-62_135_596_800_000), "null": Bson::Null, "updatedAt": now,
            },
            Expect::Synced,
        ),
        pair("no updatedAt", doc! { "name": "legacy" }, Expect::Synced),
        pair(
            "updatedAt a string",
            doc! { "name": "s", "updatedAt": "2024-01-01T00:00:00Z" },
            Expect::Synced,
        ),
        pair(
            "updatedAt a number",
            doc! { "name": "n", "updatedAt": 1_700_000_000_000i64 },
            Expect::Synced,
        ),
        pair(
            "updatedAt null",
            doc! { "name": "z", "updatedAt": Bson::Null },
            Expect::Synced,
        ),
        Shape {
            label: "15 MB",
            local: sized("L:15mb", 15 * 1024 * 1024),
            cloud: sized("R:15mb", 15 * 1024 * 1024),
            expect: Expect::Synced,
        },
        // Legal on its side, too large once syncedAt and syncStatus are added.
        Shape {
            label: "16 MB less 8 bytes",
            local: sized("L:16mb", MAX_BSON - 8),
            cloud: sized("R:16mb", MAX_BSON - 8),
            expect: Expect::Quarantined("too large"),
        },
        with_ids(
            "_id a string with / .. and spaces",
            "../a b/%2F".into(),
            "R/../x y".into(),
        ),
        with_ids("_id an Int32", Bson::Int32(i32::MIN), Bson::Int32(i32::MAX)),
        with_ids("_id an Int64", Bson::Int64(i64::MIN), Bson::Int64(i64::MAX)),
        with_ids(
            "_id a UUID",
            bin(BinarySubtype::Uuid, 0xa1),
            bin(BinarySubtype::Uuid, 0xb2),
        ),
        with_ids(
            "_id a compound document",
            Bson::Document(doc! { "temple": "L", "n": 1 }),
            Bson::Document(doc! { "temple": "R", "n": 1 }),
        ),
        with_ids(
            "_id a Decimal128",
            Bson::Decimal128("1.5".parse().unwrap()),
            Bson::Decimal128("2.5".parse().unwrap()),
        ),
        with_ids("_id a unicode string", "मंदिर🛕".into(), "مسجد🕌".into()),
    ];
    // Many ordinary documents around them: the batch that holds a bad one also holds these.
    for i in 0..30 {
        v.push(pair(
            "ordinary",
            doc! { "i": i, "updatedAt": now },
            Expect::Synced,
        ));
        let last = v.last_mut().expect("just pushed");
        last.local = raw(&doc! { "_id": format!("L:plain{i}"), "i": i, "updatedAt": now });
        last.cloud = raw(&doc! { "_id": format!("R:plain{i}"), "i": i, "updatedAt": now });
    }
    v
}

/// A document's bytes without the per-side bookkeeping fields, field order kept.
async fn content_bytes(db: &Database, coll_name: &str, id: &Bson) -> Option<Vec<u8>> {
    let d = db
        .collection::<RawDocumentBuf>(coll_name)
        .find_one(doc! { "_id": { "$eq": id.clone() } })
        .await
        .unwrap()?;
    let mut out = RawDocumentBuf::new();
    for el in d.iter() {
        let (k, v) = el.unwrap();
        if k != "syncedAt" && k != "syncStatus" {
            out.append(k, v.to_raw_bson());
        }
    }
    Some(out.into_bytes())
}

/// Both sides hold the same documents, byte for byte apart from the bookkeeping fields (read
/// as raw BSON: decoding a deeply nested document needs a deep stack, which a test thread
/// does not have).
async fn assert_same_bytes(a: &Database, b: &Database, coll_name: &str) {
    let ids = |db: &Database| {
        let c = db.collection::<RawDocumentBuf>(coll_name);
        async move {
            let docs: Vec<RawDocumentBuf> = c
                .find(doc! {})
                .projection(doc! { "_id": 1 })
                .sort(doc! { "_id": 1 })
                .await
                .unwrap()
                .try_collect()
                .await
                .unwrap();
            docs.iter().map(id_of).collect::<Vec<Bson>>()
        }
    };
    let (ia, ib) = (ids(a).await, ids(b).await);
    assert_eq!(ia, ib, "{coll_name}: the same documents on both sides");
    for id in &ia {
        assert!(
            content_bytes(a, coll_name, id).await == content_bytes(b, coll_name, id).await,
            "{coll_name}: {id} differs between the sides"
        );
    }
}

fn id_of(d: &RawDocumentBuf) -> Bson {
    d.get("_id")
        .unwrap()
        .unwrap()
        .to_raw_bson()
        .try_into()
        .unwrap()
}

async fn insert_raw(db: &Database, coll_name: &str, docs: impl Iterator<Item = RawDocumentBuf>) {
    let c = db.collection::<RawDocumentBuf>(coll_name);
    for d in docs {
        c.insert_one(d).await.unwrap();
    }
}

fn sync_of(names: &[&str]) -> SyncRequest {
    SyncRequest {
        trigger: Trigger::Manual,
        collections: Some(names.iter().map(|s| s.to_string()).collect()),
    }
}

async fn quarantine_entries(l: &Database) -> Vec<Document> {
    coll(l, "sync_quarantine")
        .find(doc! {})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_documents_sync_byte_for_byte_or_are_quarantined_without_stopping_the_run() {
    let o = Office::start().await;
    let (l, r) = (o.local(0).await, o.remote().await);
    let shapes = shapes();
    // Made on either side, in the one collection the run syncs.
    insert_raw(&l, "odd", shapes.iter().map(|s| s.local.clone())).await;
    insert_raw(&r, "odd", shapes.iter().map(|s| s.cloud.clone())).await;
    // As the office stored them (a server may normalise what it is given): the reference.
    let mut stored = Vec::new();
    for s in &shapes {
        let (lid, rid) = (id_of(&s.local), id_of(&s.cloud));
        stored.push((
            content_bytes(&l, "odd", &lid).await.expect("stored here"),
            content_bytes(&r, "odd", &rid)
                .await
                .expect("stored in the cloud"),
        ));
    }
    // And a collection with nothing odd in it, synced by the same run.
    coll(&l, "bookings")
        .insert_one(tms_doc(1, doc! { "name": "Puja" }))
        .await
        .unwrap();

    let e = o.engine(0).await;
    let started = Instant::now();
    let run = e.sync(sync_of(&["odd", "bookings"])).await.unwrap();
    eprintln!("first run over the odd shapes: {:?}", started.elapsed());
    assert_eq!(
        run.status,
        RunStatus::Completed,
        "bad documents do not fail the run: {:?}",
        run.error
    );
    assert_eq!(
        run.local_to_remote["bookings"], 1,
        "the other collection synced"
    );

    let mut table = Vec::new();
    for (s, (local_bytes, cloud_bytes)) in shapes.iter().zip(&stored) {
        let (lid, rid) = (id_of(&s.local), id_of(&s.cloud));
        let pushed = content_bytes(&r, "odd", &lid).await;
        let pulled = content_bytes(&l, "odd", &rid).await;
        match s.expect {
            Expect::Synced => {
                assert!(
                    pushed.as_ref() == Some(local_bytes),
                    "{}: the cloud holds the office's document byte for byte",
                    s.label
                );
                assert!(
                    pulled.as_ref() == Some(cloud_bytes),
                    "{}: the office holds the cloud's document byte for byte",
                    s.label
                );
                table.push(format!("{:<45} synced byte for byte, both ways", s.label));
            }
            Expect::Quarantined(why) => {
                assert!(pushed.is_none(), "{}: not pushed", s.label);
                assert!(pulled.is_none(), "{}: not pulled", s.label);
                for (id, side) in [(&lid, "cloud"), (&rid, "local")] {
                    let shown = templesync_engine::content::display_id(id);
                    let listed = run
                        .errors
                        .iter()
                        .find(|er| er.collection == "odd" && er.document_id == shown)
                        .unwrap_or_else(|| {
                            panic!(
                                "{}: {shown} is listed in the run: {:#?}",
                                s.label, run.errors
                            )
                        });
                    assert!(
                        listed.message.contains("quarantined") && listed.message.contains(why),
                        "{}: the reason names the problem: {}",
                        s.label,
                        listed.message
                    );
                    assert!(
                        listed
                            .message
                            .contains(&format!("the {side} database said")),
                        "{}: and which side refused it: {}",
                        s.label,
                        listed.message
                    );
                }
                table.push(format!("{:<45} quarantined: {why}", s.label));
            }
        }
    }
    let bad = shapes.iter().filter(|s| s.expect != Expect::Synced).count() as u64 * 2;
    assert_eq!(
        run.quarantined.get("odd").copied(),
        Some(bad),
        "{:?}",
        run.quarantined
    );
    let logged = e.logs(1).await.unwrap().remove(0);
    assert_eq!(logged.quarantined, run.quarantined, "sync_logs counts them");
    assert_eq!(logged.errors, run.errors, "and lists them");
    assert_eq!(quarantine_entries(&l).await.len() as u64, bad);
    let status = e.status().await.unwrap();
    assert_eq!(status.quarantined_documents, bad);
    assert_eq!(status.quarantined.len() as u64, bad);
    assert!(
        status
            .quarantined
            .iter()
            .all(|q| q.attempts == 1 && q.reason.contains("too large"))
    );
    eprintln!("odd shapes:\n  {}", table.join("\n  "));

    // Every front end shows them, with what to do.
    let home = tempfile::tempdir().unwrap();
    let cli =
        templesync_tests::app::Cli::new(home.path(), &o.pcs[0].url(), Some(&o.cloud.url()), DB)
            .with_env("TEMPLESYNC_API_TOKEN", "tok");
    let text = cli.run(&["status"]).await;
    assert!(
        text.stdout
            .contains("⚠ 2 documents could not be synced and are set aside (quarantined):")
            && text
                .stdout
                .contains("✗ odd L:16mb (cloud database): it is too large")
            && text
                .stdout
                .contains(templesync_engine::quarantine::QUARANTINE_HINT),
        "{}",
        text.stdout
    );
    let json = cli.run(&["status", "--json"]).await.json();
    assert_eq!(json["quarantinedDocuments"], 2, "{json:#}");
    assert_eq!(
        json["quarantined"].as_array().map(Vec::len),
        Some(2),
        "{json:#}"
    );
    // (No start-up sync: this test counts the attempts of each run.)
    assert_eq!(
        cli.run(&["config", "set", "autoSyncEnabled=false"])
            .await
            .code(),
        Some(0)
    );
    let serve = templesync_tests::app::Serve::start(&cli, &[]);
    let rest: Value = reqwest::Client::new()
        .get(format!("{}/api/sync/status", serve.base))
        .bearer_auth("tok")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    drop(serve);
    assert_eq!(rest["quarantinedDocuments"], 2, "{rest:#}");
    assert_eq!(
        rest["quarantined"], json["quarantined"],
        "the REST status lists the same"
    );

    // Nothing else is pending: the next run moves nothing, and tries the quarantined again.
    let again = e.sync(sync_of(&["odd"])).await.unwrap();
    assert_eq!(again.status, RunStatus::Completed, "{:?}", again.error);
    assert_eq!(
        SyncRun::total(&again.local_to_remote) + SyncRun::total(&again.remote_to_local),
        0,
        "every good document synced the first time: {again:#?}"
    );
    assert_eq!(
        again.quarantined.get("odd").copied(),
        Some(bad),
        "still refused"
    );
    let entries = quarantine_entries(&l).await;
    assert!(
        entries.iter().all(|q| q.get_i64("attempts") == Ok(2)),
        "each run tries them again: {entries:#?}"
    );

    // Someone makes them smaller: they sync and leave the quarantine.
    for (db, id) in [(&l, "L:16mb"), (&r, "R:16mb")] {
        tms_edit(db, "odd", id, doc! { "s": "trimmed" }).await;
    }
    let fixed = e.sync(sync_of(&["odd"])).await.unwrap();
    assert_eq!(fixed.status, RunStatus::Completed, "{fixed:#?}");
    assert_eq!(fixed.local_to_remote["odd"], 1, "{fixed:#?}");
    assert_eq!(fixed.remote_to_local["odd"], 1, "{fixed:#?}");
    assert!(
        fixed.quarantined.is_empty() && fixed.errors.is_empty(),
        "{fixed:#?}"
    );
    assert!(quarantine_entries(&l).await.is_empty(), "released");
    assert_eq!(e.status().await.unwrap().quarantined_documents, 0);
    assert_same_bytes(&l, &r, "odd").await;
}

/// The same odd shapes made on the office PC after a first sync, found by the local-changes
/// query (a standalone `mongod` has no change stream): nothing loops, nothing is pending
/// forever except what a wrong `updatedAt` makes look changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_updated_at_values_do_not_make_documents_sync_again_and_again() {
    let o = Office::start().await;
    let (l, r) = (o.local(0).await, o.remote().await);
    let e = o.engine_without_local_streams(0, None).await;
    coll(&l, "bookings")
        .insert_one(tms_doc(0, doc! { "name": "first" }))
        .await
        .unwrap();
    sync(&e).await;
    let odd = [
        doc! { "_id": 1, "name": "no updatedAt" },
        doc! { "_id": 2, "name": "string", "updatedAt": "yesterday" },
        doc! { "_id": 3, "name": "number", "updatedAt": 17 },
        doc! { "_id": 4, "name": "null", "updatedAt": Bson::Null },
    ];
    coll(&l, "bookings").insert_many(odd).await.unwrap();
    let first = sync(&e).await;
    assert_eq!(first.local_to_remote["bookings"], 4, "{first:#?}");
    assert_same(&l, &r, "bookings").await;
    for _ in 0..2 {
        let quiet = sync(&e).await;
        assert_eq!(
            SyncRun::total(&quiet.local_to_remote) + SyncRun::total(&quiet.remote_to_local),
            0,
            "{quiet:#?}"
        );
        assert!(quiet.errors.is_empty(), "{quiet:#?}");
    }
    // An edit of each is still seen (the TMS moves `updatedAt`, whatever it was).
    for id in 1..=4 {
        tms_edit(&l, "bookings", id, doc! { "name": format!("edited {id}") }).await;
    }
    let edited = sync(&e).await;
    assert_eq!(edited.local_to_remote["bookings"], 4, "{edited:#?}");
    assert_same(&l, &r, "bookings").await;
}

/// A refusal that every document gets (here the cloud refuses every insert) is not blamed on
/// the documents: the run fails with it, nothing is quarantined, and once the cloud accepts
/// writes again the documents sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_of_every_document_fails_the_run_instead_of_quarantining_them_all() {
    let o = Office::start().await;
    let (l, r) = (o.local(0).await, o.remote().await);
    let docs: Vec<Document> = (0..5).map(|i| tms_doc(i, doc! { "n": i })).collect();
    coll(&l, "bookings").insert_many(docs).await.unwrap();
    o.cloud
        .fail_command(&["insert"], 1000, FailMode::ErrorCode(2))
        .await;
    let e = o.engine(0).await;
    let run = e.sync(SyncRequest::manual()).await.unwrap();
    assert_eq!(run.status, RunStatus::Failed, "{run:#?}");
    assert!(
        run.error.as_deref().unwrap_or_default().contains("code 2"),
        "{run:#?}"
    );
    assert!(run.quarantined.is_empty(), "{run:#?}");
    assert!(quarantine_entries(&l).await.is_empty());
    o.cloud.clear_fail_points().await;
    let run = sync(&e).await;
    assert_eq!(run.local_to_remote["bookings"], 5);
    assert_same(&l, &r, "bookings").await;
}

// ---------------------------------------------------------------------------------------------
// What people and programs type

/// Every document of every collection of both databases, as raw bytes in `_id` order: what
/// must not change when input is refused.
async fn snapshot(dbs: &[&Database]) -> Vec<(String, Vec<Vec<u8>>)> {
    let mut out = Vec::new();
    for db in dbs {
        let mut names = db.list_collection_names().await.unwrap();
        names.sort();
        for name in names {
            let docs: Vec<RawDocumentBuf> = db
                .collection::<RawDocumentBuf>(&name)
                .find(doc! {})
                .sort(doc! { "_id": 1 })
                .await
                .unwrap()
                .try_collect()
                .await
                .unwrap();
            out.push((
                format!("{}.{name}", db.name()),
                docs.into_iter().map(RawDocumentBuf::into_bytes).collect(),
            ));
        }
    }
    out
}

/// A port on 127.0.0.1 that refuses connections: bound (so no other test's server can take it
/// while the socket lives) but not listening.
fn refusing_port() -> (tokio::net::TcpSocket, u16) {
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket
        .bind(([127, 0, 0, 1], 0).into())
        .expect("binding 127.0.0.1:0");
    let port = socket.local_addr().expect("its address").port();
    (socket, port)
}

/// A REST request and its answer: method, path, body; status, error code, named in the message.
type RestRow<'a> = (&'a str, String, Option<&'a str>, u16, &'a str, &'a str);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_mistakes_are_refused_naming_the_problem_and_change_nothing() {
    use templesync_tests::app::{Cli, Serve};
    let o = Office::start().await;
    let (l, r) = (o.local(0).await, o.remote().await);
    coll(&l, "bookings")
        .insert_many([
            tms_doc(1, doc! { "name": "Puja" }),
            tms_doc(2, doc! { "name": "Homa" }),
        ])
        .await
        .unwrap();
    let home = tempfile::tempdir().unwrap();
    let cli = Cli::new(home.path(), &o.pcs[0].url(), Some(&o.cloud.url()), DB);
    assert_eq!(cli.run(&["sync"]).await.code(), Some(0));
    assert_eq!(
        cli.run(&["config", "set", "autoSyncEnabled=false"])
            .await
            .code(),
        Some(0)
    );
    let before = snapshot(&[&l, &r]).await;
    let config_before = cli.run(&["config", "--json"]).await.json();

    // Command-line arguments and settings: (args, exit code, error code, named in the message).
    let unknown_id = ObjectId::new().to_hex();
    let rows: Vec<(Vec<&str>, i32, &str, &str)> = vec![
        (vec!["frobnicate"], 2, "bad_arguments", "frobnicate"),
        (
            vec!["sync", "--no-such-flag"],
            2,
            "bad_arguments",
            "--no-such-flag",
        ),
        (vec!["logs", "--limit", "many"], 2, "bad_arguments", "many"),
        (vec!["logs", "--limit", "-5"], 2, "bad_arguments", "-5"),
        (
            vec!["auto-resolve", "--max", "1e3"],
            2,
            "bad_arguments",
            "1e3",
        ),
        (
            vec!["resolve", &unknown_id],
            2,
            "bad_arguments",
            "--strategy",
        ),
        (
            vec!["resolve", &unknown_id, "--strategy", "keep_both"],
            2,
            "bad_arguments",
            "keep_both",
        ),
        (
            vec!["resolve", &unknown_id, "--strategy", "keep_local"],
            2,
            "conflict_not_found",
            &unknown_id,
        ),
        (
            vec!["resolve", "../../etc/passwd", "--strategy", "keep_local"],
            2,
            "conflict_not_found",
            "../../etc/passwd",
        ),
        (
            vec!["resolve", "%2F..%2F", "--strategy", "keep_local"],
            2,
            "conflict_not_found",
            "%2F..%2F",
        ),
        (
            vec!["resolve", "{\"$ne\": null}", "--strategy", "keep_local"],
            2,
            "conflict_not_found",
            "$ne",
        ),
        (
            vec!["sync", "--collections", "no_such"],
            2,
            "unknown_collection",
            "no_such",
        ),
        (
            vec!["sync", "--collections", "sync_logs"],
            2,
            "invalid_config",
            "sync_logs",
        ),
        (
            vec!["config", "set", "batchSize=abc"],
            2,
            "invalid_config",
            "batchSize",
        ),
        (
            vec!["config", "set", "batchSize=0"],
            2,
            "invalid_config",
            "batchSize",
        ),
        (
            vec!["config", "set", "batchSize=10001"],
            2,
            "invalid_config",
            "batchSize",
        ),
        (
            vec!["config", "set", "maxRetries=-1"],
            2,
            "invalid_config",
            "maxRetries",
        ),
        (
            vec!["config", "set", "syncIntervalMinutes=0"],
            2,
            "invalid_config",
            "syncIntervalMinutes",
        ),
        (
            vec!["config", "set", "syncIntervalMinutes=1441"],
            2,
            "invalid_config",
            "syncIntervalMinutes",
        ),
        (
            vec!["config", "set", "checkIntervalSeconds=4"],
            2,
            "invalid_config",
            "checkIntervalSeconds",
        ),
        (
            vec!["config", "set", "autoSyncEnabled=yes please"],
            2,
            "invalid_config",
            "autoSyncEnabled",
        ),
        (
            vec!["config", "set", "conflictResolutionStrategy=newest"],
            2,
            "invalid_config",
            "newest",
        ),
        (
            vec!["config", "set", "noSuchSetting=1"],
            2,
            "invalid_config",
            "noSuchSetting",
        ),
        (
            vec!["config", "set", "batchSize"],
            2,
            "invalid_config",
            "batchSize",
        ),
        (
            vec!["config", "set", "uniqueFields=admins"],
            2,
            "invalid_config",
            "uniqueFields",
        ),
        (
            vec!["config", "set", "batchSize=5", "maxRetries=99"],
            2,
            "invalid_config",
            "maxRetries",
        ),
    ];
    for (args, exit, code, named) in &rows {
        let mut json_args = args.clone();
        json_args.push("--json");
        let out = cli.run(&json_args).await;
        assert_eq!(
            out.code(),
            Some(*exit),
            "`templesync {}`: {}",
            json_args.join(" "),
            out.all()
        );
        let v = out.json();
        assert_eq!(
            v["error"]["code"],
            *code,
            "`templesync {}`: {v:#}",
            json_args.join(" ")
        );
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(named),
            "`templesync {}`: {message:?} names {named:?}",
            json_args.join(" ")
        );
    }

    // Connection strings: (local URL, cloud URL, database, error code, named in the message).
    let (_held, dead) = refusing_port();
    let local = o.pcs[0].url();
    let cloud = o.cloud.url();
    let secret = "Pw-n0t-echoed-5c1";
    let dead_cloud = format!("mongodb://u:{secret}@127.0.0.1:{dead}/?directConnection=true");
    let raw = "Pw3x/n0tEch?oed4@9";
    let pieces = ["Pw3x", "n0tEch", "oed4"];
    let conn_rows: Vec<(String, String, &str, &str, String)> = vec![
        (
            local.clone(),
            "http://127.0.0.1:27017".into(),
            DB,
            "invalid_connection_string",
            "mongodb://".into(),
        ),
        (
            local.clone(),
            "mongodb://".into(),
            DB,
            "invalid_connection_string",
            "no host".into(),
        ),
        (
            local.clone(),
            "mongodb://127.0.0.1:99999".into(),
            DB,
            "invalid_connection_string",
            "99999".into(),
        ),
        (
            local.clone(),
            format!("mongodb://u:{secret}@127.0.0.1:port/"),
            DB,
            "invalid_connection_string",
            "port".into(),
        ),
        (
            local.clone(),
            format!("mongodb://u:{secret}@127.0.0.1:1/?tls=maybe"),
            DB,
            "invalid_connection_string",
            "****".into(),
        ),
        // Passwords pasted unencoded, as Atlas users do: the message names the characters,
        // never a piece of the password (the driver quoted "u:Pw3x" as a host).
        (
            local.clone(),
            format!("mongodb+srv://u:{raw}@cluster0.templesync-test.invalid/db"),
            DB,
            "invalid_connection_string",
            "%2F".into(),
        ),
        (
            format!("mongodb://u:{raw}@127.0.0.1:1/"),
            cloud.clone(),
            DB,
            "invalid_connection_string",
            "local".into(),
        ),
        (
            "mongodb//127.0.0.1".into(),
            cloud.clone(),
            DB,
            "invalid_connection_string",
            "local".into(),
        ),
        (
            local.clone(),
            cloud.clone(),
            "temple/db",
            "invalid_config",
            "DATABASE_NAME".into(),
        ),
        (
            local.clone(),
            dead_cloud.clone(),
            DB,
            "remote_unreachable",
            format!("127.0.0.1:{dead}"),
        ),
        (
            local.clone(),
            format!("mongodb+srv://u:{secret}@cluster0.templesync-test.invalid/"),
            DB,
            "remote_unreachable",
            "cluster0.templesync-test.invalid".into(),
        ),
    ];
    for (local_url, cloud_url, db, code, named) in &conn_rows {
        let c = Cli::new(home.path(), local_url, Some(cloud_url), db);
        let started = Instant::now();
        let out = c.run(&["sync", "--json"]).await;
        let v = out.json();
        assert_eq!(
            v["error"]["code"], *code,
            "{local_url} / {cloud_url} / {db}: {v:#}"
        );
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(named.as_str()),
            "{cloud_url}: {message:?} names {named:?}"
        );
        assert!(
            out.code() == Some(1) || out.code() == Some(2),
            "{}",
            out.all()
        );
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{cloud_url}: {:?}",
            started.elapsed()
        );
        let status = c.run(&["status"]).await;
        for o in [&out, &status] {
            assert!(
                !o.all().contains(secret),
                "the password is never echoed:\n{}",
                o.all()
            );
            for piece in pieces {
                assert!(
                    !o.all().contains(piece),
                    "no piece of a password is echoed:\n{}",
                    o.all()
                );
            }
        }
    }

    // REST bodies and parameters beyond the schema: (method, path, body, status, code, named).
    let serve = Serve::start(&cli.clone().with_env("TEMPLESYNC_API_TOKEN", "tok"), &[]);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let huge = "x".repeat(2 * 1024 * 1024);
    let rest_rows: Vec<RestRow> = vec![
        (
            "POST",
            "/api/sync/sync".into(),
            Some("{"),
            400,
            "invalid_request",
            "JSON",
        ),
        (
            "POST",
            "/api/sync/sync".into(),
            Some("\n"),
            400,
            "invalid_request",
            "JSON",
        ),
        (
            "POST",
            "/api/sync/sync".into(),
            Some("[]"),
            400,
            "invalid_request",
            "object",
        ),
        (
            "POST",
            "/api/sync/sync".into(),
            Some(r#"{"collections": "bookings"}"#),
            400,
            "invalid_request",
            "collections",
        ),
        (
            "POST",
            "/api/sync/sync".into(),
            Some(r#"{"collections": [1]}"#),
            400,
            "invalid_request",
            "collections",
        ),
        (
            "POST",
            "/api/sync/sync".into(),
            Some(r#"{"collections": ["no_such"]}"#),
            400,
            "unknown_collection",
            "no_such",
        ),
        (
            "POST",
            "/api/sync/sync".into(),
            Some(r#"{"collections": ["../sync_logs"]}"#),
            400,
            "unknown_collection",
            "../sync_logs",
        ),
        (
            "POST",
            "/api/sync/sync".into(),
            Some(&huge),
            413,
            "payload_too_large",
            "larger",
        ),
        (
            "PUT",
            "/api/sync/config".into(),
            Some(r#"{"batchSize": "many"}"#),
            400,
            "invalid_config",
            "batchSize",
        ),
        (
            "PUT",
            "/api/sync/config".into(),
            Some(r#"{"batchSize": 1e400}"#),
            400,
            "invalid_request",
            "JSON",
        ),
        (
            "PUT",
            "/api/sync/config".into(),
            Some(r#"{"maxRetries": -1}"#),
            400,
            "invalid_config",
            "maxRetries",
        ),
        (
            "PUT",
            "/api/sync/config".into(),
            Some(r#"{"noSuchSetting": 1}"#),
            400,
            "invalid_config",
            "noSuchSetting",
        ),
        (
            "PUT",
            "/api/sync/config".into(),
            Some(r#"{"conflictResolutionStrategy": "newest"}"#),
            400,
            "invalid_config",
            "newest",
        ),
        (
            "PUT",
            "/api/sync/config".into(),
            Some("\"batchSize=5\""),
            400,
            "invalid_request",
            "object",
        ),
        (
            "PUT",
            "/api/sync/config".into(),
            Some("{\"batchSize\": 5\u{0}}"),
            400,
            "invalid_request",
            "JSON",
        ),
        (
            "POST",
            format!("/api/sync/conflicts/{unknown_id}/resolve"),
            Some(r#"{"strategy": "keep_both"}"#),
            400,
            "unknown_strategy",
            "keep_both",
        ),
        (
            "POST",
            format!("/api/sync/conflicts/{unknown_id}/resolve"),
            Some(r#"{"strategy": 7}"#),
            400,
            "invalid_request",
            "strategy",
        ),
        (
            "POST",
            format!("/api/sync/conflicts/{unknown_id}/resolve"),
            Some(r#"{"strategy": "keep_local"}"#),
            404,
            "conflict_not_found",
            &unknown_id,
        ),
        (
            "POST",
            "/api/sync/conflicts/..%2F..%2Fsync_logs/resolve".into(),
            Some(r#"{"strategy": "keep_local"}"#),
            404,
            "conflict_not_found",
            "../../sync_logs",
        ),
        (
            "POST",
            "/api/sync/conflicts/%2F%2Fetc%2Fpasswd/resolve".into(),
            Some(r#"{"strategy": "keep_local"}"#),
            404,
            "conflict_not_found",
            "//etc/passwd",
        ),
        (
            "POST",
            "/api/sync/conflicts/a%00b/resolve".into(),
            Some(r#"{"strategy": "keep_local"}"#),
            404,
            "conflict_not_found",
            "conflict",
        ),
        (
            "POST",
            "/api/sync/conflicts/not-an-objectid/resolve".into(),
            Some(r#"{"strategy": "keep_local"}"#),
            404,
            "conflict_not_found",
            "not-an-objectid",
        ),
        (
            "POST",
            "/api/sync/conflicts/%7B%22%24ne%22%3A1%7D/resolve".into(),
            Some(r#"{"strategy": "keep_local"}"#),
            404,
            "conflict_not_found",
            "$ne",
        ),
        (
            "GET",
            "/api/sync/logs?limit=abc".into(),
            None,
            400,
            "invalid_request",
            "limit",
        ),
        (
            "GET",
            "/api/sync/logs?limit=0".into(),
            None,
            400,
            "invalid_request",
            "limit",
        ),
        (
            "GET",
            "/api/sync/logs?limit=99999999999".into(),
            None,
            400,
            "invalid_request",
            "limit",
        ),
        (
            "GET",
            "/api/sync/conflicts?resolved=maybe".into(),
            None,
            400,
            "invalid_request",
            "resolved",
        ),
        (
            "GET",
            "/api/sync/..%2Fopenapi.json".into(),
            None,
            404,
            "not_found",
            "There is no",
        ),
    ];
    for (method, path, body, status, code, named) in &rest_rows {
        let mut req = http
            .request(method.parse().unwrap(), format!("{}{path}", serve.base))
            .bearer_auth("tok");
        if let Some(b) = body {
            req = req.body(b.to_string());
        }
        let res = req.send().await.unwrap();
        let got = res.status().as_u16();
        let text = res.text().await.unwrap();
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text}"));
        assert_eq!(
            (got, v["code"].as_str().unwrap_or_default()),
            (*status, *code),
            "{method} {path}: {v:#}"
        );
        let message = v["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(named),
            "{method} {path}: {message:?} names {named:?}"
        );
    }
    drop(serve);

    let after = snapshot(&[&l, &r]).await;
    let changed: Vec<String> = after
        .iter()
        .filter(|c| !before.contains(c))
        .map(|(name, docs)| {
            let was = before
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, d)| d.clone())
                .unwrap_or_default();
            let show = |d: &[Vec<u8>]| {
                d.iter()
                    .map(|b| format!("{:?}", bson::Document::from_reader(&b[..]).unwrap()))
                    .collect::<Vec<_>>()
            };
            format!("{name}: {:?}\n  -> {:?}", show(&was), show(docs))
        })
        .collect();
    assert!(
        changed.is_empty() && after.len() == before.len(),
        "refused input changed a database:\n{}",
        changed.join("\n")
    );
    assert_eq!(cli.run(&["config", "--json"]).await.json(), config_before);
}
