//! Test harness of TempleSync's integration tests: real MongoDB wire-protocol servers, one
//! per test, started as separate processes.
//!
//! The server is [SecantusDB](https://pypi.org/project/secantusdb/) `0.7.0b3`, a MongoDB 8.2
//! compatible server written in Python (see `shared/MONGODB_TEST_SERVER.md`). It is installed
//! by `scripts/setup-test-deps.sh` into
//! `${TEMPLESYNC_CACHE:-$HOME/.cache/templesync}/venv-secantus-0.7.0b3` (or pointed at with
//! `TEMPLESYNC_SECANTUSD`); it is GPL-2.0, so it is only ever run as a child process, never
//! linked or shipped.
//!
//! ```no_run
//! use templesync_tests::{FailMode, MongoServer, ServerOptions};
//!
//! # async fn demo() -> anyhow::Result<()> {
//! let mut server = MongoServer::start().await?;
//! let client = server.client().await;
//! client.database("app").collection("users")
//!     .insert_one(bson::doc! { "_id": 1 }).await?;
//!
//! // Make the next insert fail with error code 2 (BadValue), once.
//! server.fail_command(&["insert"], 1, FailMode::ErrorCode(2)).await;
//!
//! // Crash it and bring it back on the same port and data.
//! server.kill();
//! server.restart().await?;
//!
//! // A server that keeps a short change-stream history and fsyncs every commit.
//! let small = MongoServer::start_with(
//!     ServerOptions::new().oplog_max_entries(10).sync_on_commit(),
//! ).await?;
//! # Ok(()) }
//! ```
//!
//! Durability: a SIGKILL ([`MongoServer::kill`]) right after a `w:1` write can lose it, as on a
//! real server without journaling. A test that kills the server and expects its data back
//! must start it with [`ServerOptions::sync_on_commit`] or write with `j: true`. A graceful
//! [`MongoServer::stop`] / [`MongoServer::restart`] keeps everything.
//!
//! Every server gets a fresh temporary directory (removed when the [`MongoServer`] is
//! dropped) holding its storage (`data/`), its log (`server.log`: stdout and stderr of every
//! run, appended) and an empty `secantusd.toml` (so no config file of the machine or user
//! is picked up). Dropping a [`MongoServer`] SIGKILLs its process; a test process that is
//! itself killed leaves its servers running (they are in its process group, so a Ctrl-C on
//! `cargo test` stops them too).

pub mod app;
pub mod chaos;
pub mod fixture;
pub mod proxy;
pub mod screens;
pub mod tls;

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use bson::{Document, doc};
use mongodb::Client;
use mongodb::error::ErrorKind;
use mongodb::options::ClientOptions;
use tempfile::TempDir;

/// The pinned SecantusDB version; must match `scripts/setup-test-deps.sh`.
pub const SECANTUS_VERSION: &str = "0.7.0b3";

/// How long [`MongoServer::start`] and [`MongoServer::restart`] wait for a `ping` by default.
pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// How long [`MongoServer::stop`] waits after SIGTERM before it sends SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// How many fresh ports [`MongoServer::start_with`] tries when the port it picked was taken
/// by someone else between picking and binding.
const PORT_ATTEMPTS: usize = 8;

/// Server selection timeout of the clients made by [`MongoServer::client`].
const CLIENT_SELECTION_TIMEOUT: Duration = Duration::from_secs(10);

/// The directory the setup script installs into: `${TEMPLESYNC_CACHE:-$HOME/.cache/templesync}`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TEMPLESYNC_CACHE").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from);
    home.join(".cache").join("templesync")
}

/// Path of the `secantusd-py` launcher: `$TEMPLESYNC_SECANTUSD` if set, otherwise
/// `<cache_dir>/venv-secantus-0.7.0b3/bin/secantusd-py`.
///
/// # Panics
/// If that file does not exist, with a message telling to run `scripts/setup-test-deps.sh`.
pub fn secantusd_path() -> PathBuf {
    let (path, from_env) = match std::env::var_os("TEMPLESYNC_SECANTUSD").filter(|v| !v.is_empty())
    {
        Some(p) => (PathBuf::from(p), true),
        None => (
            cache_dir()
                .join(format!("venv-secantus-{SECANTUS_VERSION}"))
                .join("bin")
                .join("secantusd-py"),
            false,
        ),
    };
    if !path.is_file() {
        let origin = if from_env {
            "TEMPLESYNC_SECANTUSD points at"
        } else {
            "expected the SecantusDB test server at"
        };
        panic!(
            "{origin} {} but it does not exist.\n\
             Install the test server with: scripts/setup-test-deps.sh (from the repository root);\n\
             it prints the path to put in TEMPLESYNC_SECANTUSD if you keep it elsewhere.",
            path.display()
        );
    }
    path
}

