//! The three contenders: the engine (the `templesync` command, as its own process), the
//! ceiling (a plain copy, in this process) and the baseline (`bench/baseline.py`, the
//! original algorithm, as its own process).
//!
//! `EngineBin::sync` is a little over 80 lines: one command line, its environment and the
//! parsing of what it printed, kept together so that what is measured is read in one place.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use anyhow::{Context, bail, ensure};
use bson::{Bson, RawDocumentBuf, doc};
use futures::TryStreamExt;
use mongodb::Database;
use serde::Serialize;
use serde_json::Value;

use crate::data::{CHUNK, COLLECTIONS, EditPlan, Id, SideEdits};
use crate::machine;
use crate::process::{self, RssProbe};

/// Where a contender runs: a database of the same name on a local and a remote server.
pub struct Place {
    pub local_url: String,
    pub remote_url: String,
    pub db: String,
    pub local: Database,
    pub remote: Database,
}

/// Documents read from each side.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Reads {
    pub local: u64,
    pub remote: u64,
}

/// Documents written to each side.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Writes {
    pub to_remote: u64,
    pub to_local: u64,
}

/// One measured figure of one contender in one scenario.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Figure {
    /// Wall time: around the process for the engine and the baseline, around the copy for
    /// the ceiling.
    pub seconds: Option<f64>,
    pub docs_per_second: Option<f64>,
    pub documents_read: Option<Reads>,
    pub writes: Option<Writes>,
    pub peak_rss_mb: Option<f64>,
    /// The contender's own time (the engine's `durationSeconds`, the baseline's time after
    /// its imports), for seeing what process start-up and connecting cost.
    pub inner_seconds: Option<f64>,
    /// The 1-minute load average when it started.
    pub load1_at_start: Option<f64>,
    /// Why it has no figures, when it failed.
    pub error: Option<String>,
    /// Why it was not run, when it was not.
    pub not_measured: Option<String>,
    /// Anything else the contender reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<Value>,
}

impl Figure {
    pub fn not_measured(why: impl Into<String>) -> Figure {
        Figure {
            not_measured: Some(why.into()),
            ..Figure::default()
        }
    }

    pub(crate) fn failed(why: impl Into<String>) -> Figure {
        Figure {
            error: Some(why.into()),
            load1_at_start: load1(),
            ..Figure::default()
        }
    }

    /// Sets `docs_per_second` for `n` documents.
    pub fn per(mut self, n: usize) -> Figure {
        self.docs_per_second = self.seconds.filter(|s| *s > 0.0).map(|s| n as f64 / s);
        self
    }
}

fn load1() -> Option<f64> {
    machine::loadavg().map(|l| l[0])
}

fn kb_to_mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

// ---------------------------------------------------------------------------------------------
// The engine

/// The `templesync` binary that is measured.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EngineBin {
    pub path: PathBuf,
    /// `release`, `debug`, or `unknown` for a binary given with `--engine-bin`.
    pub profile: String,
    pub version: Option<String>,
    /// Set when the binary is older than the engine's or the CLI's sources.
    pub warning: Option<String>,
}

impl EngineBin {
    /// `explicit`, or `<target>/release/templesync` beside this benchmark's own binary, or
    /// the debug one when there is no release build.
    pub fn locate(explicit: Option<PathBuf>, repo: &Path) -> anyhow::Result<EngineBin> {
        let path = match explicit {
            Some(p) => p,
            None => {
                let me = std::env::current_exe()?;
                // <target>/<profile>/templesync-bench
                let target = me
                    .parent()
                    .and_then(Path::parent)
                    .context("cannot tell the target directory")?;
                let candidates = [
                    target.join("release").join("templesync"),
                    target.join("debug").join("templesync"),
                ];
                match candidates.iter().find(|p| p.is_file()) {
                    Some(p) => p.clone(),
                    None => bail!(
                        "no templesync binary in {}/{{release,debug}}: build it first with \
                         `cargo build --release -p templesync-cli` (or pass --engine-bin)",
                        target.display()
                    ),
                }
            }
        };
        if !path.is_file() {
            bail!("the engine binary {} does not exist", path.display());
        }
        let profile = match path
            .parent()
            .and_then(Path::file_name)
            .and_then(|s| s.to_str())
        {
            Some("release") => "release",
            Some("debug") => "debug",
            _ => "unknown",
        }
        .to_string();
        let version = machine::version_of(&path, &["--version"]);
        let built = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        let newest = newest_source(&[repo.join("crates/engine/src"), repo.join("crates/cli/src")]);
        let warning = match (built, newest) {
            (Some(b), Some((t, f))) if t > b => Some(format!(
                "{} is older than {}: rebuild it (cargo build --release -p templesync-cli) to measure the current sources",
                path.display(),
                f.display()
            )),
            _ => None,
        };
        Ok(EngineBin {
            path,
            profile,
            version,
            warning,
        })
    }

