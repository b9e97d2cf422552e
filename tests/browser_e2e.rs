//! End-to-end tests of the web UI that `templesync serve` serves at `/`, for staff on another
//! office PC: the real `templesync` binary against real servers (a "local" office database
//! and a "cloud" one), and Debian's Chromium driven by Playwright (tests/browser/driver.mjs)
//! through the same screens as the desktop app's tests (tests/desktop_e2e.rs).
//!
//! They need Chromium, Node and the driver's npm package, so they only run with
//! `TEMPLESYNC_BROWSER_E2E=1` (as `scripts/test-browser.sh` sets, after installing them and
//! building the UI and the binary); otherwise each returns at once saying so. Every test saves
//! a screenshot of each screen it visits under `screenshots/browser/` (git-ignored), and the
//! server's log under `screenshots/browser/logs/`.
//!
//! The flows shared with the desktop app's tests are in `tests/harness/screens.rs`; this file
//! holds the browser's hands for them ([`Screens`] for `Browser`) and what only a browser
//! has (the access key, no connection form).

use std::future::Future;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use templesync_tests::fixture::{DB, Office, set_config};
use templesync_tests::screens::{self, PATIENCE, Screens};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

fn enabled(test: &str) -> bool {
    if std::env::var_os("TEMPLESYNC_BROWSER_E2E").is_some() {
        return true;
    }
    eprintln!(
        "{test}: skipped (needs Chromium and the driver): run `bash scripts/test-browser.sh`, or set TEMPLESYNC_BROWSER_E2E=1"
    );
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_screens_are_public_and_the_api_still_needs_the_token() {
    if !enabled("the_screens_are_public_and_the_api_still_needs_the_token") {
        return;
    }
    let o = Office::start().await;
    let serve = Serve::start(&o, "public_ui").await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let get = |path: &str| http.get(format!("{}{path}", serve.base)).send();

    let index = get("/").await.unwrap();
    assert_eq!(index.status(), 200, "the UI needs no token");
    assert_eq!(
        index.headers()["content-type"],
        "text/html; charset=utf-8",
        "the page is HTML"
    );
    assert!(
        index.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'"),
        "only the UI's own scripts run"
    );
    let html = index.text().await.unwrap();
    assert!(html.contains("<div id=\"app\">"), "{html}");
    // Every asset the page names is served with its type.
    for asset in html
        .split('"')
        .filter(|s| s.starts_with("./assets/"))
        .map(|s| s.trim_start_matches('.'))
    {
        let res = get(asset).await.unwrap();
        assert_eq!(res.status(), 200, "{asset}");
        let want = if asset.ends_with(".js") {
            "text/javascript; charset=utf-8"
        } else {
            "text/css; charset=utf-8"
        };
        assert_eq!(res.headers()["content-type"], want, "{asset}");
        assert!(
            res.headers()["cache-control"]
                .to_str()
                .unwrap()
                .contains("immutable"),
            "{asset}: assets are named after their contents and kept"
        );
    }
    // A page address opens the app; a missing file is a 404, not the app.
    let page = get("/conflicts").await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.text().await.unwrap(), html);
    assert_eq!(get("/assets/gone-0000.js").await.unwrap().status(), 404);

    // The API is unchanged: the token is needed, and its unknown paths are JSON 404s.
    let refused = get("/api/sync/status").await.unwrap();
    assert_eq!(refused.status(), 401, "the API still needs the token");
    let missing = http
        .get(format!("{}/api/sync/no-such-thing", serve.base))
        .bearer_auth(&serve.token)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404, "not swallowed by the UI");
    assert_eq!(missing.headers()["content-type"], "application/json");
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["code"], "not_found");

    // Where to open the screens and where the token is, said at the start; the token never.
    let (base, token, token_file) = (
        serve.base.clone(),
        serve.token.clone(),
        serve.token_file.clone(),
    );
    let log = serve.stop();
    assert!(
        log.contains(&format!("open {base}/ in a browser"))
            && log.contains(&token_file.display().to_string()),
        "the start says where to open the screens and where the access key is:\n{log}"
    );
    assert!(!log.contains(&token), "the token itself is never printed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_now_shows_the_run_in_history() {
    if !enabled("sync_now_shows_the_run_in_history") {
        return;
    }
    let o = Office::start().await;
    screens::three_bookings_here(&o).await;
    let serve = Serve::start(&o, "sync_now").await;
    let b = Browser::launch("sync_now").await;
    b.goto(&serve.base).await;

    // The first visit asks for the access key, says where it is, and refuses a wrong one.
    let screen = b
        .text("[data-testid=token-screen]", "the access key screen")
        .await;
    assert!(
        screen.contains("~/.config/templesync/api-token"),
        "says where to find the key: {screen}"
    );
    b.shot("token").await;
    b.fill("[data-testid=token-input]", "not-the-key").await;
    b.click("[data-testid=token-continue]").await;
    b.wait_text(
        "[data-testid=token-error]",
        "not right",
        "a wrong key refused",
    )
    .await;
    b.shot("token-wrong").await;
    b.fill("[data-testid=token-input]", &serve.token).await;
    b.click("[data-testid=token-continue]").await;

    screens::sync_now_shows_the_run_in_history(&b, &o).await;

    // Settings: the connection is not shown in a browser, and says so; the sync settings
    // are checked as they are typed.
    screens::open_settings(&b).await;
    let note = b
        .text(
            "[data-testid=connection-not-here]",
            "the note about the connection",
        )
        .await;
    assert!(
        note.contains("cannot be seen or changed from a browser"),
        "{note}"
    );
    assert_eq!(
        b.count("[data-testid=cloud-url]").await,
        0,
        "no connection form in a browser"
    );
    screens::settings_are_checked_as_typed(&b).await;

    // A reload keeps the key: no second question.
    b.reload().await;
    b.wait_state(&["synced"], "the app again, without the key screen")
        .await;
    // Pausing the office PC from a browser, and resuming it.
    screens::pause_for_an_hour_and_resume(&b).await;
    // About: the office PC's TempleSync and where it keeps its files.
    b.click("[data-testid=nav-about]").await;
    b.wait_text("[data-testid=about-engine]", ".", "the engine's version")
        .await;
    b.shot("about").await;
    b.no_page_errors().await;
    b.quit().await;
    let token = serve.token.clone();
    let log = serve.stop();
    assert!(
        !log.contains(&token),
        "the token never appears in the server's output"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_username_clash_is_settled_with_rename_local() {
    if !enabled("a_username_clash_is_settled_with_rename_local") {
        return;
    }
    let o = Office::start().await;
    screens::a_username_clash(&o).await;
    let serve = Serve::start(&o, "rename_local").await;
    let b = Browser::open(&serve, "rename_local").await;
    screens::settle_the_clash_with_rename_local(&b, &o).await;

    // The decision is recorded as made from this browser.
    b.click("[data-testid=nav-conflicts]").await;
    b.click("[data-testid=filter-all]").await;
    let row = b
        .text(
            "[data-testid=conflict-row].resolved",
            "the resolved conflict",
        )
        .await;
    assert!(
        row.contains("rename local") && row.contains("by browser"),
        "{row}"
    );
    b.no_page_errors().await;
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_conflict_is_settled_with_keep_remote() {
    if !enabled("an_edit_conflict_is_settled_with_keep_remote") {
        return;
    }
    let o = Office::start().await;
    screens::an_edit_conflict(&o).await;
    let serve = Serve::start(&o, "keep_remote").await;
    let b = Browser::open(&serve, "keep_remote").await;
    screens::settle_the_edit_with_keep_remote(&b, &o).await;
    b.no_page_errors().await;
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_follows_the_cloud_going_away_and_coming_back() {
    if !enabled("the_status_follows_the_cloud_going_away_and_coming_back") {
        return;
    }
    let mut o = Office::start().await;
    // The quickest the settings allow: `serve` has no test-only knob.
    set_config(&o.engine(0).await, &["checkIntervalSeconds=5"]).await;
    let serve = Serve::start(&o, "offline").await;
    let b = Browser::open(&serve, "offline").await;
    screens::the_cloud_goes_away(&b, &mut o).await;
    b.wait_text(
        "[data-testid=cloud-state]",
        "Not reachable",
        "the cloud shown as not reachable",
    )
    .await;
    screens::the_cloud_comes_back(&b, &mut o).await;
    b.no_page_errors().await;
    b.quit().await;
}

// ---- `templesync serve` ----

struct Serve {
    child: Child,
    base: String,
    token: String,
    token_file: PathBuf,
    log: PathBuf,
    _home: tempfile::TempDir,
}

impl Serve {
    /// Starts `templesync serve` on a free port for office PC 0, with a token file that it
    /// creates on this first start (as on a real first start), and waits until it listens.
    async fn start(o: &Office, test: &str) -> Serve {
        let home = tempfile::tempdir().unwrap();
        let token_file = home.path().join("api-token");
        let log = logs().join(format!("{test}.serve.log"));
        let out = std::fs::File::create(&log).unwrap();
        let settings = o.settings(0);
        let mut child = Command::new(templesync_tests::templesync_binary())
            .args(["serve", "--bind", "127.0.0.1:0", "--token-file"])
            .arg(&token_file)
            // No .env of a developer's checkout is picked up.
            .current_dir(home.path())
            .env("XDG_CONFIG_HOME", home.path())
            .env("XDG_STATE_HOME", home.path().join("state"))
            .env("XDG_DATA_HOME", home.path().join("data"))
            .env("MONGODB_LOCAL_URL", &settings.local_url)
            .env("MONGODB_CLOUD_URL", settings.remote_url.as_deref().unwrap())
            .env("DATABASE_NAME", DB)
            .env("TEMPLESYNC_LOG", "info,templesync=debug,mongodb=warn")
            .env_remove("TEMPLESYNC_API_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .expect("templesync serve starts");
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let base = tokio::time::timeout(PATIENCE, async {
            while let Some(line) = stdout.next_line().await.unwrap() {
                if let Some(url) = line.strip_prefix("Listening on ") {
                    return url.trim().to_string();
                }
            }
            panic!(
                "templesync serve exited before listening: see {}",
                log.display()
            )
        })
        .await
        .unwrap_or_else(|_| panic!("templesync serve did not listen within {PATIENCE:?}"));
        // Whatever else it prints goes on being read, so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
        let token = std::fs::read_to_string(&token_file)
            .expect("the token file made on the first start")
            .trim()
            .to_string();
        Serve {
            child,
            base,
            token,
            token_file,
            log,
            _home: home,
        }
    }

    /// Stops the server and answers what it wrote.
    fn stop(mut self) -> String {
        let _ = self.child.start_kill();
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

// ---- The browser ----

/// Chromium, through tests/browser/driver.mjs: one JSON command a line, one answer a line.
struct Browser {
    io: tokio::sync::Mutex<(ChildStdin, Lines<BufReader<ChildStdout>>)>,
    child: Child,
    test: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts the driver and Chromium with a fresh profile.
    async fn launch(test: &str) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let driver = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser/driver.mjs");
        let log = std::fs::File::create(logs().join(format!("{test}.browser.log"))).unwrap();
        let mut cmd = Command::new("node");
        cmd.arg(&driver)
            .env("TEMPLESYNC_BROWSER_PROFILE", profile.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true);
        // Its own process group, so that Chromium goes with it (see Drop).
        cmd.as_std_mut().process_group(0);
        let mut child = cmd
            .spawn()
            .expect("node starts (scripts/setup-browser-deps.sh installs what it needs)");
        record_pid(child.id());
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        Browser {
            io: tokio::sync::Mutex::new((stdin, stdout)),
            child,
            test: test.to_string(),
            _profile: profile,
        }
    }

    /// Launches a browser and opens the screens with the server's access key.
    async fn open(serve: &Serve, test: &str) -> Browser {
        let b = Browser::launch(test).await;
        b.goto(&serve.base).await;
        b.fill("[data-testid=token-input]", &serve.token).await;
        b.click("[data-testid=token-continue]").await;
        b.wait("[data-testid=status-band]", "the app after the key")
            .await;
        b
    }

    /// Sends one command; its answer, or the driver's error.
    async fn try_call(&self, mut cmd: Value) -> Result<Value, String> {
        if cmd.get("timeout").is_none() {
            cmd["timeout"] = json!(PATIENCE.as_millis() as u64);
        }
        let mut io = self.io.lock().await;
        let (stdin, stdout) = &mut *io;
        let line = format!("{cmd}\n");
        let exchange = async {
            stdin
                .write_all(line.as_bytes())
                .await
                .map_err(|e| format!("the driver is gone: {e}"))?;
            stdin.flush().await.map_err(|e| e.to_string())?;
            match stdout.next_line().await {
                Ok(Some(answer)) => serde_json::from_str::<Value>(&answer)
                    .map_err(|e| format!("not an answer ({e}): {answer}")),
                Ok(None) => Err(format!(
                    "the driver exited: see {}",
                    logs().join(format!("{}.browser.log", self.test)).display()
                )),
                Err(e) => Err(e.to_string()),
            }
        };
        // Chromium's start (on the first command) and the command's own wait, plus margin.
        let answer = tokio::time::timeout(PATIENCE * 2, exchange)
            .await
            .map_err(|_| format!("no answer to {cmd} within {:?}", PATIENCE * 2))??;
        if answer["ok"] == json!(true) {
            Ok(answer["value"].clone())
        } else {
            Err(answer["error"].as_str().unwrap_or("?").to_string())
        }
    }

    /// Sends one command and panics, with a screenshot of the page, when it fails.
    async fn call(&self, cmd: Value) -> Value {
        let what = cmd.to_string();
        match self.try_call(cmd).await {
            Ok(v) => v,
            Err(e) => {
                self.shot("failed-command").await;
                panic!("{what} failed: {e}")
            }
        }
    }

    async fn goto(&self, url: &str) {
        self.call(json!({ "op": "goto", "url": url })).await;
    }

    async fn reload(&self) {
        self.call(json!({ "op": "reload" })).await;
    }

    /// Clicks the element once it is visible, enabled and still (Playwright waits for that,
    /// and finds it again if the UI redraws it).
    async fn click(&self, css: &str) {
        self.call(json!({ "op": "click", "css": css })).await;
    }

    async fn fill(&self, css: &str, text: &str) {
        self.call(json!({ "op": "fill", "css": css, "text": text }))
            .await;
    }

    async fn wait(&self, css: &str, what: &str) {
        if let Err(e) = self.try_call(json!({ "op": "wait", "css": css })).await {
            self.shot(&format!("failed-{}", slug(what))).await;
            panic!("timed out waiting for {what} ({css}): {e}");
        }
    }

    /// The element's text, once it is visible.
    async fn text(&self, css: &str, what: &str) -> String {
        self.wait(css, what).await;
        self.call(json!({ "op": "text", "css": css }))
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Waits until the element's text contains `needle`.
    async fn wait_text(&self, css: &str, needle: &str, what: &str) -> String {
        let last = std::sync::Mutex::new(String::new());
        let found = eventually_or_none(PATIENCE, || async {
            let t = self
                .try_call(json!({ "op": "text", "css": css, "timeout": 2000 }))
                .await
                .ok()?;
            let t = t.as_str().unwrap_or_default().to_string();
            *last.lock().unwrap() = t.clone();
            t.contains(needle).then_some(t)
        })
        .await;
        match found {
            Some(t) => t,
            None => {
                self.shot(&format!("failed-{}", slug(what))).await;
                panic!(
                    "timed out waiting for {what}: {css} says {:?}, without {needle:?}",
                    last.lock().unwrap()
                )
            }
        }
    }

    async fn value(&self, css: &str) -> String {
        self.call(json!({ "op": "value", "css": css }))
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    async fn enabled(&self, css: &str) -> bool {
        self.call(json!({ "op": "enabled", "css": css }))
            .await
            .as_bool()
            .unwrap_or(false)
    }

    async fn count(&self, css: &str) -> u64 {
        self.call(json!({ "op": "count", "css": css }))
            .await
            .as_u64()
            .unwrap_or(0)
    }

    async fn scroll_to(&self, css: &str) {
        self.call(json!({ "op": "scroll", "css": css })).await;
    }

    /// Waits for the status bar to show one of `states`.
    async fn wait_state(&self, states: &[&str], what: &str) {
        let css = states
            .iter()
            .map(|s| format!("[data-testid=status-band][data-state={s}]"))
            .collect::<Vec<_>>()
            .join(", ");
        if let Err(e) = self.try_call(json!({ "op": "wait", "css": css })).await {
            let shown = self
                .try_call(json!({ "op": "attr", "css": "[data-testid=status-band]", "name": "data-state", "timeout": 2000 }))
                .await;
            let problem = self
                .try_call(
                    json!({ "op": "text", "css": "[data-testid=band-problem]", "timeout": 2000 }),
                )
                .await;
            self.shot(&format!("failed-{}", slug(what))).await;
            panic!(
                "timed out waiting for {what}: the status bar shows {shown:?} ({problem:?}), expected one of {states:?}: {e}"
            );
        }
    }

    /// Saves the page as screenshots/browser/NAME.png.
    async fn shot(&self, name: &str) {
        let path = screenshots().join(format!("{name}.png"));
        match self.try_call(json!({ "op": "shot", "path": path })).await {
            Ok(_) => eprintln!("screenshot: {}", path.display()),
            Err(e) => eprintln!("no screenshot {name}: {e}"),
        }
    }

    /// Fails on what went wrong in the page: uncaught errors, or anything the
    /// Content-Security-Policy blocked.
    async fn no_page_errors(&self) {
        let problems = self.call(json!({ "op": "problems" })).await;
        assert_eq!(
            problems,
            json!([]),
            "the page reported errors (see the browser log)"
        );
    }

    async fn quit(mut self) {
        // Closing stdin makes the driver close Chromium and exit.
        let (stdin, _) = &mut *self.io.lock().await;
        let _ = stdin.shutdown().await;
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            kill_group(&mut self.child);
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        kill_group(&mut self.child);
    }
}

/// The browser's hands for the shared scenarios (tests/harness/screens.rs).
impl Screens for Browser {
    async fn click(&self, css: &str) {
        Browser::click(self, css).await
    }

    async fn fill(&self, css: &str, text: &str) {
        Browser::fill(self, css, text).await
    }

    async fn wait(&self, css: &str, what: &str) {
        Browser::wait(self, css, what).await
    }

    async fn text(&self, css: &str, what: &str) -> String {
        Browser::text(self, css, what).await
    }

    async fn wait_text(&self, css: &str, needle: &str, what: &str) -> String {
        Browser::wait_text(self, css, needle, what).await
    }

    async fn value(&self, css: &str) -> String {
        Browser::value(self, css).await
    }

    async fn enabled(&self, css: &str) -> bool {
        Browser::enabled(self, css).await
    }

    async fn wait_state(&self, states: &[&str], what: &str) {
        Browser::wait_state(self, states, what).await
    }

    async fn scroll_to(&self, css: &str) {
        Browser::scroll_to(self, css).await
    }

    async fn shot(&self, name: &str) {
        Browser::shot(self, name).await
    }
}

fn kill_group(child: &mut Child) {
    if let Some(pid) = child
        .id()
        .and_then(|id| rustix::process::Pid::from_raw(id as i32))
    {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
    let _ = child.start_kill();
}

/// If this test process is killed (e.g. by the script's timeout), no Drop runs: the script
/// kills the process groups listed here.
fn record_pid(pid: Option<u32>) {
    use std::io::Write as _;
    if let Some(pid) = pid {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(logs().join("driver.pids"))
            .unwrap();
        writeln!(f, "{pid}").unwrap();
    }
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

async fn eventually_or_none<T, F, Fut>(timeout: Duration, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn screenshots() -> PathBuf {
    let dir = std::env::var_os("TEMPLESYNC_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../screenshots/browser"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn logs() -> PathBuf {
    let dir = screenshots().join("logs");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
