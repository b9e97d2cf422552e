//! TEMPORARY probe of SecantusDB behaviour through the Rust driver. Delete when done.
#![allow(clippy::all)]

use std::time::{Duration, Instant};

use bson::{Bson, DateTime, Document, doc};
use futures::TryStreamExt;
use mongodb::change_stream::event::{ChangeStreamEvent, ResumeToken};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::{ChangeStreamOptions, FullDocumentType, IndexOptions, WriteModel};
use mongodb::{Client, Collection, IndexModel, Namespace};
use templesync_tests::{MongoServer, ServerOptions};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn mkdoc(i: i32, t: DateTime) -> Document {
    doc! {
        "_id": i,
        "username": format!("user{i:07}"),
        "email": format!("user{i:07}@example.com"),
        "name": format!("User Number {i}"),
        "bio": "x".repeat(95),
        "n": i,
        "tags": ["a", "b"],
        "updatedAt": t,
        "syncedAt": t,
        "syncStatus": "synced",
    }
}

async fn load(coll: &Collection<Document>, n: i32, t: DateTime) -> Duration {
    let start = Instant::now();
    let mut i = 0;
    while i < n {
        let batch: Vec<Document> = (i..(i + 1000).min(n)).map(|k| mkdoc(k, t)).collect();
        coll.insert_many(batch).await.unwrap();
        i += 1000;
    }
    start.elapsed()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let which: Vec<String> = std::env::args().skip(1).collect();
    let run = |s: &str| which.is_empty() || which.iter().any(|w| w == s);
    if run("s1") {
        s1_conditional().await;
    }
    if run("s1b") {
        s1b_plans().await;
    }
    if run("s2b") {
        s2b_more().await;
    }
    if run("s3b") {
        s3b_paging().await;
    }
    if run("s5") {
        s5_clock().await;
    }
    if run("s4") {
        s4_writes().await;
    }
    if run("s2") {
        s2_change_streams().await;
    }
    if run("s2old") {
        s2_old_token().await;
    }
    if run("s3") {
        s3_timing().await;
    }
    if run("s2drain") {
        s2_drain().await;
    }
}