    fn envs(place: &Place) -> Vec<(&'static str, String)> {
        vec![
            ("MONGODB_LOCAL_URL", place.local_url.clone()),
            ("MONGODB_CLOUD_URL", place.remote_url.clone()),
            ("DATABASE_NAME", place.db.clone()),
        ]
    }

    /// `templesync config set batchSize=N` for this place.
    pub async fn configure(
        &self,
        place: &Place,
        batch_size: u32,
        cwd: &Path,
    ) -> anyhow::Result<()> {
        let args: Vec<OsString> = [
            "config",
            "set",
            &format!("batchSize={batch_size}"),
            "--json",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let m = process::run(&self.path, &args, &Self::envs(place), cwd, &RssProbe::Poll).await?;
        if !m.success {
            bail!(
                "templesync config set batchSize={batch_size} failed: {} {}",
                process::tail(&m.stdout),
                process::tail(&m.stderr)
            );
        }
        Ok(())
    }

    /// One `templesync sync --json`, measured. With `log`, run with `-v` (the engine's
    /// step-by-step timings) and its standard error saved there.
    pub async fn sync(
        &self,
        place: &Place,
        cwd: &Path,
        probe: &RssProbe,
        log: Option<&Path>,
    ) -> Figure {
        let mut args = vec![OsString::from("sync"), OsString::from("--json")];
        if log.is_some() {
            args.push("-v".into());
        }
        let load = load1();
        let m = match process::run(&self.path, &args, &Self::envs(place), cwd, probe).await {
            Ok(m) => m,
            Err(e) => return Figure::failed(format!("{e:#}")),
        };
        let mut stderr_note = None;
        match log {
            Some(path) => {
                if let Err(e) = std::fs::write(path, &m.stderr) {
                    stderr_note = Some(format!("could not write {}: {e}", path.display()));
                }
            }
            None if !m.stderr.trim().is_empty() => {
                // Warnings (say, a fallback to a full scan) explain a figure.
                let tail: String = m
                    .stderr
                    .chars()
                    .rev()
                    .take(2000)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                stderr_note = Some(tail);
            }
            None => {}
        }
        let json: Option<Value> = serde_json::from_str(m.stdout.trim()).ok();
        let mut f = Figure {
            seconds: Some(m.seconds),
            peak_rss_mb: m.peak_rss_kb.map(kb_to_mb),
            load1_at_start: load,
            ..Figure::default()
        };
        let Some(run) = json else {
            f.error = Some(format!(
                "exit {:?}, no JSON on stdout: {}",
                m.code,
                process::tail(&format!("{}\n{}", m.stdout, m.stderr))
            ));
            return f;
        };
        if !m.success || run.get("status").and_then(Value::as_str) != Some("completed") {
            f.error = Some(format!(
                "exit {:?}: {}",
                m.code,
                process::tail(&run.to_string())
            ));
        }
        let count = |key: &str, side: &str| {
            run.get(key)
                .and_then(|v| v.get(side))
                .and_then(Value::as_u64)
        };
        let sum = |key: &str| {
            run.get(key)
                .and_then(Value::as_object)
                .map(|o| o.values().filter_map(Value::as_u64).sum::<u64>())
                .unwrap_or(0)
        };
        f.documents_read = match (
            count("documentsRead", "local"),
            count("documentsRead", "remote"),
        ) {
            (Some(local), Some(remote)) => Some(Reads { local, remote }),
            _ => None,
        };
        f.writes = Some(Writes {
            to_remote: sum("localToRemote"),
            to_local: sum("remoteToLocal"),
        });
        f.inner_seconds = run.get("durationSeconds").and_then(Value::as_f64);
        f.detail = Some(serde_json::json!({
            "conflicts": sum("conflicts"),
            "errors": run.get("errors").and_then(Value::as_array).map_or(0, Vec::len),
            "localToRemote": run.get("localToRemote"),
            "remoteToLocal": run.get("remoteToLocal"),
            "stderr": stderr_note,
            "log": log.map(|p| p.display().to_string()),
        }));
        f
    }
}

/// The newest file under `dirs` (modification time and path).
fn newest_source(dirs: &[PathBuf]) -> Option<(SystemTime, PathBuf)> {
    let mut best: Option<(SystemTime, PathBuf)> = None;
    let mut stack: Vec<PathBuf> = dirs.to_vec();
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                stack.push(p);
            } else if let Ok(t) = meta.modified()
                && best.as_ref().is_none_or(|(b, _)| t > *b)
            {
                best = Some((t, p));
            }
        }
    }
    best
}

