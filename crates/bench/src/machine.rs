//! Facts about the machine and the build a run was measured on, and the load during it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Machine {
    pub cores: usize,
    pub memory_mib: Option<u64>,
    pub cpu_model: Option<String>,
    pub kernel: Option<String>,
    pub hostname: Option<String>,
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

impl Machine {
    pub fn now() -> Machine {
        let memory_mib = read("/proc/meminfo").and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .map(|kb| kb / 1024)
        });
        let cpu_model = read("/proc/cpuinfo").and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        });
        Machine {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_mib,
            cpu_model,
            kernel: read("/proc/sys/kernel/osrelease").map(|s| s.trim().to_string()),
            hostname: read("/proc/sys/kernel/hostname").map(|s| s.trim().to_string()),
        }
    }
}

/// The 1-, 5- and 15-minute load averages.
pub fn loadavg() -> Option<[f64; 3]> {
    let s = read("/proc/loadavg")?;
    let mut it = s.split_whitespace().map(|v| v.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

/// The commit checked out in `repo`, read from `.git` directly (no git command): the branch
/// and the commit id, when they can be found.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Git {
    pub branch: Option<String>,
    pub commit: Option<String>,
}

pub fn git(repo: &Path) -> Git {
    let mut dir = repo.join(".git");
    if dir.is_file() {
        // A worktree: `.git` is a file `gitdir: <path>`.
        if let Some(p) = std::fs::read_to_string(&dir)
            .ok()
            .and_then(|s| s.strip_prefix("gitdir:").map(|p| PathBuf::from(p.trim())))
        {
            dir = if p.is_absolute() { p } else { repo.join(p) };
        }
    }
    let Ok(head) = std::fs::read_to_string(dir.join("HEAD")) else {
        return Git::default();
    };
    let head = head.trim();
    let Some(refname) = head.strip_prefix("ref:").map(str::trim) else {
        return Git {
            branch: None,
            commit: Some(head.to_string()),
        };
    };
    let branch = Some(refname.trim_start_matches("refs/heads/").to_string());
    // In a worktree, refs live in the common directory.
    let common = std::fs::read_to_string(dir.join("commondir"))
        .ok()
        .map(|c| dir.join(c.trim()))
        .unwrap_or_else(|| dir.clone());
    let loose = [dir.join(refname), common.join(refname)]
        .into_iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string());
    let packed = || {
        std::fs::read_to_string(common.join("packed-refs"))
            .ok()?
            .lines()
            .find_map(|l| {
                let (id, name) = l.split_once(' ')?;
                (name == refname).then(|| id.to_string())
            })
    };
    Git {
        branch,
        commit: loose.or_else(packed),
    }
}

/// Samples the 1-minute load average every few seconds while a run goes on.
#[derive(Clone, Default)]
pub struct LoadSampler {
    samples: Arc<Mutex<Vec<f64>>>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadSummary {
    pub at_start: Option<[f64; 3]>,
    pub at_end: Option<[f64; 3]>,
    /// Of the 1-minute load average, sampled every 5 s during the run and at its end.
    pub max: Option<f64>,
    pub mean: Option<f64>,
    pub samples: usize,
}

impl LoadSampler {
    pub fn start() -> LoadSampler {
        let s = LoadSampler::default();
        let samples = s.samples.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                if let Some([one, _, _]) = loadavg() {
                    samples.lock().unwrap_or_else(|e| e.into_inner()).push(one);
                }
            }
        });
        s
    }

    pub fn summary(&self, at_start: Option<[f64; 3]>) -> LoadSummary {
        let at_end = loadavg();
        let mut s = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        s.extend(at_end.map(|l| l[0]));
        let max = s.iter().copied().reduce(f64::max);
        let mean = (!s.is_empty()).then(|| s.iter().sum::<f64>() / s.len() as f64);
        LoadSummary {
            at_start,
            at_end,
            max,
            mean,
            samples: s.len(),
        }
    }
}

/// The first line a program prints for `args`, if it runs.
pub fn version_of(program: &Path, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next()?.trim();
    (!line.is_empty()).then(|| line.to_string())
}