async fn s1_conditional() {
    println!("\n=== S1 conditional update with $$ROOT literal ===");
    let server = MongoServer::start().await.unwrap();
    let client = server.client().await;
    let coll = client.database("p").collection::<Document>("c");
    let t = DateTime::from_millis(1_700_000_000_123);
    coll.insert_one(
        doc! {"_id": 1, "name": "a", "n": 1, "f": 1.5, "big": 5i64, "updatedAt": t,
        "nested": {"x": [1, 2, {"y": null}], "s": "z"}, "oid": bson::oid::ObjectId::new()},
    )
    .await
    .unwrap();
    let read = coll.find_one(doc! {"_id": 1}).await.unwrap().unwrap();
    println!("read: {read}");
    let f = doc! {"_id": 1, "$expr": {"$eq": ["$$ROOT", {"$literal": read.clone()}]}};
    let r = coll
        .update_one(f.clone(), doc! {"$set": {"touched": 1}})
        .await;
    println!("unchanged -> {r:?}");
    // again with the old literal: doc now has 'touched'
    let r = coll
        .update_one(f.clone(), doc! {"$set": {"touched": 2}})
        .await;
    println!("after change (added field) -> {r:?}");
    // reset to read doc, then test a modified value
    coll.replace_one(doc! {"_id": 1}, read.clone())
        .await
        .unwrap();
    let r = coll.update_one(f.clone(), doc! {"$set": {"n": 1}}).await;
    println!("after replace back to identical + noop $set -> {r:?}");
    coll.update_one(doc! {"_id": 1}, doc! {"$set": {"nested.s": "changed"}})
        .await
        .unwrap();
    let r = coll
        .update_one(f.clone(), doc! {"$set": {"touched": 3}})
        .await;
    println!("after nested change -> {r:?}");
    coll.replace_one(doc! {"_id": 1}, read.clone())
        .await
        .unwrap();
    coll.update_one(
        doc! {"_id": 1},
        doc! {"$set": {"updatedAt": DateTime::from_millis(1_700_000_000_124)}},
    )
    .await
    .unwrap();
    let r = coll
        .update_one(f.clone(), doc! {"$set": {"touched": 3}})
        .await;
    println!("after date +1ms -> {r:?}");
    coll.replace_one(doc! {"_id": 1}, read.clone())
        .await
        .unwrap();
    // field-order sensitivity: reorder literal
    let mut reordered = Document::new();
    let mut keys: Vec<_> = read.keys().cloned().collect();
    keys.reverse();
    for k in keys {
        reordered.insert(k.clone(), read.get(&k).unwrap().clone());
    }
    let r = coll
        .count_documents(doc! {"_id": 1, "$expr": {"$eq": ["$$ROOT", {"$literal": reordered}]}})
        .await;
    println!("literal with REORDERED fields matches? count={r:?}");
    // numeric type sensitivity: n stored Int32 1; literal with n as Int64 / Double
    let mut as_i64 = read.clone();
    as_i64.insert("n", 1i64);
    let r = coll
        .count_documents(doc! {"_id": 1, "$expr": {"$eq": ["$$ROOT", {"$literal": as_i64}]}})
        .await;
    println!("literal with n as Int64 (stored Int32) matches? count={r:?}");
    let mut as_f = read.clone();
    as_f.insert("n", 1.0f64);
    let r = coll
        .count_documents(doc! {"_id": 1, "$expr": {"$eq": ["$$ROOT", {"$literal": as_f}]}})
        .await;
    println!("literal with n as Double matches? count={r:?}");
    // same check via a real type change in the stored doc
    coll.update_one(doc! {"_id": 1}, doc! {"$set": {"n": 1i64}})
        .await
        .unwrap();
    let r = coll.count_documents(f.clone()).await;
    println!("stored n changed Int32->Int64 same value, old literal matches? count={r:?}");
    coll.replace_one(doc! {"_id": 1}, read.clone())
        .await
        .unwrap();
    // $literal needed? literal containing a $-prefixed string value
    coll.insert_one(doc! {"_id": 2, "price": "$5", "expr": "$$ROOT"})
        .await
        .unwrap();
    let read2 = coll.find_one(doc! {"_id": 2}).await.unwrap().unwrap();
    let r = coll
        .count_documents(doc! {"_id": 2, "$expr": {"$eq": ["$$ROOT", {"$literal": read2.clone()}]}})
        .await;
    println!("doc with '$5' string values, via $literal: count={r:?}");
    let r = coll
        .count_documents(doc! {"_id": 2, "$expr": {"$eq": ["$$ROOT", read2.clone()]}})
        .await;
    println!("same WITHOUT $literal: {r:?}");
    // replace_one with $expr filter
    let mut new2 = read2.clone();
    new2.insert("price", "$6");
    let r = coll
        .replace_one(
            doc! {"_id": 2, "$expr": {"$eq": ["$$ROOT", {"$literal": read2.clone()}]}},
            new2.clone(),
        )
        .await;
    println!("replace_one with $expr filter, unchanged -> {r:?}");
    let r = coll
        .replace_one(
            doc! {"_id": 2, "$expr": {"$eq": ["$$ROOT", {"$literal": read2.clone()}]}},
            new2.clone(),
        )
        .await;
    println!("replace_one with $expr filter, second time (stale) -> {r:?}");
    // find_one_and_update with the same filter
    let r = coll
        .find_one_and_update(
            doc! {"_id": 1, "$expr": {"$eq": ["$$ROOT", {"$literal": read.clone()}]}},
            doc! {"$set": {"touched": 9}},
        )
        .await;
    println!(
        "find_one_and_update $expr unchanged -> {:?}",
        r.map(|d| d.is_some())
    );

    // $$NOW in pipeline update / $currentDate
    let r = coll
        .update_one(doc! {"_id": 1}, vec![doc! {"$set": {"now": "$$NOW"}}])
        .await;
    println!("pipeline $$NOW -> {r:?}");
    let r = coll
        .update_one(
            doc! {"_id": 1},
            vec![doc! {"$set": {"ct": "$$CLUSTER_TIME"}}],
        )
        .await;
    println!(
        "pipeline $$CLUSTER_TIME -> {:?}",
        r.map_err(|e| e.to_string())
    );
    let d = coll.find_one(doc! {"_id": 1}).await.unwrap().unwrap();
    println!("now field: {:?}", d.get("now"));

    // update_many with 100-branch $or on 100k docs
    let big = client.database("p").collection::<Document>("big");
    let t0 = DateTime::from_millis(1_700_000_000_000);
    let el = load(&big, 100_000, t0).await;
    println!("loaded 100k in {:.0} ms", ms(el));
    let ids: Vec<i32> = (0..100).map(|k| (k * 997 + 13) % 100_000).collect();
    let t1 = DateTime::from_millis(1_700_000_100_000);
    big.update_many(
        doc! {"_id": {"$in": ids.clone()}},
        doc! {"$set": {"updatedAt": t1, "syncStatus": "pending"}},
    )
    .await
    .unwrap();
    let branches: Vec<Document> = ids
        .iter()
        .enumerate()
        .map(|(k, id)| doc! {"_id": id, "updatedAt": if k % 20 == 0 { t0 } else { t1 }})
        .collect();
    let pipeline = vec![doc! {"$set": {"syncedAt": "$updatedAt", "syncStatus": "synced"}}];
    let start = Instant::now();
    let r = big
        .update_many(doc! {"$or": branches.clone()}, pipeline.clone())
        .await;
    println!(
        "update_many $or 100 branches (5 stale) pipeline -> {r:?} in {:.1} ms",
        ms(start.elapsed())
    );
    let pending = big
        .count_documents(doc! {"syncStatus": "pending"})
        .await
        .unwrap();
    let synced_ok = big
        .count_documents(doc! {"_id": {"$in": ids.clone()}, "syncStatus": "synced", "syncedAt": t1})
        .await
        .unwrap();
    println!(
        "after: pending={pending} (expect 5), synced with syncedAt=t1 among ids={synced_ok} (expect 95)"
    );
    // repeat with ids prefix
    big.update_many(
        doc! {"_id": {"$in": ids.clone()}},
        doc! {"$set": {"updatedAt": DateTime::from_millis(1_700_000_200_000), "syncStatus": "pending"}},
    )
    .await
    .unwrap();
    let t2 = DateTime::from_millis(1_700_000_200_000);
    let branches2: Vec<Document> = ids
        .iter()
        .map(|id| doc! {"_id": id, "updatedAt": t2})
        .collect();
    let start = Instant::now();
    let r = big
        .update_many(
            doc! {"_id": {"$in": ids.clone()}, "$or": branches2.clone()},
            pipeline.clone(),
        )
        .await;
    println!(
        "update_many {{_id:$in, $or}} 100 branches -> {r:?} in {:.1} ms",
        ms(start.elapsed())
    );
    // plain $or again (nothing to do) timing
    let start = Instant::now();
    let r = big
        .update_many(doc! {"$or": branches2.clone()}, pipeline.clone())
        .await;
    println!(
        "update_many $or 100 branches again (all already synced, matched but no-op) -> {r:?} in {:.1} ms",
        ms(start.elapsed())
    );
    // explain
    let ex = client
        .database("p")
        .run_command(doc! {"explain": {"find": "big", "filter": {"$or": branches2.clone()}}, "verbosity": "executionStats"})
        .await;
    match ex {
        Ok(d) => {
            let s = d.to_string();
            println!("explain $or: {}", &s[..s.len().min(1500)]);
        }
        Err(e) => println!("explain err: {e}"),
    }
    // bulk of 100 update_one via Client::bulk_write with $expr ROOT filters
    let docs: Vec<Document> = big
        .find(doc! {"_id": {"$in": ids.clone()}})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let ns = Namespace::new("p", "big");
    let models: Vec<WriteModel> = docs
        .iter()
        .map(|d| {
            WriteModel::UpdateOne(
                mongodb::options::UpdateOneModel::builder()
                    .namespace(ns.clone())
                    .filter(doc! {"_id": d.get("_id").unwrap().clone(), "$expr": {"$eq": ["$$ROOT", {"$literal": d.clone()}]}})
                    .update(doc! {"$set": {"syncStatus": "checked"}})
                    .build(),
            )
        })
        .collect();
    let start = Instant::now();
    let r = client.bulk_write(models).ordered(false).await;
    println!(
        "Client::bulk_write 100 UpdateOne with $$ROOT literal filters -> {r:?} in {:.1} ms",
        ms(start.elapsed())
    );
    // compare: 100 sequential update_one
    let start = Instant::now();
    let mut m = 0;
    for d in &docs {
        let mut d2 = d.clone();
        d2.insert("syncStatus", "checked");
        let r = big
            .update_one(
                doc! {"_id": d.get("_id").unwrap().clone(), "$expr": {"$eq": ["$$ROOT", {"$literal": d2}]}},
                doc! {"$set": {"syncStatus": "checked2"}},
            )
            .await
            .unwrap();
        m += r.modified_count;
    }
    println!(
        "100 sequential update_one with $$ROOT literal -> modified {m} in {:.1} ms",
        ms(start.elapsed())
    );
}

async fn s5_clock() {
    println!("\n=== S5 hello / serverStatus localTime ===");
    let server = MongoServer::start().await.unwrap();
    let client = server.client().await;
    let admin = client.database("admin");
    let before = DateTime::now();
    let start = Instant::now();
    let hello = admin.run_command(doc! {"hello": 1}).await.unwrap();
    let rtt = start.elapsed();
    let after = DateTime::now();
    println!("hello: {hello}");
    println!(
        "hello.localTime = {:?}; client before={before} after={after} rtt={:.2}ms",
        hello.get("localTime"),
        ms(rtt)
    );
    if let Ok(lt) = hello.get_datetime("localTime") {
        let mid = (before.timestamp_millis() + after.timestamp_millis()) / 2;
        println!(
            "skew estimate server-client = {} ms",
            lt.timestamp_millis() - mid
        );
    }
    let ss = admin.run_command(doc! {"serverStatus": 1}).await.unwrap();
    println!(
        "serverStatus.localTime = {:?}, pid={:?}, version={:?}, uptimeMillis={:?}",
        ss.get("localTime"),
        ss.get("pid"),
        ss.get("version"),
        ss.get("uptimeMillis")
    );
    let bi = admin.run_command(doc! {"buildInfo": 1}).await;
    println!("buildInfo: {:?}", bi.map(|d| d.get("version").cloned()));
    let db = client.database("x");
    db.collection::<Document>("c")
        .insert_one(doc! {"a": 1})
        .await
        .unwrap();
    let r = db.run_command(doc! {"ping": 1}).await.unwrap();
    println!("ping reply: {r}");
}

