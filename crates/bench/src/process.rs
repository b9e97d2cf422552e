//! Running a contender as its own process: wall time around it, its peak resident memory,
//! and what it printed.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::process::Command;

/// How a program was measured.
#[derive(Debug)]
pub struct Measured {
    pub seconds: f64,
    /// Peak resident set size (kB): the kernel's `ru_maxrss` via GNU time, or the largest
    /// `VmHWM` seen while polling `/proc/<pid>/status`.
    pub peak_rss_kb: Option<u64>,
    pub success: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// How peak memory is measured.
#[derive(Debug, Clone)]
pub enum RssProbe {
    /// GNU time (`/usr/bin/time -f %M -o FILE`).
    GnuTime(PathBuf),
    /// Polling `/proc/<pid>/status` `VmHWM` every 5 ms.
    Poll,
}

impl RssProbe {
    /// GNU time when it is installed (Debian package `time`), polling otherwise.
    pub fn detect() -> RssProbe {
        let time = PathBuf::from("/usr/bin/time");
        let is_gnu = std::process::Command::new(&time)
            .arg("--version")
            .output()
            .map(|o| {
                let all = [o.stdout, o.stderr].concat();
                String::from_utf8_lossy(&all).contains("GNU")
            })
            .unwrap_or(false);
        if is_gnu {
            RssProbe::GnuTime(time)
        } else {
            RssProbe::Poll
        }
    }

    pub fn describe(&self) -> String {
        match self {
            RssProbe::GnuTime(p) => format!("{} -f %M (ru_maxrss)", p.display()),
            RssProbe::Poll => "polling /proc/<pid>/status VmHWM every 5 ms".into(),
        }
    }
}

fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Runs `program args` in `cwd` with `envs` added, measuring its wall time (from spawn to
/// exit) and peak memory.
pub async fn run(
    program: &Path,
    args: &[OsString],
    envs: &[(&str, String)],
    cwd: &Path,
    probe: &RssProbe,
) -> anyhow::Result<Measured> {
    let rss_file = tempfile::NamedTempFile::new()?;
    let mut cmd = match probe {
        RssProbe::GnuTime(time) => {
            let mut c = Command::new(time);
            c.arg("-f").arg("%M").arg("-o").arg(rss_file.path());
            c.arg(program);
            c
        }
        RssProbe::Poll => Command::new(program),
    };
    cmd.args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let start = Instant::now();
    let child = cmd
        .spawn()
        .with_context(|| format!("starting {}", program.display()))?;
    let pid = child.id();
    let output = child.wait_with_output();
    tokio::pin!(output);
    let mut polled: Option<u64> = None;
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    let output = loop {
        tokio::select! {
            out = &mut output => break out?,
            _ = tick.tick(), if matches!(probe, RssProbe::Poll) => {
                if let Some(kb) = pid.and_then(vm_hwm_kb) {
                    polled = Some(polled.map_or(kb, |p| p.max(kb)));
                }
            }
        }
    };
    let seconds = start.elapsed().as_secs_f64();
    let peak_rss_kb = match probe {
        // GNU time writes "Command exited with non-zero status N" first when it failed.
        RssProbe::GnuTime(_) => std::fs::read_to_string(rss_file.path())
            .ok()
            .and_then(|s| s.lines().last().and_then(|l| l.trim().parse().ok())),
        RssProbe::Poll => polled,
    };
    Ok(Measured {
        seconds,
        peak_rss_kb,
        success: output.status.success(),
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// The last non-empty line of `s`, shortened: for error messages.
pub fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(3);
    let t = lines[start..].join(" | ");
    if t.chars().count() > 400 {
        t.chars().take(400).collect::<String>() + "…"
    } else {
        t
    }
}