/// The `templesync` binary the CLI-level tests run: `<target>/debug/templesync`, next to
/// `<target>/debug/deps/<test>-<hash>` (the running test), refused if missing or older than
/// its sources (build it with `cargo build -p templesync-cli`);
/// checked once per test run (so that editing a source file while the tests run does not
/// fail the tests that start later).
pub fn templesync_binary() -> PathBuf {
    static BINARY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BINARY.get_or_init(locate_binary).clone()
}

fn locate_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let deps = exe.parent().expect("the test executable's directory");
    let profile_dir = deps.parent().expect("the target profile directory");
    let bin = profile_dir.join(format!("templesync{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "the templesync binary is not at {}: run `cargo build -p templesync-cli` first \
         (with the same CARGO_TARGET_DIR); `cargo test --workspace` does not build it, it \
         only builds the binary's unit-test harness",
        bin.display()
    );
    assert_fresh(&bin);
    bin
}

/// Refuses a binary older than the sources it is built from, so that the tests never
/// pass or fail on yesterday's code.
fn assert_fresh(bin: &Path) {
    let built = std::fs::metadata(bin)
        .and_then(|m| m.modified())
        .expect("the binary's modification time");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf();
    let mut sources = vec![root.join("Cargo.lock"), root.join("Cargo.toml")];
    // The files cargo recorded as the binary's inputs (a new file that no module includes yet,
    // being written by someone else in the same tree, is not one); every source file of the
    // two crates when that record is missing.
    match std::fs::read_to_string(bin.with_extension("d")) {
        Ok(dep_info) => sources.extend(dep_info_inputs(&dep_info)),
        Err(_) => {
            for krate in ["cli", "engine"] {
                sources.push(root.join("crates").join(krate).join("Cargo.toml"));
                collect_rs(&root.join("crates").join(krate).join("src"), &mut sources);
            }
        }
    }
    let newer: Vec<String> = sources
        .iter()
        .filter(|p| {
            std::fs::metadata(p)
                .and_then(|m| m.modified())
                .is_ok_and(|t: std::time::SystemTime| t > built)
        })
        .map(|p| p.display().to_string())
        .collect();
    assert!(
        newer.is_empty(),
        "the templesync binary at {} is older than its sources ({}): run \
         `cargo build -p templesync-cli` first",
        bin.display(),
        newer.join(", ")
    );
}

/// The inputs listed in a cargo dep-info file (`target: input input ...`, spaces in paths
/// escaped as `\ `).
fn dep_info_inputs(dep_info: &str) -> Vec<PathBuf> {
    let Some(line) = dep_info.lines().next() else {
        return Vec::new();
    };
    let Some((_, inputs)) = line.split_once(": ") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = inputs.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&' ') => current.push(chars.next().unwrap_or(' ')),
            ' ' => {
                if !current.is_empty() {
                    out.push(PathBuf::from(std::mem::take(&mut current)));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        out.push(PathBuf::from(current));
    }
    out
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_rs(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Options of a [`MongoServer`]. Build with [`ServerOptions::new`] and the chained setters.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Extra command-line arguments for `secantusd-py` (after the harness's own
    /// `--host/--port/--storage-path/--config`), e.g. `["--auth"]`.
    pub extra_args: Vec<String>,
    /// Pass `--enable-test-commands` (needed by [`MongoServer::fail_command`]). Default: true.
    pub enable_test_commands: bool,
    /// How long to wait for the server to answer a `ping`. Default: 30 s.
    pub startup_timeout: Duration,
    /// Set by [`ServerOptions::tls`]: the CA that signed the server's certificate, which
    /// [`MongoServer::url`] tells clients to trust.
    pub tls_ca_file: Option<PathBuf>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            extra_args: Vec::new(),
            enable_test_commands: true,
            startup_timeout: DEFAULT_STARTUP_TIMEOUT,
            tls_ca_file: None,
        }
    }
}

impl ServerOptions {
    /// The defaults: test commands on, 30 s startup deadline, no extra arguments.
    pub fn new() -> Self {
        Self::default()
    }

