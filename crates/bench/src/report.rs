//! What a run produces: the JSON record, the targets with PASS/FAIL, and the table for people.
//!
//! `targets` and `table` are longer than a function should be because they are lists: one
//! entry per target of the issue and one line per row of the table, in the order printed.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::contenders::{EngineBin, Figure, Reads};
use crate::data::{Comparison, Mix};
use crate::machine::{Git, LoadSummary, Machine};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub schema: u32,
    pub timestamp: String,
    pub command: Vec<String>,
    pub seed: u64,
    pub sizes: Vec<usize>,
    /// Documents per collection for each N.
    pub mix: BTreeMap<String, Mix>,
    pub batch_size: u32,
    pub edits: EditsSpec,
    pub machine: Machine,
    pub load: Option<LoadSummary>,
    pub git: Git,
    pub engine: EngineBin,
    pub servers: Servers,
    pub baseline: BaselineInfo,
    pub versions: Versions,
    pub rss_probe: String,
    pub scenarios: Vec<Scenario>,
    pub verification: Vec<Verification>,
    pub targets: Vec<Target>,
    pub wall_seconds: f64,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EditsSpec {
    pub local_edits: usize,
    pub remote_edits: usize,
    pub inserts_per_side: usize,
    pub deletes_per_side: usize,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Servers {
    /// `secantusdb` (started by the harness) or `given` (URLs on the command line).
    pub kind: String,
    pub secantusdb: Option<String>,
    /// What the server reports in `buildInfo.version`.
    pub server_version: Option<String>,
    pub layout: String,
    pub local_url: Option<String>,
    pub remote_url: Option<String>,
}

#[derive(Debug, Clone, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct BaselineInfo {
    pub script: String,
    pub python: Option<String>,
    pub pymongo: Option<String>,
    pub max_n: Option<usize>,
    /// Why it was not run at all, if so.
    pub skipped: Option<String>,
}

