//! `templesync-bench`: TempleSync's engine measured beside a plain copy (the ceiling) and the
//! original system's algorithm (the baseline, `bench/baseline.py`), in one run, on the same
//! servers' software and the same fixed-seed data. See `docs/benchmarks.md`.
//!
//! For each size N every contender gets its own fresh local and remote server (or its own
//! fresh database on the servers given with `--local-url/--remote-url`) holding an identical
//! copy of the data, so no contender's writes or change history touch another's. The
//! contenders run one after the other: an initial sync, and at the largest N a quiet sync
//! (nothing changed) and, after the same edits, an incremental sync.
//!
//! `run` is longer than a function should be (about 390 lines): it is the benchmark's script,
//! read top to bottom as the run happens (set up, each size and contender in turn, report),
//! and its steps share a dozen values (servers, logs, warnings, the load sampler). It is a tool
//! outside the product; splitting it is left until it changes next. It is also why this file
//! is longer than 600 lines.

mod contenders;
mod data;
mod machine;
mod process;
mod report;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail, ensure};
use clap::Parser;
use mongodb::{Client, Database};
use templesync_tests::MongoServer;

use crate::contenders::{
    Baseline, EngineBin, Figure, Place, ceiling_incremental, ceiling_initial, marks_alone,
};
use crate::data::{EditPlan, Mix};
use crate::machine::LoadSampler;
use crate::process::RssProbe;
use crate::report::{
    BaselineInfo, EditsSpec, Kind, Report, Scenario, Servers, Verification, Versions,
};

/// The incremental scenario: per side, this many edits, inserts and deletes.
const EDITS: usize = 100;
const INSERTS: usize = 5;
const DELETES: usize = 5;
/// The smallest N the scenarios make sense for (the edits need distinct documents).
const MIN_N: usize = 1000;
/// The ceiling runs in this process, so a debug build of it understates the ceiling.
const BENCH_PROFILE: &str = if cfg!(debug_assertions) {
    "debug"
} else {
    "release"
};

/// Measure TempleSync's sync engine against a plain copy (the ceiling) and the original
/// algorithm (the baseline), side by side. Build the engine first:
/// `cargo build --release -p templesync-cli`.
#[derive(Debug, Parser)]
#[command(name = "templesync-bench", version)]
struct Args {
    /// Data set sizes N (documents); the quiet and incremental scenarios run at the largest
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "10000,100000",
        value_name = "N,N"
    )]
    sizes: Vec<usize>,

    /// Seed of the synthetic data and of the edits
    #[arg(long, default_value_t = 42)]
    seed: u64,

    /// Use this local server instead of starting SecantusDB servers (needs --remote-url);
    /// each contender gets a fresh database on it
    #[arg(long, value_name = "URL", requires = "remote_url")]
    local_url: Option<String>,

    /// Use this remote server (needs --local-url)
    #[arg(long, value_name = "URL", requires = "local_url")]
    remote_url: Option<String>,

    /// Where the JSON and PNG of the run go [default: bench/results in the repository]
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,

    /// Do not run the baseline (it is slow: minutes at 100k)
    #[arg(long)]
    skip_baseline: bool,

    /// Run the baseline only for N up to this (larger N: reported as not measured)
    #[arg(long, value_name = "N")]
    baseline_max_n: Option<usize>,

    /// The engine's batchSize (`templesync config set batchSize=...`)
    #[arg(long, default_value_t = 1000, value_name = "N")]
    batch_size: u32,

    /// The templesync binary to measure [default: <target>/release/templesync beside this
    /// binary, else the debug one]
    #[arg(long, value_name = "PATH")]
    engine_bin: Option<PathBuf>,

    /// Also write bench/results/reference.{json,png} and docs/bench-chart.png (the committed
    /// reference run that the README shows)
    #[arg(long)]
    reference: bool,

    /// Run the engine with -v and keep its step-by-step log of each scenario beside the
    /// results (<out>/<timestamp>-n<N>-<scenario>.log), for profiling; -v costs a little time
    #[arg(long)]
    engine_log: bool,

    /// Keep the benchmark databases on --local-url/--remote-url (default: dropped at the end)
    #[arg(long)]
    keep_data: bool,
}

fn repo_root() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    p.canonicalize().unwrap_or(p)
}