async fn s4_writes() {
    println!("\n=== S4 writes / errors ===");
    let server = MongoServer::start().await.unwrap();
    let client = server.client().await;
    let db = client.database("p");
    let a = db.collection::<Document>("a");
    let b = db.collection::<Document>("b");
    a.insert_one(doc! {"_id": 1, "v": 1}).await.unwrap();
    // Client::bulk_write mixed
    let models = vec![
        WriteModel::InsertOne(
            mongodb::options::InsertOneModel::builder()
                .namespace(a.namespace())
                .document(doc! {"_id": 2, "v": 2})
                .build(),
        ),
        WriteModel::UpdateOne(
            mongodb::options::UpdateOneModel::builder()
                .namespace(a.namespace())
                .filter(doc! {"_id": 1})
                .update(doc! {"$inc": {"v": 10}})
                .build(),
        ),
        WriteModel::ReplaceOne(
            mongodb::options::ReplaceOneModel::builder()
                .namespace(b.namespace())
                .filter(doc! {"_id": 5})
                .replacement(doc! {"v": 5})
                .upsert(true)
                .build(),
        ),
        WriteModel::DeleteOne(
            mongodb::options::DeleteOneModel::builder()
                .namespace(a.namespace())
                .filter(doc! {"_id": 2})
                .build(),
        ),
    ];
    let r = client.bulk_write(models).await;
    println!("Client::bulk_write summary -> {r:?}");
    let models = vec![
        WriteModel::InsertOne(
            mongodb::options::InsertOneModel::builder()
                .namespace(a.namespace())
                .document(doc! {"_id": 3})
                .build(),
        ),
        WriteModel::UpdateOne(
            mongodb::options::UpdateOneModel::builder()
                .namespace(a.namespace())
                .filter(doc! {"_id": 3})
                .update(doc! {"$set": {"w": 1}})
                .build(),
        ),
    ];
    let r = client.bulk_write(models).verbose_results().await;
    println!("Client::bulk_write verbose -> {r:?}");
    // failing bulk write: dup _id unordered
    let models = vec![
        WriteModel::InsertOne(
            mongodb::options::InsertOneModel::builder()
                .namespace(a.namespace())
                .document(doc! {"_id": 1})
                .build(),
        ),
        WriteModel::InsertOne(
            mongodb::options::InsertOneModel::builder()
                .namespace(a.namespace())
                .document(doc! {"_id": 100})
                .build(),
        ),
        WriteModel::InsertOne(
            mongodb::options::InsertOneModel::builder()
                .namespace(b.namespace())
                .document(doc! {"_id": 5})
                .build(),
        ),
    ];
    match client.bulk_write(models).ordered(false).await {
        Ok(r) => println!("bulk dup -> unexpectedly ok {r:?}"),
        Err(e) => match &*e.kind {
            ErrorKind::BulkWrite(bw) => {
                println!("bulk dup -> ErrorKind::BulkWrite write_errors:");
                let mut keys: Vec<_> = bw.write_errors.keys().collect();
                keys.sort();
                for k in keys {
                    println!("   [{k}] {:?}", bw.write_errors[k]);
                }
                println!("   partial_result={:?}", bw.partial_result);
            }
            other => println!("bulk dup -> other {other:?}"),
        },
    }

    // unordered insert_many with duplicates
    let docs = vec![
        doc! {"_id": 10},
        doc! {"_id": 1},
        doc! {"_id": 11},
        doc! {"_id": 10},
        doc! {"_id": 12},
    ];
    match a.insert_many(docs).ordered(false).await {
        Ok(r) => println!("insert_many dup -> unexpectedly ok {r:?}"),
        Err(e) => match &*e.kind {
            ErrorKind::InsertMany(im) => {
                println!("insert_many unordered dup -> ErrorKind::InsertMany:");
                for w in im.write_errors.as_ref().unwrap() {
                    println!("   {w:?}");
                }
                println!(
                    "   wce={:?}; labels={:?}",
                    im.write_concern_error,
                    e.labels()
                );
            }
            other => println!("insert_many dup -> other {other:?}"),
        },
    }
    let ids: Vec<Bson> = a
        .find(doc! {})
        .await
        .unwrap()
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.get("_id").unwrap().clone())
        .collect();
    println!("ids now in a: {ids:?}");
    // ordered insert_many dup
    match a
        .insert_many(vec![doc! {"_id": 20}, doc! {"_id": 1}, doc! {"_id": 21}])
        .await
    {
        Ok(r) => println!("ordered insert_many dup -> ok?? {r:?}"),
        Err(e) => println!("ordered insert_many dup -> {:?}", e.kind),
    }
    println!(
        "after ordered: 20 present={} 21 present={}",
        a.count_documents(doc! {"_id": 20}).await.unwrap(),
        a.count_documents(doc! {"_id": 21}).await.unwrap()
    );

    // unique index on username
    let u = db.collection::<Document>("users");
    let name = u
        .create_index(
            IndexModel::builder()
                .keys(doc! {"username": 1})
                .options(IndexOptions::builder().unique(true).build())
                .build(),
        )
        .await;
    println!("create_index -> {name:?}");
    u.insert_one(doc! {"_id": 1, "username": "ada"})
        .await
        .unwrap();
    match u.insert_one(doc! {"_id": 2, "username": "ada"}).await {
        Ok(_) => println!("dup username insert_one -> ok??"),
        Err(e) => match &*e.kind {
            ErrorKind::Write(WriteFailure::WriteError(w)) => {
                println!("dup username insert_one -> ErrorKind::Write(WriteError) {w:?}")
            }
            o => println!("dup username insert_one -> {o:?}"),
        },
    }
    match u
        .update_one(doc! {"_id": 3}, doc! {"$set": {"username": "ada"}})
        .upsert(true)
        .await
    {
        Ok(r) => println!("dup username upsert -> ok?? {r:?}"),
        Err(e) => println!("dup username upsert -> {:?}", e.kind),
    }
    match u
        .insert_many(vec![
            doc! {"_id": 4, "username": "bob"},
            doc! {"_id": 5, "username": "ada"},
        ])
        .ordered(false)
        .await
    {
        Ok(r) => println!("insert_many username dup ok?? {r:?}"),
        Err(e) => println!("insert_many username dup -> {:?}", e.kind),
    }
    // raw reply of the server for the same error
    let raw = db
        .run_command(doc! {"insert": "users", "documents": [{"_id": 6, "username": "ada"}], "ordered": false})
        .await;
    println!("raw insert reply -> {raw:?}");
    let raw = db
        .run_command(doc! {"insert": "a", "documents": [{"_id": 1}]})
        .await;
    println!("raw insert dup _id reply -> {raw:?}");
    // compound unique
    let cu = db.collection::<Document>("cu");
    cu.create_index(
        IndexModel::builder()
            .keys(doc! {"tenant": 1, "email": 1})
            .options(
                IndexOptions::builder()
                    .unique(true)
                    .name("tenant_email".to_string())
                    .build(),
            )
            .build(),
    )
    .await
    .unwrap();
    cu.insert_one(doc! {"tenant": "t", "email": "e"})
        .await
        .unwrap();
    let e = cu
        .insert_one(doc! {"tenant": "t", "email": "e"})
        .await
        .unwrap_err();
    println!("compound dup -> {:?}", e.kind);

    // replace_one with $expr filter
    let cur = a.find_one(doc! {"_id": 1}).await.unwrap().unwrap();
    let r = a
        .replace_one(
            doc! {"_id": 1, "$expr": {"$eq": ["$$ROOT", {"$literal": cur.clone()}]}},
            doc! {"v": 99},
        )
        .await;
    println!("replace_one $expr (current) -> {r:?}");
    let r = a
        .replace_one(
            doc! {"_id": 1, "$expr": {"$eq": ["$$ROOT", {"$literal": cur.clone()}]}},
            doc! {"v": 100},
        )
        .await;
    println!("replace_one $expr (stale) -> {r:?}");
    let r = a
        .replace_one(
            doc! {"_id": 1, "$expr": {"$eq": ["$v", 99]}},
            doc! {"v": 101},
        )
        .await;
    println!("replace_one $expr {{$eq:[$v,99]}} -> {r:?}");
}

