//! The `templesync` binary as the office runs it, for tests that look at everything it says:
//! one command at a time ([`Cli`]), or `templesync serve` ([`Serve`]). Build it first with
//! `cargo build -p templesync-cli` (see [`crate::templesync_binary`]).

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// What one command did.
#[derive(Debug, Clone)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Stdout as exactly one JSON document.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON document ({e}):\n{}\n--- stderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// `templesync` with its connection settings in the environment (and nothing of the
/// developer's: no `MONGODB_*`/`TEMPLESYNC_*` variables, an empty working directory, its own
/// `XDG_CONFIG_HOME`).
#[derive(Clone)]
pub struct Cli {
    pub env: Vec<(String, String)>,
    pub dir: PathBuf,
}

impl Cli {
    pub fn new(dir: &Path, local_url: &str, cloud_url: Option<&str>, database: &str) -> Cli {
        let mut env = vec![
            ("MONGODB_LOCAL_URL".to_string(), local_url.to_string()),
            ("DATABASE_NAME".to_string(), database.to_string()),
            ("XDG_CONFIG_HOME".to_string(), dir.display().to_string()),
            // Its pause, logs and data here too, not in the developer's folders.
            (
                "XDG_STATE_HOME".to_string(),
                dir.join("state").display().to_string(),
            ),
            (
                "XDG_DATA_HOME".to_string(),
                dir.join("data").display().to_string(),
            ),
        ];
        if let Some(url) = cloud_url {
            env.push(("MONGODB_CLOUD_URL".to_string(), url.to_string()));
        }
        Cli {
            env,
            dir: dir.to_path_buf(),
        }
    }

    pub fn with_env(mut self, key: &str, value: &str) -> Cli {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(crate::templesync_binary());
        for (k, _) in std::env::vars_os() {
            let name = k.to_string_lossy();
            if name.starts_with("MONGODB_")
                || name == "DATABASE_NAME"
                || name.starts_with("TEMPLESYNC_")
            {
                cmd.env_remove(&k);
            }
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)))
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `templesync ARGS` to the end (at most 3 minutes), off the async runtime's threads.
    pub async fn run(&self, args: &[&str]) -> Output {
        let mut cmd = self.command(args);
        let shown = args.join(" ");
        tokio::task::spawn_blocking(move || {
            let out = cmd.output().expect("templesync runs");
            Output {
                status: out.status,
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }
        })
        .await
        .unwrap_or_else(|e| panic!("`templesync {shown}`: {e}"))
    }
}

/// A running `templesync serve --bind 127.0.0.1:0`, killed on drop.
pub struct Serve {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    output: Arc<Mutex<String>>,
}

impl Serve {
    /// Starts it with `cli`'s environment (plus `extra_args`) and waits for "Listening on".
    pub fn start(cli: &Cli, extra_args: &[&str]) -> Serve {
        let mut cmd = cli.command(&[&["serve", "--bind", "127.0.0.1:0"][..], extra_args].concat());
        cmd.env("TEMPLESYNC_LOG", "debug");
        let Listening {
            child,
            base,
            output,
        } = spawn_listening(&mut cmd, Duration::from_secs(60));
        Serve {
            child,
            base,
            output,
        }
    }

    /// Everything it wrote so far, stdout and stderr.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A started `templesync serve`: the process, where it listens (`http://127.0.0.1:PORT`), and
/// everything it wrote so far, stdout and stderr.
pub struct Listening {
    pub child: Child,
    pub base: String,
    pub output: Arc<Mutex<String>>,
}

/// Spawns `cmd` (a `templesync serve`) with its output collected (read on threads of their own,
/// so it never blocks on a full pipe) and waits for its "Listening on" line. Panics, with what
/// it wrote, if it exits first or says nothing of the kind within `deadline`.
pub fn spawn_listening(cmd: &mut Command, deadline: Duration) -> Listening {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("templesync serve starts");
    let output = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = mpsc::channel();
    drain(child.stdout.take().unwrap(), output.clone(), tx.clone());
    drain(child.stderr.take().unwrap(), output.clone(), tx);
    let until = Instant::now() + deadline;
    let base = loop {
        if let Ok(url) = rx.recv_timeout(Duration::from_millis(100)) {
            break url;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "templesync serve exited ({status}) before listening:\n{}",
                output.lock().unwrap()
            );
        }
        assert!(
            Instant::now() < until,
            "templesync serve did not say where it listens within {deadline:?}:\n{}",
            output.lock().unwrap()
        );
    };
    Listening {
        child,
        base,
        output,
    }
}

fn drain(
    stream: impl Read + Send + 'static,
    output: Arc<Mutex<String>>,
    listening: mpsc::Sender<String>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if let Some(url) = line.strip_prefix("Listening on ") {
                let _ = listening.send(url.trim().to_string());
            }
            let mut out = output.lock().unwrap();
            out.push_str(&line);
            out.push('\n');
        }
    });
}