// ---------------------------------------------------------------------------------------------
// The ceiling

/// A plain copy of every local document to the remote: read in batches of 1000,
/// `insert_many` each batch. Documents are copied as raw BSON, never parsed.
pub async fn ceiling_initial(place: &Place) -> Figure {
    timed(async {
        let mut read = 0u64;
        for name in COLLECTIONS {
            let from = place.local.collection::<RawDocumentBuf>(name);
            let to = place.remote.collection::<RawDocumentBuf>(name);
            let mut cursor = from.find(doc! {}).batch_size(CHUNK as u32).await?;
            let mut batch = Vec::with_capacity(CHUNK);
            while let Some(d) = cursor.try_next().await? {
                batch.push(d);
                read += 1;
                if batch.len() == CHUNK {
                    to.insert_many(std::mem::take(&mut batch)).await?;
                }
            }
            if !batch.is_empty() {
                to.insert_many(batch).await?;
            }
        }
        let reads = Reads {
            local: read,
            remote: 0,
        };
        let writes = Writes {
            to_remote: read,
            to_local: 0,
        };
        Ok((reads, writes))
    })
    .await
}

/// Work done in this process, timed: its wall time, the documents it read and wrote.
async fn timed(work: impl Future<Output = anyhow::Result<(Reads, Writes)>>) -> Figure {
    let load = load1();
    let start = Instant::now();
    let done = work.await;
    let seconds = start.elapsed().as_secs_f64();
    match done {
        Ok((reads, writes)) => Figure {
            seconds: Some(seconds),
            documents_read: Some(reads),
            writes: Some(writes),
            load1_at_start: load,
            ..Figure::default()
        },
        Err(e) => Figure::failed(format!("{e:#}")),
    }
}

/// What keeping the data model's `syncedAt`/`syncStatus` true costs at the least, on the
/// ceiling's local side right after its copy: every local document marked synced
/// (`syncedAt` = its `updatedAt`, `syncStatus: "synced"`), one `update` statement a document
/// with the cheapest filter (`_id` and `updatedAt` equality), 1000 statements to a command,
/// reading only `_id` and `updatedAt`. Any sync that marks what it synced does at least this
/// on the local server besides the copy, so the plain copy plus this is the floor for such a
/// sync (`docs/benchmarks.md`).
pub async fn marks_alone(place: &Place) -> Figure {
    timed(async {
        let (mut read, mut matched) = (0u64, 0u64);
        for name in COLLECTIONS {
            let coll = place.local.collection::<bson::Document>(name);
            let mut cursor = coll
                .find(doc! {})
                .projection(doc! {"_id": 1, "updatedAt": 1})
                .batch_size(CHUNK as u32)
                .await?;
            let mut updates = Vec::with_capacity(CHUNK);
            loop {
                let next = cursor.try_next().await?;
                let end = next.is_none();
                if let Some(d) = next {
                    read += 1;
                    let (id, at) = (d.get("_id").cloned(), d.get("updatedAt").cloned());
                    let (Some(id), Some(at)) = (id, at) else {
                        bail!("a {name} document without _id or updatedAt");
                    };
                    updates.push(Bson::Document(doc! {
                        "q": {"_id": id, "updatedAt": at.clone()},
                        "u": {"$set": {"syncedAt": at, "syncStatus": "synced"}},
                    }));
                }
                if updates.len() == CHUNK || (end && !updates.is_empty()) {
                    let reply = place
                        .local
                        .run_command(doc! {
                            "update": name,
                            "updates": std::mem::take(&mut updates),
                            "ordered": false,
                        })
                        .await?;
                    matched += match reply.get("n") {
                        Some(Bson::Int32(k)) => u64::try_from(*k)?,
                        Some(Bson::Int64(k)) => u64::try_from(*k)?,
                        other => bail!("an update reply without a count: {other:?}"),
                    };
                }
                if end {
                    break;
                }
            }
        }
        ensure!(
            matched == read,
            "marked {matched} of the {read} local documents"
        );
        let reads = Reads {
            local: read,
            remote: 0,
        };
        let writes = Writes {
            to_remote: 0,
            to_local: read,
        };
        Ok((reads, writes))
    })
    .await
}