async fn s2_change_streams() {
    println!("\n=== S2 change streams ===");
    let server = MongoServer::start().await.unwrap();
    let client = server.client().await;
    let db = client.database("cs");
    let coll = db.collection::<Document>("c");
    coll.insert_one(doc! {"_id": 0}).await.unwrap();

    // exclusion projection
    let proj_ex = doc! {"$project": {"fullDocument": 0, "updateDescription": 0}};
    let proj_in = doc! {"$project": {"_id": 1, "operationType": 1, "documentKey": 1, "ns": 1}};
    let start = Instant::now();
    let mut s_ex = coll.watch().pipeline(vec![proj_ex.clone()]).await.unwrap();
    println!(
        "watch() with exclusion $project opened in {:.1} ms",
        ms(start.elapsed())
    );
    let tok0 = s_ex.resume_token();
    println!("resume_token() right after watch(): {tok0:?}");
    let mut s_in = coll.watch().pipeline(vec![proj_in.clone()]).await.unwrap();
    let tok_in0 = s_in.resume_token();
    // stream with full doc for comparison
    let mut s_full = coll
        .watch()
        .full_document(FullDocumentType::UpdateLookup)
        .await
        .unwrap();

    let start = Instant::now();
    let r = s_ex.next_if_any().await;
    println!(
        "next_if_any on caught-up stream -> {:?} in {:.1} ms",
        r.as_ref().map(|o| o.is_some()),
        ms(start.elapsed())
    );
    let start = Instant::now();
    let r = s_ex.next_if_any().await;
    println!(
        "next_if_any again -> {:?} in {:.1} ms; token now {:?}",
        r.as_ref().map(|o| o.is_some()),
        ms(start.elapsed()),
        s_ex.resume_token()
    );
    let tok_caught_up = s_ex.resume_token();
    println!(
        "token == token right after watch? {}",
        tok_caught_up == tok0
    );

    // writes
    coll.insert_one(doc! {"_id": 1, "a": 1}).await.unwrap();
    coll.update_one(doc! {"_id": 1}, doc! {"$set": {"a": 2}})
        .await
        .unwrap();
    coll.replace_one(doc! {"_id": 1}, doc! {"a": 3})
        .await
        .unwrap();
    coll.delete_one(doc! {"_id": 1}).await.unwrap();

    for (name, s) in [
        ("exclusion", &mut s_ex),
        ("inclusion", &mut s_in),
        ("full", &mut s_full),
    ] {
        let mut got = vec![];
        let start = Instant::now();
        while got.len() < 4 && start.elapsed() < Duration::from_secs(10) {
            match s.next_if_any().await {
                Ok(Some(ev)) => got.push(ev),
                Ok(None) => {}
                Err(e) => {
                    println!("{name}: error {e}");
                    break;
                }
            }
        }
        println!(
            "{name}: {} events in {:.1} ms",
            got.len(),
            ms(start.elapsed())
        );
        for ev in &got {
            println!(
                "   op={:?} key={:?} ns={:?} fullDoc={:?} upd={:?} clusterTime={:?} wallTime={:?}",
                ev.operation_type,
                ev.document_key,
                ev.ns,
                ev.full_document,
                ev.update_description.as_ref().map(|u| &u.updated_fields),
                ev.cluster_time,
                ev.wall_time
            );
        }
    }
    // raw event shape with projection
    let mut raw = coll
        .watch()
        .pipeline(vec![proj_ex.clone()])
        .start_after(tok_caught_up.clone().unwrap())
        .await
        .unwrap()
        .with_type::<Document>();
    if let Ok(Some(d)) = raw.next_if_any().await {
        println!("raw projected event: {d}");
    }
    let mut raw_full = coll
        .watch()
        .start_after(tok_caught_up.clone().unwrap())
        .await
        .unwrap()
        .with_type::<Document>();
    for _ in 0..2 {
        if let Ok(Some(d)) = raw_full.next_if_any().await {
            println!("raw unprojected event: {d}");
        }
    }

    // resume_after token from caught-up state
    let start = Instant::now();
    let _ = s_ex.next_if_any().await;
    let tok_after4 = s_ex.resume_token();
    println!("caught-up next_if_any took {:.1} ms", ms(start.elapsed()));
    coll.insert_one(doc! {"_id": 50}).await.unwrap();
    coll.insert_one(doc! {"_id": 51}).await.unwrap();
    for (label, mode) in [("resume_after", 0), ("start_after", 1)] {
        let mut opts = ChangeStreamOptions::default();
        if mode == 0 {
            opts.resume_after = tok_after4.clone();
        } else {
            opts.start_after = tok_after4.clone();
        }
        let mut s2 = coll
            .watch()
            .pipeline(vec![proj_ex.clone()])
            .with_options(opts)
            .await
            .unwrap();
        let mut keys = vec![];
        let start = Instant::now();
        loop {
            match s2.next_if_any().await {
                Ok(Some(ev)) => keys.push(ev.document_key.unwrap().get("_id").unwrap().clone()),
                Ok(None) => {
                    if start.elapsed() > Duration::from_millis(1500) {
                        break;
                    }
                }
                Err(e) => {
                    println!("{label} err {e}");
                    break;
                }
            }
        }
        println!("{label}(caught-up token) sees keys {keys:?}");
    }
    // resume from the token right after watch() (initial postBatchResumeToken)
    let mut s3 = coll
        .watch()
        .pipeline(vec![proj_ex.clone()])
        .resume_after(tok0.clone())
        .await
        .unwrap();
    let mut n = 0;
    let mut ops = vec![];
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(1500) {
        if let Ok(Some(ev)) = s3.next_if_any().await {
            n += 1;
            ops.push(format!("{:?}", ev.operation_type));
        }
    }
    println!(
        "resume_after(token right after watch) sees {n} events: {ops:?} (expect 6: i,u,r,d,i,i)"
    );
    let _ = tok_in0;

    // watch on non-existent collection
    let ghost = db.collection::<Document>("ghost");
    let mut gs = ghost.watch().pipeline(vec![proj_ex.clone()]).await;
    match &mut gs {
        Ok(gs) => {
            println!(
                "watch() on missing collection ok; token={:?}",
                gs.resume_token()
            );
            let _ = gs.next_if_any().await;
            ghost.insert_one(doc! {"_id": "g1"}).await.unwrap();
            ghost.insert_one(doc! {"_id": "g2"}).await.unwrap();
            let mut keys = vec![];
            let start = Instant::now();
            while keys.len() < 2 && start.elapsed() < Duration::from_secs(5) {
                if let Ok(Some(ev)) = gs.next_if_any().await {
                    keys.push(format!("{:?}", ev.operation_type));
                }
            }
            println!("  after creating it by inserts: events {keys:?}");
        }
        Err(e) => println!("watch() on missing collection -> err {e}"),
    }
    // drop the collection while watching: invalidate?
    let mut ds = ghost.watch().await.unwrap();
    ghost.drop().await.unwrap();
    let start = Instant::now();
    let mut seen = vec![];
    while start.elapsed() < Duration::from_secs(3) {
        match ds.next_if_any().await {
            Ok(Some(ev)) => seen.push(format!("{:?}", ev.operation_type)),
            Ok(None) => {}
            Err(e) => {
                seen.push(format!("ERR {e}"));
                break;
            }
        }
        if ds.is_alive() == false {
            seen.push("stream dead".into());
            break;
        }
    }
    println!("drop while watching -> {seen:?}");

    // projection that removes _id
    let bad = coll
        .watch()
        .pipeline(vec![doc! {"$project": {"_id": 0}}])
        .await;
    match bad {
        Ok(mut s) => {
            coll.insert_one(doc! {"_id": 77}).await.unwrap();
            let start = Instant::now();
            let mut res = String::new();
            while start.elapsed() < Duration::from_secs(3) {
                match s.next_if_any().await {
                    Ok(Some(e)) => {
                        res = format!("event {e:?}");
                        break;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        res = format!("ERR {:?}", e.kind);
                        break;
                    }
                }
            }
            println!("$project removing _id -> {res}");
        }
        Err(e) => println!("$project removing _id -> open err {:?}", e.kind),
    }

    // max_await_time effect
    let mut s4 = coll
        .watch()
        .pipeline(vec![proj_ex.clone()])
        .max_await_time(Duration::from_millis(50))
        .await
        .unwrap();
    let start = Instant::now();
    let _ = s4.next_if_any().await;
    println!(
        "next_if_any with max_await_time 50ms caught-up -> {:.1} ms",
        ms(start.elapsed())
    );
    let mut times = vec![];
    for _ in 0..5 {
        let start = Instant::now();
        let _ = s_ex.next_if_any().await;
        times.push(ms(start.elapsed()));
    }
    println!("default stream caught-up next_if_any x5 ms: {times:?}");

    // token type/shape
    if let Some(t) = s_ex.resume_token() {
        let b = bson::to_bson(&t).unwrap();
        println!("resume token as bson: {b}");
        let back: ResumeToken = bson::from_bson(b).unwrap();
        println!("roundtrip eq: {}", Some(back) == s_ex.resume_token());
        let j = serde_json::to_string(&t).unwrap();
        println!("as json: {j}");
    }
    // db-level and client-level watch
    let r = db.watch().await.map(|_| ());
    println!("db.watch() -> {r:?}");
    let r = client.watch().await.map(|_| ());
    println!("client.watch() -> {r:?}");
    // startAtOperationTime
    let hello = client
        .database("admin")
        .run_command(doc! {"ping": 1})
        .await
        .unwrap();
    if let Ok(ts) = hello.get_timestamp("operationTime") {
        let r = coll.watch().start_at_operation_time(ts).await.map(|_| ());
        println!("start_at_operation_time({ts:?}) -> {r:?}");
    }
    let _: Option<ChangeStreamEvent<Document>> = None;
}