#[derive(Debug, Clone, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Versions {
    pub bench: String,
    /// The profile of this benchmark binary, which runs the ceiling.
    pub bench_profile: String,
    pub rustc: Option<String>,
    pub python: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum Kind {
    Initial,
    Quiet,
    Incremental,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Initial => "initial sync",
            Kind::Quiet => "quiet sync",
            Kind::Incremental => "incremental",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Scenario {
    pub scenario: Kind,
    pub n: usize,
    pub engine: Figure,
    pub ceiling: Figure,
    pub baseline: Figure,
    /// Initial sync only: every local document marked synced, alone, on the ceiling's local
    /// side after its copy ([`crate::contenders::marks_alone`]). The ceiling plus this is the
    /// floor for a sync that keeps `syncedAt`/`syncStatus` true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marks: Option<Figure>,
}

impl Scenario {
    /// The seconds of the plain copy plus marking every local document synced.
    pub fn copy_and_marks_seconds(&self) -> Option<f64> {
        let marks = self.marks.as_ref().filter(|m| m.error.is_none())?;
        Some(self.ceiling.seconds? + marks.seconds?)
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    pub n: usize,
    pub contender: String,
    /// The last scenario before the check.
    pub after: Kind,
    pub comparison: Option<Comparison>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    pub id: String,
    pub description: String,
    pub n: usize,
    pub value: Option<f64>,
    pub shown: String,
    /// `None`: not measured.
    pub pass: Option<bool>,
    /// What the servers allow, where that decides whether the target can be met at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

fn find(s: &[Scenario], kind: Kind, n: usize) -> Option<&Scenario> {
    s.iter().find(|x| x.scenario == kind && x.n == n)
}

/// The targets, evaluated at the largest N measured.
pub fn targets(scenarios: &[Scenario], n: usize) -> Vec<Target> {
    let mut out = Vec::new();
    let mut push =
        |id: &str, description: String, value: Option<f64>, shown: String, pass: Option<bool>| {
            out.push(Target {
                id: id.into(),
                description,
                n,
                value,
                shown,
                pass,
                note: None,
            })
        };
    let engine_failed = |f: &Figure| f.error.is_some();
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    };
    let fmt_ratio = |r: Option<f64>, why: &str| r.map_or(why.to_string(), |r| format!("{r:.2}x"));
    let why = |f: &Figure, other: &Figure| -> String {
        if let Some(e) = &f.error {
            return format!("engine failed: {e}");
        }
        if let Some(m) = &other.not_measured {
            return format!("not measured ({m})");
        }
        if other.error.is_some() {
            return "not measured (reference failed)".into();
        }
        "not measured".into()
    };
    let verdict = |failed: bool, r: Option<f64>, ok: &dyn Fn(f64) -> bool| {
        if failed { Some(false) } else { r.map(ok) }
    };

    if let Some(s) = find(scenarios, Kind::Initial, n) {
        let r = ratio(s.engine.docs_per_second, s.ceiling.docs_per_second);
        push(
            "initial_vs_ceiling",
            "initial sync: engine docs/s >= 0.5x the ceiling's".into(),
            r,
            fmt_ratio(r, &why(&s.engine, &s.ceiling)),
            verdict(engine_failed(&s.engine), r, &|r| r >= 0.5),
        );
        let r = ratio(s.engine.docs_per_second, s.baseline.docs_per_second);
        push(
            "initial_vs_baseline",
            "initial sync: engine docs/s >= 10x the baseline's".into(),
            r,
            fmt_ratio(r, &why(&s.engine, &s.baseline)),
            verdict(engine_failed(&s.engine), r, &|r| r >= 10.0),
        );
    }
    if let Some(s) = find(scenarios, Kind::Quiet, n) {
        let remote = s.engine.documents_read.map(|r| r.remote as f64);
        push(
            "quiet_remote_reads",
            "quiet sync: engine reads no user documents from the remote".into(),
            remote,
            remote.map_or_else(|| why(&s.engine, &s.engine), |r| format!("{r} read")),
            verdict(engine_failed(&s.engine), remote, &|r| r == 0.0),
        );
        let r = ratio(s.engine.seconds, s.baseline.seconds);
        push(
            "quiet_vs_baseline",
            "quiet sync: engine time <= 2% of the baseline's".into(),
            r,
            r.map_or_else(
                || why(&s.engine, &s.baseline),
                |r| format!("{:.2}%", r * 100.0),
            ),
            verdict(engine_failed(&s.engine), r, &|r| r <= 0.02),
        );
    }
    if let Some(s) = find(scenarios, Kind::Incremental, n) {
        let r = ratio(s.engine.seconds, s.ceiling.seconds);
        push(
            "incremental_vs_ceiling",
            "incremental sync: engine time <= 3x the ceiling's".into(),
            r,
            fmt_ratio(r, &why(&s.engine, &s.ceiling)),
            verdict(engine_failed(&s.engine), r, &|r| r <= 3.0),
        );
    }
    if let Some(s) = find(scenarios, Kind::Initial, n) {
        let mb = s.engine.peak_rss_mb;
        push(
            "initial_peak_rss",
            "initial sync: engine peak RSS < 150 MB".into(),
            mb,
            mb.map_or_else(|| why(&s.engine, &s.engine), |m| format!("{m:.1} MB")),
            verdict(engine_failed(&s.engine), mb, &|m| m < 150.0),
        );
    }
    if let Some(s) = find(scenarios, Kind::Initial, n)
        && let Some(t) = out.iter_mut().find(|t| t.id == "initial_vs_ceiling")
    {
        t.note = marks_bound(s);
    }
    out
}

/// The most an initial sync that marks every local document synced can reach against the
/// ceiling on these servers: marking alone must happen on the local server, so even with
/// everything else free and overlapped such a sync takes at least as long as the marks.
fn marks_bound(s: &Scenario) -> Option<String> {
    let ceiling = s.ceiling.seconds?;
    let marks = s.marks.as_ref().filter(|m| m.error.is_none())?.seconds?;
    let floor = s.copy_and_marks_seconds()?;
    let mut note = format!(
        "marking every local document synced alone takes {} here ({:.1}x the whole plain copy): \
         a sync that keeps syncedAt/syncStatus true reaches at most {:.2}x the ceiling \
         ({:.2}x with no overlap of copy and marks)",
        secs(marks),
        marks / ceiling,
        ceiling / marks,
        ceiling / floor,
    );
    if let Some(e) = s.engine.seconds.filter(|_| s.engine.error.is_none()) {
        let _ = write!(
            note,
            "; the engine took {:.2}x the copy + marks ({})",
            e / floor,
            secs(floor)
        );
    }
    Some(note)
}

pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn secs(s: f64) -> String {
    if s < 10.0 {
        format!("{s:.2} s")
    } else {
        format!("{s:.1} s")
    }
}

fn reads(r: Option<Reads>) -> String {
    r.map_or(String::new(), |r| {
        format!("read L {} R {}", thousands(r.local), thousands(r.remote))
    })
}

const W: usize = 34;

/// One cell of the table: time and rate, or time and documents read.
fn cell(f: &Figure, kind: Kind) -> String {
    if let Some(m) = &f.not_measured {
        return format!("- ({m})");
    }
    if let Some(e) = &f.error {
        return format!("FAILED: {}", e.chars().take(W - 9).collect::<String>());
    }
    let Some(s) = f.seconds else {
        return "-".into();
    };
    match kind {
        Kind::Initial => format!(
            "{}  {} doc/s",
            secs(s),
            thousands(f.docs_per_second.unwrap_or(0.0).round() as u64)
        ),
        _ => format!("{}  {}", secs(s), reads(f.documents_read)),
    }
}

fn rss_cell(f: &Figure) -> String {
    if f.not_measured.is_some() {
        return "-".into();
    }
    f.peak_rss_mb.map_or("-".into(), |m| format!("{m:.1} MB"))
}

fn row(out: &mut String, first: &str, cells: [String; 3]) {
    let _ = write!(out, "{first:<26}");
    for c in cells {
        let c = if c.chars().count() > W - 2 {
            c.chars().take(W - 3).collect::<String>() + "…"
        } else {
            c
        };
        let _ = write!(out, "{c:<W$}");
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
}

/// Under the initial sync: marking alone, and the copy plus marks (the floor).
fn marks_rows(out: &mut String, s: &Scenario) {
    let Some(m) = &s.marks else { return };
    row(
        out,
        "  marking alone",
        ["-".into(), cell(m, Kind::Initial), "-".into()],
    );
    if let Some(floor) = s.copy_and_marks_seconds() {
        let f = Figure {
            seconds: Some(floor),
            ..Figure::default()
        }
        .per(s.n);
        row(
            out,
            "  copy + marks (floor)",
            ["-".into(), cell(&f, Kind::Initial), "-".into()],
        );
    }
}

/// The table for people.
pub fn table(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "TempleSync benchmark {}  seed {}  batchSize {}",
        r.timestamp, r.seed, r.batch_size
    );
    let _ = writeln!(
        out,
        "engine: {} build, {}{}",
        r.engine.profile,
        r.engine.path.display(),
        r.engine
            .version
            .as_ref()
            .map_or(String::new(), |v| format!(" ({v})"))
    );
    let _ = writeln!(out, "servers: {}", r.servers.layout);
    let load = r.load.as_ref().map_or("unknown".into(), |l| {
        format!(
            "{} at start, max {} mean {} (1-min, sampled every 5 s)",
            l.at_start.map_or("?".into(), |a| format!("{:.2}", a[0])),
            l.max.map_or("?".into(), |m| format!("{m:.2}")),
            l.mean.map_or("?".into(), |m| format!("{m:.2}")),
        )
    });
    let _ = writeln!(
        out,
        "machine: {} cores, {} MiB; load {}",
        r.machine.cores,
        r.machine.memory_mib.map_or("?".into(), |m| m.to_string()),
        load
    );
    let _ = writeln!(out);
    row(
        &mut out,
        "scenario",
        [
            "engine".into(),
            "ceiling (plain copy)".into(),
            "baseline (original)".into(),
        ],
    );
    for s in &r.scenarios {
        let first = format!("{:<13}N={}", s.scenario.label(), thousands(s.n as u64));
        row(
            &mut out,
            &first,
            [
                cell(&s.engine, s.scenario),
                cell(&s.ceiling, s.scenario),
                cell(&s.baseline, s.scenario),
            ],
        );
        if s.engine.inner_seconds.is_some() || s.baseline.inner_seconds.is_some() {
            let inner = |f: &Figure| {
                f.inner_seconds
                    .map_or("-".into(), |t| format!("{} inside", secs(t)))
            };
            row(
                &mut out,
                "  own time",
                [inner(&s.engine), "-".into(), inner(&s.baseline)],
            );
        }
        marks_rows(&mut out, s);
        if s.scenario == Kind::Initial {
            row(
                &mut out,
                "  peak RSS",
                [
                    rss_cell(&s.engine),
                    "- (in the bench process)".into(),
                    rss_cell(&s.baseline),
                ],
            );
        }
    }
    if let Some(t) = r.targets.first() {
        let _ = writeln!(out);
        let _ = writeln!(out, "targets (at N={}):", thousands(t.n as u64));
        for t in &r.targets {
            let verdict = match t.pass {
                Some(true) => "PASS",
                Some(false) => "FAIL",
                None => "n/a ",
            };
            let _ = writeln!(out, "  {verdict}  {:<62} {}", t.description, t.shown);
            if let Some(note) = &t.note {
                let _ = writeln!(out, "        ({note})");
            }
        }
    }
    if !r.verification.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "checks (local vs remote content after the last scenario):"
        );
        for v in &r.verification {
            let what = match (&v.comparison, &v.error) {
                (Some(c), _) if c.converged() => format!(
                    "equal, {} documents each side",
                    thousands(c.local_documents)
                ),
                (Some(c), _) => {
                    let mut parts = vec![format!("{} equal", thousands(c.equal))];
                    if c.field_order_only > 0 {
                        parts.push(format!(
                            "{} equal but for field order",
                            thousands(c.field_order_only)
                        ));
                    }
                    for (k, what) in [
                        (c.different, "different"),
                        (c.local_only, "only local"),
                        (c.remote_only, "only remote"),
                    ] {
                        if k > 0 {
                            parts.push(format!("{} {what}", thousands(k)));
                        }
                    }
                    format!("DIFFER: {}", parts.join(", "))
                }
                (None, Some(e)) => format!("not checked: {e}"),
                (None, None) => "not checked".into(),
            };
            let _ = writeln!(
                out,
                "  N={:<8} {:<9} {}",
                thousands(v.n as u64),
                v.contender,
                what
            );
        }
    }
    for w in &r.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(100_000), "100,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    fn fig(seconds: f64, n: usize) -> Figure {
        Figure {
            seconds: Some(seconds),
            ..Figure::default()
        }
        .per(n)
    }

    #[test]
    fn targets_pass_fail_and_not_measured() {
        let n = 1000;
        let s = vec![
            Scenario {
                scenario: Kind::Initial,
                n,
                engine: Figure {
                    peak_rss_mb: Some(200.0),
                    ..fig(2.0, n)
                },
                ceiling: fig(1.5, n),
                baseline: Figure::not_measured("--skip-baseline"),
                marks: None,
            },
            Scenario {
                scenario: Kind::Incremental,
                n,
                engine: Figure {
                    error: Some("boom".into()),
                    ..fig(0.1, n)
                },
                ceiling: fig(0.1, n),
                baseline: fig(9.0, n),
                marks: None,
            },
        ];
        let t = targets(&s, n);
        let get = |id: &str| t.iter().find(|t| t.id == id).unwrap();
        assert_eq!(get("initial_vs_ceiling").pass, Some(true));
        assert_eq!(get("initial_vs_baseline").pass, None);
        assert!(get("initial_vs_baseline").shown.contains("--skip-baseline"));
        assert_eq!(
            get("incremental_vs_ceiling").pass,
            Some(false),
            "a failed engine run fails"
        );
        assert_eq!(get("initial_peak_rss").pass, Some(false));
        assert!(t.iter().all(|t| !t.id.starts_with("quiet")));
    }

    #[test]
    fn the_marks_bound_the_initial_target() {
        let n = 10_000;
        let s = Scenario {
            scenario: Kind::Initial,
            n,
            engine: fig(12.0, n),
            ceiling: fig(2.0, n),
            baseline: Figure::not_measured("--skip-baseline"),
            marks: Some(fig(8.0, n)),
        };
        assert_eq!(s.copy_and_marks_seconds(), Some(10.0));
        let t = targets(std::slice::from_ref(&s), n);
        let t = t.iter().find(|t| t.id == "initial_vs_ceiling").unwrap();
        assert_eq!(t.pass, Some(false));
        let note = t.note.as_deref().unwrap();
        assert!(
            note.contains("8.00 s here (4.0x the whole plain copy)"),
            "{note}"
        );
        assert!(note.contains("at most 0.25x the ceiling"), "{note}");
        assert!(note.contains("(0.20x with no overlap"), "{note}");
        assert!(
            note.contains("the engine took 1.20x the copy + marks (10.0 s)"),
            "{note}"
        );
        let mut table = String::new();
        marks_rows(&mut table, &s);
        assert!(table.contains("copy + marks (floor)"), "{table}");
        assert!(table.contains("10.0 s  1,000 doc/s"), "{table}");

        let failed = Scenario {
            marks: Some(Figure::failed("boom")),
            ..s
        };
        assert_eq!(failed.copy_and_marks_seconds(), None);
        let t = targets(std::slice::from_ref(&failed), n);
        assert!(t[0].note.is_none(), "no bound from a failed measurement");
    }
}
