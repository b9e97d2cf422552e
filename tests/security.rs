//! Security: SCRAM authentication and TLS to both databases work end to end; a wrong password
//! and an untrusted certificate are refused with errors that say so; the REST API lets in only
//! the token, sent as a header; and nothing the system writes (command output, the server's
//! log, HTTP answers, every collection of both databases, files it makes) ever holds a
//! password or the token.
//!
//! Runs the `templesync` binary: build it first with `cargo build -p templesync-cli`.

use std::path::Path;
use std::time::Instant;

use bson::{Document, doc, oid::ObjectId};
use futures::TryStreamExt;
use mongodb::{Client, Database};
use reqwest::StatusCode;
use serde_json::json;
use templesync_tests::app::{Cli, Output, Serve};
use templesync_tests::fixture::{DB, tms_doc};
use templesync_tests::tls::TestCertificates;
use templesync_tests::{MongoServer, ServerOptions};

/// Distinctive, so that finding one anywhere cannot be a coincidence.
const CLOUD_PASSWORD: &str = "Cl0udPw-7f3a9cq";
const LOCAL_PASSWORD: &str = "L0calPw-2b8e4dz";
const WRONG_PASSWORD: &str = "Wr0ngPw-91c5e0k";
const USER: &str = "templesync";

/// The places a secret could be found in `text`, with some context.
fn leaks(text: &str, secrets: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for s in secrets {
        let mut needles = vec![s.to_string(), url_encode(s)];
        needles.dedup();
        for needle in needles {
            for (at, _) in text.match_indices(&needle) {
                let from = text[..at]
                    .char_indices()
                    .rev()
                    .nth(60)
                    .map_or(0, |(i, _)| i);
                let to = (at + needle.len() + 60).min(text.len());
                let to = (to..=text.len())
                    .find(|i| text.is_char_boundary(*i))
                    .unwrap_or(text.len());
                found.push(format!("{s:?} in …{}…", &text[from..to]));
            }
        }
    }
    found
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `mongodb://USER:PASSWORD@host...` from a server's URL.
fn with_credentials(url: &str, password: &str) -> String {
    url.replacen("mongodb://", &format!("mongodb://{USER}:{password}@"), 1) + "&authSource=admin"
}

/// A server that requires SCRAM (and TLS when `certs` are given), with the one user.
async fn secured(password: &str, certs: Option<&TestCertificates>) -> MongoServer {
    let opts = match certs {
        Some(c) => ServerOptions::new().tls(&c.ca(), &c.server_cert(), &c.server_key()),
        None => ServerOptions::new(),
    };
    let mut server = MongoServer::start_with(opts).await.expect("server starts");
    let client = server.client().await;
    client
        .database("admin")
        .run_command(doc! {
            "createUser": USER, "pwd": password,
            "roles": [ { "role": "root", "db": "admin" } ],
        })
        .await
        .expect("createUser");
    client.shutdown().await;
    server.options_mut().extra_args.push("--auth".into());
    server.restart().await.expect("restarts with --auth");
    server
}

async fn admin_client(server: &MongoServer, password: &str) -> Client {
    Client::with_uri_str(with_credentials(&server.url(), password))
        .await
        .unwrap()
}

/// Every document of every collection of `db`, as extended JSON.
async fn dump(db: &Database) -> String {
    let mut out = String::new();
    for name in db.list_collection_names().await.unwrap() {
        let docs: Vec<Document> = db
            .collection::<Document>(&name)
            .find(doc! {})
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        for d in docs {
            out.push_str(&format!(
                "{name}: {}\n",
                bson::Bson::Document(d).into_relaxed_extjson()
            ));
        }
    }
    out
}

/// Every file under `dir` but `except`, as text.
fn files_text(dir: &Path, except: &Path, out: &mut String) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files_text(&p, except, out);
        } else if p != except {
            out.push_str(&String::from_utf8_lossy(
                &std::fs::read(&p).unwrap_or_default(),
            ));
        }
    }
}