async fn s2_old_token() {
    println!("\n=== S2 resume from a token older than history ===");
    let server = MongoServer::start_with(ServerOptions::new().oplog_max_entries(10))
        .await
        .unwrap();
    let client = server.client().await;
    let coll = client.database("cs").collection::<Document>("c");
    coll.insert_one(doc! {"_id": -1}).await.unwrap();
    let mut s = coll.watch().await.unwrap();
    let _ = s.next_if_any().await;
    let old = s.resume_token();
    coll.insert_one(doc! {"_id": 0}).await.unwrap();
    let ev = s.next_if_any().await.unwrap();
    let old_event_token = ev.map(|e| e.id);
    drop(s);
    for i in 1..=50 {
        coll.insert_one(doc! {"_id": i}).await.unwrap();
    }
    for (label, tok) in [("postBatch token", old), ("event token", old_event_token)] {
        for mode in ["resume_after", "start_after"] {
            let b = coll.watch();
            let b = if mode == "resume_after" {
                b.resume_after(tok.clone())
            } else {
                b.start_after(tok.clone().unwrap())
            };
            match b.await {
                Ok(mut s) => {
                    let r = s.next_if_any().await;
                    match r {
                        Ok(x) => println!(
                            "{label} {mode}: opened, next -> {:?}",
                            x.map(|e| e.document_key)
                        ),
                        Err(e) => println!(
                            "{label} {mode}: opened, next err code={:?} labels={:?} kind={:?}",
                            e.kind.as_ref(),
                            e.labels(),
                            e.to_string()
                        ),
                    }
                }
                Err(e) => println!(
                    "{label} {mode}: open err code={:?} labels={:?} kind={:?}",
                    e.kind.as_ref(),
                    e.labels(),
                    e.to_string()
                ),
            }
        }
    }
    // a stream that stays open while history is pruned
    let mut live = coll.watch().await.unwrap();
    let _ = live.next_if_any().await;
    for i in 100..150 {
        coll.insert_one(doc! {"_id": i}).await.unwrap();
    }
    let mut n = 0;
    let mut err = None;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        match live.next_if_any().await {
            Ok(Some(_)) => n += 1,
            Ok(None) => {}
            Err(e) => {
                err = Some(format!("{:?}", e.kind));
                break;
            }
        }
    }
    println!("open stream, 50 writes with max 10 entries, then drain -> {n} events, err={err:?}");
}

