//! End-to-end tests of the desktop app: the real app binary (built by
//! `scripts/test-desktop.sh`), driven through tauri-driver and WebKitWebDriver under Xvfb,
//! against real servers (a "local" office database and a "cloud" one).
//!
//! They need a display, so they only run with `TEMPLESYNC_E2E=1` (as
//! `scripts/test-desktop.sh` sets); otherwise each returns at once saying so. Every test saves
//! a screenshot of each screen it visits under `screenshots/` (git-ignored), and the app's log
//! under `screenshots/logs/`.
//!
//! The flows shared with the browser's tests are in `tests/harness/screens.rs`; this file
//! holds the desktop window's hands for them ([`Screens`] for `App`) and the flows only the
//! desktop app has (the first-run setup).

use std::future::Future;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use templesync_tests::fixture::{DB, Office};
use templesync_tests::screens::{self, PATIENCE, Screens};

fn enabled(test: &str) -> bool {
    if std::env::var_os("TEMPLESYNC_E2E").is_some() {
        return true;
    }
    eprintln!(
        "{test}: skipped (needs a display): run `bash scripts/test-desktop.sh`, or set TEMPLESYNC_E2E=1 under Xvfb"
    );
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_now_shows_the_run_in_history() {
    if !enabled("sync_now_shows_the_run_in_history") {
        return;
    }
    let o = Office::start().await;
    screens::three_bookings_here(&o).await;
    let app = App::launch(&o, "sync_now").await;
    screens::sync_now_shows_the_run_in_history(&app, &o).await;
    screens::open_settings(&app).await;
    screens::settings_are_checked_as_typed(&app).await;
    app.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_username_clash_is_settled_with_rename_local() {
    if !enabled("a_username_clash_is_settled_with_rename_local") {
        return;
    }
    let o = Office::start().await;
    screens::a_username_clash(&o).await;
    let app = App::launch(&o, "rename_local").await;
    screens::settle_the_clash_with_rename_local(&app, &o).await;
    app.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_conflict_is_settled_with_keep_remote() {
    if !enabled("an_edit_conflict_is_settled_with_keep_remote") {
        return;
    }
    let o = Office::start().await;
    screens::an_edit_conflict(&o).await;
    let app = App::launch(&o, "keep_remote").await;
    screens::settle_the_edit_with_keep_remote(&app, &o).await;
    app.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_follows_the_cloud_going_away_and_coming_back() {
    if !enabled("the_status_follows_the_cloud_going_away_and_coming_back") {
        return;
    }
    let mut o = Office::start().await;
    let app = App::launch(&o, "offline").await;
    screens::the_cloud_goes_away(&app, &mut o).await;
    screens::the_cloud_comes_back(&app, &mut o).await;
    app.quit().await;
}

/// A second launch (a double click on the icon while TempleSync sits in the tray) must not
/// start a second copy with its own tray icon and monitor: it hands over to the first, which
/// comes forward, and exits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_launch_brings_the_first_forward_and_exits() {
    if !enabled("a_second_launch_brings_the_first_forward_and_exits") {
        return;
    }
    let o = Office::start().await;
    let app = App::launch(&o, "second_launch").await;
    app.wait_state(&["synced"], "the start-up sync").await;
    let bin = app_binary();
    assert_eq!(copies_running(&bin), 1, "one copy to begin with");

    let settings = o.settings(0);
    let dirs = app.home.as_path();
    let mut second = Command::new(&bin)
        .current_dir(dirs)
        .env("XDG_DATA_HOME", dirs.join("data"))
        .env("XDG_CONFIG_HOME", dirs.join("config"))
        .env("XDG_STATE_HOME", dirs.join("state"))
        .env("XDG_CACHE_HOME", dirs.join("cache"))
        .env("XDG_RUNTIME_DIR", dirs.join("runtime"))
        .env("MONGODB_LOCAL_URL", &settings.local_url)
        .env("MONGODB_CLOUD_URL", settings.remote_url.as_deref().unwrap())
        .env("DATABASE_NAME", DB)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("the app starts");
    let exited = eventually_or_none(PATIENCE, || {
        let status = second.try_wait().ok().flatten();
        async move { status }
    })
    .await;
    let Some(status) = exited else {
        kill_group(&mut second);
        panic!("the second copy is still running after {PATIENCE:?}");
    };
    assert!(
        status.success(),
        "it hands over and exits cleanly: {status}"
    );
    assert_eq!(copies_running(&bin), 1, "still one copy");
    let log = screenshots().join("logs/second_launch.log");
    app.eventually("the first copy to be told", || async {
        let text = std::fs::read_to_string(&log).ok()?;
        text.contains("TempleSync was started again").then_some(())
    })
    .await;
    // And it still answers.
    app.click("[data-testid=nav-history]").await;
    app.wait("[data-testid=history-row]", "History in the first copy")
        .await;
    app.quit().await;
}

/// The window opens as large as it was left (people size it to their screen once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_window_opens_as_large_as_it_was_left() {
    if !enabled("the_window_opens_as_large_as_it_was_left") {
        return;
    }
    let o = Office::start().await;
    let home = tempfile::tempdir().unwrap();
    let app = App::launch_in(&o, "window_state", Cloud::Configured, home.path()).await;
    app.wait_state(&["synced"], "the start-up sync").await;
    let (w, h) = (900u64, 640u64);
    bounded(app.client.set_window_rect(40, 30, w as u32, h as u32))
        .await
        .expect("the window is resized");
    app.eventually("the new size to take", || async {
        let (_, _, width, height) = bounded(app.client.get_window_rect()).await?;
        (width == w && height == h).then_some(())
    })
    .await;
    // Kept at once (not only when the app ends: one in the tray often ends with the
    // computer); then the app is killed, as a power cut would.
    let state = home
        .path()
        .join("config/org.templesync.desktop/.window-state.json");
    let kept = eventually_or_none(PATIENCE, || async {
        let text = std::fs::read_to_string(&state).ok()?;
        let kept: serde_json::Value = serde_json::from_str(&text).ok()?;
        (kept["main"]["width"] == w && kept["main"]["height"] == h).then_some(())
    })
    .await;
    if kept.is_none() {
        let files: Vec<_> = walk(&home.path().join("config"));
        panic!(
            "the window's state was not kept in {}: {:?} files {files:?}",
            state.display(),
            std::fs::read_to_string(&state)
        );
    }
    app.quit().await;

    let again = App::launch_in(&o, "window_state_again", Cloud::Configured, home.path()).await;
    let (_, _, width, height) = bounded(again.client.get_window_rect())
        .await
        .expect("the window's size");
    assert_eq!((width, height), (w, h), "opens as large as it was left");
    again.shot("window-state").await;
    again.quit().await;
}

/// Pausing from the Status screen: the state says so, nothing syncs by itself (a reconnect
/// brings no run), and Resume syncs at once what waited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pausing_here_holds_reconnect_runs_and_resuming_syncs() {
    if !enabled("pausing_here_holds_reconnect_runs_and_resuming_syncs") {
        return;
    }
    let mut o = Office::start().await;
    let app = App::launch(&o, "pause").await;
    screens::pause_until_resumed(&app).await;
    // Held: a booking made here and the cloud going and coming back bring no run.
    let l = o.local(0).await;
    l.collection::<bson::Document>("bookings")
        .insert_one(templesync_tests::fixture::tms_doc(
            7,
            bson::doc! { "name": "Puja" },
        ))
        .await
        .unwrap();
    o.cloud.kill();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    o.cloud.restart().await.expect("the cloud restarts");
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let r = o.remote().await;
    let there = |r: mongodb::Database| async move {
        r.collection::<bson::Document>("bookings")
            .count_documents(bson::doc! {})
            .await
            .unwrap()
    };
    assert_eq!(there(r.clone()).await, 0, "nothing synced while paused");
    app.wait_state(&["paused"], "still paused after the cloud came back")
        .await;
    screens::resume(&app).await;
    app.eventually("the booking to reach the cloud", || {
        let r = r.clone();
        async move { (there(r).await == 1).then_some(()) }
    })
    .await;
    app.click("[data-testid=nav-history]").await;
    app.wait(
        "[data-testid=history-row][data-trigger=automatic][data-status=completed]",
        "the run on resuming in History",
    )
    .await;
    app.quit().await;
}

/// Settings' "This computer": the start-with-the-computer switch writes and removes the
/// autostart entry; the support file is saved in Downloads; About says where things are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn this_computer_settings_autostart_support_file_and_about() {
    if !enabled("this_computer_settings_autostart_support_file_and_about") {
        return;
    }
    let o = Office::start().await;
    let app = App::launch(&o, "this_computer").await;
    app.wait_state(&["synced"], "the start-up sync").await;
    screens::open_settings(&app).await;
    app.scroll_to("[data-testid=this-computer]").await;
    let entry = app.home.join(".config/autostart/TempleSync.desktop");
    assert!(
        !entry.exists(),
        "not set up through the app: not on by itself"
    );
    app.eventually("the switch to be ready", || async {
        bounded(app.find("[data-testid=pref-autostart]").await?.is_enabled())
            .await?
            .then_some(())
    })
    .await;
    app.click("[data-testid=pref-autostart]").await;
    let text = app
        .eventually("the autostart entry", || async {
            std::fs::read_to_string(&entry).ok()
        })
        .await;
    assert!(text.contains("--autostart"), "starts to the tray: {text}");
    assert!(text.contains("Exec="), "{text}");
    app.shot("settings-this-computer").await;
    app.eventually("the switch to be ready again", || async {
        bounded(app.find("[data-testid=pref-autostart]").await?.is_enabled())
            .await?
            .then_some(())
    })
    .await;
    app.click("[data-testid=pref-autostart]").await;
    app.eventually("the autostart entry to go", || async {
        (!entry.exists()).then_some(())
    })
    .await;

    app.click("[data-testid=save-support-file]").await;
    let said = app
        .eventually("the support file to be saved", || async {
            let t = bounded(app.find("[data-testid=support-result]").await?.text()).await?;
            t.contains("Saved as").then_some(t)
        })
        .await;
    let saved: Vec<_> = std::fs::read_dir(app.home.join("downloads"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(saved.len(), 1, "{saved:?}");
    assert!(said.contains(&saved[0].display().to_string()), "{said}");
    assert!(saved[0].extension().is_some_and(|e| e == "zip"));

    app.click("[data-testid=nav-about]").await;
    let version = app.text("[data-testid=about-version]", "the version").await;
    assert_eq!(version, env!("CARGO_PKG_VERSION"));
    let logs = app.text("[data-testid=about-logs]", "the log folder").await;
    assert_eq!(
        logs,
        app.home.join("state/templesync/logs").display().to_string()
    );
    assert!(
        app.home.join("state/templesync/logs/app.log").is_file(),
        "the app's log file"
    );
    let cloud = app.text("[data-testid=about-cloud]", "the cloud").await;
    assert!(cloud.starts_with("mongodb://"), "{cloud}");
    app.shot("about").await;
    app.quit().await;
}

/// A conflict found by a sync is told once in a system notification (seen on the session
/// bus, through dunst); another sync does not repeat it; a click on it opens the conflict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_conflict_is_told_once_in_a_notification_that_opens_it() {
    if !enabled("a_new_conflict_is_told_once_in_a_notification_that_opens_it") {
        return;
    }
    let Some(bus) = Notifications::watch() else {
        eprintln!("no session bus or dunst: skipped (scripts/test-desktop.sh provides both)");
        return;
    };
    let o = Office::start().await;
    screens::a_username_clash(&o).await;
    let app = App::launch(&o, "notification").await;
    app.wait_state(&["conflicts"], "the clash found").await;
    let told = app
        .eventually("the notification on the bus", || async {
            let n = bus.told("A conflict needs a decision");
            (n > 0).then_some(n)
        })
        .await;
    assert_eq!(told, 1);
    bus.screenshot("notification");
    // Another sync, and the overview refreshed: not said again.
    app.click("[data-testid=sync-now]").await;
    app.wait_state(&["conflicts"], "the second sync done").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(bus.told("A conflict needs a decision"), 1, "said once");
    // Clicked: the window shows that conflict.
    app.click("[data-testid=nav-settings]").await;
    bus.click_latest();
    app.wait(
        "[data-testid=conflict-detail]",
        "the conflict, opened by the click",
    )
    .await;
    app.quit().await;
}

/// The cloud password typed in the setup screen goes to the system's keychain (a real
/// Secret Service: gnome-keyring on the test's session bus), not into the app's settings
/// file; Settings says where it is; the next start reads it back and syncs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cloud_password_is_kept_in_the_keychain_and_read_back() {
    if !enabled("the_cloud_password_is_kept_in_the_keychain_and_read_back") {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let Some(keychain) = KeyringDaemon::start(home.path()) else {
        eprintln!(
            "no session bus or gnome-keyring: skipped (scripts/test-desktop.sh provides both)"
        );
        return;
    };
    let o = Office::start().await;
    // A cloud that asks for a password.
    let mut cloud =
        templesync_tests::MongoServer::start_with(templesync_tests::ServerOptions::new())
            .await
            .unwrap();
    let admin = cloud.client().await;
    admin
        .database("admin")
        .run_command(bson::doc! {
            "createUser": "keeper", "pwd": "K3ych@in/pw",
            "roles": [ { "role": "root", "db": "admin" } ],
        })
        .await
        .unwrap();
    admin.shutdown().await;
    cloud.options_mut().extra_args.push("--auth".into());
    cloud.restart().await.unwrap();
    let encoded = "K3ych%40in%2Fpw";
    let url = cloud
        .url()
        .replacen("mongodb://", &format!("mongodb://keeper:{encoded}@"), 1)
        + "&authSource=admin";

    let app = App::launch_in(&o, "keychain", Cloud::NotConfigured, home.path()).await;
    app.wait("[data-testid=setup]", "the setup screen").await;
    app.type_into("[data-testid=cloud-url]", &url).await;
    app.click("[data-testid=save-connection]").await;
    app.wait_state(&["synced"], "the first sync over the password")
        .await;
    let store = home
        .path()
        .join("data/org.templesync.desktop/templesync.json");
    let saved = std::fs::read_to_string(&store).unwrap();
    assert!(
        !saved.contains("K3ych"),
        "no password in the settings file: {saved}"
    );
    assert!(saved.contains("keeper:****@"), "{saved}");
    assert!(saved.contains("\"keychain\""), "{saved}");
    assert_eq!(
        keychain.lookup().as_deref(),
        Some(encoded),
        "in the keychain"
    );
    screens::open_settings(&app).await;
    let said = app
        .text("[data-testid=password-store]", "where the password is")
        .await;
    assert!(said.contains("keychain"), "{said}");
    app.quit().await;

    // The next start: read back from the keychain, and syncing works.
    let again = App::launch_in(&o, "keychain_again", Cloud::NotConfigured, home.path()).await;
    again
        .wait_state(&["synced"], "a sync with the password read back")
        .await;
    again.quit().await;
}

/// gnome-keyring's Secret Service on the test's session bus, its keyrings under `home`.
struct KeyringDaemon {
    daemon: Child,
}

impl KeyringDaemon {
    fn start(home: &Path) -> Option<KeyringDaemon> {
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS")?;
        let mut daemon = Command::new("gnome-keyring-daemon")
            .args([
                "--foreground",
                "--unlock",
                "--components=secrets",
                "--replace",
            ])
            .env("HOME", home)
            .env("XDG_DATA_HOME", home.join("data"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        {
            use std::io::Write;
            let mut stdin = daemon.stdin.take()?;
            stdin.write_all(b"test-keyring").ok()?;
        }
        // Ready when this daemon owns the Secret Service's name on the bus. Asked of the bus
        // itself, which starts nothing: a lookup would have D-Bus start another daemon (with
        // the real home) that could take the name first.
        let mine = format!("(uint32 {},)", daemon.id());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let owned = Command::new("gdbus")
                .args([
                    "call",
                    "--session",
                    "--dest",
                    "org.freedesktop.DBus",
                    "--object-path",
                    "/org/freedesktop/DBus",
                    "--method",
                    "org.freedesktop.DBus.GetConnectionUnixProcessID",
                    "org.freedesktop.secrets",
                ])
                .stderr(Stdio::null())
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == mine);
            if owned {
                break;
            }
            if Instant::now() > deadline {
                let _ = daemon.kill();
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(KeyringDaemon { daemon })
    }

    /// The app's saved cloud password, as the keychain holds it.
    fn lookup(&self) -> Option<String> {
        let out = Command::new("secret-tool")
            .args(["lookup", "service", "org.templesync.desktop"])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }
}

impl Drop for KeyringDaemon {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// dunst on the test's session bus, and `dbus-monitor` recording what is sent to it.
struct Notifications {
    dunst: Child,
    monitor: Child,
    log: PathBuf,
}

impl Notifications {
    fn watch() -> Option<Notifications> {
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS")?;
        let log = screenshots().join("logs/notifications.bus.log");
        let out = std::fs::File::create(&log).ok()?;
        let monitor = Command::new("dbus-monitor")
            .args([
                "--session",
                "interface='org.freedesktop.Notifications',member='Notify'",
            ])
            .stdout(out)
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let dunst = Command::new("dunst")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        std::thread::sleep(Duration::from_millis(500));
        Some(Notifications {
            dunst,
            monitor,
            log,
        })
    }

    /// How many notifications with this title were sent.
    fn told(&self, title: &str) -> usize {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.matches(&format!("string \"{title}\"")).count()
    }

    /// Clicks the newest notification (its default action).
    fn click_latest(&self) {
        let ok = Command::new("dunstctl")
            .args(["action", "0"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "dunstctl action");
    }

    /// The whole virtual screen, with the notification on it.
    fn screenshot(&self, name: &str) {
        let path = screenshots().join(format!("{name}.png"));
        let _ = Command::new("import")
            .args(["-window", "root"])
            .arg(&path)
            .status();
    }
}

impl Drop for Notifications {
    fn drop(&mut self) {
        let _ = self.monitor.kill();
        let _ = self.dunst.kill();
        let _ = self.monitor.wait();
        let _ = self.dunst.wait();
    }
}

/// Every file under a folder.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// How many processes run the app's binary.
fn copies_running(bin: &Path) -> usize {
    let bin = std::fs::canonicalize(bin).unwrap_or_else(|_| bin.to_path_buf());
    std::fs::read_dir("/proc")
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| std::fs::read_link(e.path().join("exe")).is_ok_and(|exe| exe == bin))
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_run_asks_for_the_cloud_database_and_then_syncs() {
    if !enabled("the_first_run_asks_for_the_cloud_database_and_then_syncs") {
        return;
    }
    let o = Office::start().await;
    let app = App::launch_with(&o, "first_run", Cloud::NotConfigured).await;
    app.wait("[data-testid=setup]", "the setup screen").await;
    app.wait_state(&["not_configured"], "nothing configured")
        .await;
    let cloud_url = o.settings(0).remote_url.unwrap();
    app.type_into("[data-testid=cloud-url]", &cloud_url).await;
    app.shot("setup").await;
    app.click("[data-testid=test-connection]").await;
    app.eventually("both databases to answer the test", || async {
        let checks = bounded(
            app.client
                .find_all(Locator::Css("[data-testid=connection-result] .check.ok")),
        )
        .await?;
        (checks.len() == 2).then_some(())
    })
    .await;
    app.click("[data-testid=save-connection]").await;
    app.wait_state(&["synced"], "the first sync with the saved settings")
        .await;
    app.click("[data-testid=nav-history]").await;
    app.wait(
        "[data-testid=history-row][data-trigger=startup][data-status=completed]",
        "the first run in History",
    )
    .await;
    app.quit().await;
}

// ---- Driving the app ----

/// Whether the app is told where the cloud is.
#[derive(PartialEq)]
enum Cloud {
    Configured,
    NotConfigured,
}

struct App {
    client: Client,
    driver: Child,
    /// The XDG folders (settings, data): the app's own, or a test's that outlives it.
    home: PathBuf,
    _owned: Option<tempfile::TempDir>,
}

impl App {
    /// Starts tauri-driver on free ports with fresh XDG folders, and the app on `o`.
    async fn launch(o: &Office, test: &str) -> App {
        Self::launch_with(o, test, Cloud::Configured).await
    }

    async fn launch_with(o: &Office, test: &str, cloud: Cloud) -> App {
        let dirs = tempfile::tempdir().unwrap();
        let home = dirs.path().to_path_buf();
        let mut app = Self::launch_in(o, test, cloud, &home).await;
        app._owned = Some(dirs);
        app
    }

    /// Starts the app with its XDG folders under `home`, which a test keeps between starts.
    async fn launch_in(o: &Office, test: &str, cloud: Cloud, home: &Path) -> App {
        let bin = app_binary();
        let xdg = |name: &str| {
            let p = home.join(name);
            std::fs::create_dir_all(&p).unwrap();
            p
        };
        let runtime = xdg("runtime");
        std::fs::set_permissions(
            &runtime,
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        // Its Downloads folder (where the support file goes) under `home` too.
        let downloads = xdg("downloads");
        std::fs::write(
            xdg("config").join("user-dirs.dirs"),
            format!("XDG_DOWNLOAD_DIR=\"{}\"\n", downloads.display()),
        )
        .unwrap();
        let (port, native) = (free_port(), free_port());
        let log_dir = screenshots().join("logs");
        std::fs::create_dir_all(&log_dir).unwrap();
        let log = std::fs::File::create(log_dir.join(format!("{test}.log"))).unwrap();
        let settings = o.settings(0);
        let mut cmd = Command::new(tauri_driver());
        if cloud == Cloud::Configured {
            cmd.env("MONGODB_CLOUD_URL", settings.remote_url.as_deref().unwrap());
        } else {
            cmd.env_remove("MONGODB_CLOUD_URL");
        }
        let driver = cmd
            .args(["--port", &port.to_string()])
            .args(["--native-port", &native.to_string()])
            // No .env of a developer's checkout is picked up.
            .current_dir(home)
            // auto-launch writes to $HOME/.config/autostart whatever XDG_CONFIG_HOME says.
            .env("HOME", home)
            .env("XDG_DATA_HOME", xdg("data"))
            .env("XDG_CONFIG_HOME", xdg("config"))
            .env("XDG_STATE_HOME", xdg("state"))
            .env("XDG_CACHE_HOME", xdg("cache"))
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("MONGODB_LOCAL_URL", &settings.local_url)
            .env("DATABASE_NAME", DB)
            .env("TEMPLESYNC_CHECK_INTERVAL_MS", "400")
            .env("TEMPLESYNC_LOG", "info,tao=error,wry=error,mongodb=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            // Its own process group: the app and WebKitWebDriver go with it.
            .process_group(0)
            .spawn()
            .expect("tauri-driver starts (scripts/setup-desktop-deps.sh installs it)");
        // If this test process is killed (e.g. by the script's timeout), no Drop runs: the
        // script kills what is listed here.
        {
            use std::io::Write;
            let mut pids = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log_dir.join("tauri-driver.pids"))
                .unwrap();
            writeln!(pids, "{}", driver.id()).unwrap();
        }
        let mut app_guard = DriverGuard(Some(driver));
        for p in [port, native] {
            eventually(
                &format!("tauri-driver to listen on {p}"),
                PATIENCE,
                || async move { TcpStream::connect(("127.0.0.1", p)).ok().map(|_| ()) },
            )
            .await;
        }
        let caps = serde_json::json!({
            "browserName": "wry",
            "tauri:options": { "application": bin },
        });
        let client = tokio::time::timeout(
            PATIENCE,
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(caps.as_object().unwrap().clone())
                .connect(&format!("http://127.0.0.1:{port}")),
        )
        .await
        .expect("the app window within the time allowed (is there a display?)")
        .expect("a WebDriver session with the app");
        let driver = app_guard.0.take().unwrap();
        let app = App {
            client,
            driver,
            home: home.to_path_buf(),
            _owned: None,
        };
        app.wait("[data-testid=status-band]", "the app's window")
            .await;
        app
    }

    async fn find(&self, css: &str) -> Option<Element> {
        bounded(self.client.find(Locator::Css(css))).await
    }

    async fn eventually<T, F, Fut>(&self, what: &str, f: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        eventually(what, PATIENCE, f).await
    }

    /// The element, once it is there.
    async fn wait(&self, css: &str, what: &str) -> Element {
        self.eventually(what, || self.find(css)).await
    }

    /// Replaces the text of an input.
    async fn type_into(&self, css: &str, text: &str) {
        self.eventually(&format!("typing into {css}"), || async move {
            let el = self.find(css).await?;
            bounded(el.clear()).await?;
            bounded(el.send_keys(text)).await
        })
        .await
    }

    /// The element's text, once it is there.
    async fn text(&self, css: &str, what: &str) -> String {
        self.eventually(what, || async move {
            bounded(self.find(css).await?.text()).await
        })
        .await
    }

    /// Clicks the element, once it is there. The UI redraws parts of the page as events
    /// arrive, so an element found may be replaced before the click lands: find it again.
    async fn click(&self, css: &str) {
        let error = std::sync::Mutex::new(String::from("not found"));
        let last = &error;
        let done = eventually_or_none(PATIENCE, || async move {
            let el = self.find(css).await?;
            match tokio::time::timeout(CALL, el.click()).await {
                Ok(Ok(())) => Some(()),
                Ok(Err(e)) => {
                    *last.lock().unwrap() = e.to_string();
                    None
                }
                Err(_) => {
                    *last.lock().unwrap() = "the app did not answer".into();
                    None
                }
            }
        })
        .await;
        assert!(
            done.is_some(),
            "could not click {css} within {PATIENCE:?}: {}",
            error.lock().unwrap()
        );
    }

    /// Waits for the status bar to show one of `states`.
    async fn wait_state(&self, states: &[&str], what: &str) {
        let seen = std::sync::Mutex::new(String::new());
        let last = &seen;
        let found = eventually_or_none(PATIENCE, || async move {
            let band = self.find("[data-testid=status-band]").await?;
            let s = bounded(band.attr("data-state")).await??;
            let ok = states.contains(&s.as_str());
            *last.lock().unwrap() = s;
            ok.then_some(())
        })
        .await;
        assert!(
            found.is_some(),
            "timed out waiting for {what}: the status bar shows {:?}, expected one of {states:?}",
            seen.lock().unwrap()
        );
    }

    /// Brings an element into view (for a screenshot of that part of a screen).
    async fn scroll_to(&self, css: &str) {
        let el = self.wait(css, &format!("{css} to scroll to")).await;
        let _ = self
            .client
            .execute(
                "arguments[0].scrollIntoView({ block: 'center' });",
                vec![serde_json::to_value(el).unwrap()],
            )
            .await;
    }

    /// Saves the window as screenshots/NAME.png.
    async fn shot(&self, name: &str) {
        // A screenshot right after a change can show the frame before it: let WebKit paint
        // twice first.
        let _ = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];\
                 requestAnimationFrame(() => requestAnimationFrame(() => done(true)));",
                vec![],
            )
            .await;
        let png = bounded(self.client.screenshot())
            .await
            .expect("a screenshot (does the app answer?)");
        let path = screenshots().join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        eprintln!("screenshot: {}", path.display());
    }

    async fn quit(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(10), self.client.clone().close()).await;
        kill_group(&mut self.driver);
    }
}

/// The desktop window's hands for the shared scenarios (tests/harness/screens.rs).
impl Screens for App {
    async fn click(&self, css: &str) {
        App::click(self, css).await
    }

    async fn fill(&self, css: &str, text: &str) {
        self.type_into(css, text).await
    }

    async fn wait(&self, css: &str, what: &str) {
        App::wait(self, css, what).await;
    }

    async fn text(&self, css: &str, what: &str) -> String {
        App::text(self, css, what).await
    }

    async fn wait_text(&self, css: &str, needle: &str, what: &str) -> String {
        self.eventually(what, || async move {
            let t = bounded(self.find(css).await?.text()).await?;
            t.contains(needle).then_some(t)
        })
        .await
    }

    async fn value(&self, css: &str) -> String {
        self.eventually(&format!("the value of {css}"), || async move {
            bounded(self.find(css).await?.prop("value")).await?
        })
        .await
    }

    async fn enabled(&self, css: &str) -> bool {
        self.eventually(&format!("whether {css} can be used"), || async move {
            bounded(self.find(css).await?.is_enabled()).await
        })
        .await
    }

    async fn wait_state(&self, states: &[&str], what: &str) {
        App::wait_state(self, states, what).await
    }

    async fn scroll_to(&self, css: &str) {
        App::scroll_to(self, css).await
    }

    async fn shot(&self, name: &str) {
        App::shot(self, name).await
    }
}

impl Drop for App {
    fn drop(&mut self) {
        kill_group(&mut self.driver);
    }
}

/// Kills tauri-driver if the launch fails half way.
struct DriverGuard(Option<Child>);

impl Drop for DriverGuard {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            kill_group(c);
        }
    }
}

fn kill_group(child: &mut Child) {
    if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// How long one WebDriver command may take: a hung app fails the test, not the run.
const CALL: Duration = Duration::from_secs(10);

/// The command's answer, or `None` when it failed or did not answer within [`CALL`].
async fn bounded<T, E>(call: impl Future<Output = Result<T, E>>) -> Option<T> {
    tokio::time::timeout(CALL, call).await.ok()?.ok()
}

async fn eventually<T, F, Fut>(what: &str, timeout: Duration, f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    eventually_or_none(timeout, f)
        .await
        .unwrap_or_else(|| panic!("timed out after {timeout:?} waiting for {what}"))
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

/// The app binary next to this test's (target/debug/templesync-desktop), or
/// `TEMPLESYNC_DESKTOP_BIN`.
fn app_binary() -> PathBuf {
    let bin = std::env::var_os("TEMPLESYNC_DESKTOP_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let exe = std::env::current_exe().unwrap();
            let debug = exe.parent().and_then(Path::parent).unwrap();
            debug.join("templesync-desktop")
        });
    assert!(
        bin.exists(),
        "{} is missing: build it first (`cargo build -p templesync-desktop`, as scripts/test-desktop.sh does)",
        bin.display()
    );
    bin
}

fn tauri_driver() -> PathBuf {
    if let Some(p) = std::env::var_os("TEMPLESYNC_TAURI_DRIVER") {
        return p.into();
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let cargo_bin = home.join(".cargo/bin/tauri-driver");
    if cargo_bin.exists() {
        cargo_bin
    } else {
        "tauri-driver".into()
    }
}

fn screenshots() -> PathBuf {
    let dir = std::env::var_os("TEMPLESYNC_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../screenshots"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