#[track_caller]
fn expect_json_error(out: &Output, exit: i32, code: &str) -> String {
    assert_eq!(out.code(), Some(exit), "{}", out.all());
    let v = out.json();
    assert_eq!(v["error"]["code"], code, "{v:#}");
    v["error"]["message"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scanner_finds_a_planted_secret() {
    // The control for the scan below: it must be able to fail.
    let sample = format!(
        "Error: cannot reach mongodb://{USER}:{CLOUD_PASSWORD}@h/ and {}",
        url_encode("p@ss word")
    );
    assert_eq!(leaks(&sample, &[CLOUD_PASSWORD]).len(), 1);
    assert_eq!(
        leaks(&sample, &["p@ss word"]).len(),
        1,
        "percent-encoded too"
    );
    assert!(leaks(&sample, &[LOCAL_PASSWORD]).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_and_tls_work_both_ways_refusals_say_why_and_no_secret_is_ever_written() {
    let started = Instant::now();
    let certs = TestCertificates::generate().expect("openssl makes the certificates");
    let (cloud, local) = tokio::join!(
        secured(CLOUD_PASSWORD, Some(&certs)),
        secured(LOCAL_PASSWORD, None)
    );
    let cloud_url = with_credentials(&cloud.url(), CLOUD_PASSWORD);
    let local_url = with_credentials(&local.url(), LOCAL_PASSWORD);
    assert!(cloud_url.contains("tls=true&tlsCAFile="), "{cloud_url}");
    let l = admin_client(&local, LOCAL_PASSWORD).await.database(DB);
    let r = admin_client(&cloud, CLOUD_PASSWORD).await.database(DB);
    l.collection::<Document>("bookings")
        .insert_many([
            tms_doc(1, doc! { "name": "Puja" }),
            tms_doc(2, doc! { "name": "Homa" }),
        ])
        .await
        .unwrap();
    r.collection::<Document>("events")
        .insert_one(tms_doc("e1", doc! { "title": "Diwali" }))
        .await
        .unwrap();
    // A username taken on both sides: a conflict record holds both versions.
    l.collection::<Document>("admins")
        .insert_one(tms_doc(ObjectId::new(), doc! { "username": "john_admin" }))
        .await
        .unwrap();
    r.collection::<Document>("admins")
        .insert_one(tms_doc(ObjectId::new(), doc! { "username": "john_admin" }))
        .await
        .unwrap();

    let home = tempfile::tempdir().unwrap();
    let cli = Cli::new(home.path(), &local_url, Some(&cloud_url), DB);
    let mut outputs: Vec<(String, String)> = Vec::new();
    let mut record = |what: &str, out: &Output| outputs.push((what.to_string(), out.all()));

    // Both ways, over SCRAM, the cloud over TLS.
    let sync = cli.run(&["sync", "--json"]).await;
    record("sync --json", &sync);
    assert_eq!(sync.code(), Some(0), "{}", sync.all());
    let run = sync.json();
    assert_eq!(run["status"], "completed", "{run:#}");
    assert_eq!(run["localToRemote"]["bookings"], 2, "{run:#}");
    assert_eq!(run["remoteToLocal"]["events"], 1, "{run:#}");
    assert_eq!(run["conflicts"]["admins"], 1, "{run:#}");
    assert_eq!(
        r.collection::<Document>("bookings")
            .count_documents(doc! {})
            .await
            .unwrap(),
        2
    );
    for args in [
        vec!["sync", "--verbose"],
        vec!["status"],
        vec!["status", "--json"],
        vec!["logs"],
        vec!["logs", "--json"],
        vec!["config"],
        vec!["config", "--json"],
        vec!["conflicts", "--all"],
        vec!["conflicts", "--all", "--json"],
    ] {
        let out = cli.run(&args).await;
        assert_eq!(out.code(), Some(0), "{args:?}: {}", out.all());
        record(&args.join(" "), &out);
    }

    // A wrong password: refused as such, naming the host and the setting, not the password.
    let wrong_cloud = cli.clone().with_env(
        "MONGODB_CLOUD_URL",
        &with_credentials(&cloud.url(), WRONG_PASSWORD),
    );
    let out = wrong_cloud.run(&["sync", "--json"]).await;
    record("sync with a wrong cloud password", &out);
    let message = expect_json_error(&out, 2, "authentication_failed");
    assert!(
        message.contains(&format!("127.0.0.1:{}", cloud.port()))
            && message.contains("MONGODB_CLOUD_URL"),
        "{message}"
    );
    let out = wrong_cloud.run(&["status", "--json"]).await;
    record("status with a wrong cloud password", &out);
    let wrong_local = cli.clone().with_env(
        "MONGODB_LOCAL_URL",
        &with_credentials(&local.url(), WRONG_PASSWORD),
    );
    let out = wrong_local.run(&["sync", "--json"]).await;
    record("sync with a wrong local password", &out);
    let message = expect_json_error(&out, 2, "authentication_failed");
    assert!(message.contains("MONGODB_LOCAL_URL"), "{message}");

    // A certificate this computer does not trust: refused, saying it is the certificate.
    let untrusted_url = cloud_url.replace(
        &certs.ca().display().to_string(),
        &certs.other_ca().display().to_string(),
    );
    let untrusted = cli.clone().with_env("MONGODB_CLOUD_URL", &untrusted_url);
    let t = Instant::now();
    let out = untrusted.run(&["sync", "--json"]).await;
    record("sync with an untrusted certificate", &out);
    // A setting to fix (the tlsCAFile): exit 2, as for every error the person must fix.
    let message = expect_json_error(&out, 2, "certificate_rejected");
    assert!(
        message.contains("certificate") && message.contains(&format!("127.0.0.1:{}", cloud.port())),
        "names the certificate problem and the host: {message}"
    );
    assert!(t.elapsed().as_secs() < 20, "refused in {:?}", t.elapsed());
    eprintln!("an untrusted certificate: {message}");
    // Plain text to a TLS-only server is no better.
    let plain = cli.clone().with_env(
        "MONGODB_CLOUD_URL",
        &format!(
            "mongodb://{USER}:{CLOUD_PASSWORD}@127.0.0.1:{}/?directConnection=true&authSource=admin",
            cloud.port()
        ),
    );
    let out = plain.run(&["sync", "--json"]).await;
    record("sync without TLS to a TLS server", &out);
    expect_json_error(&out, 1, "remote_unreachable");

    // The REST API, with the token made on first start in the token file (and no start-up
    // sync racing the requests).
    let out = cli.run(&["config", "set", "autoSyncEnabled=false"]).await;
    assert_eq!(out.code(), Some(0), "{}", out.all());
    record("config set", &out);
    let serve = Serve::start(&cli, &[]);
    let token_file = home.path().join("templesync").join("api-token");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "only its owner may read the token");
    }
    let token = std::fs::read_to_string(&token_file)
        .unwrap()
        .trim()
        .to_string();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = |p: &str| format!("{}{p}", serve.base);
    let mut answers = String::new();
    for path in [
        "/api/sync/status",
        "/api/sync/logs",
        "/api/sync/conflicts?resolved=false",
        "/api/sync/config",
        "/api/sync/network-status",
    ] {
        let res = http
            .get(url(path))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        answers.push_str(&res.text().await.unwrap());
        // Refused: no token, a wrong one, the token in the URL.
        for req in [
            http.get(url(path)),
            http.get(url(path)).bearer_auth(format!("{token}x")),
            http.get(url(path)).bearer_auth(WRONG_PASSWORD),
            http.get(format!(
                "{}{}access_token={token}",
                url(path),
                if path.contains('?') { "&" } else { "?" }
            )),
        ] {
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{path}");
            answers.push_str(&res.text().await.unwrap());
        }
    }
    let res = http
        .post(url("/api/sync/sync"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    answers.push_str(&res.text().await.unwrap());
    let res = http
        .put(url("/api/sync/config"))
        .bearer_auth(&token)
        .json(&json!({ "batchSize": "many" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    answers.push_str(&res.text().await.unwrap());
    let serve_log = serve.output();
    drop(serve);
    // And `serve` with a wrong cloud password: its log and answers.
    let wrong_serve = Serve::start(&wrong_cloud, &[]);
    let res = http
        .post(url_of(&wrong_serve, "/api/sync/sync"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    answers.push_str(&res.text().await.unwrap());
    let wrong_serve_log = wrong_serve.output();
    drop(wrong_serve);

    // Everything written, in one place.
    let mut written = String::new();
    for (what, text) in &outputs {
        written.push_str(&format!("--- {what}\n{text}\n"));
    }
    written.push_str(&answers);
    written.push_str(&serve_log);
    written.push_str(&wrong_serve_log);
    written.push_str(&dump(&l).await);
    written.push_str(&dump(&r).await);
    files_text(home.path(), &token_file, &mut written);
    assert!(
        written.contains("sync_logs: ")
            && written.contains("conflict_logs: ")
            && written.contains("sync_state: "),
        "the scan covers the bookkeeping collections"
    );
    assert!(written.contains("john_admin"), "and the conflict records");
    assert!(written.contains("Listening on"), "and the server's log");
    let found = leaks(
        &written,
        &[CLOUD_PASSWORD, LOCAL_PASSWORD, WRONG_PASSWORD, &token],
    );
    assert!(found.is_empty(), "secrets written:\n{}", found.join("\n"));
    eprintln!(
        "scanned {} KB of output, answers, logs and data in {:?}",
        written.len() / 1024,
        started.elapsed()
    );
}

fn url_of(s: &Serve, path: &str) -> String {
    format!("{}{path}", s.base)
}

/// A password made of every character that has a meaning in a URL (RFC 3986's reserved set,
/// `%` and a space), so that each way of cutting, decoding or encoding it is tried.
const SPECIAL_PASSWORD: &str = "Sp:/?#[]@!$&'()*+,;=% x-8k";

/// The support file holds what a helper needs (logs, runs, open conflicts without their
/// contents, versions, settings) and no password in any form, even one that a log line once
/// held in full.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_support_file_holds_no_password_in_any_form() {
    let (cloud, local) = tokio::join!(
        secured(SPECIAL_PASSWORD, None),
        secured(LOCAL_PASSWORD, None)
    );
    let cloud_url = with_credentials(&cloud.url(), &url_encode(SPECIAL_PASSWORD));
    let local_url = with_credentials(&local.url(), LOCAL_PASSWORD);
    let l = admin_client(&local, LOCAL_PASSWORD).await.database(DB);
    let r = Client::with_uri_str(&cloud_url).await.unwrap().database(DB);
    l.collection::<Document>("admins")
        .insert_one(tms_doc(ObjectId::new(), doc! { "username": "priya_clerk" }))
        .await
        .unwrap();
    r.collection::<Document>("admins")
        .insert_one(tms_doc(ObjectId::new(), doc! { "username": "priya_clerk" }))
        .await
        .unwrap();
    let home = tempfile::tempdir().unwrap();
    let cli = Cli::new(home.path(), &local_url, Some(&cloud_url), DB);
    let sync = cli.run(&["sync", "--json"]).await;
    assert_eq!(sync.code(), Some(0), "{}", sync.all());
    // A run refused for a wrong password, for the logs.
    let wrong = Cli::new(
        home.path(),
        &local_url,
        Some(&with_credentials(&cloud.url(), WRONG_PASSWORD)),
        DB,
    );
    assert_ne!(wrong.run(&["sync"]).await.code(), Some(0));
    // Something once wrote the password in full into a log file (a driver's debug line, a
    // crash): the support file must not carry it on.
    let logs = home.path().join("state/templesync/logs");
    assert!(
        logs.join("cli.log").is_file(),
        "the CLI keeps a log file in {}",
        logs.display()
    );
    std::fs::write(
        logs.join("cli.log.1"),
        format!("DEBUG connecting to {cloud_url} ({SPECIAL_PASSWORD})\n"),
    )
    .unwrap();

    let zip_path = home.path().join("support.zip");
    let out = cli
        .run(&[
            "support-bundle",
            "--out",
            zip_path.to_str().unwrap(),
            "--json",
        ])
        .await;
    assert_eq!(out.code(), Some(0), "{}", out.all());
    let answer = out.json();
    assert_eq!(answer["path"], zip_path.display().to_string());
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&zip_path).unwrap()).unwrap();
    let mut entries = std::collections::BTreeMap::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut f, &mut text).unwrap();
        entries.insert(f.name().to_string(), text);
    }
    for name in [
        "about.json",
        "status.json",
        "sync-settings.json",
        "runs.json",
        "open-conflicts.json",
        "README.txt",
        "logs/cli.log",
        "logs/cli.log.1",
    ] {
        assert!(entries.contains_key(name), "{name} in {:?}", entries.keys());
    }
    let runs: serde_json::Value = serde_json::from_str(&entries["runs.json"]).unwrap();
    assert!(!runs.as_array().unwrap().is_empty(), "{runs:#}");
    let conflicts: serde_json::Value =
        serde_json::from_str(&entries["open-conflicts.json"]).unwrap();
    let c = &conflicts[0];
    assert_eq!(c["collection"], "admins", "{conflicts:#}");
    assert_eq!(c["fields"], json!(["username"]), "{conflicts:#}");
    assert!(
        !entries["open-conflicts.json"].contains("priya_clerk"),
        "no document contents: {}",
        entries["open-conflicts.json"]
    );
    assert!(entries["about.json"].contains("\"engineVersion\""));
    assert!(
        entries["logs/cli.log.1"].contains("DEBUG connecting to"),
        "the line is kept, scrubbed"
    );

    let decoded_forms = [SPECIAL_PASSWORD, LOCAL_PASSWORD, WRONG_PASSWORD];
    let mut found = Vec::new();
    for (name, text) in &entries {
        for leak in leaks(text, &decoded_forms) {
            found.push(format!("{name}: {leak}"));
        }
    }
    // The raw bytes of the zip too (an entry name, a comment).
    let raw = String::from_utf8_lossy(&std::fs::read(&zip_path).unwrap()).into_owned();
    found.extend(leaks(&raw, &decoded_forms));
    assert!(
        found.is_empty(),
        "passwords in the support file:\n{}",
        found.join("\n")
    );
    // The answer on the screen holds none either.
    assert!(
        leaks(&out.all(), &decoded_forms).is_empty(),
        "{}",
        out.all()
    );
}
