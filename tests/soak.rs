//! `templesync-soak`: the long fault campaign, outside CI. For `--minutes N` (default 30) two
//! office PCs and the cloud (real SecantusDB servers, each PC reaching the cloud through a
//! proxy of ours) are edited without pause as the Temple Management System does it (inserts,
//! edits with a new `updatedAt`, deletes), while both PCs sync again and again, hit by random
//! faults: runs cut at a random step, `failCommand` fail points (closed connection, transient
//! and non-transient errors), the cloud link cut, stalled or slowed, and the cloud server killed
//! and restarted. Then it settles (every conflict resolved, clean syncs until quiet), runs the
//! convergence check and prints the counts. Exit status 0 only if all three databases are
//! equal and no document was lost or duplicated.
//!
//! ```sh
//! cargo run -p templesync-tests --bin templesync-soak -- --minutes 30 [--seed N] [--trace FILE]
//! ```
//!
//! `--trace FILE` writes every document decision, change-feed event and held delete of both
//! PCs' runs to FILE (a span names the PC), to follow a divergence back to its run.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bson::doc;
use futures::TryStreamExt;
use mongodb::Database;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use templesync_engine::{Engine, RunStatus, Settings, SyncRequest};
use templesync_tests::chaos::{self, Ledger, Work};
use templesync_tests::fixture::*;
use templesync_tests::proxy::{Link, Proxy};
use tokio::sync::{Mutex, RwLock};
use tracing::Instrument;

const COLL: &str = "bookings";

/// The engines' app name: fail points scoped to it spare the editors.
const ENGINE_APP_NAME: &str = "TempleSync";

struct Args {
    minutes: f64,
    seed: u64,
    trace: Option<std::path::PathBuf>,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        minutes: 30.0,
        seed: rand::random::<u32>() as u64,
        trace: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--minutes" => {
                a.minutes = value("--minutes")?
                    .parse()
                    .ok()
                    .filter(|m: &f64| *m > 0.0)
                    .ok_or("--minutes takes a positive number")?
            }
            "--seed" => {
                a.seed = value("--seed")?
                    .parse()
                    .map_err(|_| "--seed takes a number")?
            }
            "--trace" => a.trace = Some(value("--trace")?.into()),
            "-h" | "--help" => {
                return Err(
                    "usage: templesync-soak [--minutes N (default 30)] [--seed N] [--trace FILE]"
                        .into(),
                );
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

/// Counts of everything that happened.
#[derive(Default)]
struct Tally {
    runs: BTreeMap<&'static str, u64>,
    faults: BTreeMap<&'static str, u64>,
    edit_errors: u64,
}

/// The random editing of the three databases, until told to stop.
async fn edit(
    dbs: [Database; 3],
    ledger: Arc<Mutex<Ledger>>,
    pause: Arc<RwLock<()>>,
    stop: Arc<AtomicBool>,
    seed: u64,
) -> u64 {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut errors = 0;
    // Ids whose insert or delete failed: it may or may not have happened.
    while !stop.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(rng.random_range(10..60))).await;
        let _running = pause.read().await;
        let db = &dbs[rng.random_range(0..3)];
        let work = chaos::random_work(&mut rng);
        let mut l = ledger.lock().await;
        let r = match work {
            Work::Insert => {
                l.next_id += 1;
                let id = l.next_id;
                let r = coll(db, COLL)
                    .insert_one(tms_doc(id, doc! { "tag": id, "a": 0, "b": 0, "c": 0 }))
                    .await;
                // Recorded either way: an insert whose answer was lost may have happened; the
                // check below looks for it only where it did.
                l.inserted.insert(id);
                if r.is_err() {
                    l.uncertain.insert(id);
                }
                r.map(|_| ())
            }
            Work::Edit | Work::Delete => {
                let live: Vec<i32> = l.expected().into_iter().collect();
                if live.is_empty() {
                    continue;
                }
                let id = live[rng.random_range(0..live.len())];
                if work == Work::Edit {
                    let field = ["a", "b", "c"][rng.random_range(0..3)];
                    match chaos::try_tms_edit(
                        db,
                        COLL,
                        id,
                        doc! { field: rng.random_range(1..1000) },
                    )
                    .await
                    {
                        Ok(true) => {
                            l.edits += 1;
                            Ok(())
                        }
                        Ok(false) => Ok(()),
                        Err(e) => Err(e),
                    }
                } else {
                    let r = coll(db, COLL).delete_one(doc! { "_id": id }).await;
                    match &r {
                        Ok(d) if d.deleted_count == 1 => {
                            l.deleted.insert(id);
                        }
                        Ok(_) => {}
                        Err(_) => {
                            l.uncertain.insert(id);
                        }
                    }
                    r.map(|_| ())
                }
            }
        };
        if r.is_err() {
            errors += 1;
        }
    }
    errors
}

