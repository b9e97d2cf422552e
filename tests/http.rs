//! `templesync serve`, the REST API, run as the real binary over a real socket against real
//! MongoDB wire-protocol servers: every endpoint's answer and its documented shape, every
//! auth rule, every error status, the token file, and a stop (SIGTERM) in the middle of a
//! run.
//!
//! The binary is built by the first test that needs it (`cargo build --bin templesync`,
//! into the target directory this test runs from): `cargo test` builds only the binary's
//! unit-test harness, and a test of yesterday's binary proves nothing.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bson::{Document, doc, oid::ObjectId};
use mongodb::Database;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use templesync_tests::app::{Listening, spawn_listening};
use templesync_tests::fixture::*;
use templesync_tests::{MongoServer, ServerOptions};

const TOKEN: &str = "testtoken";

/// How long the server may take to say where it listens.
const START_DEADLINE: Duration = Duration::from_secs(60);

/// How long a polled condition may take (a sync of thousands of documents included).
const POLL_DEADLINE: Duration = Duration::from_secs(180);

/// How long a stopped server may take to exit: it lets the run in progress finish first.
const EXIT_DEADLINE: Duration = Duration::from_secs(240);

// ---------------------------------------------------------------------------------------------
// The binary

/// `<target>/<profile>/templesync`, built (once per test process) from the current sources.
fn binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("the test executable's path");
            // <target>/<profile>/deps/http-<hash>
            let profile_dir = exe
                .parent()
                .and_then(Path::parent)
                .expect("the target profile directory");
            let target_dir = profile_dir.parent().expect("the target directory");
            let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .expect("the workspace root");
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let mut cmd = Command::new(cargo);
            // `--workspace`: the features `cargo build --workspace` (scripts/test.sh) unifies,
            // so that this is a no-op after it rather than a second build of every dependency.
            cmd.current_dir(workspace)
                .args(["build", "--quiet", "--workspace", "--bin", "templesync"])
                .arg("--target-dir")
                .arg(target_dir);
            // Without the variables cargo sets for this test (CARGO_PKG_NAME, OUT_DIR, ...):
            // build scripts that watch them (ring's does) would otherwise rerun here, and again
            // in the next `cargo test`, rebuilding half the dependencies every time.
            for (name, _) in std::env::vars_os() {
                let name = name.to_string_lossy();
                if name.starts_with("CARGO_PKG_")
                    || name.starts_with("CARGO_MANIFEST_")
                    || name.starts_with("CARGO_CFG_")
                    || [
                        "CARGO_CRATE_NAME",
                        "CARGO_BIN_NAME",
                        "CARGO_PRIMARY_PACKAGE",
                        "CARGO_TARGET_TMPDIR",
                        "CARGO_RUSTC_CURRENT_DIR",
                        "OUT_DIR",
                    ]
                    .contains(&name.as_ref())
                {
                    cmd.env_remove(name.as_ref());
                }
            }
            if profile_dir.file_name().is_some_and(|n| n == "release") {
                cmd.arg("--release");
            }
            let out = cmd.output().expect("cargo runs");
            assert!(
                out.status.success(),
                "building templesync failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let bin = profile_dir.join(format!("templesync{}", std::env::consts::EXE_SUFFIX));
            assert!(bin.is_file(), "no binary at {}", bin.display());
            bin
        })
        .clone()
}

// ---------------------------------------------------------------------------------------------
// A running `templesync serve`

/// Where `serve` finds its databases and its token.
#[derive(Clone)]
struct Setup {
    local_url: String,
    remote_url: Option<String>,
    /// `TEMPLESYNC_API_TOKEN`, or none to use the token file.
    env_token: Option<String>,
    /// `XDG_CONFIG_HOME`, and the working directory (so no `.env` of the developer's is read).
    home: PathBuf,
}

impl Setup {
    fn of(o: &Office, home: &Path) -> Setup {
        let s = o.settings(0);
        Setup {
            local_url: s.local_url,
            remote_url: s.remote_url,
            env_token: Some(TOKEN.to_string()),
            home: home.to_path_buf(),
        }
    }
}

struct Serve {
    child: Child,
    base: String,
    /// Everything the process wrote, stdout and stderr.
    output: Arc<Mutex<String>>,
    http: reqwest::Client,
    token: String,
}

impl Serve {
    /// Starts `templesync serve --bind 127.0.0.1:0` and waits for its "Listening on" line.
    fn start(setup: &Setup) -> Serve {
        let mut cmd = Command::new(binary());
        cmd.args(["serve", "--bind", "127.0.0.1:0"])
            .current_dir(&setup.home)
            .env("XDG_CONFIG_HOME", &setup.home)
            .env("XDG_STATE_HOME", setup.home.join("state"))
            .env("XDG_DATA_HOME", setup.home.join("data"))
            .env("MONGODB_LOCAL_URL", &setup.local_url)
            .env("DATABASE_NAME", DB)
            .env("TEMPLESYNC_LOG", "info,templesync=debug")
            .env_remove("MONGODB_CLOUD_URL")
            .env_remove("TEMPLESYNC_API_TOKEN")
            .stdin(Stdio::null());
        if let Some(url) = &setup.remote_url {
            cmd.env("MONGODB_CLOUD_URL", url);
        }
        if let Some(t) = &setup.env_token {
            cmd.env("TEMPLESYNC_API_TOKEN", t);
        }
        let Listening {
            child,
            base,
            output,
        } = spawn_listening(&mut cmd, START_DEADLINE);
        assert!(base.starts_with("http://127.0.0.1:"), "{base}");
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(POLL_DEADLINE)
            .build()
            .unwrap();
        Serve {
            child,
            base,
            output,
            http,
            token: setup.env_token.clone().unwrap_or_default(),
        }
    }

    fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// The output once it contains `text` (its two streams are read on separate threads, so
    /// a line may arrive a moment after the server is listening), or after 10 s without it.
    fn output_with(&self, text: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let out = self.output();
            if out.contains(text) || std::time::Instant::now() > deadline {
                return out;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    /// Sends `req` and returns the status, the headers and the JSON body.
    async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let res = req.send().await.expect("the server answers");
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.expect("a body");
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{status}: the body is not JSON ({e}): {text:?}"));
        if status.is_success() || status.is_client_error() {
            assert_eq!(
                headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default(),
                "application/json",
                "every answer is JSON"
            );
        }
        Reply {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, path: &str) -> Reply {
        self.send(self.request(Method::GET, path)).await
    }

    async fn post(&self, path: &str, body: Option<Value>) -> Reply {
        let mut req = self.request(Method::POST, path);
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.send(req).await
    }

    async fn put(&self, path: &str, body: Value) -> Reply {
        self.send(self.request(Method::PUT, path).json(&body)).await
    }

    /// Polls `GET /api/sync/network-status` until the monitor reports a run in progress.
    async fn wait_until_syncing(&self) {
        let deadline = Instant::now() + POLL_DEADLINE;
        loop {
            let r = self.get("/api/sync/network-status").await;
            if r.body["isSyncing"] == json!(true) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no run started within {POLL_DEADLINE:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends SIGTERM and waits for the process to exit.
    fn terminate(&mut self) -> ExitStatus {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("SIGTERM");
        let deadline = Instant::now() + EXIT_DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "templesync serve still running {EXIT_DEADLINE:?} after SIGTERM:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[derive(Debug)]
struct Reply {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Reply {
    #[track_caller]
    fn ok(&self) -> &Value {
        assert_eq!(self.status, StatusCode::OK, "{:#}", self.body);
        &self.body
    }

    /// Asserts an error answer: the status, `{code, message}` and nothing else.
    #[track_caller]
    fn error(&self, status: u16, code: &str) -> &str {
        assert_eq!(self.status.as_u16(), status, "{:#}", self.body);
        assert_eq!(self.body["code"], json!(code), "{:#}", self.body);
        assert_eq!(
            keys(&self.body),
            ["code", "message"],
            "errors are {{code, message}}"
        );
        self.body["message"].as_str().expect("a message")
    }
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .unwrap_or_else(|| panic!("an object: {v}"))
        .keys()
        .cloned()
        .collect();
    k.sort();
    k
}

// ---------------------------------------------------------------------------------------------
// The documented shapes

/// Asserts that `v` has exactly the fields the OpenAPI document gives `schema` (all of them
/// are required), recursively through references, arrays, maps and nullable objects, so that
/// the document and the server cannot drift apart unnoticed.
#[track_caller]
fn assert_shape(spec: &Value, schema: &Value, v: &Value, at: &str) {
    if let Some(target) = schema.get("$ref").and_then(Value::as_str) {
        let resolved = spec
            .pointer(target.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("dangling {target}"));
        return assert_shape(spec, resolved, v, at);
    }
    // `null` or one schema (an optional object, such as the overview's status): the one.
    if let Some(branches) = schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))
        .and_then(Value::as_array)
        && !v.is_null()
    {
        let not_null: Vec<&Value> = branches
            .iter()
            .filter(|b| b.get("type") != Some(&json!("null")))
            .collect();
        if let [only] = not_null[..] {
            assert_shape(spec, only, v, at);
        }
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object)
        && v.is_object()
    {
        let mut documented: Vec<String> = props.keys().cloned().collect();
        documented.sort();
        assert_eq!(
            keys(v),
            documented,
            "{at}: the fields differ from the OpenAPI document"
        );
        for (k, s) in props {
            assert_shape(spec, s, &v[k], &format!("{at}.{k}"));
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), v.as_array()) {
        for (i, x) in arr.iter().enumerate() {
            assert_shape(spec, items, x, &format!("{at}[{i}]"));
        }
    }
    if let (Some(values), Some(obj)) = (
        schema.get("additionalProperties").filter(|a| a.is_object()),
        v.as_object(),
    ) {
        for (k, x) in obj {
            assert_shape(spec, values, x, &format!("{at}.{k}"));
        }
    }
}

#[track_caller]
fn assert_component(spec: &Value, name: &str, v: &Value) {
    assert_shape(
        spec,
        &json!({ "$ref": format!("#/components/schemas/{name}") }),
        v,
        name,
    );
}

/// The 200 schema of an operation.
fn ok_schema<'a>(spec: &'a Value, path: &str, method: &str) -> &'a Value {
    &spec["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
}

// ---------------------------------------------------------------------------------------------
// Data

/// Sets the settings through the engine before `serve` starts; the tests turn automatic
/// syncs off so that no start-up run races the runs they make.
async fn configure(o: &Office, assignments: &[&str]) {
    let e = o.engine(0).await;
    set_config(&e, assignments).await;
}

async fn insert(db: &Database, coll_name: &str, docs: Vec<Document>) {
    coll(db, coll_name).insert_many(docs).await.unwrap();
}

/// `n` bookings on the office PC: enough to make a run last a while with a small batch size.
async fn many_bookings(l: &Database, n: usize) {
    let mut g = templesync_sample::Generator::new(7);
    for chunk in g.bookings(n).chunks(1000) {
        insert(l, "bookings", chunk.to_vec()).await;
    }
}

async fn runs_left_running(l: &Database) -> u64 {
    coll(l, "sync_logs")
        .count_documents(doc! { "status": "running" })
        .await
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// The tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_answers_in_the_documented_shape() {
    let o = Office::start().await;
    let (l, r) = (o.local(0).await, o.remote().await);
    let home = tempfile::tempdir().unwrap();
    configure(&o, &["autoSyncEnabled=false"]).await;
    insert(
        &r,
        "admins",
        vec![
            tms_doc(
                ObjectId::new(),
                doc! { "username": "john_admin", "name": "John (cloud)" },
            ),
            tms_doc(
                ObjectId::new(),
                doc! { "username": "ravi", "name": "Ravi (cloud)" },
            ),
        ],
    )
    .await;
    insert(
        &l,
        "bookings",
        vec![tms_doc(1, doc! { "slot": "9am", "people": 1 })],
    )
    .await;
    let s = Serve::start(&Setup::of(&o, home.path()));

    // The document, without a token.
    let spec = s
        .send(s.http.get(format!("{}/api/openapi.json", s.base)))
        .await
        .ok()
        .clone();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    let mut operations: Vec<String> = spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(p, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| format!("{} {p}", m.to_uppercase()))
        })
        .collect();
    operations.sort();
    assert_eq!(
        operations,
        [
            "GET /api/openapi.json",
            "GET /api/sync/about",
            "GET /api/sync/config",
            "GET /api/sync/conflicts",
            "GET /api/sync/conflicts/{id}",
            "GET /api/sync/history/{collection}/{id}",
            "GET /api/sync/logs",
            "GET /api/sync/network-status",
            "GET /api/sync/overview",
            "GET /api/sync/status",
            "POST /api/sync/cloud",
            "POST /api/sync/conflicts/auto-resolve",
            "POST /api/sync/conflicts/{id}/resolve",
            "POST /api/sync/history/{collection}/{id}/restore",
            "POST /api/sync/logs/{id}/undo",
            "POST /api/sync/pause",
            "POST /api/sync/resume",
            "POST /api/sync/sync",
            "POST /api/sync/verify",
            "PUT /api/sync/config",
        ],
        "the document lists every operation"
    );

    // POST /sync with no body: everything.
    let first = s.post("/api/sync/sync", None).await;
    let run = first.ok();
    assert_component(&spec, "SyncRun", run);
    assert_eq!(run["status"], "completed");
    assert_eq!(run["trigger"], "manual");
    assert_eq!(run["localToRemote"]["bookings"], 1);
    assert_eq!(run["remoteToLocal"]["admins"], 2);

    // Two username clashes and an edit conflict on two fields.
    insert(
        &l,
        "admins",
        vec![
            tms_doc(
                ObjectId::new(),
                doc! { "username": "john_admin", "name": "John (office)" },
            ),
            tms_doc(
                ObjectId::new(),
                doc! { "username": "ravi", "name": "Ravi (office)" },
            ),
        ],
    )
    .await;
    tms_edit(&l, "bookings", 1, doc! { "slot": "10am", "people": 2 }).await;
    tms_edit(&r, "bookings", 1, doc! { "slot": "11am", "people": 3 }).await;
    let second = s
        .post(
            "/api/sync/sync",
            Some(json!({ "collections": ["admins", "bookings"] })),
        )
        .await;
    let run = second.ok();
    assert_eq!(run["collections"], json!(["admins", "bookings"]));
    assert_eq!(run["conflicts"]["admins"], 2);
    assert_eq!(run["conflicts"]["bookings"], 1);

    let status = s.get("/api/sync/status").await;
    assert_component(&spec, "SyncStatus", status.ok());
    assert_eq!(status.body["unresolvedConflicts"], 3);
    assert_eq!(status.body["totalSyncsCompleted"], 2);
    assert_eq!(status.body["isSyncing"], false);
    assert_eq!(status.body["remoteConfigured"], true);
    assert_eq!(status.body["lastSyncStatus"], "completed");

    // GET /conflicts and its filters.
    let all = s.get("/api/sync/conflicts").await;
    assert_shape(
        &spec,
        ok_schema(&spec, "/api/sync/conflicts", "get"),
        all.ok(),
        "conflicts",
    );
    assert_eq!(all.body.as_array().unwrap().len(), 3);
    assert_eq!(
        s.get("/api/sync/conflicts?resolved=false")
            .await
            .ok()
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        s.get("/api/sync/conflicts?resolved=true").await.ok(),
        &json!([])
    );
    let admins = s
        .get("/api/sync/conflicts?collection=admins&resolved=false")
        .await;
    let admins = admins.ok().as_array().unwrap();
    assert_eq!(admins.len(), 2);
    assert!(
        admins
            .iter()
            .all(|c| c["type"] == "unique" && c["field"] == "username")
    );
    let john = admins
        .iter()
        .find(|c| c["localValue"] == "john_admin")
        .expect("john's clash")["_id"]
        .as_str()
        .unwrap()
        .to_string();
    let bookings = s.get("/api/sync/conflicts?collection=bookings").await;
    let edit = bookings.ok()[0].clone();
    assert_eq!(edit["type"], "update");
    let edit_id = edit["_id"].as_str().unwrap();

    // GET /conflicts/{id}: the one conflict, as listed; an id that names none is a 404.
    let one = s.get(&format!("/api/sync/conflicts/{edit_id}")).await;
    assert_component(&spec, "Conflict", one.ok());
    assert_eq!(one.body, edit, "one conflict reads as it is listed");
    for unknown in [ObjectId::new().to_hex(), "not-an-id".to_string()] {
        let msg = s
            .get(&format!("/api/sync/conflicts/{unknown}"))
            .await
            .error(404, "conflict_not_found")
            .to_string();
        assert!(msg.contains(&unknown), "{msg}");
        assert!(!msg.contains("--"), "no command-line flag over HTTP: {msg}");
    }

    // GET /about, POST /pause and /resume: this computer's own.
    let about = s.get("/api/sync/about").await;
    assert_component(&spec, "About", about.ok());
    assert_eq!(about.body["engineVersion"], env!("CARGO_PKG_VERSION"));
    assert!(
        !about.body.to_string().contains("password"),
        "{}",
        about.body
    );
    let paused = s
        .post("/api/sync/pause", Some(json!({ "minutes": 60 })))
        .await;
    assert_component(&spec, "PausedHere", paused.ok());
    assert!(paused.body["pause"]["until"].is_string(), "{}", paused.body);
    assert!(s.get("/api/sync/overview").await.ok()["pausedHere"]["until"].is_string());
    for bad in [
        json!({ "minutes": 0 }),
        json!({ "minutes": 10081 }),
        json!({ "minutes": "an hour" }),
        json!({ "minute": 5 }),
    ] {
        let msg = s
            .post("/api/sync/pause", Some(bad.clone()))
            .await
            .error(400, "invalid_request")
            .to_string();
        assert!(msg.contains("minute"), "{bad}: {msg}");
    }
    // GET /history and POST /restore: a version a sync overwrote, listed and brought back.
    insert(&r, "notes", vec![tms_doc("n1", doc! { "text": "first" })]).await;
    s.post("/api/sync/sync", Some(json!({ "collections": ["notes"] })))
        .await
        .ok();
    tms_edit(&r, "notes", "n1", doc! { "text": "second" }).await;
    s.post("/api/sync/sync", Some(json!({ "collections": ["notes"] })))
        .await
        .ok();
    let versions = s.get("/api/sync/history/notes/n1").await;
    assert_shape(
        &spec,
        ok_schema(&spec, "/api/sync/history/{collection}/{id}", "get"),
        versions.ok(),
        "history",
    );
    assert_eq!(
        versions.body[0]["document"]["text"], "first",
        "{}",
        versions.body
    );
    let restored = s
        .post(
            "/api/sync/history/notes/n1/restore",
            Some(json!({ "version": 1 })),
        )
        .await;
    assert_component(&spec, "Restored", restored.ok());
    assert_eq!(
        get(&l, "notes", "n1").await.unwrap().get_str("text"),
        Ok("first")
    );
    s.get("/api/sync/history/notes/nope")
        .await
        .error(404, "version_not_found");
    s.get("/api/sync/history/nites/n1")
        .await
        .error(400, "unknown_collection");
    s.post(
        "/api/sync/history/notes/n1/restore",
        Some(json!({ "version": 9 })),
    )
    .await
    .error(404, "version_not_found");
    s.post(
        "/api/sync/history/notes/n1/restore",
        Some(json!({ "versión": 1 })),
    )
    .await
    .error(400, "invalid_request");
    // POST /logs/{id}/undo: the run that brought "second", previewed.
    let runs = s.get("/api/sync/logs?limit=1").await.ok().clone();
    let run_id = runs[0]["_id"].as_str().unwrap().to_string();
    let preview = s
        .post(
            &format!("/api/sync/logs/{run_id}/undo"),
            Some(json!({ "dryRun": true })),
        )
        .await;
    assert_component(&spec, "UndoRun", preview.ok());
    assert_eq!(preview.body["done"], false);
    assert_eq!(
        preview.body["items"][0]["collection"], "notes",
        "{}",
        preview.body
    );
    s.post(
        &format!("/api/sync/logs/{}/undo", ObjectId::new().to_hex()),
        None,
    )
    .await
    .error(404, "run_not_found");

    let resumed = s.post("/api/sync/resume", None).await;
    assert_eq!(resumed.ok()["pause"], Value::Null);
    assert_eq!(
        s.get("/api/sync/overview").await.ok()["pausedHere"],
        Value::Null
    );

    // GET /overview: the state and its words, worked out by TempleSync, not by the screens.
    let overview = s.get("/api/sync/overview").await;
    assert_component(&spec, "Overview", overview.ok());
    assert_eq!(overview.body["state"], "conflicts", "{:#}", overview.body);
    assert_eq!(overview.body["title"], "Needs a decision");
    assert_eq!(
        overview.body["unresolvedConflicts"],
        overview.body["status"]["unresolvedConflicts"]
    );

    // POST /resolve: the original API's snake_case answer.
    let resolved = s
        .post(
            &format!("/api/sync/conflicts/{john}/resolve"),
            Some(json!({ "strategy": "rename_local", "newValue": "john_office", "notes": "asked John" })),
        )
        .await;
    let outcome = resolved.ok();
    assert_component(&spec, "ResolveOutcome", outcome);
    assert_eq!(
        keys(outcome),
        [
            "conflict_id",
            "message",
            "resolved_at",
            "resolved_by",
            "success"
        ]
    );
    assert_eq!(outcome["success"], true);
    assert_eq!(outcome["conflict_id"], json!(john));
    assert_eq!(outcome["resolved_by"], "api", "the default decider");
    assert!(
        outcome["message"]
            .as_str()
            .unwrap()
            .contains("rename_local")
    );
    let again = s
        .post(
            &format!("/api/sync/conflicts/{john}/resolve"),
            Some(json!({ "strategy": "keep_remote" })),
        )
        .await;
    again.error(409, "conflict_already_resolved");

    // Refusals, each naming what is wrong.
    let wrong_choice = s
        .post("/api/sync/cloud", Some(json!({ "choice": "keep_both" })))
        .await;
    assert!(
        wrong_choice
            .error(400, "invalid_config")
            .contains("keep_both")
    );
    s.post("/api/sync/cloud", None)
        .await
        .error(400, "invalid_request");
    let bad = s
        .post(
            &format!("/api/sync/conflicts/{edit_id}/resolve"),
            Some(json!({ "strategy": "newest_wins" })),
        )
        .await;
    assert!(bad.error(400, "unknown_strategy").contains("newest_wins"));
    s.post(
        &format!("/api/sync/conflicts/{edit_id}/resolve"),
        Some(json!({ "strategy": "merge" })),
    )
    .await
    .error(400, "invalid_resolution");
    let missing = s
        .post(
            &format!("/api/sync/conflicts/{edit_id}/resolve"),
            Some(json!({})),
        )
        .await;
    assert!(missing.error(400, "invalid_request").contains("strategy"));
    let typed = s
        .post(
            &format!("/api/sync/conflicts/{edit_id}/resolve"),
            Some(json!({ "strategy": 3 })),
        )
        .await;
    assert!(typed.error(400, "invalid_request").contains("strategy"));
    let unknown = ObjectId::new().to_hex();
    s.post(
        &format!("/api/sync/conflicts/{unknown}/resolve"),
        Some(json!({ "strategy": "keep_local" })),
    )
    .await
    .error(404, "conflict_not_found");
    s.post(
        "/api/sync/conflicts/not-an-id/resolve",
        Some(json!({ "strategy": "keep_local" })),
    )
    .await
    .error(404, "conflict_not_found");

    // A merge value that is an object of fields, one of them a number.
    let merged = s
        .post(
            &format!("/api/sync/conflicts/{edit_id}/resolve"),
            Some(json!({ "strategy": "merge", "newValue": { "slot": "10:30am", "people": 4 }, "resolvedBy": "priest" })),
        )
        .await;
    assert_eq!(merged.ok()["resolved_by"], "priest");

    // POST /auto-resolve settles ravi's clash.
    let report = s
        .post(
            "/api/sync/conflicts/auto-resolve",
            Some(json!({ "max": 5 })),
        )
        .await;
    assert_component(&spec, "AutoResolveReport", report.ok());
    assert_eq!(report.body["resolved"], 1, "{:#}", report.body);
    let zero = s
        .post(
            "/api/sync/conflicts/auto-resolve",
            Some(json!({ "max": 0 })),
        )
        .await;
    assert!(zero.error(400, "invalid_request").contains("max"));
    assert_eq!(
        s.post("/api/sync/conflicts/auto-resolve", None).await.ok()["resolved"],
        0,
        "an empty body takes the defaults"
    );
    // Decisions sent at the same moment are applied one after the other; none is refused as
    // if a sync were running.
    let at_once = futures::future::join_all((0..4).map(|_| {
        s.post(
            "/api/sync/conflicts/auto-resolve",
            Some(json!({ "max": 1000 })),
        )
    }))
    .await;
    for r in &at_once {
        r.ok();
    }

    // The next sync carries the decisions out.
    let third = s.post("/api/sync/sync", Some(json!({}))).await;
    assert_eq!(third.ok()["status"], "completed");
    assert_same(&l, &r, "admins").await;
    assert_same(&l, &r, "bookings").await;
    let booking = get(&r, "bookings", 1).await.unwrap();
    assert_eq!(booking.get_str("slot").unwrap(), "10:30am");
    assert_eq!(
        booking
            .get_i64("people")
            .ok()
            .or(booking.get_i32("people").ok().map(i64::from)),
        Some(4)
    );
    assert!(
        all_usernames(&r).await.contains(&"john_office".to_string()),
        "the new name reached the cloud"
    );
    assert_eq!(
        s.get("/api/sync/status").await.body["unresolvedConflicts"],
        0
    );

    // GET /logs.
    let logs = s.get("/api/sync/logs").await;
    assert_shape(
        &spec,
        ok_schema(&spec, "/api/sync/logs", "get"),
        logs.ok(),
        "logs",
    );
    // Three runs of all collections, and the two of `notes` for the history.
    assert_eq!(logs.body.as_array().unwrap().len(), 5);
    let two = s.get("/api/sync/logs?limit=2").await;
    let two = two.ok().as_array().unwrap();
    assert_eq!(two.len(), 2);
    assert_eq!(two[0]["_id"], third.body["_id"], "newest first");
    for bad in ["0", "1001", "abc", "-1", "2.5"] {
        let r = s.get(&format!("/api/sync/logs?limit={bad}")).await;
        assert!(
            r.error(400, "invalid_request").contains("limit"),
            "limit={bad}"
        );
    }
    s.get("/api/sync/conflicts?resolved=maybe")
        .await
        .error(400, "invalid_request");

    // GET /network-status: camelCase plus the original API's snake_case keys.
    let deadline = Instant::now() + POLL_DEADLINE;
    let net = loop {
        let n = s.get("/api/sync/network-status").await;
        if !n.ok()["lastCheck"].is_null() {
            break n.body;
        }
        assert!(
            Instant::now() < deadline,
            "the monitor never checked the cloud"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_component(&spec, "NetworkStatus", &net);
    assert_eq!(net["isRunning"], true);
    assert_eq!(net["is_running"], true);
    assert_eq!(net["is_online"], net["isOnline"]);
    assert_eq!(net["is_online"], true);
    assert_eq!(net["last_check"], net["lastCheck"]);
    assert_eq!(net["check_interval_seconds"], 30);

    // GET and PUT /config.
    let cfg = s.get("/api/sync/config").await;
    assert_component(&spec, "SyncConfig", cfg.ok());
    assert_eq!(cfg.body["autoSyncEnabled"], false);
    assert_eq!(cfg.body["batchSize"], 100);
    let saved = s
        .put(
            "/api/sync/config",
            json!({ "batchSize": 200, "syncIntervalMinutes": 60 }),
        )
        .await;
    assert_component(&spec, "SyncConfig", saved.ok());
    assert_eq!(saved.body["batchSize"], 200);
    assert_eq!(saved.body["syncIntervalMinutes"], 60);
    assert_eq!(
        saved.body["autoSyncEnabled"], false,
        "other settings keep their values"
    );
    assert_eq!(s.get("/api/sync/config").await.body, saved.body, "stored");
    for (patch, field) in [
        (json!({ "batchSize": 0 }), "batchSize"),
        (json!({ "maxRetries": "lots" }), "maxRetries"),
        (
            json!({ "conflictResolutionStrategy": "newest" }),
            "conflictResolutionStrategy",
        ),
        (json!({ "batchSize": 300, "frobnicate": 1 }), "frobnicate"),
    ] {
        let r = s.put("/api/sync/config", patch.clone()).await;
        assert!(
            r.error(400, "invalid_config").contains(field),
            "{patch}: the message names {field}: {:#}",
            r.body
        );
    }
    assert_eq!(
        s.get("/api/sync/config").await.body,
        saved.body,
        "nothing is stored when a value is wrong"
    );
    let not_object = s.put("/api/sync/config", json!([1])).await;
    assert!(not_object.error(400, "invalid_request").contains("body"));
    let broken = s
        .send(
            s.request(Method::PUT, "/api/sync/config")
                .body("{\"batchSize\": "),
        )
        .await;
    assert!(broken.error(400, "invalid_request").contains("body"));
    let wrong_type = s
        .post("/api/sync/sync", Some(json!({ "collections": "admins" })))
        .await;
    assert!(
        wrong_type
            .error(400, "invalid_request")
            .contains("collections")
    );

    // Unknown paths and wrong methods.
    s.get("/api/sync/nothing-here")
        .await
        .error(404, "not_found");
    let wrong = s.send(s.request(Method::DELETE, "/api/sync/config")).await;
    wrong.error(405, "method_not_allowed");
    let allow = wrong.headers["allow"].to_str().unwrap();
    assert!(allow.contains("GET") && allow.contains("PUT"), "{allow}");

    assert!(
        !s.output().contains(TOKEN),
        "the token is never printed or logged"
    );
}

async fn all_usernames(db: &Database) -> Vec<String> {
    all(db, "admins")
        .await
        .iter()
        .filter_map(|d| d.get_str("username").ok().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_right_token_in_the_authorization_header_gets_in() {
    let o = Office::start().await;
    let l = o.local(0).await;
    configure(&o, &["autoSyncEnabled=false"]).await;
    let home = tempfile::tempdir().unwrap();
    let s = Serve::start(&Setup::of(&o, home.path()));
    let url = |p: &str| format!("{}{p}", s.base);

    for path in [
        "/api/sync/status",
        "/api/sync/conflicts",
        "/api/sync/logs",
        "/api/sync/network-status",
        "/api/sync/config",
        "/api/sync/no-such-path",
    ] {
        let none = s.send(s.http.get(url(path))).await;
        assert!(none.error(401, "unauthorized").contains("Authorization"));
        assert_eq!(none.headers["www-authenticate"], "Bearer", "{path}");

        let wrong = s.send(s.http.get(url(path)).bearer_auth("testtokem")).await;
        wrong.error(401, "unauthorized");
        assert!(
            wrong.headers["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer error=\"invalid_token\""),
            "{path}"
        );
        let prefix = s.send(s.http.get(url(path)).bearer_auth("testtoke")).await;
        prefix.error(401, "unauthorized");
        let basic = s
            .send(s.http.get(url(path)).basic_auth("admin", Some(TOKEN)))
            .await;
        basic.error(401, "unauthorized");

        let sep = if path.contains('?') { '&' } else { '?' };
        for param in ["token", "access_token"] {
            let in_query = s
                .send(s.http.get(url(&format!("{path}{sep}{param}={TOKEN}"))))
                .await;
            assert!(
                in_query.error(401, "unauthorized").contains("URL"),
                "a token in the URL is refused"
            );
            assert!(
                in_query.headers["www-authenticate"]
                    .to_str()
                    .unwrap()
                    .starts_with("Bearer")
            );
            let both = s
                .send(s.request(Method::GET, &format!("{path}{sep}{param}={TOKEN}")))
                .await;
            both.error(401, "unauthorized");
        }
    }
    for path in [
        "/api/sync/status",
        "/api/sync/conflicts",
        "/api/sync/logs",
        "/api/sync/network-status",
        "/api/sync/config",
    ] {
        s.get(path).await.ok();
        let lower = s
            .send(
                s.http
                    .get(url(path))
                    .header("authorization", format!("bearer {TOKEN}")),
            )
            .await;
        lower.ok();
    }
    s.get("/api/sync/no-such-path")
        .await
        .error(404, "not_found");

    // Writes without the token change nothing.
    let refused = s.send(s.http.post(url("/api/sync/sync"))).await;
    refused.error(401, "unauthorized");
    let put = s
        .send(
            s.http
                .put(url("/api/sync/config"))
                .json(&json!({ "batchSize": 7 })),
        )
        .await;
    put.error(401, "unauthorized");
    assert_eq!(
        coll(&l, "sync_logs")
            .count_documents(doc! {})
            .await
            .unwrap(),
        0,
        "no run was started"
    );
    assert_eq!(s.get("/api/sync/config").await.ok()["batchSize"], 100);

    // The API description is public.
    s.send(s.http.get(url("/api/openapi.json"))).await.ok();
    assert!(
        !s.output().contains(TOKEN),
        "the token, even sent in a URL, never reaches the log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sync_while_one_runs_is_refused_with_409() {
    let o = Office::start().await;
    let l = o.local(0).await;
    configure(&o, &["autoSyncEnabled=false", "batchSize=50"]).await;
    many_bookings(&l, 3000).await;
    let home = tempfile::tempdir().unwrap();
    let s = Arc::new(Serve::start(&Setup::of(&o, home.path())));

    let started = Instant::now();
    let first = {
        let s = s.clone();
        tokio::spawn(async move { s.post("/api/sync/sync", None).await })
    };
    s.wait_until_syncing().await;
    let second = s.post("/api/sync/sync", None).await;
    assert!(
        second
            .error(409, "sync_in_progress")
            .starts_with("Sync is already in progress")
    );
    // Decisions wait for the run too.
    s.post("/api/sync/conflicts/auto-resolve", None)
        .await
        .error(409, "sync_in_progress");
    let first = first.await.unwrap();
    assert_eq!(
        first.ok()["status"],
        "completed",
        "the refusal did not disturb the run"
    );
    assert_eq!(first.body["localToRemote"]["bookings"], 3000);
    eprintln!("a 3000-document run took {:?}", started.elapsed());
    assert_eq!(
        s.post("/api/sync/sync", None).await.ok()["status"],
        "completed",
        "after the run, syncing is possible again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_1_mib_is_refused_with_413() {
    let o = Office::start().await;
    let l = o.local(0).await;
    configure(&o, &["autoSyncEnabled=false"]).await;
    let home = tempfile::tempdir().unwrap();
    let s = Serve::start(&Setup::of(&o, home.path()));
    let big = json!({ "batchSize": 5, "notes": "x".repeat(2 * 1024 * 1024) });
    s.put("/api/sync/config", big.clone())
        .await
        .error(413, "payload_too_large");
    s.post("/api/sync/sync", Some(big.clone()))
        .await
        .error(413, "payload_too_large");
    s.post("/api/sync/conflicts/auto-resolve", Some(big))
        .await
        .error(413, "payload_too_large");
    assert_eq!(
        s.get("/api/sync/config").await.ok()["batchSize"],
        100,
        "nothing stored"
    );
    assert_eq!(
        coll(&l, "sync_logs")
            .count_documents(doc! {})
            .await
            .unwrap(),
        0,
        "no run"
    );
    // Just under the limit is read (and refused for its content, not its size).
    let near = json!({ "batchSize": 5, "notes": "x".repeat(1024 * 1024 - 100) });
    s.put("/api/sync/config", near)
        .await
        .error(400, "invalid_config");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_reachable_cloud_syncs_are_refused_with_503() {
    let local = MongoServer::start_with(ServerOptions::new()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut setup = Setup {
        local_url: local.url(),
        remote_url: None,
        env_token: Some(TOKEN.to_string()),
        home: home.path().to_path_buf(),
    };
    {
        let s = Serve::start(&setup);
        let msg = s
            .post("/api/sync/sync", None)
            .await
            .error(503, "remote_not_configured")
            .to_string();
        assert!(msg.contains("MONGODB_CLOUD_URL"), "{msg}");
        let status = s.get("/api/sync/status").await;
        assert_eq!(status.ok()["remoteConfigured"], false);
        let overview = s.get("/api/sync/overview").await;
        assert_eq!(overview.ok()["state"], "not_configured");
        assert_eq!(status.body["isOnline"], false);
        s.get("/api/sync/network-status").await.ok();
    }

    // A cloud that does not answer (nothing listens on its port), with a password in its URL.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    setup.remote_url = Some(format!(
        "mongodb://temple:hunter2@127.0.0.1:{port}/?directConnection=true&serverSelectionTimeoutMS=500&connectTimeoutMS=500"
    ));
    let s = Serve::start(&setup);
    let msg = s
        .post("/api/sync/sync", None)
        .await
        .error(503, "remote_unreachable")
        .to_string();
    assert!(!msg.contains("hunter2"), "no password in answers: {msg}");
    assert_eq!(s.get("/api/sync/status").await.ok()["isOnline"], false);
    assert!(!s.output().contains("hunter2"), "no password in the log");
    drop(s);

    // A connection string the driver refuses is a setting to fix: the same 503, but its own
    // code and kind, and the overview says "failed" with the reason, not "offline".
    setup.remote_url = Some(format!(
        "mongodb://temple:hunter2@127.0.0.1:{port},127.0.0.1:{}/?directConnection=true",
        port + 1
    ));
    let s = Serve::start(&setup);
    // Once the first look at the cloud (and the start-up run it allows) is over.
    let deadline = Instant::now() + Duration::from_secs(20);
    let overview = loop {
        let o = s.get("/api/sync/overview").await.ok().clone();
        let settled = o["state"] != "checking" && o["state"] != "syncing";
        if settled || Instant::now() > deadline {
            break o;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(overview["state"], "failed", "{overview:#}");
    assert_eq!(
        overview["network"]["lastErrorKind"], "config",
        "{overview:#}"
    );
    let msg = s
        .post("/api/sync/sync", None)
        .await
        .error(503, "invalid_connection_string")
        .to_string();
    assert!(msg.contains("directConnection"), "names the problem: {msg}");
    assert!(!msg.contains("hunter2"), "no password in answers: {msg}");
    assert!(
        overview["todo"]
            .as_str()
            .is_some_and(|t| t.contains("directConnection")),
        "says what to fix: {overview:#}"
    );
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_file_is_made_owner_only_on_the_first_start_and_reused() {
    use std::os::unix::fs::PermissionsExt;
    let local = MongoServer::start_with(ServerOptions::new()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let setup = Setup {
        local_url: local.url(),
        remote_url: None,
        env_token: None,
        home: home.path().to_path_buf(),
    };
    let file = home.path().join("templesync").join("api-token");

    let mut s = Serve::start(&setup);
    let token = std::fs::read_to_string(&file)
        .expect("the token file was made")
        .trim()
        .to_string();
    assert_eq!(token.len(), 64, "32 random bytes, in hex");
    assert!(token.chars().all(|c| c.is_ascii_hexdigit()));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&file), 0o600, "only its owner may read the token");
    assert_eq!(mode(file.parent().unwrap()), 0o700);
    let created = format!(
        "Created the API token in {}; send it as 'Authorization: Bearer <token>'",
        file.display()
    );
    let out = s.output_with(&created);
    assert!(out.contains(&created), "{out}");
    assert!(!out.contains(&token), "the token itself is never printed");
    s.token = token.clone();
    s.get("/api/sync/status").await.ok();
    assert!(tokio::task::block_in_place(|| s.terminate()).success());

    // The next start uses the same token, and says nothing about making one.
    let mut s = Serve::start(&setup);
    s.token = token.clone();
    s.get("/api/sync/status").await.ok();
    assert!(
        !s.output().contains("Created the API token"),
        "{}",
        s.output()
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), token);
    // The environment, when set, wins over the file.
    drop(s);
    let s = Serve::start(&Setup {
        env_token: Some(TOKEN.into()),
        ..setup
    });
    s.get("/api/sync/status").await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_run_lets_it_finish_and_exits_0() {
    let o = Office::start().await;
    let (l, r) = (o.local(0).await, o.remote().await);
    configure(&o, &["autoSyncEnabled=false", "batchSize=50"]).await;
    many_bookings(&l, 3000).await;
    let home = tempfile::tempdir().unwrap();
    let setup = Setup::of(&o, home.path());
    let mut s = Serve::start(&setup);

    let in_flight = {
        let req = s.request(Method::POST, "/api/sync/sync");
        tokio::spawn(async move { req.send().await })
    };
    s.wait_until_syncing().await;
    let stopping = Instant::now();
    let exit = tokio::task::block_in_place(|| s.terminate());
    eprintln!("stopped {:?} after SIGTERM", stopping.elapsed());
    assert!(exit.success(), "exit status {exit}:\n{}", s.output());
    let answered = in_flight
        .await
        .unwrap()
        .expect("the request in progress was answered before the exit");
    assert_eq!(answered.status(), StatusCode::OK);
    let run: Value = answered.json().await.unwrap();
    assert_eq!(
        run["status"], "completed",
        "the run was let finish: {run:#}"
    );
    assert_eq!(
        runs_left_running(&l).await,
        0,
        "no run is left marked running"
    );

    // The next start and sync.
    let s = Serve::start(&setup);
    let next = s.post("/api/sync/sync", None).await;
    assert_eq!(next.ok()["status"], "completed");
    assert_eq!(runs_left_running(&l).await, 0);
    let logs = s.get("/api/sync/logs").await;
    assert!(
        logs.ok()
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "completed"),
        "{:#}",
        logs.body
    );
    assert_same(&l, &r, "bookings").await;
}
