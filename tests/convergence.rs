//! Convergence under random work: two office PCs and the cloud edit, insert and delete at
//! random; syncs are cut at random steps and hit by random server faults. Then every open
//! conflict is resolved and clean syncs run until quiet. All three databases must then be
//! equal, every conflict must have been logged, and no document that nobody deleted may be
//! missing.
//!
//! `TEMPLESYNC_CONVERGENCE_CASES` (default 3) and `TEMPLESYNC_CONVERGENCE_SEED` set how many
//! cases run and from which seed (default 1, so CI is repeatable); a failure prints the seed
//! that reproduces it. Explore with e.g. `TEMPLESYNC_CONVERGENCE_SEED=$RANDOM`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use templesync_engine::SyncRequest;
use templesync_tests::FailMode;
use templesync_tests::chaos::{Ledger, Work, chaos_hook, check_convergence, do_work};
use templesync_tests::fixture::*;

const COLL: &str = "bookings";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Actor {
    Pc(usize),
    Cloud,
}

async fn run_case(seed: u64) {
    let o = Office::with_pcs(2).await;
    let dbs = [o.local(0).await, o.local(1).await, o.remote().await];
    let cuts = Arc::new(AtomicU64::new(0));
    let chaotic = [
        o.engine_with_hook(0, chaos_hook(seed ^ 1, cuts.clone(), 0.08))
            .await,
        o.engine_with_hook(1, chaos_hook(seed ^ 2, cuts.clone(), 0.08))
            .await,
    ];
    set_config(&chaotic[0], &["batchSize=7"]).await;
    set_config(&chaotic[1], &["batchSize=5"]).await;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut ledger = Ledger::default();
    let (mut faults, mut runs) = (0u32, 0u32);

    for _ in 0..70 {
        let actor = match rng.random_range(0..3) {
            0 => Actor::Pc(0),
            1 => Actor::Pc(1),
            _ => Actor::Cloud,
        };
        let db = match actor {
            Actor::Pc(i) => &dbs[i],
            Actor::Cloud => &dbs[2],
        };
        match rng.random_range(0..10) {
            w @ 0..=6 => {
                let work = match w {
                    0..=2 => Work::Insert,
                    3..=5 => Work::Edit,
                    _ => Work::Delete,
                };
                do_work(&mut rng, db, COLL, work, &mut ledger)
                    .await
                    .unwrap();
            }
            _ => {
                let Actor::Pc(i) = actor else { continue };
                if rng.random_bool(0.3) {
                    let cmd = ["insert", "update", "find", "delete", "aggregate", "getMore"]
                        [rng.random_range(0..6)];
                    let mode = if rng.random_bool(0.5) {
                        FailMode::CloseConnection
                    } else {
                        FailMode::ErrorCode(91)
                    };
                    o.cloud.fail_command(&[cmd], 1, mode).await;
                    faults += 1;
                }
                runs += 1;
                // A cut or failed run is expected here; what matters is what the next runs make of it.
                let _ = chaotic[i].sync(SyncRequest::manual()).await;
                o.cloud.clear_fail_points().await;
            }
        }
    }

    // Clean syncs: settle every open conflict (keeping the local version), until quiet.
    let clean = [
        o.engine_without_local_streams(0, None).await,
        o.engine(1).await,
    ];
    let settled = templesync_tests::chaos::settle(&[&clean[0], &clean[1]], 6)
        .await
        .unwrap_or_else(|err| panic!("seed {seed}: {err}"));
    assert_eq!(
        settled.document_errors, 0,
        "seed {seed}: document errors while settling"
    );
    let check = check_convergence(&[&dbs[0], &dbs[1], &dbs[2]], COLL, &ledger, true).await;
    assert!(
        check.is_clean(),
        "seed {seed}: not converged (lost {:?}, duplicated {:?}):\n{}",
        check.lost,
        check.duplicated,
        check.differences.join("\n")
    );
    eprintln!(
        "seed {seed}: {} inserts, {} edits, {} deletes, {runs} chaotic runs, {} cuts, {faults} server faults, {} conflicts logged, {} documents at the end",
        ledger.inserted.len(),
        ledger.edits,
        ledger.deleted.len(),
        cuts.load(Ordering::SeqCst),
        settled.conflicts_logged,
        check.documents
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_edits_deletes_and_interruptions_converge_without_loss() {
    let cases: u64 = std::env::var("TEMPLESYNC_CONVERGENCE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let first: u64 = std::env::var("TEMPLESYNC_CONVERGENCE_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    for seed in first..first + cases {
        run_case(seed).await;
    }
}

/// An edit of a field whose name holds a dot (`price.usd`, a top-level field), as a script or
/// Compass writes it: the whole document replaced, with a new `updatedAt`.
async fn edit_dotted_field(db: &mongodb::Database, rng: &mut StdRng) {
    let c = coll(db, COLL);
    let docs = all(db, COLL).await;
    if docs.is_empty() {
        return;
    }
    let mut d = docs[rng.random_range(0..docs.len())].clone();
    d.insert("price.usd", rng.random_range(1..100));
    let t = d
        .get_datetime("updatedAt")
        .map(|t| t.timestamp_millis() + 1)
        .unwrap_or(0)
        .max(bson::DateTime::now().timestamp_millis());
    d.insert("updatedAt", bson::DateTime::from_millis(t));
    let id = d.get("_id").cloned().unwrap();
    c.replace_one(bson::doc! { "_id": id }, d).await.unwrap();
}

/// A new booking as mongosh or Compass writes it: the number `_id` as a double (`5.0`), which
/// MongoDB treats as the TMS's `5`.
async fn insert_as_compass(db: &mongodb::Database, ledger: &mut Ledger) {
    ledger.next_id += 1;
    let id = ledger.next_id;
    let d = tms_doc(
        bson::Bson::Double(id as f64),
        bson::doc! { "tag": id, "a": 0, "b": 0, "c": 0 },
    );
    coll(db, COLL).insert_one(d).await.unwrap();
    ledger.inserted.insert(id);
}

/// What people and deployments do to the office's data in the crowd case, at fixed steps.
/// What the crowd case keeps for its people's events: a PC's dump, a backup of the cloud.
#[derive(Default)]
struct Backups {
    pc: Vec<bson::Document>,
    cloud: Vec<(String, Vec<bson::Document>)>,
}

/// The cloud restored from its backup (`mongorestore --drop` of the whole database, its
/// identity record included). Documents that only the cloud held and that the backup lacks
/// are lost by the restore itself, not by the engine: the ledger says so.
async fn restore_cloud(
    dbs: &[mongodb::Database],
    backup: &[(String, Vec<bson::Document>)],
    ledger: &mut Ledger,
) {
    let cloud = &dbs[dbs.len() - 1];
    let ids = |docs: &[bson::Document]| -> std::collections::BTreeSet<i32> {
        docs.iter()
            .filter_map(templesync_tests::chaos::numeric_id)
            .collect()
    };
    let in_backup = backup
        .iter()
        .find(|(n, _)| n == COLL)
        .map(|(_, d)| ids(d))
        .unwrap_or_default();
    let mut on_a_pc = std::collections::BTreeSet::new();
    for db in &dbs[..dbs.len() - 1] {
        on_a_pc.extend(ids(&all(db, COLL).await));
    }
    for id in ids(&all(cloud, COLL).await) {
        if !in_backup.contains(&id) && !on_a_pc.contains(&id) {
            ledger.deleted.insert(id);
        }
    }
    restore(cloud, backup).await;
}

async fn event(
    step: usize,
    o: &Office,
    dbs: &[mongodb::Database],
    backups: &mut Backups,
    ledger: &mut Ledger,
) {
    let cloud = &dbs[dbs.len() - 1];
    match step {
        // A unique index nobody listed in `uniqueFields`, in the cloud and on one PC.
        10 => {
            for db in [cloud, &dbs[2]] {
                let index = mongodb::IndexModel::builder()
                    .keys(bson::doc! { "tag": 1 })
                    .options(
                        mongodb::options::IndexOptions::builder()
                            .unique(true)
                            .build(),
                    )
                    .build();
                coll(db, COLL).create_index(index).await.unwrap();
            }
        }
        // The cloud gets a validator that refuses some documents (`c` above 900), for a while.
        15 => {
            let schema =
                bson::doc! { "properties": { "c": { "bsonType": "int", "maximum": 900 } } };
            cloud
                .run_command(bson::doc! { "collMod": COLL, "validator": { "$jsonSchema": schema } })
                .await
                .unwrap();
        }
        60 => {
            cloud
                .run_command(bson::doc! { "collMod": COLL, "validator": {} })
                .await
                .unwrap();
        }
        // PC 1 is backed up with mongodump ...
        20 => backups.pc = all(&dbs[1], COLL).await,
        // The cloud is backed up, and later restored from that backup (Atlas's restore).
        30 => backups.cloud = dump(cloud).await,
        70 => restore_cloud(dbs, &backups.cloud, ledger).await,
        // ... and later restored from it (`mongorestore --drop`), after a sync that took its
        // work to the cloud: documents made and edits done since the dump are gone here only.
        45 => {
            let e = o.engine(1).await;
            let _ = e.sync(SyncRequest::manual()).await;
            coll(&dbs[1], COLL).drop().await.unwrap();
            if !backups.pc.is_empty() {
                coll(&dbs[1], COLL)
                    .insert_many(backups.pc.clone())
                    .await
                    .unwrap();
            }
        }
        _ => {}
    }
}

/// Every PC syncs at the same moment (a run refused by another's lock is fine: the next one
/// catches up). A PC held because the cloud went back in time is answered as a person would:
/// "treat this cloud as new and send this computer's data". Returns how many chose.
async fn sync_all(engines: &[templesync_engine::Engine]) -> u32 {
    let runs =
        futures::future::join_all(engines.iter().map(|e| e.sync(SyncRequest::manual()))).await;
    let mut chose = 0;
    for (e, r) in engines.iter().zip(runs) {
        if r.is_ok_and(|r| r.error_code.as_deref() == Some("cloud_changed")) {
            e.choose_cloud(templesync_engine::CloudChoice::SendLocal)
                .await
                .expect("a person's choice about the cloud is carried out");
            chose += 1;
        }
    }
    chose
}

/// Several office PCs at once: four PCs and the cloud work at random (dotted field names and
/// `5.0` ids among the edits), all PCs sync at the same moment, people settle conflicts and
/// run auto-resolve after further edits (refused when the copies moved on) and switch the
/// conflict strategy back and forth; a unique index nobody configured appears, a cloud
/// validator refuses some documents for a while, a PC is restored from an old dump, and the
/// cloud is restored from a backup (each PC then asked, and answering "send this computer's").
/// Then everything settles: all equal, nothing lost that nobody deleted.
async fn run_crowd_case(seed: u64) {
    const PCS: usize = 4;
    let o = Office::with_pcs(PCS).await;
    let mut dbs = Vec::new();
    for pc in 0..PCS {
        dbs.push(o.local(pc).await);
    }
    dbs.push(o.remote().await);
    let mut engines = Vec::new();
    for pc in 0..PCS {
        engines.push(o.engine(pc).await);
    }
    set_config(&engines[0], &["batchSize=6"]).await;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut ledger = Ledger::default();
    let (mut refused, mut decided, mut switches) = (0u32, 0u32, 0u32);
    let mut backups = Backups::default();
    let mut cloud_choices = 0u32;
    for step in 0..80 {
        event(step, &o, &dbs, &mut backups, &mut ledger).await;
        // While the cloud's validator is on, the cloud's own writers keep to it (they are
        // other programs); the PCs' edits are what it refuses.
        let who = match (15..60).contains(&step) {
            true => rng.random_range(0..PCS),
            false => rng.random_range(0..=PCS),
        };
        let db = &dbs[who];
        match rng.random_range(0..10) {
            0 => insert_as_compass(db, &mut ledger).await,
            1..=3 => {
                do_work(&mut rng, db, COLL, Work::Insert, &mut ledger)
                    .await
                    .unwrap();
            }
            4..=6 => {
                do_work(&mut rng, db, COLL, Work::Edit, &mut ledger)
                    .await
                    .unwrap();
            }
            7 => {
                do_work(&mut rng, db, COLL, Work::Delete, &mut ledger)
                    .await
                    .unwrap();
            }
            _ => edit_dotted_field(db, &mut rng).await,
        }
        if step % 8 != 7 {
            continue;
        }
        // A person settles a conflict after more edits; refused when the copies moved on.
        let pc = rng.random_range(0..PCS);
        if let Some(c) = engines[pc]
            .conflicts(Some(false), None)
            .await
            .unwrap()
            .first()
        {
            if rng.random_bool(0.5) {
                do_work(&mut rng, &dbs[pc], COLL, Work::Edit, &mut ledger)
                    .await
                    .unwrap();
            }
            let keep_remote = templesync_engine::Resolution::new(
                templesync_engine::Strategy::KeepRemote,
                None,
                "crowd",
            );
            let outcome = if rng.random_bool(0.5) {
                engines[pc].resolve(&c.id, keep_remote).await.map(|_| ())
            } else {
                engines[pc].auto_resolve(20, "crowd").await.map(|_| ())
            };
            match outcome {
                Ok(()) => decided += 1,
                Err(_) => refused += 1,
            }
        }
        if rng.random_bool(0.25) {
            let to = if switches % 2 == 0 {
                "last_write_wins"
            } else {
                "manual"
            };
            set_config(&engines[0], &[&format!("conflictResolutionStrategy={to}")]).await;
            switches += 1;
        }
        // Every PC syncs at the same moment.
        cloud_choices += sync_all(&engines).await;
    }
    cloud_choices += sync_all(&engines).await;
    assert!(
        cloud_choices >= 1,
        "seed {seed}: the cloud restored from its backup held the PCs that synced since"
    );
    set_config(&engines[0], &["conflictResolutionStrategy=manual"]).await;
    let refs: Vec<&templesync_engine::Engine> = engines.iter().collect();
    let settled = templesync_tests::chaos::settle(&refs, 8)
        .await
        .unwrap_or_else(|err| panic!("seed {seed}: {err}"));
    let all_dbs: Vec<&mongodb::Database> = dbs.iter().collect();
    let check = check_convergence(&all_dbs, COLL, &ledger, true).await;
    assert!(
        check.is_clean(),
        "seed {seed}: several PCs at once did not converge (lost {:?}, duplicated {:?}):\n{}",
        check.lost,
        check.duplicated,
        check.differences.join("\n")
    );
    eprintln!(
        "crowd seed {seed}: {} inserts, {} edits, {} deletes, {decided} decisions, {refused} refused as stale, {switches} strategy switches, {cloud_choices} choices after the cloud restore, {} conflicts logged, {} documents",
        ledger.inserted.len(),
        ledger.edits,
        ledger.deleted.len(),
        settled.conflicts_logged,
        check.documents
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_pcs_at_once_with_later_decisions_converge_without_loss() {
    let cases: u64 = std::env::var("TEMPLESYNC_CONVERGENCE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let first: u64 = std::env::var("TEMPLESYNC_CONVERGENCE_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    for seed in first..first + cases {
        run_crowd_case(seed).await;
    }
}
