//! The `templesync` command, run as a separate process against real MongoDB wire-protocol
//! servers: exit codes, the `--json` documents scripts rely on, the screens people read,
//! refusals that change nothing, a missing or unreachable cloud (and its password never
//! shown), and two processes competing for the run lock, one of them killed mid-run.
//!
//! The binary is not built by `cargo test` (it only builds the test harness of a binary
//! package); build it first with `cargo build -p templesync-cli`. The tests refuse to run
//! a missing or out-of-date binary.

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use bson::{Bson, Document, doc, oid::ObjectId};
use mongodb::Database;
use serde_json::Value;
use templesync_tests::fixture::*;
use templesync_tests::templesync_binary;

/// The longest any single command may take before the test gives up on it (it is killed).
const COMMAND_DEADLINE: Duration = Duration::from_secs(180);

/// How long to wait for a condition polled in a loop.
const POLL_DEADLINE: Duration = Duration::from_secs(120);

/// The run lock's lease in the engine: a dead holder must be taken over well before it.
const LEASE: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// Running the binary

/// What one run of the binary did.
#[derive(Debug)]
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Run {
    fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Asserts the exit code, showing everything the command printed otherwise.
    #[track_caller]
    fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code(),
            Some(code),
            "exit status {:?} instead of {code}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Stdout as exactly one JSON document (nothing before or after it).
    #[track_caller]
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not exactly one JSON document ({e}):\n{}\n--- stderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// Asserts a `--json` refusal: exit `code`, stdout `{"error": {"code", "message"}}`.
    /// Returns the message.
    #[track_caller]
    fn expect_json_error(&self, exit: i32, error_code: &str) -> String {
        self.expect_code(exit);
        let v = self.json();
        let obj = v.as_object().expect("an object");
        assert_eq!(obj.len(), 1, "only the error: {v:#}");
        let err = &v["error"];
        assert_eq!(err["code"], error_code, "{v:#}");
        let message = err["message"]
            .as_str()
            .unwrap_or_else(|| panic!("a message: {v:#}"));
        assert!(!message.is_empty(), "{v:#}");
        assert!(
            self.stderr.contains(message),
            "the message is on stderr too:\n{}",
            self.stderr
        );
        message.to_string()
    }

    fn all_output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// The `templesync` command as an office PC runs it: its connection settings in the
/// environment and a fresh, empty working directory (so no `.env` is picked up).
struct Cli {
    bin: PathBuf,
    local_url: String,
    cloud_url: Option<String>,
    dir: tempfile::TempDir,
}

impl Cli {
    fn new(local_url: String, cloud_url: Option<String>) -> Cli {
        Cli {
            bin: templesync_binary(),
            local_url,
            cloud_url,
            dir: tempfile::Builder::new()
                .prefix("templesync-cli-")
                .tempdir()
                .expect("a working directory"),
        }
    }

    /// Office PC `pc` of `o` and its cloud.
    fn office(o: &Office, pc: usize) -> Cli {
        Cli::new(o.pcs[pc].url(), Some(o.cloud.url()))
    }

    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.bin);
        for (k, _) in std::env::vars_os() {
            let name = k.to_string_lossy();
            if name.starts_with("MONGODB_")
                || name == "DATABASE_NAME"
                || name.starts_with("TEMPLESYNC_")
            {
                cmd.env_remove(&k);
            }
        }
        cmd.env("MONGODB_LOCAL_URL", &self.local_url)
            .env("DATABASE_NAME", DB)
            // Its settings, pause and logs in its own folder.
            .env("TEMPLESYNC_HOME", self.dir.path().join("home"));
        if let Some(url) = &self.cloud_url {
            cmd.env("MONGODB_CLOUD_URL", url);
        }
        cmd.args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    /// Runs `templesync ARGS` to the end (killed after [`COMMAND_DEADLINE`]).
    async fn run(&self, args: &[&str]) -> Run {
        let child = self.spawn(args);
        finish(child, args).await
    }

    /// The same, with these environment variables set too.
    async fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = self.command(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.bin.display()));
        let started = Started {
            child,
            started: Instant::now(),
        };
        finish(started, args).await
    }

    /// Starts `templesync ARGS` without waiting for it.
    fn spawn(&self, args: &[&str]) -> Started {
        let child = self
            .command(args)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.bin.display()));
        Started {
            child,
            started: Instant::now(),
        }
    }
}

/// A running `templesync` process.
struct Started {
    child: tokio::process::Child,
    started: Instant,
}