async fn s3_timing() {
    println!("\n=== S3 timing ===");
    let server = MongoServer::start().await.unwrap();
    let client = server.client().await;
    let coll = client.database("t").collection::<Document>("c");
    let t = DateTime::from_millis(1_700_000_000_000);
    let sample = mkdoc(1234, t);
    println!(
        "sample doc bson size {} bytes",
        bson::to_vec(&sample).unwrap().len()
    );
    let el = load(&coll, 100_000, t).await;
    println!(
        "insert_many 100k (batches 1000): {:.0} ms = {:.0} docs/s",
        ms(el),
        100_000.0 / el.as_secs_f64()
    );
    let start = Instant::now();
    let mut cur = coll.find(doc! {}).await.unwrap();
    let mut n = 0;
    while let Some(_d) = cur.try_next().await.unwrap() {
        n += 1;
    }
    let el = start.elapsed();
    println!(
        "find({{}}) full read: {n} docs in {:.0} ms = {:.0} docs/s",
        ms(el),
        n as f64 / el.as_secs_f64()
    );
    let start = Instant::now();
    let mut cur = coll.find(doc! {}).batch_size(10000).await.unwrap();
    let mut n = 0;
    while let Some(_d) = cur.try_next().await.unwrap() {
        n += 1;
    }
    println!(
        "find({{}}) batch_size 10000: {n} docs in {:.0} ms",
        ms(start.elapsed())
    );
    let filt = doc! {"$or": [{"syncedAt": null}, {"$expr": {"$ne": ["$updatedAt", "$syncedAt"]}}]};
    let start = Instant::now();
    let v: Vec<Document> = coll
        .find(filt.clone())
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    println!(
        "find dirty filter (0 match expected): {} docs in {:.0} ms",
        v.len(),
        ms(start.elapsed())
    );
    // with 10 dirty
    coll.update_many(
        doc! {"_id": {"$lt": 10}},
        doc! {"$set": {"updatedAt": DateTime::now()}},
    )
    .await
    .unwrap();
    coll.update_many(
        doc! {"_id": {"$gte": 10, "$lt": 15}},
        doc! {"$unset": {"syncedAt": ""}},
    )
    .await
    .unwrap();
    let start = Instant::now();
    let v: Vec<Document> = coll
        .find(filt.clone())
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    println!(
        "find dirty filter (15 match expected): {} docs in {:.0} ms",
        v.len(),
        ms(start.elapsed())
    );
    let start = Instant::now();
    let c = coll.count_documents(filt.clone()).await.unwrap();
    println!(
        "count_documents(dirty filter) = {c} in {:.0} ms",
        ms(start.elapsed())
    );
    let start = Instant::now();
    let c = coll.count_documents(doc! {}).await.unwrap();
    println!(
        "count_documents({{}}) = {c} in {:.1} ms",
        ms(start.elapsed())
    );
    let start = Instant::now();
    let c = coll.estimated_document_count().await.unwrap();
    println!(
        "estimated_document_count = {c} in {:.1} ms",
        ms(start.elapsed())
    );
    let start = Instant::now();
    let v: Vec<Document> = coll
        .find(doc! {})
        .projection(doc! {"_id": 1})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    println!(
        "find projection {{_id:1}}: {} ids in {:.0} ms",
        v.len(),
        ms(start.elapsed())
    );
    let start = Instant::now();
    let v: Vec<Document> = coll
        .find(doc! {})
        .projection(doc! {"_id": 1})
        .batch_size(20000)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    println!(
        "find projection {{_id:1}} batch 20000: {} ids in {:.0} ms",
        v.len(),
        ms(start.elapsed())
    );
    let start = Instant::now();
    let v: Vec<Document> = coll
        .find(doc! {})
        .projection(doc! {"_id": 1})
        .sort(doc! {"_id": 1})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    println!(
        "find projection {{_id:1}} sort _id: {} ids in {:.0} ms",
        v.len(),
        ms(start.elapsed())
    );
    let mut lat = vec![];
    for k in 0..20 {
        let ids: Vec<i32> = (0..100).map(|j| (j * 991 + k * 7) % 100_000).collect();
        let start = Instant::now();
        let v: Vec<Document> = coll
            .find(doc! {"_id": {"$in": ids}})
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(v.len(), 100);
        lat.push(ms(start.elapsed()));
    }
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "find _id $in 100 ids: median {:.1} ms, min {:.1}, max {:.1}",
        lat[10], lat[0], lat[19]
    );
    // single find_one by _id
    let mut lat = vec![];
    for k in 0..50 {
        let start = Instant::now();
        coll.find_one(doc! {"_id": k * 1000})
            .await
            .unwrap()
            .unwrap();
        lat.push(ms(start.elapsed()));
    }
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!("find_one by _id: median {:.2} ms", lat[25]);
    // single update_one
    let start = Instant::now();
    for k in 0..200 {
        coll.update_one(doc! {"_id": k}, doc! {"$set": {"x": 1}})
            .await
            .unwrap();
    }
    println!(
        "200 update_one: {:.0} ms = {:.0}/s",
        ms(start.elapsed()),
        200.0 / start.elapsed().as_secs_f64()
    );
    // index on updatedAt? find range with index
    coll.create_index(IndexModel::builder().keys(doc! {"syncStatus": 1}).build())
        .await
        .unwrap();
    let start = Instant::now();
    let c = coll
        .count_documents(doc! {"syncStatus": "pending"})
        .await
        .unwrap();
    println!(
        "count syncStatus=pending with index = {c} in {:.1} ms",
        ms(start.elapsed())
    );
    let start = Instant::now();
    let c = coll
        .count_documents(doc! {"username": "nobody"})
        .await
        .unwrap();
    println!(
        "count username=nobody (no index, collscan) = {c} in {:.0} ms",
        ms(start.elapsed())
    );
}

async fn s2_drain() {
    println!("\n=== S2 drain 100k insert events ===");
    let server = MongoServer::start_with(ServerOptions::new().oplog_max_entries(300_000))
        .await
        .unwrap();
    let client = server.client().await;
    let coll = client.database("d").collection::<Document>("c");
    let proj_ex = doc! {"$project": {"fullDocument": 0, "updateDescription": 0}};
    let mut s = coll.watch().pipeline(vec![proj_ex.clone()]).await.unwrap();
    let tok = s.resume_token();
    let el = load(&coll, 100_000, DateTime::now()).await;
    println!("loaded 100k in {:.0} ms (stream open)", ms(el));
    let start = Instant::now();
    let mut n = 0;
    while n < 100_000 {
        match s.next_if_any().await {
            Ok(Some(_)) => n += 1,
            Ok(None) => {
                if start.elapsed() > Duration::from_secs(300) {
                    break;
                }
            }
            Err(e) => {
                println!("err {e}");
                break;
            }
        }
    }
    let el = start.elapsed();
    println!(
        "drained {n} projected events (default batch) in {:.0} ms = {:.0} ev/s",
        ms(el),
        n as f64 / el.as_secs_f64()
    );
    for bs in [1000u32, 10000] {
        let mut s = coll
            .watch()
            .pipeline(vec![proj_ex.clone()])
            .resume_after(tok.clone())
            .batch_size(bs)
            .await
            .unwrap();
        let start = Instant::now();
        let mut n = 0;
        while n < 100_000 {
            match s.next_if_any().await {
                Ok(Some(_)) => n += 1,
                Ok(None) => {
                    if start.elapsed() > Duration::from_secs(300) {
                        break;
                    }
                }
                Err(e) => {
                    println!("err {e}");
                    break;
                }
            }
        }
        let el = start.elapsed();
        println!(
            "resumed drain batch_size {bs}: {n} projected events in {:.0} ms = {:.0} ev/s",
            ms(el),
            n as f64 / el.as_secs_f64()
        );
    }
    // without projection
    let mut s = coll
        .watch()
        .resume_after(tok.clone())
        .batch_size(10000)
        .await
        .unwrap();
    let start = Instant::now();
    let mut n = 0;
    while n < 100_000 {
        match s.next_if_any().await {
            Ok(Some(_)) => n += 1,
            Ok(None) => {
                if start.elapsed() > Duration::from_secs(300) {
                    break;
                }
            }
            Err(e) => {
                println!("err {e}");
                break;
            }
        }
    }
    let el = start.elapsed();
    println!(
        "resumed drain batch_size 10000 WITHOUT projection: {n} events in {:.0} ms = {:.0} ev/s",
        ms(el),
        n as f64 / el.as_secs_f64()
    );
    let _ = Client::clone(&client);
}

fn plan_summary(ex: &Document) -> String {
    let qp = ex.get_document("queryPlanner").ok();
    let wp = qp.and_then(|q| q.get_document("winningPlan").ok());
    let es = ex.get_document("executionStats").ok();
    let mut out = String::new();
    if let Some(wp) = wp {
        let s = wp.to_string();
        out.push_str(&format!("winningPlan={} ", &s[..s.len().min(300)]));
    }
    if let Some(es) = es {
        out.push_str(&format!(
            "docsExamined={:?} keysExamined={:?} nReturned={:?} execMs={:?}",
            es.get("totalDocsExamined"),
            es.get("totalKeysExamined"),
            es.get("nReturned"),
            es.get("executionTimeMillis")
        ));
    }
    if out.is_empty() {
        let s = ex.to_string();
        out = s[..s.len().min(800)].to_string();
    }
    out
}

