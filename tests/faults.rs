//! The fault matrix: at each step of a run, each fault — a closed connection, a transient
//! error, a non-transient error (the servers' `failCommand` fail point, armed from the step
//! hook the moment the step is reached), the cloud server killed and restarted, and the
//! `templesync` process itself SIGKILLed there. After each, clean syncs run until quiet, and:
//!
//! - both sides hold the same documents, byte for byte, except those held back in a conflict,
//!   and each of those has exactly one open conflict record;
//! - every edit made before the run is in its document (none lost, the merge intact), no
//!   document is missing, doubled or brought back after its deletion;
//! - no run is left `running` in `sync_logs` (a killed one is `interrupted`).
//!
//! It prints the table faults x steps -> outcome (also written to
//! `<target>/tmp/fault-matrix.txt`): run with `-- --nocapture` to see it. The SIGKILL column
//! needs the binary: `cargo build -p templesync-cli` first. `TEMPLESYNC_FAULTS=closed,kill`
//! runs only some faults (names as in the table).
//!
//! The five faults run side by side, each on its own pair of servers; the eight steps of one
//! fault share that pair, each case in a database of its own.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use bson::{Bson, Document, doc};
use futures::FutureExt;
use mongodb::{Client, Database};
use templesync_engine::{ConflictKind, RunStatus, Step, StepHook, SyncRequest, SyncRun};
use templesync_tests::fixture::*;

const COLL: &str = "bookings";

const STEPS: [Step; 8] = Step::ALL;

/// Every command the engine sends that a fail point can hit (`hello` and `ping` are the
/// driver's and the engine's health checks, not the run's work).
const COMMANDS: [&str; 9] = [
    "find",
    "getMore",
    "insert",
    "update",
    "delete",
    "aggregate",
    "findAndModify",
    "count",
    "listCollections",
];

/// The engine's connections name themselves so (`store::client_for`): fail points scoped to
/// it leave the test's own reads alone.
const ENGINE_APP_NAME: &str = "TempleSync";

/// How long a killed `templesync` may take to reach its pause, and a recovery run to end.
const DEADLINE: Duration = Duration::from_secs(120);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// Both servers close the connection on the engine's next two commands (two, so that the
    /// driver's own single retry fails too and the engine has to cope).
    Closed,
    /// Both servers answer the next two commands with ShutdownInProgress (91), labelled
    /// `RetryableWriteError`.
    Transient,
    /// Both servers answer the next command with BadValue (2): not retryable.
    NonTransient,
    /// The cloud server is SIGKILLed and started again on the same storage.
    CloudRestart,
    /// The `templesync` process is SIGKILLed.
    Kill,
}

impl Fault {
    const ALL: [Fault; 5] = [
        Fault::Closed,
        Fault::Transient,
        Fault::NonTransient,
        Fault::CloudRestart,
        Fault::Kill,
    ];

    fn name(self) -> &'static str {
        match self {
            Fault::Closed => "closed",
            Fault::Transient => "transient",
            Fault::NonTransient => "non-transient",
            Fault::CloudRestart => "restart",
            Fault::Kill => "kill",
        }
    }

    /// How many commands each server fails.
    fn times(self) -> u32 {
        if self == Fault::NonTransient { 1 } else { 2 }
    }

    /// The fail point for the failCommand faults.
    fn fail_point(self) -> Option<Document> {
        let data = match self {
            Fault::Closed => doc! { "closeConnection": true },
            Fault::Transient => doc! { "errorCode": 91, "errorLabels": ["RetryableWriteError"] },
            Fault::NonTransient => doc! { "errorCode": 2 },
            Fault::CloudRestart | Fault::Kill => return None,
        };
        let times = self.times();
        let mut data = data;
        data.insert("failCommands", COMMANDS.to_vec());
        data.insert("appName", ENGINE_APP_NAME);
        Some(doc! {
            "configureFailPoint": "failCommand",
            "mode": { "times": times },
            "data": data,
        })
    }
}