/// The changed documents only, knowing which they are: each side's new and edited documents
/// read by id (one `$in` query per collection) and written to the other side (replace by id,
/// upsert), and each side's deletes deleted on the other (one `delete_many` per collection).
pub async fn ceiling_incremental(place: &Place, plan: &EditPlan) -> Figure {
    timed(async {
        let (local, to_remote) = copy_changes(&place.local, &place.remote, &plan.local).await?;
        let (remote, to_local) = copy_changes(&place.remote, &place.local, &plan.remote).await?;
        Ok((
            Reads { local, remote },
            Writes {
                to_remote,
                to_local,
            },
        ))
    })
    .await
}

fn by_collection(ids: impl Iterator<Item = Id>) -> BTreeMap<&'static str, Vec<Bson>> {
    let mut m: BTreeMap<&'static str, Vec<Bson>> = BTreeMap::new();
    for Id { collection, id } in ids {
        m.entry(collection).or_default().push(Bson::ObjectId(id));
    }
    m
}

/// Copies one side's changes to the other: (documents read, documents written).
async fn copy_changes(from: &Database, to: &Database, e: &SideEdits) -> anyhow::Result<(u64, u64)> {
    let (mut read, mut written) = (0, 0);
    for (name, ids) in by_collection(e.changed()) {
        let source = from.collection::<RawDocumentBuf>(name);
        let target = to.collection::<RawDocumentBuf>(name);
        let mut cursor = source.find(doc! {"_id": {"$in": ids}}).await?;
        while let Some(d) = cursor.try_next().await? {
            read += 1;
            let id = d
                .get("_id")?
                .and_then(|v| v.as_object_id())
                .context("a document without an ObjectId _id")?;
            target.replace_one(doc! {"_id": id}, d).upsert(true).await?;
            written += 1;
        }
    }
    for (name, ids) in by_collection(e.deletes.iter().copied()) {
        let r = to
            .collection::<RawDocumentBuf>(name)
            .delete_many(doc! {"_id": {"$in": ids}})
            .await?;
        written += r.deleted_count;
    }
    Ok((read, written))
}

// ---------------------------------------------------------------------------------------------
// The baseline

/// `bench/baseline.py` run by the bench venv's python.
#[derive(Debug, Clone)]
pub struct Baseline {
    pub python: PathBuf,
    pub script: PathBuf,
}

impl Baseline {
    pub async fn sync(&self, place: &Place, cwd: &Path, probe: &RssProbe) -> Figure {
        let args: Vec<OsString> = vec![
            self.script.clone().into(),
            "--local-url".into(),
            place.local_url.clone().into(),
            "--remote-url".into(),
            place.remote_url.clone().into(),
            "--db".into(),
            place.db.clone().into(),
            "--collections".into(),
            COLLECTIONS.join(",").into(),
        ];
        let load = load1();
        let m = match process::run(&self.python, &args, &[], cwd, probe).await {
            Ok(m) => m,
            Err(e) => return Figure::failed(format!("{e:#}")),
        };
        let mut f = Figure {
            seconds: Some(m.seconds),
            peak_rss_mb: m.peak_rss_kb.map(kb_to_mb),
            load1_at_start: load,
            ..Figure::default()
        };
        let out: Option<Value> = m
            .stdout
            .lines()
            .rev()
            .find_map(|l| serde_json::from_str(l).ok());
        match out {
            Some(v) if m.success => {
                let n = |a: &str, b: &str| v.get(a).and_then(|x| x.get(b)).and_then(Value::as_u64);
                let sum = |k: &str| {
                    v.get(k)
                        .and_then(Value::as_object)
                        .map(|o| o.values().filter_map(Value::as_u64).sum::<u64>())
                        .unwrap_or(0)
                };
                f.documents_read = Some(Reads {
                    local: n("documentsRead", "local").unwrap_or(0),
                    remote: n("documentsRead", "remote").unwrap_or(0),
                });
                f.writes = Some(Writes {
                    to_remote: sum("pushed"),
                    to_local: sum("pulled"),
                });
                f.inner_seconds = v.get("seconds").and_then(Value::as_f64);
                f.detail = Some(serde_json::json!({
                    "phase1Seconds": v.get("phase1Seconds"),
                    "phase2Seconds": v.get("phase2Seconds"),
                    "conflicts": sum("conflicts"),
                    "python": v.get("python"),
                    "pymongo": v.get("pymongo"),
                }));
            }
            _ => {
                f.error = Some(format!(
                    "exit {:?}: {}",
                    m.code,
                    process::tail(&format!("{}\n{}", m.stdout, m.stderr))
                ));
            }
        }
        f
    }
}