fn log(t0: Instant, msg: impl AsRef<str>) {
    eprintln!("[{:>7.1}s] {}", t0.elapsed().as_secs_f64(), msg.as_ref());
}

/// `mongodb://user:pass@host` → `mongodb://***@host`.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}***{}", &url[..s + 3], &url[at..]),
        _ => url.to_string(),
    }
}

/// The last line `bench/setup.sh` prints: the bench venv's python.
fn setup_python(repo: &Path) -> anyhow::Result<PathBuf> {
    let out = std::process::Command::new("bash")
        .arg(repo.join("bench/setup.sh"))
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("running bench/setup.sh")?;
    ensure!(out.status.success(), "bench/setup.sh failed");
    let text = String::from_utf8_lossy(&out.stdout);
    let py = PathBuf::from(text.lines().last().unwrap_or_default().trim());
    ensure!(
        py.is_file(),
        "bench/setup.sh did not give a python ({})",
        py.display()
    );
    Ok(py)
}

/// The contenders' places for one N, and the servers that must live as long as they do.
struct Places {
    engine: Place,
    ceiling: Place,
    baseline: Option<Place>,
    _servers: Vec<MongoServer>,
    given: bool,
}

fn place_on(local: &Client, remote: &Client, local_url: &str, remote_url: &str, db: &str) -> Place {
    Place {
        local_url: local_url.to_string(),
        remote_url: remote_url.to_string(),
        db: db.to_string(),
        local: local.database(db),
        remote: remote.database(db),
    }
}

async fn places(args: &Args, n: usize, stamp: &str, with_baseline: bool) -> anyhow::Result<Places> {
    let who: Vec<&str> = if with_baseline {
        vec!["engine", "ceiling", "baseline"]
    } else {
        vec!["engine", "ceiling"]
    };
    let mut made = Vec::new();
    let mut servers = Vec::new();
    let given = args.local_url.is_some();
    if let (Some(lu), Some(ru)) = (&args.local_url, &args.remote_url) {
        let local = Client::with_uri_str(lu).await.context("the local URL")?;
        let remote = Client::with_uri_str(ru).await.context("the remote URL")?;
        for w in &who {
            let db = format!("tsbench_{stamp}_n{n}_{w}");
            for (c, side) in [(&local, "local"), (&remote, "remote")] {
                let names = c
                    .list_database_names()
                    .await
                    .with_context(|| format!("listing the {side} databases"))?;
                ensure!(
                    !names.contains(&db),
                    "database {db} already exists on the {side} server"
                );
            }
            made.push(place_on(&local, &remote, lu, ru, &db));
        }
    } else {
        let starts = (0..2 * who.len()).map(|_| MongoServer::start());
        servers = futures::future::try_join_all(starts)
            .await
            .context("starting SecantusDB servers (scripts/setup-test-deps.sh installs it)")?;
        for pair in servers.chunks(2) {
            let (l, r) = (&pair[0], &pair[1]);
            made.push(place_on(
                &l.client().await,
                &r.client().await,
                &l.url(),
                &r.url(),
                "temple_db",
            ));
        }
    }
    let mut it = made.into_iter();
    let engine = it.next().expect("engine place");
    let ceiling = it.next().expect("ceiling place");
    Ok(Places {
        engine,
        ceiling,
        baseline: it.next(),
        _servers: servers,
        given,
    })
}

impl Places {
    fn all(&self) -> Vec<(&'static str, &Place)> {
        let mut v = vec![("engine", &self.engine), ("ceiling", &self.ceiling)];
        if let Some(b) = &self.baseline {
            v.push(("baseline", b));
        }
        v
    }

    fn locals(&self) -> Vec<Database> {
        self.all().iter().map(|(_, p)| p.local.clone()).collect()
    }

    /// Drops the databases made on given servers (servers started here just go).
    async fn cleanup(self, keep: bool) {
        if self.given && !keep {
            for (_, p) in self.all() {
                let _ = p.local.drop().await;
                let _ = p.remote.drop().await;
            }
        }
    }
}