    /// TLS only (`--tls-cert-file`/`--tls-key-file`): clients connect with
    /// `tls=true&tlsCAFile=<ca>`, as [`MongoServer::url`] says. See [`TestCertificates`].
    pub fn tls(mut self, ca: &Path, cert: &Path, key: &Path) -> Self {
        self.tls_ca_file = Some(ca.to_path_buf());
        self.args([
            "--tls-cert-file".to_string(),
            cert.display().to_string(),
            "--tls-key-file".to_string(),
            key.display().to_string(),
        ])
    }

    /// Appends one extra command-line argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.extra_args.push(arg.into());
        self
    }

    /// Appends extra command-line arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.extra_args.extend(args.into_iter().map(Into::into));
        self
    }

    /// `--auth`: require SCRAM-SHA-256 authentication (create users first, then restart with
    /// it; see `shared/MONGODB_TEST_SERVER.md`).
    pub fn auth(self) -> Self {
        self.arg("--auth")
    }

    /// `--sync-on-commit`: fsync every commit, so writes survive [`MongoServer::kill`].
    /// Costs 1-2 orders of magnitude of write throughput.
    pub fn sync_on_commit(self) -> Self {
        self.arg("--sync-on-commit")
    }

    /// `--oplog-max-entries N`: keep only the last `n` change-stream events.
    pub fn oplog_max_entries(self, n: u64) -> Self {
        self.args(["--oplog-max-entries".to_string(), n.to_string()])
    }

    /// `--oplog-retention-seconds S`: keep change-stream events for `secs` seconds only.
    pub fn oplog_retention_seconds(self, secs: u64) -> Self {
        self.args(["--oplog-retention-seconds".to_string(), secs.to_string()])
    }

    /// Whether to pass `--enable-test-commands`.
    pub fn enable_test_commands(mut self, on: bool) -> Self {
        self.enable_test_commands = on;
        self
    }

    /// The deadline for the server to answer a `ping` after each (re)start.
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }
}

/// What a command armed by [`MongoServer::fail_command`] does instead of running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailMode {
    /// The server closes the connection without answering (a network error for the driver;
    /// note the driver retries retryable reads and writes once, so use a client with
    /// `retryWrites=false` / `retryReads=false` or `times >= 2` to see the failure).
    CloseConnection,
    /// The command answers `{ok: 0, code: N}`. Some codes (e.g. 91, 189, 6, 7, 89, 9001,
    /// 10107, 11600, 11602, 13435, 13436, 262) are retryable and will be retried once by the
    /// driver; a code such as 2 (BadValue) is not.
    ErrorCode(i32),
}

/// One SecantusDB server process on `127.0.0.1:<port>`, with its own temporary storage.
///
/// Killed (SIGKILL) when dropped. The storage outlives [`kill`](Self::kill) and
/// [`stop`](Self::stop) so that [`restart`](Self::restart) brings back the same data on the
/// same port.
#[derive(Debug)]
pub struct MongoServer {
    child: Option<Child>,
    port: u16,
    opts: ServerOptions,
    exe: PathBuf,
    // Declared last so that it is removed after the child is gone.
    dir: TempDir,
}

/// Why one attempt to bring a server up failed.
enum StartFailure {
    /// Someone else holds the port: try another one.
    PortInUse,
    /// Anything else: give up.
    Fatal(anyhow::Error),
}

/// Ports handed out by this test process, so that two threads never get the same one even if
/// the kernel hands a just-released port out again.
static HANDED_OUT_PORTS: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// Picks a free port by binding `127.0.0.1:0`, skipping ports this process already used.
fn pick_port() -> anyhow::Result<u16> {
    let mut guard = HANDED_OUT_PORTS.lock().unwrap_or_else(|e| e.into_inner());
    let used = guard.get_or_insert_with(HashSet::new);
    for _ in 0..64 {
        let listener = TcpListener::bind(("127.0.0.1", 0)).context("binding 127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        if used.insert(port) {
            return Ok(port);
        }
    }
    bail!("could not find a free port not already used by this process")
}

impl MongoServer {
    /// Starts a server with the default [`ServerOptions`] (test commands enabled).
    pub async fn start() -> anyhow::Result<MongoServer> {
        Self::start_with(ServerOptions::default()).await
    }

