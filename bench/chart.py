#!/usr/bin/env python3
"""The chart of one benchmark run: engine vs baseline vs ceiling.

Usage: chart.py RESULTS.json OUT.png   (run with the bench venv's python: bench/setup.sh)

Left: wall time of each scenario (log scale; lower is better); on the ceiling's initial
sync, hatched, marking every local document synced alone (copy + marks: the floor of a sync
that keeps syncedAt/syncStatus true). Right: the peak resident
memory of the engine and the baseline processes during the initial syncs, with the 150 MB
target. A contender that was not measured has no bar and says so.
"""

import json
import sys
from textwrap import wrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"engine": "#1b7837", "ceiling": "#4575b4", "baseline": "#d73027"}
LABELS = {
    "engine": "engine (templesync)",
    "ceiling": "ceiling (plain copy)",
    "baseline": "baseline (original algorithm)",
}
WHO = ["engine", "ceiling", "baseline"]
MARKS_LABEL = "+ marking every local document synced (copy + marks: the floor)"


def short_n(n):
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def fmt_s(s):
    if s < 1:
        return f"{s * 1000:.0f} ms"
    if s < 10:
        return f"{s:.2f} s"
    return f"{s:.0f} s"


def main():
    src, out = sys.argv[1], sys.argv[2]
    with open(src) as f:
        r = json.load(f)
    scenarios = r["scenarios"]
    names = {"initial": "initial sync", "quiet": "quiet sync", "incremental": "incremental"}

    fig, (ax, bx) = plt.subplots(
        1, 2, figsize=(13, 6.4), gridspec_kw={"width_ratios": [3.2, 1.3]}
    )
    width = 0.26
    ticks = []
    marks_shown = False
    for i, s in enumerate(scenarios):
        ticks.append(f"{names[s['scenario']]}\nN={short_n(s['n'])}")
        for j, who in enumerate(WHO):
            fig_ = s[who]
            x = i + (j - 1) * width
            secs = fig_.get("seconds")
            marks = (s.get("marks") or {}) if who == "ceiling" else {}
            if secs is not None and not fig_.get("error"):
                ax.bar(x, secs, width, color=COLORS[who], label=LABELS[who] if i == 0 else None)
                top = secs
                if marks.get("seconds") is not None and not marks.get("error"):
                    # The floor of a sync that marks what it synced: the copy plus the marks.
                    top = secs + marks["seconds"]
                    ax.bar(x, marks["seconds"], width, bottom=secs, color="white",
                           edgecolor=COLORS[who], hatch="///", linewidth=0.8,
                           label=MARKS_LABEL if not marks_shown else None)
                    marks_shown = True
                ax.annotate(
                    fmt_s(secs) if top == secs else f"{fmt_s(secs)}\n+{fmt_s(marks['seconds'])}",
                    (x, top), ha="center", va="bottom", fontsize=7.5,
                    xytext=(0, 2), textcoords="offset points",
                )
            else:
                why = "failed" if fig_.get("error") else "not\nmeasured"
                if who == "ceiling" and s["scenario"] == "quiet":
                    why = "nothing\nto copy"
                ax.bar(x, 0, width, color=COLORS[who], label=LABELS[who] if i == 0 else None)
                ax.annotate(
                    why, (x, 0), ha="center", va="bottom", fontsize=7, color="#555",
                    xycoords=("data", "axes fraction"), xytext=(0, 3), textcoords="offset points",
                )
    ax.set_yscale("log")
    ax.set_xticks(range(len(scenarios)))
    ax.set_xticklabels(ticks)
    ax.set_ylabel("wall time, seconds (log scale; lower is better)")
    ax.set_title("Sync wall time")
    ax.grid(axis="y", which="major", alpha=0.3)
    ax.legend(loc="upper left", fontsize=7.5, ncol=2)
    ymin, ymax = ax.get_ylim()
    ax.set_ylim(ymin, ymax * 60)  # room for the legend above the tallest bar

    initial = [s for s in scenarios if s["scenario"] == "initial"]
    for i, s in enumerate(initial):
        for j, who in enumerate(["engine", "baseline"]):
            mb = s[who].get("peakRssMb")
            x = i + (j - 0.5) * 0.36
            if mb is not None:
                bx.bar(x, mb, 0.36, color=COLORS[who])
                bx.annotate(
                    f"{mb:.0f} MB", (x, mb), ha="center", va="bottom", fontsize=7.5,
                    xytext=(0, 2), textcoords="offset points",
                )
            else:
                bx.annotate(
                    "not\nmeasured", (x, 0), ha="center", va="bottom", fontsize=7, color="#555",
                    xytext=(0, 3), textcoords="offset points",
                )
    bx.axhline(150, color="#333", linestyle="--", linewidth=1)
    bx.annotate("150 MB target", (0, 150), xycoords=("axes fraction", "data"), ha="left",
                va="bottom", fontsize=7.5, xytext=(2, 2), textcoords="offset points")
    bx.set_xticks(range(len(initial)))
    bx.set_xticklabels([f"initial sync\nN={short_n(s['n'])}" for s in initial])
    bx.set_ylabel("peak RSS of the process, MB")
    bx.set_title("Peak memory")
    bx.grid(axis="y", alpha=0.3)
    bx.set_ylim(0, max([150] + [s[w].get("peakRssMb") or 0 for s in initial for w in ("engine", "baseline")]) * 1.2)

    targets = r.get("targets") or []
    bottom = 0.03
    if targets:
        mark = {True: "PASS", False: "FAIL", None: "n/a"}
        lines = [f"Targets at N={targets[0]['n']:,}:"]
        for t in targets:
            lines.append(f"  {mark[t.get('pass')]:<4}  {t['description']:<62} {t['shown']}")
            if t.get("note"):
                lines.extend("        " + part for part in wrap(t["note"], 120))
        fig.text(0.02, 0.045, "\n".join(lines), ha="left", va="bottom", fontsize=7.5,
                 family="monospace")
        bottom = 0.03 + 0.0245 * len(lines)

    load = (r.get("load") or {})
    load_s = ""
    if load.get("max") is not None:
        load_s = f", load max {load['max']:.1f}"
    commit = ((r.get("git") or {}).get("commit") or "")[:10]
    fig.suptitle(
        f"TempleSync benchmark {r['timestamp']}  (seed {r['seed']}, batchSize {r['batchSize']}, "
        f"engine {r['engine']['profile']} build, {r['machine']['cores']} cores{load_s}"
        + (f", commit {commit}" if commit else "")
        + ")",
        fontsize=9.5,
    )
    fig.text(0.5, 0.005, r["servers"]["layout"], ha="center", fontsize=7.5, color="#555")
    fig.tight_layout(rect=(0, bottom, 1, 0.95))
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main()