async fn s1b_plans() {
    println!("\n=== S1b which filters use the _id index (100k docs) ===");
    let server = MongoServer::start().await.unwrap();
    let client = server.client().await;
    let db = client.database("p");
    let big = db.collection::<Document>("big");
    let t0 = DateTime::from_millis(1_700_000_000_000);
    let el = load(&big, 100_000, t0).await;
    println!("loaded 100k in {:.0} ms", ms(el));
    let one = big.find_one(doc! {"_id": 4242}).await.unwrap().unwrap();
    let ids: Vec<i32> = (0..100).map(|k| (k * 997 + 13) % 100_000).collect();
    let or_branches: Vec<Document> = ids
        .iter()
        .map(|id| doc! {"_id": id, "updatedAt": t0})
        .collect();
    let or_ids_only: Vec<Document> = ids.iter().map(|id| doc! {"_id": id}).collect();
    let filters: Vec<(&str, Document)> = vec![
        ("{_id}", doc! {"_id": 4242}),
        ("{_id, updatedAt}", doc! {"_id": 4242, "updatedAt": t0}),
        (
            "{_id, $expr $$ROOT literal}",
            doc! {"_id": 4242, "$expr": {"$eq": ["$$ROOT", {"$literal": one.clone()}]}},
        ),
        (
            "{$and:[{_id},{$expr ROOT}]}",
            doc! {"$and": [{"_id": 4242}, {"$expr": {"$eq": ["$$ROOT", {"$literal": one.clone()}]}}]},
        ),
        (
            "{_id, $expr {$eq:[$updatedAt, t]}}",
            doc! {"_id": 4242, "$expr": {"$eq": ["$updatedAt", t0]}},
        ),
        ("{_id:{$in:100}}", doc! {"_id": {"$in": ids.clone()}}),
        ("{$or: 100x {_id}}", doc! {"$or": or_ids_only.clone()}),
        (
            "{$or: 100x {_id, updatedAt}}",
            doc! {"$or": or_branches.clone()},
        ),
        (
            "{_id:{$in}, $or: 100x{_id,updatedAt}}",
            doc! {"_id": {"$in": ids.clone()}, "$or": or_branches.clone()},
        ),
        (
            "{_id:{$in}, $or 10 branches}",
            doc! {"_id": {"$in": ids[..10].to_vec()}, "$or": or_branches[..10].to_vec()},
        ),
        (
            "{$or: 10x {_id, updatedAt}}",
            doc! {"$or": or_branches[..10].to_vec()},
        ),
        (
            "{$or: 1x {_id, updatedAt}}",
            doc! {"$or": or_branches[..1].to_vec()},
        ),
        (
            "{_id:{$gte,$lt}}",
            doc! {"_id": {"$gte": 5000, "$lt": 5100}},
        ),
        ("{username}", doc! {"username": "user0004242"}),
    ];
    for (label, f) in &filters {
        let start = Instant::now();
        let v: Vec<Document> = big
            .find(f.clone())
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        let el = start.elapsed();
        let ex = db
            .run_command(doc! {"explain": {"find": "big", "filter": f.clone()}, "verbosity": "executionStats"})
            .await
            .map(|d| plan_summary(&d))
            .unwrap_or_else(|e| format!("explain err {e}"));
        println!("find {label}: {} docs in {:.1} ms | {ex}", v.len(), ms(el));
    }
    // update variants timing
    let upd_filters: Vec<(&str, Document)> = vec![
        ("update_one {_id}", doc! {"_id": 4242}),
        (
            "update_one {_id, updatedAt}",
            doc! {"_id": 4242, "updatedAt": t0},
        ),
        (
            "update_one {_id, $expr ROOT}",
            doc! {"_id": 4243, "$expr": {"$eq": ["$$ROOT", {"$literal": big.find_one(doc!{"_id": 4243}).await.unwrap().unwrap()}]}},
        ),
    ];
    for (label, f) in &upd_filters {
        let start = Instant::now();
        let r = big
            .update_one(f.clone(), doc! {"$set": {"x": 1}})
            .await
            .unwrap();
        println!(
            "{label}: matched {} in {:.1} ms",
            r.matched_count,
            ms(start.elapsed())
        );
    }
    let start = Instant::now();
    let r = big
        .update_many(
            doc! {"_id": {"$in": ids.clone()}},
            vec![doc! {"$set": {"syncedAt": "$updatedAt", "syncStatus": "synced"}}],
        )
        .await
        .unwrap();
    println!(
        "update_many {{_id:$in 100}} pipeline: matched {} in {:.1} ms",
        r.matched_count,
        ms(start.elapsed())
    );
    // 2-phase approach: find by $in, compare client side, then update_many $in of matching ids
    let start = Instant::now();
    let mut n = 0;
    for id in &ids {
        let r = big
            .update_one(
                doc! {"_id": id, "updatedAt": t0},
                vec![doc! {"$set": {"syncedAt": "$updatedAt", "syncStatus": "synced2"}}],
            )
            .await
            .unwrap();
        n += r.modified_count;
    }
    println!(
        "100 sequential update_one {{_id, updatedAt}} pipeline: modified {n} in {:.1} ms",
        ms(start.elapsed())
    );
    let ns = Namespace::new("p", "big");
    let models: Vec<WriteModel> = ids
        .iter()
        .map(|id| {
            WriteModel::UpdateOne(
                mongodb::options::UpdateOneModel::builder()
                    .namespace(ns.clone())
                    .filter(doc! {"_id": id, "updatedAt": t0})
                    .update(vec![
                        doc! {"$set": {"syncedAt": "$updatedAt", "syncStatus": "synced3"}},
                    ])
                    .build(),
            )
        })
        .collect();
    let start = Instant::now();
    let r = client.bulk_write(models).ordered(false).await;
    println!(
        "Client::bulk_write 100 UpdateOne {{_id, updatedAt}} pipeline -> {r:?} in {:.1} ms",
        ms(start.elapsed())
    );
    let models: Vec<WriteModel> = ids
        .iter()
        .map(|id| {
            WriteModel::UpdateOne(
                mongodb::options::UpdateOneModel::builder()
                    .namespace(ns.clone())
                    .filter(doc! {"_id": id, "updatedAt": t0})
                    .update(doc! {"$set": {"syncStatus": "synced4"}})
                    .build(),
            )
        })
        .collect();
    let start = Instant::now();
    let r = client.bulk_write(models).ordered(false).await;
    println!(
        "Client::bulk_write 100 UpdateOne {{_id, updatedAt}} $set -> {r:?} in {:.1} ms",
        ms(start.elapsed())
    );
    // collection-level bulk via update command with many statements
    let updates: Vec<Document> = ids
        .iter()
        .map(|id| doc! {"q": {"_id": id, "updatedAt": t0}, "u": [{"$set": {"syncStatus": "synced5"}}]})
        .collect();
    let start = Instant::now();
    let r = db
        .run_command(doc! {"update": "big", "updates": updates, "ordered": false})
        .await;
    println!(
        "raw update command 100 statements -> {:?} in {:.1} ms",
        r.map(|d| (d.get("n").cloned(), d.get("nModified").cloned())),
        ms(start.elapsed())
    );
    // $expr-ROOT statements in bulk
    let docs: Vec<Document> = big
        .find(doc! {"_id": {"$in": ids[..10].to_vec()}})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let updates: Vec<Document> = docs
        .iter()
        .map(|d| doc! {"q": {"_id": d.get("_id").unwrap().clone(), "$expr": {"$eq": ["$$ROOT", {"$literal": d.clone()}]}}, "u": {"$set": {"syncStatus": "x"}}})
        .collect();
    let start = Instant::now();
    let r = db
        .run_command(doc! {"update": "big", "updates": updates, "ordered": false})
        .await;
    println!(
        "raw update command 10 $expr-ROOT statements -> {:?} in {:.1} ms",
        r.map(|d| (d.get("n").cloned(), d.get("nModified").cloned())),
        ms(start.elapsed())
    );
}