/// Which time the step is reached when the fault strikes: the batch steps the second time
/// (mid-run, after a batch went through), the others the first (the feeds are read and the
/// checkpoint saved once or twice per run).
fn occurrence(step: Step) -> u32 {
    match step {
        Step::Decided
        | Step::PushedBatch
        | Step::AppliedLocal
        | Step::MarkSynced
        | Step::WriteConflicts => 2,
        _ => 1,
    }
}

/// How many of `times` failures a fail point still has in store: probes with commands from
/// a client named as the engine's, which fail while it is armed.
async fn still_armed(url: &str, times: u32) -> u32 {
    let mut opts = mongodb::options::ClientOptions::parse(url).await.unwrap();
    opts.app_name = Some(ENGINE_APP_NAME.into());
    opts.retry_reads = Some(false);
    opts.server_selection_timeout = Some(Duration::from_secs(10));
    let client = Client::with_options(opts).unwrap();
    let probe = client
        .database("fault_probe")
        .collection::<Document>("probe");
    let mut failed = 0;
    for _ in 0..times {
        if probe.find_one(doc! {}).await.is_err() {
            failed += 1;
        }
    }
    client.shutdown().immediate(true).await;
    failed
}

/// `pushed_batch`, as `TEMPLESYNC_TEST_PAUSE_AT` takes it.
fn step_name(step: Step) -> String {
    serde_json::to_value(step)
        .unwrap()
        .as_str()
        .unwrap()
        .to_string()
}

/// One cell of the table.
#[derive(Debug)]
struct Outcome {
    fault: Fault,
    step: Step,
    /// What the faulted run ended as.
    first: String,
    /// How many injected failures the run met, cloud + local ("-" for the other faults).
    hits: String,
    /// Clean runs until one moved nothing (that one included).
    runs_to_converge: usize,
    /// Documents held back in a conflict at the end.
    conflicts: usize,
    lost: usize,
    duplicated: usize,
    /// The longest run of the case, the faulted one included (wall time).
    max_run: Duration,
}

/// What the work before the faulted run leaves for it to do, and what must hold afterwards.
struct Scenario {
    expected: BTreeMap<i32, Document>,
    deleted: Vec<i32>,
    conflicted: Vec<i32>,
}

/// 30 documents synced, then on both sides: new documents, edits of different fields of
/// the same documents (to merge), edits of the same field (update conflicts) and deletes.
async fn prepare(l: &Database, r: &Database, db_name: &str, o: &Office) -> Scenario {
    let fields = |a: i32, b: i32, c: i32| doc! { "a": a, "b": b, "c": c };
    coll(l, COLL)
        .insert_many((0..30).map(|i| tms_doc(i, with_tag(i, fields(0, 0, 0)))))
        .await
        .unwrap();
    let e = Office::engine_with(o.settings_on(0, db_name), None).await;
    set_config(&e, &["batchSize=10"]).await;
    sync(&e).await;
    e.shutdown().await;

    let mut expected: BTreeMap<i32, Document> =
        (0..30).map(|i| (i, with_tag(i, fields(0, 0, 0)))).collect();
    coll(l, COLL)
        .insert_many((100..120).map(|i| tms_doc(i, with_tag(i, fields(1, 0, 0)))))
        .await
        .unwrap();
    coll(r, COLL)
        .insert_many((200..215).map(|i| tms_doc(i, with_tag(i, fields(0, 2, 0)))))
        .await
        .unwrap();
    expected.extend((100..120).map(|i| (i, with_tag(i, fields(1, 0, 0)))));
    expected.extend((200..215).map(|i| (i, with_tag(i, fields(0, 2, 0)))));
    for i in 0..6 {
        tms_edit(l, COLL, i, doc! { "a": 1 }).await;
        expected.get_mut(&i).unwrap().insert("a", 1);
    }
    for i in 3..9 {
        tms_edit(r, COLL, i, doc! { "b": 2 }).await;
        expected.get_mut(&i).unwrap().insert("b", 2);
    }
    let conflicted = vec![10, 11, 12];
    for &i in &conflicted {
        tms_edit(l, COLL, i, doc! { "c": 1 }).await;
        tms_edit(r, COLL, i, doc! { "c": 2 }).await;
    }
    let deleted = vec![20, 21];
    coll(l, COLL).delete_one(doc! { "_id": 20 }).await.unwrap();
    coll(r, COLL).delete_one(doc! { "_id": 21 }).await.unwrap();
    for i in &deleted {
        expected.remove(i);
    }
    Scenario {
        expected,
        deleted,
        conflicted,
    }
}