fn settings(local: &str, cloud: &str) -> Settings {
    Settings {
        local_url: local.to_string(),
        remote_url: Some(cloud.to_string()),
        database: DB.to_string(),
    }
}

async fn fail_point(url: &str, cmd: bson::Document) {
    let client = mongodb::Client::with_uri_str(url).await.unwrap();
    let _ = client.database("admin").run_command(cmd).await;
    client.shutdown().immediate(true).await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let seed = args.seed;
    if let Some(path) = &args.trace {
        let file = match std::fs::File::create(path) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("cannot write the trace to {}: {e}", path.display());
                return ExitCode::from(2);
            }
        };
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "templesync::items=trace,templesync_engine=debug,templesync_soak=info",
            ))
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(file))
            .init();
    }
    let soak_for = Duration::from_secs_f64(args.minutes * 60.0);
    println!("soak: {:.1} minutes, seed {seed}", args.minutes);
    let mut o = Office::with_pcs(2).await;
    let proxies = [
        Proxy::start(o.cloud.port()).await.unwrap(),
        Proxy::start(o.cloud.port()).await.unwrap(),
    ];
    let cuts = Arc::new(AtomicU64::new(0));
    let mut engines = Vec::new();
    for (pc, proxy) in proxies.iter().enumerate() {
        let hook = chaos::chaos_hook(seed ^ (pc as u64 + 1), cuts.clone(), 0.004);
        let e = Office::engine_with(settings(&o.pcs[pc].url(), &proxy.url()), Some(hook)).await;
        set_config(
            &e,
            &[if pc == 0 {
                "batchSize=25"
            } else {
                "batchSize=10"
            }],
        )
        .await;
        engines.push(e);
    }
    let dbs = [o.local(0).await, o.local(1).await, o.remote().await];
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let pause = Arc::new(RwLock::new(()));
    let stop = Arc::new(AtomicBool::new(false));
    let editor = tokio::spawn(edit(
        dbs.clone(),
        ledger.clone(),
        pause.clone(),
        stop.clone(),
        seed ^ 0xED17,
    ));

    let mut rng = StdRng::seed_from_u64(seed);
    let mut tally = Tally::default();
    let started = Instant::now();
    let mut last_report = Instant::now();
    while started.elapsed() < soak_for {
        tokio::time::sleep(Duration::from_millis(rng.random_range(100..1500))).await;
        let pc = rng.random_range(0..2);
        let engine: Engine = engines[pc].clone();
        let span = tracing::info_span!("soak", pc);
        let sync =
            tokio::spawn(async move { engine.sync(SyncRequest::manual()).await }.instrument(span));
        let fault = rng.random_range(0..10);
        match fault {
            0 | 1 => {
                let (name, data) = match rng.random_range(0..3) {
                    0 => ("fail point: closed", doc! { "closeConnection": true }),
                    1 => (
                        "fail point: transient",
                        doc! { "errorCode": 91, "errorLabels": ["RetryableWriteError"] },
                    ),
                    _ => ("fail point: non-transient", doc! { "errorCode": 2 }),
                };
                let cmds = ["find", "insert", "update", "delete", "aggregate", "getMore"];
                let mut data = data;
                data.insert("failCommands", vec![cmds[rng.random_range(0..cmds.len())]]);
                data.insert("appName", ENGINE_APP_NAME);
                let target = if rng.random_bool(0.7) {
                    o.cloud.url()
                } else {
                    o.pcs[pc].url()
                };
                fail_point(
                    &target,
                    doc! { "configureFailPoint": "failCommand", "mode": { "times": rng.random_range(1..3) }, "data": data },
                )
                .await;
                *tally.faults.entry(name).or_default() += 1;
            }
            2 => {
                let (name, link) = match rng.random_range(0..4) {
                    0 | 1 => ("proxy: cut", Link::Cut),
                    2 => ("proxy: stall", Link::Stall),
                    _ => ("proxy: slow", Link::Slow(Duration::from_millis(20))),
                };
                tokio::time::sleep(Duration::from_millis(rng.random_range(0..400))).await;
                proxies[pc].set(link);
                tokio::time::sleep(Duration::from_millis(rng.random_range(500..4000))).await;
                proxies[pc].set(Link::Pass);
                *tally.faults.entry(name).or_default() += 1;
            }
            3 if rng.random_bool(0.3) => {
                tokio::time::sleep(Duration::from_millis(rng.random_range(0..400))).await;
                let _editors_wait = pause.write().await;
                o.cloud.kill();
                o.cloud.restart().await.expect("the cloud restarts");
                *tally
                    .faults
                    .entry("cloud killed and restarted")
                    .or_default() += 1;
            }
            _ => {}
        }
        let run = sync.await.unwrap();
        let kind = match &run {
            Ok(r) if r.status == RunStatus::Completed => "completed",
            Ok(_) => "failed",
            Err(e) if e.code() == "sync_in_progress" => "refused (lock)",
            Err(_) => "error",
        };
        *tally.runs.entry(kind).or_default() += 1;
        for url in [o.cloud.url(), o.pcs[0].url(), o.pcs[1].url()] {
            fail_point(
                &url,
                doc! { "configureFailPoint": "failCommand", "mode": "off" },
            )
            .await;
        }
        if last_report.elapsed() > Duration::from_secs(60) {
            last_report = Instant::now();
            let l = ledger.lock().await;
            println!(
                "  {:>4.0}s: {} inserts, {} edits, {} deletes; runs {:?}; faults {:?}; step cuts {}",
                started.elapsed().as_secs_f64(),
                l.inserted.len(),
                l.edits,
                l.deleted.len(),
                tally.runs,
                tally.faults,
                cuts.load(Ordering::SeqCst)
            );
        }
    }
    stop.store(true, Ordering::SeqCst);
    tally.edit_errors = editor.await.unwrap();
    for p in &proxies {
        p.set(Link::Pass);
    }

    // Settle with clean engines, straight to the servers.
    let clean = [
        Office::engine_with(o.settings(0), None).await,
        Office::engine_with(o.settings(1), None).await,
    ];
    let settle_started = Instant::now();
    let settled = chaos::settle(&[&clean[0], &clean[1]], 10)
        .instrument(tracing::info_span!("settle"))
        .await;
    let mut ledger = ledger.lock().await.clone();
    // An insert or delete whose answer was lost: what the cloud shows is what happened.
    let in_cloud: std::collections::BTreeSet<i32> = all(&dbs[2], COLL)
        .await
        .iter()
        .filter_map(chaos::numeric_id)
        .collect();
    for id in ledger.uncertain.clone() {
        if !in_cloud.contains(&id) {
            ledger.deleted.insert(id);
        }
    }
    let check = chaos::check_convergence(&[&dbs[0], &dbs[1], &dbs[2]], COLL, &ledger, true).await;

    let logs_running = {
        let mut n = 0;
        for e in &clean {
            n += e
                .logs(10_000)
                .await
                .unwrap()
                .iter()
                .filter(|r| r.status == RunStatus::Running)
                .count();
        }
        n
    };
    println!(
        "\n=== Soak results (seed {seed}, {:.1} minutes) ===",
        started.elapsed().as_secs_f64() / 60.0
    );
    println!(
        "edits:      {} inserts, {} edits, {} deletes ({} edit requests refused during faults)",
        ledger.inserted.len(),
        ledger.edits,
        ledger.deleted.len(),
        tally.edit_errors
    );
    println!(
        "runs:       {} ({})",
        tally.runs.values().sum::<u64>(),
        tally
            .runs
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "faults:     {} ({}, runs cut at a step {})",
        tally.faults.values().sum::<u64>() + cuts.load(Ordering::SeqCst),
        tally
            .faults
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", "),
        cuts.load(Ordering::SeqCst)
    );
    let ok = match &settled {
        Ok(s) => {
            println!(
                "settling:   {} clean runs, {} conflicts resolved ({} decisions refused as stale and made again), {} conflict records in all, {:.1}s",
                s.runs,
                s.resolved,
                s.refused_as_stale,
                s.conflicts_logged,
                settle_started.elapsed().as_secs_f64()
            );
            true
        }
        Err(e) => {
            println!("settling:   FAILED: {e}");
            false
        }
    };
    println!(
        "documents:  {} at the end, on each of the three databases",
        check.documents
    );
    println!("lost:       {} {:?}", check.lost.len(), check.lost);
    println!(
        "duplicated: {} {:?}",
        check.duplicated.len(),
        check.duplicated
    );
    println!("different:  {}", check.differences.len());
    for d in check.differences.iter().take(20) {
        println!("  {d}");
    }
    if !check.is_clean() {
        explain_differences(&dbs).await;
    }
    println!("runs left running: {logs_running}");
    for e in engines.iter().chain(&clean) {
        e.shutdown().await;
    }
    if ok && check.is_clean() && logs_running == 0 {
        println!("CONVERGED: nothing lost, nothing duplicated");
        ExitCode::SUCCESS
    } else {
        println!("NOT CONVERGED");
        ExitCode::from(1)
    }
}