async fn server_version(db: &Database) -> Option<String> {
    let info = db
        .client()
        .database("admin")
        .run_command(bson::doc! {"buildInfo": 1})
        .await
        .ok()?;
    info.get_str("version").ok().map(str::to_string)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("templesync-bench: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let repo = repo_root();
    // The commit as the run starts (the tree may move on while a long run goes).
    let git_at_start = machine::git(&repo);
    let mut sizes = args.sizes.clone();
    sizes.sort_unstable();
    sizes.dedup();
    ensure!(!sizes.is_empty(), "no sizes given");
    if let Some(&small) = sizes.iter().find(|&&n| n < MIN_N) {
        bail!("N={small} is too small: use N >= {MIN_N}");
    }
    let largest = *sizes.last().expect("not empty");
    let now = chrono::Utc::now();
    let stamp = now.format("%Y%m%dT%H%M%SZ").to_string();
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| repo.join("bench/results"));
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let mut warnings = Vec::new();

    let engine = EngineBin::locate(args.engine_bin.clone(), &repo)?;
    log(
        t0,
        format!(
            "engine: {} build, {}",
            engine.profile,
            engine.path.display()
        ),
    );
    if engine.profile != "release" {
        let w = format!("the engine is a {} build, not release", engine.profile);
        log(t0, format!("warning: {w}"));
        warnings.push(w);
    }
    if let Some(w) = &engine.warning {
        log(t0, format!("warning: {w}"));
        warnings.push(w.clone());
    }
    if BENCH_PROFILE == "debug" {
        let w = "templesync-bench is a debug build, so the ceiling (which runs in it) is slower than it should be: use cargo run --release -p templesync-bench".to_string();
        log(t0, format!("warning: {w}"));
        warnings.push(w);
    }
    let probe = RssProbe::detect();
    log(t0, format!("peak memory: {}", probe.describe()));

    // The Python side: the baseline and the chart.
    let python = match setup_python(&repo) {
        Ok(p) => Some(p),
        Err(e) => {
            let w = format!("no bench venv ({e:#}): no baseline and no chart");
            log(t0, format!("warning: {w}"));
            warnings.push(w);
            None
        }
    };
    let mut baseline_info = BaselineInfo {
        script: "bench/baseline.py".into(),
        max_n: args.baseline_max_n,
        ..BaselineInfo::default()
    };
    let baseline = match (&python, args.skip_baseline) {
        (_, true) => {
            baseline_info.skipped = Some("--skip-baseline".into());
            None
        }
        (None, false) => {
            baseline_info.skipped = Some("no python venv (bench/setup.sh failed)".into());
            None
        }
        (Some(py), false) => Some(Baseline {
            python: py.clone(),
            script: repo.join("bench/baseline.py"),
        }),
    };
    let workdir = tempfile::tempdir()?;
    let log_for = |n: usize, scenario: &str| -> Option<PathBuf> {
        args.engine_log
            .then(|| out_dir.join(format!("{stamp}-n{n}-{scenario}.log")))
    };

    let load_start = machine::loadavg();
    let sampler = LoadSampler::start();
    let mut scenarios = Vec::new();
    let mut verification = Vec::new();
    let mut server_ver = None;

    for &n in &sizes {
        let base_for_n = match (&baseline, args.baseline_max_n) {
            (None, _) => None,
            (Some(_), Some(max)) if n > max => None,
            (Some(b), _) => Some(b),
        };
        let baseline_absent = |f: &str| -> Figure {
            Figure::not_measured(match (&baseline_info.skipped, args.baseline_max_n) {
                (Some(why), _) => why.clone(),
                (None, Some(max)) => format!("--baseline-max-n {max}"),
                (None, None) => f.to_string(),
            })
        };
        log(t0, format!("N={n}: starting servers"));
        let places = places(&args, n, &stamp, base_for_n.is_some()).await?;
        if server_ver.is_none() {
            server_ver = server_version(&places.engine.remote).await;
        }
        log(
            t0,
            format!(
                "N={n}: loading {} identical copies of the data (seed {})",
                places.all().len(),
                args.seed
            ),
        );
        let ids = data::load(args.seed, n, &places.locals()).await?;
        engine
            .configure(&places.engine, args.batch_size, workdir.path())
            .await?;

        // Each contender does its scenarios back to back: 1. the initial sync (and 4. the
        // engine's peak RSS during it), then at the largest N 2. a quiet sync and 3. the
        // edits and an incremental sync. One after the other, so that on shared servers
        // (--local-url/--remote-url) no contender's writes land in another's change history
        // between its syncs.
        let plan = if n == largest {
            Some(EditPlan::new(args.seed, &ids, EDITS, INSERTS, DELETES)?)
        } else {
            None
        };
        let apply = |who: &str| {
            log(
                t0,
                format!(
                    "N={n}: {who}: applying {EDITS}+{EDITS} edits, {INSERTS}+{INSERTS} inserts, {DELETES}+{DELETES} deletes"
                ),
            );
        };

        log(t0, format!("N={n}: engine: initial sync"));
        let e_initial = engine
            .sync(
                &places.engine,
                workdir.path(),
                &probe,
                log_for(n, "initial").as_deref(),
            )
            .await
            .per(n);
        let mut e_more = None;
        if let Some(plan) = &plan {
            log(t0, format!("N={n}: engine: quiet sync"));
            let quiet = engine
                .sync(
                    &places.engine,
                    workdir.path(),
                    &probe,
                    log_for(n, "quiet").as_deref(),
                )
                .await;
            apply("engine");
            plan.apply(
                &places.engine.local,
                &places.engine.remote,
                bson::DateTime::now(),
            )
            .await?;
            log(t0, format!("N={n}: engine: incremental sync"));
            let incremental = engine
                .sync(
                    &places.engine,
                    workdir.path(),
                    &probe,
                    log_for(n, "incremental").as_deref(),
                )
                .await;
            e_more = Some((quiet, incremental));
        }

        log(t0, format!("N={n}: ceiling: initial copy"));
        let c_initial = ceiling_initial(&places.ceiling).await.per(n);
        log(
            t0,
            format!("N={n}: marking every local document synced, alone (the ceiling's side)"),
        );
        let marks = marks_alone(&places.ceiling).await.per(n);
        let mut c_incremental = None;
        if let Some(plan) = &plan {
            apply("ceiling");
            plan.apply(
                &places.ceiling.local,
                &places.ceiling.remote,
                bson::DateTime::now(),
            )
            .await?;
            log(t0, format!("N={n}: ceiling: copying the changes"));
            c_incremental = Some(ceiling_incremental(&places.ceiling, plan).await);
        }

        let (b_initial, b_more) = match (&base_for_n, &places.baseline) {
            (Some(b), Some(p)) => {
                log(t0, format!("N={n}: baseline: initial sync"));
                let initial = b.sync(p, workdir.path(), &probe).await.per(n);
                let mut more = None;
                if let Some(plan) = &plan {
                    log(t0, format!("N={n}: baseline: quiet sync"));
                    let quiet = b.sync(p, workdir.path(), &probe).await;
                    apply("baseline");
                    plan.apply(&p.local, &p.remote, bson::DateTime::now())
                        .await?;
                    log(t0, format!("N={n}: baseline: incremental sync"));
                    let incremental = b.sync(p, workdir.path(), &probe).await;
                    more = Some((quiet, incremental));
                }
                (initial, more)
            }
            _ => (baseline_absent("not run"), None),
        };

        scenarios.push(Scenario {
            scenario: Kind::Initial,
            n,
            engine: e_initial,
            ceiling: c_initial,
            baseline: b_initial,
            marks: Some(marks),
        });
        let mut last = Kind::Initial;
        if let Some((e_quiet, e_incremental)) = e_more {
            let (b_quiet, b_incremental) =
                b_more.unwrap_or_else(|| (baseline_absent("not run"), baseline_absent("not run")));
            scenarios.push(Scenario {
                scenario: Kind::Quiet,
                n,
                engine: e_quiet,
                ceiling: Figure::not_measured("nothing to copy"),
                baseline: b_quiet,
                marks: None,
            });
            scenarios.push(Scenario {
                scenario: Kind::Incremental,
                n,
                engine: e_incremental,
                ceiling: c_incremental.unwrap_or_else(|| Figure::not_measured("not run")),
                baseline: b_incremental,
                marks: None,
            });
            last = Kind::Incremental;
        }

        log(
            t0,
            format!("N={n}: checking that each contender's two sides agree"),
        );
        for (who, p) in places.all() {
            let (comparison, error) = match data::compare(&p.local, &p.remote).await {
                Ok(c) => (Some(c), None),
                Err(e) => (None, Some(format!("{e:#}"))),
            };
            if who != "baseline" && !comparison.as_ref().is_some_and(|c| c.converged()) {
                let w = format!(
                    "N={n}: the {who}'s local and remote differ after the {last:?} sync: {comparison:?} {error:?}"
                );
                log(t0, format!("warning: {w}"));
                warnings.push(w);
            }
            verification.push(Verification {
                n,
                contender: who.into(),
                after: last,
                comparison,
                error,
            });
        }
        places.cleanup(args.keep_data).await;
    }
    for s in &scenarios {
        for (who, f) in [
            ("engine", &s.engine),
            ("ceiling", &s.ceiling),
            ("baseline", &s.baseline),
        ] {
            if let Some(e) = &f.error {
                warnings.push(format!("{:?} N={}: the {who} failed: {e}", s.scenario, s.n));
            }
        }
    }
    // The baseline's own report of its interpreter and driver.
    if let Some(d) = scenarios.iter().find_map(|s| s.baseline.detail.as_ref()) {
        baseline_info.python = d.get("python").and_then(|v| v.as_str()).map(str::to_string);
        baseline_info.pymongo = d
            .get("pymongo")
            .and_then(|v| v.as_str())
            .map(str::to_string);
    }

    let targets = report::targets(&scenarios, largest);
    let given = args.local_url.is_some();
    let report = Report {
        schema: 1,
        timestamp: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        command: std::env::args().collect(),
        seed: args.seed,
        sizes: sizes.clone(),
        mix: sizes.iter().map(|&n| (n.to_string(), Mix::of(n))).collect(),
        batch_size: args.batch_size,
        edits: EditsSpec {
            local_edits: EDITS,
            remote_edits: EDITS,
            inserts_per_side: INSERTS,
            deletes_per_side: DELETES,
        },
        machine: machine::Machine::now(),
        load: Some(sampler.summary(load_start)),
        git: git_at_start,
        engine: engine.clone(),
        servers: Servers {
            kind: if given { "given" } else { "secantusdb" }.into(),
            secantusdb: (!given).then(|| templesync_tests::SECANTUS_VERSION.to_string()),
            server_version: server_ver,
            layout: if given {
                "the servers given, a fresh database per contender and size".into()
            } else {
                format!(
                    "SecantusDB {} (default options), a fresh local+remote pair per contender and size",
                    templesync_tests::SECANTUS_VERSION
                )
            },
            local_url: args.local_url.as_deref().map(redact),
            remote_url: args.remote_url.as_deref().map(redact),
        },
        baseline: baseline_info,
        versions: Versions {
            bench: env!("CARGO_PKG_VERSION").into(),
            bench_profile: BENCH_PROFILE.into(),
            rustc: machine::version_of(Path::new("rustc"), &["--version"]),
            python: python
                .as_deref()
                .and_then(|p| machine::version_of(p, &["--version"])),
        },
        rss_probe: probe.describe(),
        scenarios,
        verification,
        targets,
        wall_seconds: t0.elapsed().as_secs_f64(),
        warnings,
    };

    print!("{}", report::table(&report));
    let json_path = out_dir.join(format!("{stamp}.json"));
    std::fs::write(&json_path, serde_json::to_string_pretty(&report)? + "\n")?;
    println!("\nresults: {}", json_path.display());
    let png_path = out_dir.join(format!("{stamp}.png"));
    let chart_ok = match &python {
        Some(py) => {
            let st = std::process::Command::new(py)
                .arg(repo.join("bench/chart.py"))
                .arg(&json_path)
                .arg(&png_path)
                .status();
            match st {
                Ok(s) if s.success() => {
                    println!("chart:   {}", png_path.display());
                    true
                }
                _ => {
                    eprintln!("warning: bench/chart.py failed: no chart");
                    false
                }
            }
        }
        None => false,
    };
    if args.reference {
        let results = repo.join("bench/results");
        std::fs::create_dir_all(&results)?;
        std::fs::copy(&json_path, results.join("reference.json"))?;
        println!("reference: {}", results.join("reference.json").display());
        if chart_ok {
            std::fs::copy(&png_path, results.join("reference.png"))?;
            std::fs::copy(&png_path, repo.join("docs/bench-chart.png"))?;
            println!(
                "reference chart: {}",
                repo.join("docs/bench-chart.png").display()
            );
        }
    }
    Ok(())
}