async fn finish(p: Started, args: &[&str]) -> Run {
    let Started { child, started } = p;
    let out = tokio::time::timeout(COMMAND_DEADLINE, child.wait_with_output())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "`templesync {}` ran longer than {COMMAND_DEADLINE:?}",
                args.join(" ")
            )
        })
        .expect("waiting for templesync");
    let elapsed = started.elapsed();
    eprintln!(
        "`templesync {}`: {} in {elapsed:.2?}",
        args.join(" "),
        out.status
    );
    Run {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed,
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// The lines of a screen's section: after the `header` line up to the next blank line.
fn section<'a>(text: &'a str, header: &str) -> Vec<&'a str> {
    let mut lines = text.lines().skip_while(|l| *l != header);
    assert!(lines.next().is_some(), "no {header:?} section in:\n{text}");
    lines.take_while(|l| !l.trim().is_empty()).collect()
}

/// The process that holds the run lock in `local`, if any (its pid).
async fn lock_holder_pid(local: &Database) -> Option<i64> {
    let lock = get(local, "sync_state", "run_lock").await?;
    match lock.get("holder") {
        None | Some(Bson::Null) => None,
        Some(_) => Some(lock.get_i64("pid").unwrap_or(-1)),
    }
}

/// Waits until `p` holds the run lock and its run is recorded as running; panics if it
/// exits first.
async fn wait_for_running_sync(local: &Database, p: &mut Started) {
    let pid = i64::from(p.child.id().expect("the sync process runs"));
    let deadline = Instant::now() + POLL_DEADLINE;
    loop {
        if lock_holder_pid(local).await == Some(pid)
            && coll(local, "sync_logs")
                .count_documents(doc! { "status": "running" })
                .await
                .unwrap()
                == 1
        {
            return;
        }
        if let Some(status) = p.child.try_wait().expect("checking the sync process") {
            panic!(
                "the sync exited ({status}) before it was seen holding the lock: \
                 make the data set larger"
            );
        }
        assert!(
            Instant::now() < deadline,
            "the sync did not take the run lock within {POLL_DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A port on 127.0.0.1 with nothing listening on it: bound (so that no server of another
/// test can take it while the socket lives) but not listening (so connecting is refused).
fn refusing_port() -> (tokio::net::TcpSocket, u16) {
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket
        .bind(([127, 0, 0, 1], 0).into())
        .expect("binding 127.0.0.1:0");
    let port = socket.local_addr().expect("its address").port();
    (socket, port)
}

/// Every document of every collection of `db`, as text (for looking for secrets).
async fn dump(db: &Database) -> String {
    let mut out = String::new();
    for name in db.list_collection_names().await.unwrap() {
        out.push_str(&format!("{name}: {:?}\n", all(db, &name).await));
    }
    out
}

/// The cloud has `john_admin`; the office PC adds its own `john_admin` and `priya`; two
/// `templesync sync` runs later the office's `john_admin` is a unique conflict. Returns its id.
async fn username_clash(o: &Office, cli: &Cli) -> String {
    let (l, r) = (o.local(0).await, o.remote().await);
    coll(&r, "admins")
        .insert_one(tms_doc(
            ObjectId::new(),
            doc! { "username": "john_admin", "name": "John (cloud)" },
        ))
        .await
        .unwrap();
    cli.run(&["sync"]).await.expect_code(0);
    coll(&l, "admins")
        .insert_many([
            tms_doc(
                ObjectId::new(),
                doc! { "username": "john_admin", "name": "John (office)" },
            ),
            tms_doc(
                ObjectId::new(),
                doc! { "username": "priya", "name": "Priya" },
            ),
        ])
        .await
        .unwrap();

    let run = cli.run(&["sync"]).await;
    run.expect_code(0);
    let text = &run.stdout;
    assert!(text.contains("Status: COMPLETED\n"), "{text}");
    assert_eq!(
        section(text, "Pushed to remote:"),
        ["  • admins: 1 document"],
        "priya still syncs:\n{text}"
    );
    assert_eq!(
        section(text, "Conflicts detected:"),
        ["  ⚠ admins: 1 conflict"],
        "{text}"
    );
    assert!(
        text.contains("⚠ 1 conflict needs resolution\n   Run: templesync conflicts\n"),
        "{text}"
    );

    let list = cli.run(&["conflicts", "--json"]).await;
    list.expect_code(0);
    let list = list.json();
    let list = list.as_array().expect("an array of conflicts");
    assert_eq!(list.len(), 1, "{list:#?}");
    let c = &list[0];
    let id = c["_id"].as_str().expect("an _id").to_string();
    assert!(ObjectId::parse_str(&id).is_ok(), "{id}");
    assert_eq!(c["type"], "unique");
    assert_eq!(c["collection"], "admins");
    assert_eq!(c["field"], "username");
    assert_eq!(c["localValue"], "john_admin");
    assert_eq!(c["remoteValue"], "john_admin");
    assert_eq!(c["resolved"], false);
    let suggested = c["suggestedValue"].as_str().expect("a suggested name");
    assert!(
        suggested.starts_with("john_admin_") && suggested.len() > "john_admin_".len(),
        "{suggested}"
    );
    id
}

async fn count(db: &Database, coll_name: &str, filter: Document) -> u64 {
    coll(db, coll_name).count_documents(filter).await.unwrap()
}

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_prints_one_json_document_and_the_documents_reach_the_cloud() {
    let o = Office::start().await;
    let (l, r) = (o.local(0).await, o.remote().await);
    let cli = Cli::office(&o, 0);
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

    let run = cli.run(&["sync", "--json"]).await;
    run.expect_code(0);
    let v = run.json();
    assert_eq!(v["status"], "completed", "{v:#}");
    assert_eq!(v["trigger"], "manual", "{v:#}");
    assert_eq!(v["localToRemote"]["bookings"], 2, "{v:#}");
    assert_eq!(v["remoteToLocal"]["events"], 1, "{v:#}");
    assert_eq!(v["localToRemote"]["events"], 0, "{v:#}");
    assert_eq!(v["remoteToLocal"]["bookings"], 0, "{v:#}");
    let conflicts = v["conflicts"]
        .as_object()
        .expect("conflicts per collection");
    assert!(conflicts.values().all(|n| n == 0), "no conflicts: {v:#}");
    let duration = v["durationSeconds"].as_f64().expect("durationSeconds");
    assert!((0.0..60.0).contains(&duration), "{v:#}");
    assert!(v["_id"].is_string() && v["startTime"].is_string(), "{v:#}");
    assert!(
        !run.stdout.contains("Starting"),
        "no text around the JSON: {}",
        run.stdout
    );

    // Really there, both ways.
    assert_eq!(count(&r, "bookings", doc! {}).await, 2);
    assert_eq!(
        get(&r, "bookings", 1)
            .await
            .unwrap()
            .get_str("name")
            .unwrap(),
        "Puja"
    );
    assert_same(&l, &r, "bookings").await;
    assert_same(&l, &r, "events").await;

    // The screen for people.
    coll(&l, "bookings")
        .insert_one(tms_doc(3, doc! { "name": "Archana" }))
        .await
        .unwrap();
    coll(&r, "events")
        .insert_one(tms_doc("e2", doc! { "title": "Ugadi" }))
        .await
        .unwrap();
    let run = cli.run(&["sync"]).await;
    run.expect_code(0);
    let text = &run.stdout;
    assert!(text.contains("=== Sync Results ===\n"), "{text}");
    assert!(text.contains("Status: COMPLETED\n"), "{text}");
    assert!(text.contains("Duration: "), "{text}");
    let mut pushed = section(text, "Pushed to remote:");
    pushed.sort_unstable();
    assert_eq!(
        pushed,
        ["  • bookings: 1 document", "  • events: 0 documents"],
        "{text}"
    );
    let mut pulled = section(text, "Pulled from remote:");
    pulled.sort_unstable();
    assert_eq!(
        pulled,
        ["  • bookings: 0 documents", "  • events: 1 document"],
        "{text}"
    );
    assert_eq!(section(text, "Conflicts detected:"), ["  (none)"], "{text}");
    assert!(!text.contains("needs resolution"), "{text}");
    assert_same(&l, &r, "bookings").await;
    assert_same(&l, &r, "events").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_json_reports_the_last_sync_and_the_totals() {
    let o = Office::start().await;
    let l = o.local(0).await;
    let cli = Cli::office(&o, 0);

    let before = cli.run(&["status", "--json"]).await;
    before.expect_code(0);
    let v = before.json();
    assert_eq!(v["lastSyncTime"], Value::Null, "{v:#}");
    assert_eq!(v["lastSyncStatus"], Value::Null, "{v:#}");
    assert_eq!(v["lastSyncDuration"], Value::Null, "{v:#}");
    assert_eq!(v["totalSyncsCompleted"], 0, "{v:#}");
    assert_eq!(v["totalConflicts"], 0, "{v:#}");
    assert_eq!(v["unresolvedConflicts"], 0, "{v:#}");
    assert_eq!(v["isOnline"], true, "{v:#}");
    assert_eq!(v["isSyncing"], false, "{v:#}");

    coll(&l, "bookings")
        .insert_one(tms_doc(1, doc! { "name": "Puja" }))
        .await
        .unwrap();
    let started = bson::DateTime::now();
    cli.run(&["sync"]).await.expect_code(0);
    cli.run(&["sync"]).await.expect_code(0);

    let after = cli.run(&["status", "--json"]).await;
    after.expect_code(0);
    let v = after.json();
    let last = v["lastSyncTime"].as_str().expect("lastSyncTime");
    let last = bson::DateTime::parse_rfc3339_str(last).expect("an RFC 3339 time");
    assert!(
        last.timestamp_millis() >= started.timestamp_millis() - 1000
            && last <= bson::DateTime::now(),
        "{v:#}"
    );
    assert_eq!(v["lastSyncStatus"], "completed", "{v:#}");
    let duration = v["lastSyncDuration"].as_f64().expect("lastSyncDuration");
    assert!((0.0..60.0).contains(&duration), "{v:#}");
    assert_eq!(v["totalSyncsCompleted"], 2, "{v:#}");
    assert_eq!(v["totalConflicts"], 0, "{v:#}");
    assert_eq!(v["unresolvedConflicts"], 0, "{v:#}");
    assert_eq!(v["isOnline"], true, "{v:#}");
    assert_eq!(v["isSyncing"], false, "{v:#}");

    let text = cli.run(&["status"]).await;
    text.expect_code(0);
    for line in [
        // The state in the words every front end shows, from the application layer.
        "Now: Up to date.",
        "=== Synchronization Status ===",
        "Connection Status: 🟢 ONLINE",
        "Total Syncs: 2",
        "Unresolved Conflicts: 0",
    ] {
        assert!(text.stdout.contains(line), "{line:?} in:\n{}", text.stdout);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_username_clash_is_listed_resolved_by_name_and_synced() {
    let o = Office::start().await;
    let (l, r) = (o.local(0).await, o.remote().await);
    let cli = Cli::office(&o, 0);
    let id = username_clash(&o, &cli).await;
    let suggested = cli.run(&["conflicts", "--json"]).await.json()[0]["suggestedValue"]
        .as_str()
        .unwrap()
        .to_string();

    let status = cli.run(&["status", "--json"]).await.json();
    assert_eq!(status["totalConflicts"], 1, "{status:#}");
    assert_eq!(status["unresolvedConflicts"], 1, "{status:#}");

    let screen = cli.run(&["conflicts"]).await;
    screen.expect_code(0);
    let text = &screen.stdout;
    for line in [
        format!("Conflict ID: {id}"),
        "Field: username".to_string(),
        "Local Value: john_admin".to_string(),
        format!("templesync resolve {id} --strategy rename_local --value {suggested}"),
    ] {
        assert!(text.contains(&line), "{line:?} in:\n{text}");
    }

    let resolved = cli
        .run(&[
            "resolve",
            &id,
            "--strategy",
            "rename_local",
            "--by",
            "alice",
            "--json",
        ])
        .await;
    resolved.expect_code(0);
    let v = resolved.json();
    assert_eq!(v["success"], true, "{v:#}");
    assert_eq!(v["resolved_by"], "alice", "{v:#}");
    assert_eq!(v["conflict_id"], id.as_str(), "{v:#}");
    assert!(
        v["message"]
            .as_str()
            .unwrap_or_default()
            .contains(&suggested),
        "{v:#}"
    );
    assert!(
        cli.run(&["conflicts", "--json"]).await.json() == serde_json::json!([]),
        "nothing left to decide"
    );
    let again = cli
        .run(&["resolve", &id, "--strategy", "keep_remote", "--json"])
        .await;
    let message = again.expect_json_error(2, "conflict_already_resolved");
    assert!(message.contains(&id), "{message}");

    let run = cli.run(&["sync", "--json"]).await;
    run.expect_code(0);
    let v = run.json();
    assert_eq!(v["status"], "completed", "{v:#}");
    assert_eq!(v["localToRemote"]["admins"], 1, "{v:#}");
    assert_same(&l, &r, "admins").await;
    assert_eq!(
        count(&r, "admins", doc! { "username": &suggested }).await,
        1
    );
    assert_eq!(
        count(
            &r,
            "admins",
            doc! { "username": "john_admin", "name": "John (cloud)" }
        )
        .await,
        1,
        "the cloud's john_admin is untouched"
    );

    let history = cli.run(&["conflicts", "--all", "--json"]).await.json();
    assert_eq!(history[0]["resolved"], true, "{history:#}");
    assert_eq!(history[0]["resolvedBy"], "alice", "{history:#}");
    assert_eq!(history[0]["resolution"], "rename_local", "{history:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_exit_2_say_why_and_change_nothing() {
    let o = Office::start().await;
    let (l, r) = (o.local(0).await, o.remote().await);
    let cli = Cli::office(&o, 0);
    let id = username_clash(&o, &cli).await;
    let admins_here = all(&l, "admins").await;
    let admins_there = all(&r, "admins").await;
    let conflicts_before = cli.run(&["conflicts", "--all", "--json"]).await.json();
    let config_before = cli.run(&["config", "--json"]).await.json();

    let unknown = ObjectId::new().to_hex();
    let cases: [(Vec<&str>, &str, &str); 6] = [
        (
            vec!["resolve", &unknown, "--strategy", "keep_remote"],
            "conflict_not_found",
            &unknown,
        ),
        (
            vec!["resolve", "nonsense", "--strategy", "keep_remote"],
            "conflict_not_found",
            "nonsense",
        ),
        // An unknown strategy is refused by the parser itself: see
        // the_strategy_is_checked_by_the_parser_and_every_choice_is_listed.
        (
            // The engine's words name no flag ("give the new value"); the CLI's hint does.
            vec!["resolve", &id, "--strategy", "merge"],
            "invalid_resolution",
            "new value",
        ),
        (
            vec![
                "resolve",
                &id,
                "--strategy",
                "rename_local",
                "--value",
                "priya",
            ],
            "invalid_resolution",
            "priya",
        ),
        (
            vec!["config", "set", "batchSize=0"],
            "invalid_config",
            "batchSize",
        ),
        (
            vec!["config", "set", "maxRetries=99", "batchSize=5"],
            "invalid_config",
            "maxRetries",
        ),
    ];
    for (args, code, named) in &cases {
        // For people: exit 2, `Error: ...` on stderr.
        let text = cli.run(args).await;
        text.expect_code(2);
        assert!(
            text.stderr.contains("Error: ") && text.stderr.contains(named),
            "`templesync {}`: stderr names {named:?}:\n{}",
            args.join(" "),
            text.stderr
        );
        // For scripts: exit 2, one JSON document with the error's code.
        let mut json_args = args.clone();
        json_args.push("--json");
        let message = cli.run(&json_args).await.expect_json_error(2, code);
        assert!(
            message.contains(named),
            "`templesync {}`: {message:?} names {named:?}",
            json_args.join(" ")
        );
    }

    // The hint that names the CLI's flag is the CLI's own, beside the engine's words.
    let merge = cli.run(&["resolve", &id, "--strategy", "merge"]).await;
    assert!(
        merge.stderr.contains("--value"),
        "the hint names --value:\n{}",
        merge.stderr
    );

    // A mistake clap catches (no --strategy) is also one JSON document.
    let missing = cli.run(&["resolve", &id, "--json"]).await;
    missing.expect_json_error(2, "bad_arguments");

    assert_eq!(
        all(&l, "admins").await,
        admins_here,
        "local admins unchanged"
    );
    assert_eq!(
        all(&r, "admins").await,
        admins_there,
        "cloud admins unchanged"
    );
    assert_eq!(
        cli.run(&["conflicts", "--all", "--json"]).await.json(),
        conflicts_before,
        "the conflict is still open, as it was"
    );
    let config_after = cli.run(&["config", "--json"]).await.json();
    assert_eq!(config_after, config_before, "no setting was stored");
    assert_eq!(config_after["batchSize"], 100, "{config_after:#}");
    assert_eq!(config_after["maxRetries"], 3, "{config_after:#}");
    assert_eq!(
        count(&l, "sync_config", doc! {}).await,
        0,
        "nothing written to sync_config"
    );

    // And a valid change is stored.
    let saved = cli.run(&["config", "set", "batchSize=5", "--json"]).await;
    saved.expect_code(0);
    assert_eq!(saved.json()["batchSize"], 5);
    assert_eq!(cli.run(&["config", "--json"]).await.json()["batchSize"], 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_cloud_sync_refuses_and_status_says_not_configured() {
    let o = Office::start().await;
    let l = o.local(0).await;
    let cli = Cli::new(o.pcs[0].url(), None);
    coll(&l, "bookings")
        .insert_one(tms_doc(1, doc! { "name": "Puja" }))
        .await
        .unwrap();

    let run = cli.run(&["sync"]).await;
    assert_ne!(run.code(), Some(0), "{run:#?}");
    assert!(
        run.stderr.contains("Remote database not configured"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("MONGODB_CLOUD_URL"),
        "says what to set: {}",
        run.stderr
    );
    // A setting to fix: exit 2, as for every error the person must fix.
    let message = cli
        .run(&["sync", "--json"])
        .await
        .expect_json_error(2, "remote_not_configured");
    assert!(
        message.contains("Remote database not configured"),
        "{message}"
    );
    assert_eq!(
        count(&l, "sync_logs", doc! {}).await,
        0,
        "no run was recorded"
    );

    let status = cli.run(&["status"]).await;
    status.expect_code(0);
    assert!(
        status.stdout.contains("NOT CONFIGURED"),
        "{}",
        status.stdout
    );
    let v = cli.run(&["status", "--json"]).await;
    v.expect_code(0);
    let v = v.json();
    assert_eq!(v["remoteConfigured"], false, "{v:#}");
    assert_eq!(v["isOnline"], false, "{v:#}");
    assert_eq!(v["isSyncing"], false, "{v:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_cloud_fails_fast_and_never_shows_the_password() {
    const PASSWORD: &str = "S3cretPassw0rd";
    let o = Office::start().await;
    let l = o.local(0).await;
    coll(&l, "bookings")
        .insert_one(tms_doc(1, doc! { "name": "Puja" }))
        .await
        .unwrap();
    let (_reserved, port) = refusing_port();
    let host = format!("127.0.0.1:{port}");
    let cli = Cli::new(
        o.pcs[0].url(),
        Some(format!(
            "mongodb://templesync:{PASSWORD}@{host}/?directConnection=true"
        )),
    );

    let run = cli.run(&["sync"]).await;
    run.expect_code(1);
    assert!(
        run.elapsed < Duration::from_secs(10),
        "gave up after {:?}",
        run.elapsed
    );
    assert!(run.stderr.contains(&host), "names the host: {}", run.stderr);
    assert!(
        !run.all_output().contains(PASSWORD),
        "the password is shown:\n{}",
        run.all_output()
    );

    let json = cli.run(&["sync", "--json"]).await;
    let message = json.expect_json_error(1, "remote_unreachable");
    assert!(message.contains(&host), "{message}");
    assert!(json.elapsed < Duration::from_secs(10), "{:?}", json.elapsed);

    // Every other screen, with and without --json, and step by step.
    let mut outputs = vec![run, json];
    for args in [
        vec!["sync", "--verbose"],
        vec!["status"],
        vec!["status", "--json"],
        vec!["config"],
        vec!["config", "--json"],
        vec!["logs"],
        vec!["logs", "--json"],
    ] {
        outputs.push(cli.run(&args).await);
    }
    for (i, out) in outputs.iter().enumerate() {
        assert!(
            !out.all_output().contains(PASSWORD),
            "output {i} shows the password:\n{}",
            out.all_output()
        );
    }
    let status = &outputs[4];
    status.expect_code(0);
    let v = status.json();
    assert_eq!(v["remoteConfigured"], true, "{v:#}");
    assert_eq!(v["isOnline"], false, "{v:#}");
    let config = &outputs[5];
    config.expect_code(0);
    assert!(
        config
            .stdout
            .contains(&format!("mongodb://templesync:****@{host}/")),
        "the cloud's address is shown without its password:\n{}",
        config.stdout
    );

    let stored = dump(&l).await;
    assert!(
        !stored.contains(PASSWORD),
        "the local database holds the password:\n{stored}"
    );
    assert!(
        !all(&l, "sync_logs")
            .await
            .iter()
            .any(|d| format!("{d:?}").contains(PASSWORD)),
        "sync_logs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_is_refused_and_a_killed_one_is_taken_over_at_once() {
    let o = Office::start().await;
    let (l, r) = (o.local(0).await, o.remote().await);
    let cli = Cli::office(&o, 0);
    let mut generator = templesync_sample::Generator::new(2025);
    const N: usize = 3000;
    coll(&l, "bookings")
        .insert_many(generator.bookings(N))
        .await
        .unwrap();
    cli.run(&["config", "set", "batchSize=50"])
        .await
        .expect_code(0);

    // Two at once: the second is refused, the first completes.
    let mut first = cli.spawn(&["sync", "--json"]);
    wait_for_running_sync(&l, &mut first).await;
    let second = cli.run(&["sync"]).await;
    second.expect_code(1);
    assert!(
        second.stderr.contains("Sync is already in progress"),
        "{}",
        second.stderr
    );
    cli.run(&["sync", "--json"])
        .await
        .expect_json_error(1, "sync_in_progress");
    let status = cli.run(&["status", "--json"]).await;
    status.expect_code(0);
    assert_eq!(status.json()["isSyncing"], true, "{}", status.stdout);
    assert!(
        first.child.try_wait().unwrap().is_none(),
        "the first sync was still running during the checks above"
    );
    let first = finish(first, &["sync", "--json"]).await;
    first.expect_code(0);
    let v = first.json();
    assert_eq!(v["status"], "completed", "{v:#}");
    assert_eq!(v["localToRemote"]["bookings"], N as u64, "{v:#}");
    eprintln!("a sync of {N} documents took {:?}", first.elapsed);
    assert_eq!(lock_holder_pid(&l).await, None, "the lock is released");
    assert_same(&l, &r, "bookings").await;

    // Killed mid-run: the next run takes over at once and completes the work.
    coll(&l, "bookings")
        .insert_many(generator.bookings(N))
        .await
        .unwrap();
    let mut doomed = cli.spawn(&["sync"]);
    wait_for_running_sync(&l, &mut doomed).await;
    doomed.child.start_kill().expect("SIGKILL");
    let status = doomed.child.wait().await.expect("reaping the killed sync");
    assert_eq!(status.code(), None, "killed by a signal: {status}");
    assert!(
        lock_holder_pid(&l).await.is_some(),
        "the killed process left its lock behind"
    );
    let status = cli.run(&["status", "--json"]).await;
    status.expect_code(0);
    assert_eq!(
        status.json()["isSyncing"],
        false,
        "a dead holder is not syncing: {}",
        status.stdout
    );

    let next = cli.run(&["sync", "--json"]).await;
    next.expect_code(0);
    assert!(
        next.elapsed < LEASE / 2,
        "the next sync took {:?}: it must not wait for the {LEASE:?} lease",
        next.elapsed
    );
    assert_eq!(next.json()["status"], "completed");
    assert_eq!(lock_holder_pid(&l).await, None, "the lock is released");
    assert_same(&l, &r, "bookings").await;
    assert_eq!(count(&r, "bookings", doc! {}).await, 2 * N as u64);

    let logs = cli.run(&["logs", "--json"]).await;
    logs.expect_code(0);
    let logs = logs.json();
    let statuses: Vec<&str> = logs
        .as_array()
        .expect("an array of runs")
        .iter()
        .map(|r| r["status"].as_str().unwrap_or("?"))
        .collect();
    assert!(!statuses.contains(&"running"), "{statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| **s == "interrupted").count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(statuses[0], "completed", "newest first: {statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| **s == "completed").count(),
        2,
        "{statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_limit_and_help() {
    let o = Office::start().await;
    let l = o.local(0).await;
    let cli = Cli::office(&o, 0);

    let empty = cli.run(&["logs", "--json"]).await;
    empty.expect_code(0);
    assert_eq!(empty.json(), serde_json::json!([]));
    let empty = cli.run(&["logs"]).await;
    empty.expect_code(0);
    assert!(empty.stdout.contains("No syncs yet"), "{}", empty.stdout);

    coll(&l, "bookings")
        .insert_one(tms_doc(1, doc! { "name": "Puja" }))
        .await
        .unwrap();
    cli.run(&["sync"]).await.expect_code(0);
    cli.run(&["sync"]).await.expect_code(0);

    let one = cli.run(&["logs", "--limit", "1", "--json"]).await;
    one.expect_code(0);
    let v = one.json();
    let runs = v.as_array().expect("an array");
    assert_eq!(runs.len(), 1, "{v:#}");
    assert_eq!(runs[0]["status"], "completed", "{v:#}");
    assert_eq!(
        runs[0]["localToRemote"]["bookings"], 0,
        "the newest run first: {v:#}"
    );
    let both = cli.run(&["logs", "--json"]).await.json();
    assert_eq!(both.as_array().map(Vec::len), Some(2), "{both:#}");
    let table = cli.run(&["logs", "-n", "5"]).await;
    table.expect_code(0);
    assert!(
        table.stdout.contains("=== Sync History (newest first) ==="),
        "{}",
        table.stdout
    );

    for args in [vec!["--help"], vec!["sync", "--help"], vec!["help"]] {
        let help = cli.run(&args).await;
        help.expect_code(0);
        assert!(
            help.stdout.contains("Usage: templesync"),
            "`templesync {}`:\n{}",
            args.join(" "),
            help.stdout
        );
    }
    let help = cli.run(&["--help"]).await;
    for command in ["status", "sync", "conflicts", "resolve", "config", "logs"] {
        assert!(help.stdout.contains(command), "{command}:\n{}", help.stdout);
    }
    let unknown = cli.run(&["frobnicate"]).await;
    unknown.expect_code(2);
}

/// A typo in `--collections` is a mistake in what was typed (exit 2), refused before the run
/// starts: nothing is recorded in the history. (It used to be recorded as a failed sync.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_collection_is_a_typing_mistake() {
    let o = Office::start().await;
    let l = o.local(0).await;
    let cli = Cli::office(&o, 0);
    coll(&l, "bookings")
        .insert_one(tms_doc(1, doc! { "name": "Puja" }))
        .await
        .unwrap();
    let run = cli
        .run(&["sync", "--collections", "bookingz", "--json"])
        .await;
    let message = run.expect_json_error(2, "unknown_collection");
    assert!(message.contains("bookingz"), "{message}");
}

/// Several hosts with `directConnection=true`, or a `tlsCAFile` that does not exist, can never
/// connect: the driver refuses the string itself. That is a setting to fix (exit 2, naming
/// the problem), not "cannot reach the cloud ... will sync by itself when it is back".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_string_the_driver_refuses_is_a_setting_to_fix_not_an_outage() {
    let o = Office::start().await;
    let missing_ca = std::env::temp_dir().join("templesync-no-such-dir/ca.pem");
    let cases = [
        (
            "mongodb://u:Pw-n0t-echoed@127.0.0.1:1,127.0.0.1:2/?directConnection=true".to_string(),
            "directConnection",
        ),
        (
            format!(
                "mongodb://u:Pw-n0t-echoed@127.0.0.1:1/?tls=true&tlsCAFile={}",
                missing_ca.display()
            ),
            "ca.pem",
        ),
    ];
    for (url, named) in cases {
        let cli = Cli::new(o.pcs[0].url(), Some(url.clone()));
        let run = cli.run(&["sync", "--json"]).await;
        let message = run.expect_json_error(2, "invalid_connection_string");
        assert!(
            message.contains(named),
            "{url}: names the problem: {message}"
        );
        assert!(
            !message.contains("sync by itself"),
            "{url}: nothing will mend by itself: {message}"
        );
        assert!(
            !run.all_output().contains("Pw-n0t-echoed"),
            "the password is never echoed:\n{}",
            run.all_output()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_are_printed_for_every_shell_without_a_database() {
    // Nothing listens there: completions must not need a database.
    let cli = Cli::new("mongodb://127.0.0.1:1".into(), None);
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let run = cli.run(&["completions", shell]).await;
        run.expect_code(0);
        assert!(
            run.stdout.contains("templesync"),
            "{shell}:\n{}",
            run.stdout
        );
        // clap's PowerShell script completes names, not values.
        assert!(
            shell == "powershell"
                || (run.stdout.contains("rename_local") && run.stdout.contains("keep_remote")),
            "{shell}: the strategies are completed:\n{}",
            run.stdout
        );
    }
    cli.run(&["completions", "tcsh"]).await.expect_code(2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_strategy_is_checked_by_the_parser_and_every_choice_is_listed() {
    let cli = Cli::new("mongodb://127.0.0.1:1".into(), None);
    let id = "0123456789abcdef01234567";
    let run = cli
        .run(&["resolve", id, "--strategy", "keep_both", "--json"])
        .await;
    let message = run.expect_json_error(2, "bad_arguments");
    assert!(message.contains("keep_both"), "{message}");
    for s in ["rename_local", "keep_remote", "keep_local", "merge"] {
        assert!(message.contains(s), "lists {s}: {message}");
    }
}

/// With `NO_COLOR` set, no escape codes, even where colours are forced otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_color_keeps_escape_codes_out_of_the_output() {
    let cli = Cli::new("mongodb://127.0.0.1:1".into(), None);
    let forced = cli
        .run_with(
            &["resolve", "x", "--strategy", "nope"],
            &[("CLICOLOR_FORCE", "1")],
        )
        .await;
    forced.expect_code(2);
    assert!(
        forced.all_output().contains('\u{1b}'),
        "the check needs colours to be on without NO_COLOR:\n{}",
        forced.all_output()
    );
    let plain = cli
        .run_with(
            &["resolve", "x", "--strategy", "nope"],
            &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")],
        )
        .await;
    plain.expect_code(2);
    assert!(
        !plain.all_output().contains('\u{1b}'),
        "no escape codes under NO_COLOR:\n{:?}",
        plain.all_output()
    );
}