/// For each document not on all three databases: what each PC remembers of it (its synced
/// version, its dirty-list entries and conflict records), to follow it back in the trace.
async fn explain_differences(dbs: &[Database; 3]) {
    let mut ids: BTreeMap<i32, [bool; 3]> = BTreeMap::new();
    for (i, db) in dbs.iter().enumerate() {
        for d in all(db, COLL).await {
            if let Some(id) = chaos::numeric_id(&d) {
                ids.entry(id).or_default()[i] = true;
            }
        }
    }
    for (id, on) in ids
        .into_iter()
        .filter(|(_, on)| on.iter().any(|o| !o))
        .take(10)
    {
        println!(
            "  document {id}: on PC 0 {}, PC 1 {}, cloud {}",
            on[0], on[1], on[2]
        );
        for (pc, db) in dbs[..2].iter().enumerate() {
            let base = db
                .collection::<bson::Document>(&format!("sync_base.{COLL}"))
                .find_one(doc! { "_id": id })
                .await
                .ok()
                .flatten();
            let local = db
                .collection::<bson::Document>(COLL)
                .find_one(doc! { "_id": id })
                .await
                .ok()
                .flatten();
            let conflicts: Vec<bson::Document> = db
                .collection::<bson::Document>("conflict_logs")
                .find(doc! { "$or": [ { "docId": id }, { "docIds": id } ] })
                .await
                .unwrap()
                .try_collect()
                .await
                .unwrap_or_default();
            println!(
                "    PC {pc}: local {local:?}\n      base {base:?}\n      conflicts {conflicts:?}"
            );
        }
    }
}