fn with_tag(i: i32, mut fields: Document) -> Document {
    fields.insert("tag", i);
    fields
}

/// The user fields of a document (no `updatedAt` or sync bookkeeping).
fn user_fields(d: &Document) -> Document {
    ["tag", "a", "b", "c"]
        .iter()
        .filter_map(|k| d.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect()
}

/// A hook that, the `nth` time `step` is reached, runs `strike` once.
fn strike_at(
    step: Step,
    nth: u32,
    struck: Arc<AtomicBool>,
    strike: impl Fn() -> futures::future::BoxFuture<'static, ()> + Send + Sync + 'static,
) -> StepHook {
    let seen = Arc::new(AtomicU32::new(0));
    Arc::new(move |at, _coll| {
        let hit = at == step && seen.fetch_add(1, Ordering::SeqCst) + 1 == nth;
        let fire = hit.then(|| {
            struck.store(true, Ordering::SeqCst);
            strike()
        });
        async move {
            if let Some(f) = fire {
                f.await;
            }
            Ok(())
        }
        .boxed()
    })
}

async fn admin(client: &Client, cmd: Document) {
    client
        .database("admin")
        .run_command(cmd)
        .await
        .expect("configureFailPoint");
}

/// Runs one case on `o` in database `db_name`.
async fn run_case(o: &mut Office, fault: Fault, step: Step) -> Outcome {
    let db_name = format!("f_{}_{}", fault.name().replace('-', "_"), step_name(step));
    let (l, r) = (
        o.pcs[0].client().await.database(&db_name),
        o.cloud.client().await.database(&db_name),
    );
    let scenario = prepare(&l, &r, &db_name, o).await;
    let label = format!("{} at {step:?}", fault.name());
    let struck = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut hits = "-".to_string();

    let first = match fault {
        Fault::Closed | Fault::Transient | Fault::NonTransient => {
            let clients = [o.cloud.client().await, o.pcs[0].client().await];
            let arm = fault.fail_point().unwrap();
            let armers = clients.clone();
            let hook = strike_at(step, occurrence(step), struck.clone(), move || {
                let (armers, arm) = (armers.clone(), arm.clone());
                async move {
                    for c in &armers {
                        admin(c, arm.clone()).await;
                    }
                }
                .boxed()
            });
            let e = Office::engine_with(o.settings_on(0, &db_name), Some(hook)).await;
            let run = e.sync(SyncRequest::manual()).await;
            e.shutdown().await;
            // How many of the armed failures the run met: the rest still fail a probe that
            // names itself as the engine does.
            let times = fault.times();
            let mut met = Vec::new();
            for (c, url) in clients.iter().zip([o.cloud.url(), o.pcs[0].url()]) {
                met.push(times - still_armed(&url, times).await);
                admin(
                    c,
                    doc! { "configureFailPoint": "failCommand", "mode": "off" },
                )
                .await;
            }
            assert!(
                met.iter().sum::<u32>() > 0,
                "{label}: the run met none of the injected failures"
            );
            hits = format!("{}+{}", met[0], met[1]);
            describe(&run)
        }
        Fault::CloudRestart => {
            let pid = o.cloud.pid().expect("the cloud runs");
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let tx = Arc::new(std::sync::Mutex::new(Some(tx)));
            let hook = strike_at(step, occurrence(step), struck.clone(), move || {
                let pid = rustix::process::Pid::from_raw(pid as i32).unwrap();
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                if let Some(tx) = tx.lock().unwrap().take() {
                    let _ = tx.send(());
                }
                async {}.boxed()
            });
            let e = Office::engine_with(o.settings_on(0, &db_name), Some(hook)).await;
            let task = {
                let e = e.clone();
                tokio::spawn(async move { e.sync(SyncRequest::manual()).await })
            };
            // The run carries on against a dead cloud while it comes back.
            if rx.await.is_ok() {
                o.cloud.restart().await.expect("the cloud restarts");
                assert_ne!(o.cloud.pid(), Some(pid), "{label}: a new cloud process");
            }
            let run = task.await.unwrap();
            e.shutdown().await;
            describe(&run)
        }
        Fault::Kill => {
            let marker = tempfile::NamedTempFile::new().unwrap().into_temp_path();
            std::fs::remove_file(&marker).unwrap();
            let mut child = templesync_command(o, &db_name)
                .args(["sync", "--json"])
                .env(
                    "TEMPLESYNC_TEST_PAUSE_AT",
                    format!("{}:{}", step_name(step), occurrence(step)),
                )
                .env("TEMPLESYNC_TEST_PAUSE_MARKER", &marker)
                .spawn()
                .expect("starting templesync");
            let deadline = Instant::now() + DEADLINE;
            let paused = loop {
                if marker.exists() {
                    break true;
                }
                if let Some(status) = child.try_wait().unwrap() {
                    let out = child.wait_with_output().await.unwrap();
                    panic!(
                        "{label}: templesync ended ({status}) without reaching the step:\n{}\n{}",
                        String::from_utf8_lossy(&out.stdout),
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
                assert!(Instant::now() < deadline, "{label}: never reached the step");
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            struck.store(paused, Ordering::SeqCst);
            child.start_kill().expect("SIGKILL");
            let status = child.wait().await.unwrap();
            assert_eq!(status.code(), None, "{label}: killed by the signal");
            "killed".to_string()
        }
    };
    let faulted_for = started.elapsed();
    assert!(
        struck.load(Ordering::SeqCst),
        "{label}: the run never reached the step {} time(s), so nothing was injected",
        occurrence(step)
    );

    // Clean runs until quiet.
    let e = Office::engine_with(o.settings_on(0, &db_name), None).await;
    let mut max_run = faulted_for;
    let mut runs = 0;
    loop {
        runs += 1;
        let t = Instant::now();
        let run = tokio::time::timeout(DEADLINE, e.sync(SyncRequest::manual()))
            .await
            .unwrap_or_else(|_| panic!("{label}: a clean run took over {DEADLINE:?}"))
            .unwrap_or_else(|err| panic!("{label}: a clean run was refused: {err}"));
        max_run = max_run.max(t.elapsed());
        assert_eq!(
            run.status,
            RunStatus::Completed,
            "{label}: clean run {runs} failed: {run:#?}"
        );
        assert!(
            run.errors.is_empty(),
            "{label}: clean run {runs} has document errors: {:#?}",
            run.errors
        );
        if SyncRun::total(&run.local_to_remote) + SyncRun::total(&run.remote_to_local) == 0 {
            break;
        }
        assert!(
            runs < 5,
            "{label}: still moving documents after {runs} runs"
        );
    }

    let (lost, duplicated, conflicts) = check(&label, &l, &r, &scenario, &e).await;
    let logs = e.logs(50).await.unwrap();
    assert!(
        logs.iter().all(|x| x.status != RunStatus::Running),
        "{label}: a run is left running: {logs:#?}"
    );
    if fault == Fault::Kill {
        assert!(
            logs.iter().any(|x| x.status == RunStatus::Interrupted),
            "{label}: the killed run is recorded as interrupted: {logs:#?}"
        );
    }
    e.shutdown().await;
    Outcome {
        fault,
        step,
        first,
        hits,
        runs_to_converge: runs,
        conflicts,
        lost,
        duplicated,
        max_run,
    }
}

fn describe(run: &templesync_engine::Result<SyncRun>) -> String {
    match run {
        Ok(r) if r.status == RunStatus::Completed && r.errors.is_empty() => "completed".into(),
        Ok(r) if r.status == RunStatus::Completed => {
            format!("completed, {} doc errors", r.errors.len())
        }
        Ok(r) => format!(
            "{} ({})",
            r.status.as_str(),
            r.error_code.as_deref().unwrap_or("?")
        ),
        Err(e) => format!("refused ({})", e.code()),
    }
}

/// The assertions of a case; returns (lost, duplicated, held-back conflicts).
async fn check(
    label: &str,
    l: &Database,
    r: &Database,
    s: &Scenario,
    e: &templesync_engine::Engine,
) -> (usize, usize, usize) {
    let (locals, remotes) = (all(l, COLL).await, all(r, COLL).await);
    let by_id = |docs: &[Document]| -> BTreeMap<i32, Document> {
        docs.iter()
            .map(|d| (d.get_i32("_id").expect("int ids"), d.clone()))
            .collect()
    };
    let (lm, rm) = (by_id(&locals), by_id(&remotes));
    let mut lost = 0;
    let mut duplicated = 0;
    for side in [&lm, &rm] {
        lost += s
            .expected
            .keys()
            .filter(|id| !side.contains_key(id))
            .count();
        // Never inserted, brought back after a delete, or a tag held twice.
        duplicated += side
            .keys()
            .filter(|id| !s.expected.contains_key(id))
            .count();
        let mut tags: BTreeMap<i32, u32> = BTreeMap::new();
        for d in side.values() {
            *tags.entry(d.get_i32("tag").unwrap_or(-1)).or_default() += 1;
        }
        duplicated += tags.values().filter(|n| **n > 1).count();
    }
    assert_eq!(
        lost, 0,
        "{label}: documents lost:\n{locals:#?}\n{remotes:#?}"
    );
    assert_eq!(
        duplicated, 0,
        "{label}: documents doubled or brought back ({:?} were deleted):\n{locals:#?}\n{remotes:#?}",
        s.deleted
    );

    let open = e.conflicts(Some(false), Some(COLL)).await.unwrap();
    let mut held: Vec<i32> = open
        .iter()
        .map(|c| {
            assert_eq!(c.kind, ConflictKind::Update, "{label}: {c:#?}");
            c.local_id.parse().expect("an int id")
        })
        .collect();
    held.sort();
    assert_eq!(
        held, s.conflicted,
        "{label}: exactly one open conflict for each document edited on both sides"
    );
    for (id, want) in &s.expected {
        let (ld, rd) = (&lm[id], &rm[id]);
        if s.conflicted.contains(id) {
            // Held back: each side keeps its own edit until a person decides.
            assert_eq!(ld.get_i32("c").ok(), Some(1), "{label}: {ld:?}");
            assert_eq!(rd.get_i32("c").ok(), Some(2), "{label}: {rd:?}");
            continue;
        }
        assert_eq!(
            bson::to_vec(&templesync_engine::content::content(ld)).unwrap(),
            bson::to_vec(&templesync_engine::content::content(rd)).unwrap(),
            "{label}: both sides equal:\n{ld:#?}\n{rd:#?}"
        );
        assert_eq!(&user_fields(ld), want, "{label}: every edit kept in {id}");
        assert_eq!(
            ld.get_str("syncStatus").ok(),
            Some("synced"),
            "{label}: {ld:?}"
        );
        assert_eq!(ld.get("syncedAt"), ld.get("updatedAt"), "{label}: {ld:?}");
        assert!(!matches!(ld.get("updatedAt"), None | Some(Bson::Null)));
    }
    (lost, duplicated, held.len())
}

/// `templesync` as an office PC runs it, on database `db_name` of PC 0 and the cloud.
fn templesync_command(o: &Office, db_name: &str) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(templesync_tests::templesync_binary());
    for (k, _) in std::env::vars_os() {
        let name = k.to_string_lossy();
        if name.starts_with("MONGODB_")
            || name == "DATABASE_NAME"
            || name.starts_with("TEMPLESYNC_")
        {
            cmd.env_remove(&k);
        }
    }
    let dir = std::env::temp_dir();
    cmd.env("MONGODB_LOCAL_URL", o.pcs[0].url())
        .env("MONGODB_CLOUD_URL", o.cloud.url())
        .env("DATABASE_NAME", db_name)
        // Its logs and pause apart from the developer's.
        .env("TEMPLESYNC_HOME", dir.join("templesync-faults-home"))
        .current_dir(&dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Some steps of one fault, one after the other on one pair of servers.
async fn lane(fault: Fault, steps: Vec<Step>) -> Vec<Outcome> {
    let mut o = Office::start().await;
    let mut out = Vec::new();
    for step in steps {
        let t = Instant::now();
        let outcome = run_case(&mut o, fault, step).await;
        eprintln!(
            "{} at {step:?}: {} then {} clean run(s), {:.1?}",
            fault.name(),
            outcome.first,
            outcome.runs_to_converge,
            t.elapsed()
        );
        out.push(outcome);
    }
    out
}

fn table(outcomes: &[Outcome]) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "{:<14} {:<18} {:<26} {:>4} {:>5} {:>9} {:>4} {:>4} {:>8}\n",
        "fault", "step", "faulted run", "hits", "runs", "conflicts", "lost", "dup", "max run"
    ));
    for o in outcomes {
        s.push_str(&format!(
            "{:<14} {:<18} {:<26} {:>4} {:>5} {:>9} {:>4} {:>4} {:>7.1}s\n",
            o.fault.name(),
            format!("{:?}", o.step),
            o.first,
            o.hits,
            o.runs_to_converge,
            o.conflicts,
            o.lost,
            o.duplicated,
            o.max_run.as_secs_f64()
        ));
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_at_every_step_converges_without_loss() {
    let only = std::env::var("TEMPLESYNC_FAULTS").ok();
    let faults: Vec<Fault> = Fault::ALL
        .into_iter()
        .filter(|f| {
            only.as_deref()
                .is_none_or(|o| o.split(',').any(|n| n.trim() == f.name()))
        })
        .collect();
    assert!(!faults.is_empty(), "TEMPLESYNC_FAULTS names no fault");
    if faults.contains(&Fault::Kill) {
        // Fail early (with how to fix it) rather than after the other faults ran.
        templesync_tests::templesync_binary();
    }
    let started = Instant::now();
    // A transient error of the "shutting down" kind makes the driver wait for its server
    // monitor's next heartbeat (up to 10 s) before it uses that server again: those cases are
    // mostly waiting, so they get three lanes of their own.
    let lanes = faults.into_iter().flat_map(|f| {
        let chunks: Vec<Vec<Step>> = match f {
            Fault::Transient => vec![
                STEPS[..3].to_vec(),
                STEPS[3..5].to_vec(),
                STEPS[5..].to_vec(),
            ],
            _ => vec![STEPS.to_vec()],
        };
        chunks.into_iter().map(move |steps| lane(f, steps))
    });
    let rows = futures::future::join_all(lanes).await;
    let mut outcomes: Vec<Outcome> = rows.into_iter().flatten().collect();
    outcomes.sort_by_key(|o| {
        (
            Fault::ALL.iter().position(|f| *f == o.fault),
            STEPS.iter().position(|s| *s == o.step),
        )
    });
    let text = table(&outcomes);
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("fault-matrix.txt");
    let _ = std::fs::write(&path, &text);
    println!(
        "\nFault matrix ({} cases in {:.0?}; also in {}):\n{text}",
        outcomes.len(),
        started.elapsed(),
        path.display()
    );
}