    /// Starts a server with the given options: picks a free port (retrying with another one if
    /// it was taken in the meantime), makes a fresh temporary storage directory, and waits
    /// until the server is listening and answers `ping` through the Rust driver.
    pub async fn start_with(opts: ServerOptions) -> anyhow::Result<MongoServer> {
        let mut server = Self::unstarted(opts)?;
        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            server.port = pick_port()?;
            match server.spawn_and_wait().await {
                Ok(()) => return Ok(server),
                Err(StartFailure::PortInUse) => {
                    last_error = Some(anyhow!("port {} was already in use", server.port));
                }
                Err(StartFailure::Fatal(e)) => return Err(e),
            }
        }
        Err(last_error
            .unwrap_or_else(|| anyhow!("no attempt made"))
            .context(format!(
                "starting SecantusDB: every one of {PORT_ATTEMPTS} ports tried was taken"
            )))
    }

    /// A server with its temporary directory made but no process yet (port 0).
    fn unstarted(opts: ServerOptions) -> anyhow::Result<MongoServer> {
        let exe = secantusd_path();
        let dir = tempfile::Builder::new()
            .prefix("templesync-secantus-")
            .tempdir()
            .context("creating the server's temporary directory")?;
        std::fs::create_dir_all(dir.path().join("data"))?;
        // An explicit, empty config: no ./secantusd.toml or ~/.secantus/secantusd.toml of the
        // machine gets auto-discovered.
        std::fs::write(dir.path().join("secantusd.toml"), "")?;
        Ok(MongoServer {
            child: None,
            port: 0,
            opts,
            exe,
            dir,
        })
    }

    /// `mongodb://127.0.0.1:PORT/?directConnection=true`, and `&tls=true&tlsCAFile=CA` for a
    /// server started with [`ServerOptions::tls`].
    pub fn url(&self) -> String {
        let mut url = format!("mongodb://127.0.0.1:{}/?directConnection=true", self.port);
        if let Some(ca) = &self.opts.tls_ca_file {
            url.push_str(&format!("&tls=true&tlsCAFile={}", ca.display()));
        }
        url
    }

    /// The TCP port the server listens on (kept across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The OS process id of the running server, if it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The server's storage directory (`--storage-path`).
    pub fn storage_path(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The server's log file (stdout and stderr of all its runs).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// The whole log so far (for assertions or to print when a test fails).
    pub fn log_contents(&self) -> String {
        std::fs::read(self.log_path())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The options the server was started with.
    pub fn options(&self) -> &ServerOptions {
        &self.opts
    }

    /// The options the next [`restart`](Self::restart) will use, e.g. to turn `--auth` on
    /// after creating users:
    /// `server.options_mut().extra_args.push("--auth".into()); server.restart().await?;`
    pub fn options_mut(&mut self) -> &mut ServerOptions {
        &mut self.opts
    }

    /// A new driver client for [`url`](Self::url) (its own connection pool), with a 10 s
    /// server selection timeout.
    ///
    /// # Panics
    /// If the URL cannot be parsed (it always can).
    pub async fn client(&self) -> Client {
        let mut options = ClientOptions::parse(self.url())
            .await
            .expect("parsing the test server's URL");
        options.server_selection_timeout = Some(CLIENT_SELECTION_TIMEOUT);
        options.app_name = Some("templesync-tests".into());
        Client::with_options(options).expect("building a client for the test server")
    }

    /// Whether the server process is still alive (reaps it if it has exited).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => true,
            Some(Ok(Some(_))) | Some(Err(_)) => {
                self.child = None;
                false
            }
            None => false,
        }
    }

    /// SIGKILLs the server and reaps it. Unsynced (`w:1`, no `j:true`) writes may be lost.
    /// No-op if it is not running.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server gracefully: SIGTERM, then SIGKILL if it has not exited after 5 s.
    /// (SecantusDB 0.7.0b3 takes about 3 s to shut down.) No-op if it is not running.
    pub async fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        let pid = rustix::process::Pid::from_child(&child);
        if rustix::process::kill_process(pid, rustix::process::Signal::TERM).is_ok() {
            let deadline = Instant::now() + STOP_GRACE;
            while Instant::now() < deadline {
                match child.try_wait() {
                    Ok(Some(_)) | Err(_) => return,
                    Ok(None) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts the server again on the same port and storage (stopping it gracefully first if
    /// it still runs), and waits until it answers `ping`.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop().await;
        // The port is ours, but something else may have grabbed it while the server was down;
        // give that a few chances to go away.
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.spawn_and_wait().await {
                Ok(()) => return Ok(()),
                Err(StartFailure::PortInUse) if attempts < 10 => {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                Err(StartFailure::PortInUse) => {
                    bail!(
                        "restarting SecantusDB: port {} is taken by another process",
                        self.port
                    )
                }
                Err(StartFailure::Fatal(e)) => return Err(e),
            }
        }
    }

    /// Arms the `failCommand` fail point: the next `times` commands named in `commands`
    /// (e.g. `["insert", "find"]`) fail as `mode` says. Replaces any failCommand already armed.
    ///
    /// # Panics
    /// If the server refuses (e.g. it was started without test commands).
    pub async fn fail_command(&self, commands: &[&str], times: u32, mode: FailMode) {
        let mut data = doc! { "failCommands": commands.to_vec() };
        match mode {
            FailMode::CloseConnection => data.insert("closeConnection", true),
            FailMode::ErrorCode(code) => data.insert("errorCode", code),
        };
        self.configure_fail_point(doc! { "times": i64::from(times) }, data)
            .await
            .expect("configureFailPoint failCommand");
    }

    /// Disarms the `failCommand` fail point.
    ///
    /// # Panics
    /// If the server refuses (e.g. it was started without test commands).
    pub async fn clear_fail_points(&self) {
        let cmd = doc! { "configureFailPoint": "failCommand", "mode": "off" };
        self.admin_command(cmd)
            .await
            .expect("configureFailPoint failCommand off");
    }

    /// Low-level: `{configureFailPoint: "failCommand", mode, data}` on the admin db, for the
    /// options [`fail_command`](Self::fail_command) does not cover (`blockConnection`,
    /// `blockTimeMS`, `errorLabels`, `writeConcernError`, mode `{skip: N}`...).
    pub async fn configure_fail_point(
        &self,
        mode: Document,
        data: Document,
    ) -> anyhow::Result<Document> {
        let cmd = doc! { "configureFailPoint": "failCommand", "mode": mode, "data": data };
        self.admin_command(cmd).await
    }

    async fn admin_command(&self, cmd: Document) -> anyhow::Result<Document> {
        let client = self.client().await;
        let reply = client.database("admin").run_command(cmd).await;
        client.shutdown().immediate(true).await;
        Ok(reply?)
    }

    /// Spawns the server on `self.port` and waits for it to listen and answer `ping`.
    async fn spawn_and_wait(&mut self) -> Result<(), StartFailure> {
        let log_path = self.log_path();
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| StartFailure::Fatal(anyhow!("opening {}: {e}", log_path.display())))?;
        let log_offset = log.metadata().map(|m| m.len()).unwrap_or(0);
        let log_err = log.try_clone().map_err(|e| StartFailure::Fatal(e.into()))?;

        let mut cmd = Command::new(&self.exe);
        cmd.arg("--host")
            .arg("127.0.0.1")
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--storage-path")
            .arg(self.storage_path())
            .arg("--config")
            .arg(self.dir.path().join("secantusd.toml"));
        if self.opts.enable_test_commands {
            cmd.arg("--enable-test-commands");
        }
        cmd.args(&self.opts.extra_args)
            .current_dir(self.dir.path())
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        let child = cmd
            .spawn()
            .map_err(|e| StartFailure::Fatal(anyhow!("spawning {}: {e}", self.exe.display())))?;
        self.child = Some(child);

        match self.wait_ready(&log_path, log_offset).await {
            Ok(()) => Ok(()),
            Err(failure) => {
                self.kill();
                Err(failure)
            }
        }
    }

    /// Polls until our own child logs that it listens on our port and a `ping` through the
    /// driver answers, the child exits, or the startup deadline passes.
    async fn wait_ready(&mut self, log_path: &Path, log_offset: u64) -> Result<(), StartFailure> {
        let started = Instant::now();
        let deadline = started + self.opts.startup_timeout;
        let listening_line = format!("listening on 127.0.0.1:{}", self.port);
        let mut probe: Option<Client> = None;
        let result = loop {
            if let Some(status) = self.exited() {
                let log = read_from(log_path, log_offset);
                break Err(if log.contains("Address already in use") {
                    StartFailure::PortInUse
                } else {
                    StartFailure::Fatal(anyhow!(
                        "SecantusDB exited during startup ({status}) on port {}; its log:\n{}",
                        self.port,
                        tail(&log, 40)
                    ))
                });
            }
            let log = read_from(log_path, log_offset);
            let ours = log.contains(&listening_line);
            if ours || started.elapsed() > Duration::from_secs(2) {
                let client = match &probe {
                    Some(c) => c.clone(),
                    None => match probe_client(&self.url()).await {
                        Ok(c) => {
                            probe = Some(c.clone());
                            c
                        }
                        Err(e) => break Err(StartFailure::Fatal(e)),
                    },
                };
                match ping(&client).await {
                    // A server answers on our port; make sure it is ours (the log line, or
                    // serverStatus.pid if the log format ever changes).
                    PingOutcome::Answered if ours || self.is_our_pid(&client).await => {
                        break Ok(());
                    }
                    PingOutcome::Answered | PingOutcome::NoAnswer => {}
                }
            }
            if Instant::now() >= deadline {
                let log = read_from(log_path, log_offset);
                break Err(StartFailure::Fatal(anyhow!(
                    "SecantusDB did not answer ping on port {} within {:?}; its log:\n{}",
                    self.port,
                    self.opts.startup_timeout,
                    tail(&log, 40)
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        if let Some(client) = probe {
            client.shutdown().immediate(true).await;
        }
        result
    }

    /// The exit status if the child has exited (it stays stored until kill/stop clears it).
    fn exited(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    async fn is_our_pid(&self, client: &Client) -> bool {
        let Some(pid) = self.pid() else { return false };
        let Ok(status) = client
            .database("admin")
            .run_command(doc! { "serverStatus": 1 })
            .await
        else {
            return false;
        };
        let reported = status
            .get("pid")
            .and_then(|v| match v {
                bson::Bson::Int32(i) => Some(i64::from(*i)),
                bson::Bson::Int64(i) => Some(*i),
                bson::Bson::Double(d) => Some(*d as i64),
                _ => None,
            })
            .unwrap_or(-1);
        reported == i64::from(pid)
    }
}

impl Drop for MongoServer {
    fn drop(&mut self) {
        self.kill();
    }
}

enum PingOutcome {
    /// The server replied (with ok:1, or with a command error such as Unauthorized under
    /// `--auth`: either way it is up).
    Answered,
    NoAnswer,
}

async fn probe_client(url: &str) -> anyhow::Result<Client> {
    let mut options = ClientOptions::parse(url).await?;
    options.server_selection_timeout = Some(Duration::from_millis(1500));
    options.connect_timeout = Some(Duration::from_millis(1500));
    options.heartbeat_freq = Some(Duration::from_millis(500));
    options.app_name = Some("templesync-tests-startup".into());
    Ok(Client::with_options(options)?)
}

async fn ping(client: &Client) -> PingOutcome {
    match client
        .database("admin")
        .run_command(doc! { "ping": 1 })
        .await
    {
        Ok(_) => PingOutcome::Answered,
        Err(e) if matches!(*e.kind, ErrorKind::Command(_)) => PingOutcome::Answered,
        Err(_) => PingOutcome::NoAnswer,
    }
}

fn read_from(path: &Path, offset: u64) -> String {
    let mut out = Vec::new();
    if let Ok(mut f) = File::open(path)
        && f.seek(SeekFrom::Start(offset)).is_ok()
    {
        let _ = f.read_to_end(&mut out);
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A port taken between picking and binding is recognised as such (so that `start_with`
    /// moves on to another port) rather than reported as a startup failure.
    #[tokio::test]
    async fn a_taken_port_is_reported_as_port_in_use() {
        let squatter = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let mut server = MongoServer::unstarted(ServerOptions::new()).unwrap();
        server.port = squatter.local_addr().unwrap().port();
        match server.spawn_and_wait().await {
            Err(StartFailure::PortInUse) => {}
            Err(StartFailure::Fatal(e)) => panic!("expected PortInUse, got: {e:#}"),
            Ok(()) => panic!("the server started on a port that was taken"),
        }
        assert!(!server.is_running());
    }

    #[test]
    fn dep_info_inputs_are_split_on_unescaped_spaces() {
        let d = "/t/debug/templesync: /w/a.rs /w/my\\ dir/b.rs /w/c.rs\n\n/w/a.rs:\n";
        assert_eq!(
            dep_info_inputs(d),
            ["/w/a.rs", "/w/my dir/b.rs", "/w/c.rs"].map(PathBuf::from)
        );
    }

    #[test]
    fn picked_ports_are_not_handed_out_twice() {
        let ports: HashSet<u16> = (0..50).map(|_| pick_port().unwrap()).collect();
        assert_eq!(ports.len(), 50);
    }
}