async fn drain_report(label: &str, b: mongodb::action::Watch<'_>) {
    match b.await {
        Ok(mut s) => {
            let mut n = 0;
            let start = Instant::now();
            let mut first: Option<Document> = None;
            loop {
                match s.next_if_any().await {
                    Ok(Some(e)) => {
                        if first.is_none() {
                            first = e.document_key.clone();
                        }
                        n += 1;
                    }
                    Ok(None) => {
                        if start.elapsed() > Duration::from_millis(1200) {
                            println!("{label}: opened OK, {n} events, first key {first:?}");
                            break;
                        }
                    }
                    Err(e) => {
                        println!(
                            "{label}: opened OK, then after {n} events getMore error: code={:?} labels={:?} msg={}",
                            match &*e.kind { ErrorKind::Command(c) => Some((c.code, c.code_name.clone())), _ => None },
                            e.labels(),
                            e
                        );
                        break;
                    }
                }
            }
        }
        Err(e) => println!(
            "{label}: watch() error: code={:?} labels={:?} kind={:?}",
            match &*e.kind { ErrorKind::Command(c) => Some((c.code, c.code_name.clone())), _ => None },
            e.labels(),
            e.kind
        ),
    }
}

async fn s2b_more() {
    println!("\n=== S2b await time, token advance, history lost ===");
    let server = MongoServer::start_with(ServerOptions::new().oplog_max_entries(10))
        .await
        .unwrap();
    let client = server.client().await;
    let db = client.database("cs");
    let coll = db.collection::<Document>("c");
    let other = db.collection::<Document>("other");
    coll.insert_one(doc! {"_id": -1}).await.unwrap();
    for mat in [None, Some(0u64), Some(10), Some(50), Some(200)] {
        let mut b = coll.watch();
        if let Some(m) = mat {
            b = b.max_await_time(Duration::from_millis(m));
        }
        let mut s = b.await.unwrap();
        let mut times = vec![];
        for _ in 0..4 {
            let start = Instant::now();
            let r = s.next_if_any().await;
            times.push(format!("{:.1}{}", ms(start.elapsed()), if r.is_err() { "ERR" } else { "" }));
        }
        println!("max_await_time={mat:?}: caught-up next_if_any ms {times:?}");
    }
    // token advance on unrelated writes
    let mut s = coll
        .watch()
        .max_await_time(Duration::from_millis(20))
        .await
        .unwrap();
    let _ = s.next_if_any().await;
    let _ = s.next_if_any().await;
    let t_a = s.resume_token();
    for i in 0..5 {
        other.insert_one(doc! {"_id": i}).await.unwrap();
    }
    let _ = s.next_if_any().await;
    let _ = s.next_if_any().await;
    let t_b = s.resume_token();
    println!("token changes after unrelated writes (other coll) + caught-up getMore? {}", t_a != t_b);
    println!("   before: {:?}\n   after:  {:?}", t_a.as_ref().map(|t| bson::to_bson(t).unwrap().to_string()), t_b.as_ref().map(|t| bson::to_bson(t).unwrap().to_string()));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let _ = s.next_if_any().await;
    println!("token changes after 1.2 s idle + getMore? {}", s.resume_token() != t_b);

    // history lost
    let mut s = coll.watch().max_await_time(Duration::from_millis(20)).await.unwrap();
    let _ = s.next_if_any().await;
    let old_pb = s.resume_token();
    coll.insert_one(doc! {"_id": 0}).await.unwrap();
    let ev = s.next_if_any().await.unwrap().unwrap();
    let old_ev = ev.id.clone();
    for i in 1..=50 {
        coll.insert_one(doc! {"_id": i}).await.unwrap();
    }
    drain_report("50 writes, no prune yet: resume_after(old event token)", coll.watch().resume_after(old_ev.clone())).await;
    let r = client.database("admin").run_command(doc! {"secantusAdmin.pruneOplog": 1}).await;
    println!("secantusAdmin.pruneOplog -> {r:?}");
    drain_report("after prune: resume_after(old event token)", coll.watch().resume_after(old_ev.clone())).await;
    drain_report("after prune: start_after(old event token)", coll.watch().start_after(old_ev.clone())).await;
    drain_report("after prune: resume_after(old postBatch token)", coll.watch().resume_after(old_pb.clone())).await;
    // the live stream s positioned at event _id 0
    let mut n = 0;
    let start = Instant::now();
    let mut err = None;
    while start.elapsed() < Duration::from_secs(2) {
        match s.next_if_any().await {
            Ok(Some(_)) => n += 1,
            Ok(None) => {}
            Err(e) => {
                err = Some(format!("{:?}", e.kind));
                break;
            }
        }
    }
    println!("live stream opened before prune: {n} events, err={err:?}");
    // automatic prune every 1000 emits
    let mut s2 = coll.watch().max_await_time(Duration::from_millis(20)).await.unwrap();
    coll.insert_one(doc! {"_id": 1000}).await.unwrap();
    let tok = loop {
        if let Some(e) = s2.next_if_any().await.unwrap() {
            break e.id;
        }
    };
    drop(s2);
    let docs: Vec<Document> = (2000..3100).map(|i| doc! {"_id": i}).collect();
    coll.insert_many(docs).await.unwrap();
    drain_report("after 1100 more writes (auto prune): resume_after(token)", coll.watch().resume_after(tok)).await;
    // startAtOperationTime too old
    let r = coll.watch().start_at_operation_time(bson::Timestamp { time: 1, increment: 0 }).await;
    match r {
        Ok(mut s) => println!("start_at_operation_time(ancient) opened; next -> {:?}", s.next_if_any().await.map(|o| o.map(|e| e.document_key))),
        Err(e) => println!("start_at_operation_time(ancient) -> err {:?}", e.kind),
    }
}

async fn s3b_paging() {
    println!("\n=== S3b paging by _id ===");
    let server = MongoServer::start().await.unwrap();
    let client = server.client().await;
    let coll = client.database("t").collection::<Document>("c");
    let t = DateTime::from_millis(1_700_000_000_000);
    println!("sample doc bson size {} bytes", bson::to_vec(&mkdoc(1234, t)).unwrap().len());
    load(&coll, 100_000, t).await;
    let start = Instant::now();
    let v: Vec<Document> = coll
        .find(doc! {"_id": {"$gt": 50_000}})
        .sort(doc! {"_id": 1})
        .limit(1000)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    println!("find {{_id:{{$gt}}}} sort _id limit 1000: {} docs in {:.0} ms", v.len(), ms(start.elapsed()));
    let start = Instant::now();
    let v: Vec<Document> = coll
        .find(doc! {})
        .sort(doc! {"_id": 1})
        .limit(1000)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    println!("find {{}} sort _id limit 1000: {} docs in {:.0} ms", v.len(), ms(start.elapsed()));
    let start = Instant::now();
    let v: Vec<Document> = coll
        .find(doc! {"_id": {"$gt": 50_000}})
        .limit(1000)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    println!("find {{_id:{{$gt}}}} limit 1000 (no sort): {} docs in {:.0} ms", v.len(), ms(start.elapsed()));
    let start = Instant::now();
    let v: Vec<Document> = coll
        .find(doc! {"_id": {"$gt": 50_000}})
        .sort(doc! {"_id": 1})
        .limit(1000)
        .hint(mongodb::options::Hint::Keys(doc! {"_id": 1}))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    println!("find {{_id:{{$gt}}}} sort _id limit 1000 hint _id: {} docs in {:.0} ms", v.len(), ms(start.elapsed()));
    coll.create_index(IndexModel::builder().keys(doc! {"updatedAt": 1}).build()).await.unwrap();
    coll.update_many(doc! {"_id": {"$in": [5, 6, 7]}}, doc! {"$set": {"updatedAt": DateTime::from_millis(1_800_000_000_000)}}).await.unwrap();
    let start = Instant::now();
    let v: Vec<Document> = coll
        .find(doc! {"updatedAt": {"$gt": DateTime::from_millis(1_750_000_000_000)}})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    println!("find updatedAt $gt (indexed): {} docs in {:.1} ms", v.len(), ms(start.elapsed()));
}
