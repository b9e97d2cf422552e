// The Status screen: the cloud and this computer, conflicts waiting, the run in progress
// (live, per collection) and the last run.

import { asAppError, live, subscribe } from "../app";
import { fill, h } from "../dom";
import { ago, clockTime, duration, plural, runStatusLabel, runSummary, total, triggerLabel, triggerReason, when } from "../format";
import { backend, type CloudChoice, type Pause, type SyncRun } from "../transport";

export function mountStatus(el: HTMLElement): () => void {
  let last: SyncRun | null = null;
  let loadError: string | null = null;

  const load = async () => {
    try {
      last = (await backend.syncHistory(1))[0] ?? null;
      loadError = null;
    } catch (e) {
      loadError = asAppError(e).message;
    }
    render();
  };

  const render = () => {
    const o = live.overview;
    const s = o?.status;
    const n = o?.network;
    const online = n?.isOnline ?? s?.isOnline ?? false;
    const open = s?.unresolvedConflicts ?? 0;
    const running = live.syncing || o?.state === "syncing";
    fill(
      el,
      h("h1", null, "Status"),
      h("div", { class: "cards three" },
        h("section", { class: "card" },
          h("h2", null, "Cloud database"),
          h("div", { class: `big-state ${online ? "ok" : "off"}`, "data-testid": "cloud-state" },
            h("span", { class: "dot" }), online ? "Connected" : n?.lastCheck ? "Not reachable" : "Checking…"),
          h("p", { class: "muted" }, s?.remoteHost ?? ""),
          o?.lastCheck && h("p", { class: "muted small" }, o.lastCheck),
          n?.flapping && h("p", { class: "note" }, "The connection keeps coming and going: TempleSync waits for it to settle before syncing."),
        ),
        h("section", { class: "card" },
          h("h2", null, backend.kind === "browser" ? "The office PC" : "This computer"),
          h("div", { class: `big-state ${o?.problem ? "off" : "ok"}` }, h("span", { class: "dot" }),
            o?.problem ? "Database not reachable" : "Database ready"),
          h("p", { class: "muted" }, s ? `${s.localHost} · ${s.database}` : ""),
          s && h("p", { class: "muted small" }, `${plural(s.totalSyncsCompleted, "sync")} completed so far`),
          s?.clockWarning && h("p", { class: "note" }, s.clockWarning),
        ),
        h("section", { class: `card ${open ? "attention" : ""}` },
          h("h2", null, "Conflicts"),
          h("div", { class: "big-number", "data-testid": "open-conflicts" }, String(open)),
          h("p", { class: "muted" }, open ? `${open === 1 ? "needs" : "need"} a decision` : "Nothing waiting for you"),
          open > 0 && h("a", { class: "button", href: "#conflicts" }, "Review conflicts"),
        ),
      ),
      o?.status && pauseCard(o.pausedHere),
      running && progressCard(),
      h("section", { class: "card", "data-testid": "last-run" },
        h("h2", null, "Last sync"),
        loadError && h("p", { class: "error-text" }, loadError),
        last ? lastRun(last) : h("p", { class: "muted" }, "No sync has run yet. Press Sync now to send this computer's changes to the cloud and bring the cloud's changes here."),
      ),
      checkCard,
    );
  };
  const checkCard = verifyCard();

  const off = subscribe((what) => {
    if (what === "run") void load();
    else render();
  });
  render();
  void load();
  return off;
}

function progressCard(): HTMLElement {
  const rows = [...live.progress.values()];
  return h("section", { class: "card progress", "data-testid": "progress" },
    h("h2", null, "Syncing now", live.trigger && h("span", { class: "muted" }, ` · ${triggerLabel[live.trigger]}`)),
    h("div", { class: "bar" }, h("div", { class: "bar-fill" })),
    rows.length
      ? table(["Collection", "Sent to the cloud", "Received here", "Conflicts"],
          rows.map((p) => [p.collection, p.pushed, p.pulled, p.conflicts]))
      : h("p", { class: "muted" },
          backend.kind === "browser"
            ? "Syncing on the office PC. A browser cannot follow each collection as it goes: the numbers show here when the run ends."
            : "Looking for changes on both sides…"),
  );
}

function lastRun(r: SyncRun): HTMLElement {
  const names = [...new Set([...r.collections, ...Object.keys(r.localToRemote), ...Object.keys(r.remoteToLocal)])];
  return h("div", null,
    h("p", { class: "run-line" },
      h("span", { class: `pill ${r.status}` }, runStatusLabel[r.status]),
      ` ${ago(r.endTime ?? r.startTime)} (${when(r.endTime ?? r.startTime)})`,
      r.durationSeconds !== null && ` · took ${duration(r.durationSeconds)}`,
      `, because ${triggerReason[r.trigger]}`,
    ),
    h("p", null, runSummary(r)),
    r.error && h("p", { class: "error-text" }, r.error),
    r.errorCode === "cloud_changed" && cloudChoice(),
    names.length > 0 && total(r.localToRemote) + total(r.remoteToLocal) + total(r.conflicts) > 0 &&
      table(["Collection", "Sent to the cloud", "Received here", "Conflicts"],
        names.map((c) => [c, r.localToRemote[c] ?? 0, r.remoteToLocal[c] ?? 0, r.conflicts[c] ?? 0])),
  );
}

/** Pause syncing on this computer only (the other computers go on), or resume. */
function pauseCard(paused: Pause | null): HTMLElement {
  const out = h("p", { class: "muted", role: "status" });
  const act = (what: () => Promise<void>) => async () => {
    try {
      await what();
      out.textContent = "";
    } catch (e) {
      out.textContent = asAppError(e).message;
    }
  };
  const where = backend.kind === "browser" ? "the office PC" : "this computer";
  return h("section", { class: `card ${paused ? "attention" : ""}`, "data-testid": "pause" },
    h("h2", null, paused ? "Syncing is paused" : "Pause syncing"),
    paused
      ? h("p", null, paused.until
          ? `Nothing syncs by itself on ${where} until ${clockTime(paused.until)}. Sync now still works.`
          : `Nothing syncs by itself on ${where} until you resume. Sync now still works.`)
      : h("p", { class: "muted" }, `Stops syncing by itself on ${where} only; the other computers go on.`),
    paused
      ? h("button", { class: "primary", "data-testid": "resume", onclick: act(() => backend.resume()) }, "Resume syncing")
      : h("div", { class: "row" },
          h("button", { "data-testid": "pause-hour", onclick: act(() => backend.pause(60)) }, "Pause for 1 hour"),
          h("button", { "data-testid": "pause-until", onclick: act(() => backend.pause(null)) }, "Pause until I resume")),
    out,
  );
}

/** "Do both sides hold the same?": a check by content that changes nothing. */
function verifyCard(): HTMLElement {
  const out = h("div", { role: "status", "aria-live": "polite", "data-testid": "verify-result" });
  const run = async (repair: boolean) => {
    fill(out, h("p", { class: "muted" }, "Comparing every record on both sides…"));
    try {
      const r = await backend.verify(repair);
      fill(out,
        h("p", { class: r.matches ? "ok-text" : "warn-text" }, r.summary),
        !r.matches && table(["Collection", "Only here", "Only in the cloud", "Different"],
          r.collections.filter((c) => !c.matches).map((c) => [c.collection, c.onlyLocal, c.onlyRemote, c.different])),
        r.queued > 0 && h("p", null, `${r.queued} records are listed for the next sync.`),
        !r.matches && r.queued === 0 && h("button", { "data-testid": "verify-repair", onclick: () => void run(true) }, "List them for the next sync"),
      );
    } catch (e) {
      fill(out, h("p", { class: "error-text" }, asAppError(e).message));
    }
  };
  return h("section", { class: "card", "data-testid": "verify" },
    h("h2", null, "Check both sides"),
    h("p", { class: "muted" }, "Compares every record here with the cloud's. Nothing is changed."),
    h("button", { "data-testid": "verify-run", onclick: () => void run(false) }, "Check now"),
    out,
  );
}

/** The two ways on when the cloud is not the one this computer last synced with. */
function cloudChoice(): HTMLElement {
  const status = h("p", { class: "muted", role: "status" });
  const choose = (choice: CloudChoice, done: string) => async () => {
    try {
      await backend.chooseCloud(choice);
      status.textContent = done;
    } catch (e) {
      status.textContent = asAppError(e).message;
    }
  };
  return h("div", { class: "card attention", "data-testid": "cloud-choice" },
    h("h3", null, "What should the next sync do?"),
    h("div", { class: "choice" },
      h("div", { class: "choice-text" },
        h("h3", null, "Treat this cloud as new"),
        h("p", null, "Send this computer's records to it and bring the cloud's here. Nothing is deleted on either side; a record that differs on the two sides is shown under Conflicts.")),
      h("button", { class: "primary", "data-testid": "cloud-send-local",
        onclick: choose("send_local", "Done. Press Sync now (or wait for the next sync) to send this computer's records.") }, "Send this computer's data")),
    h("div", { class: "choice" },
      h("div", { class: "choice-text" },
        h("h3", null, "Accept the cloud as it is now"),
        h("p", null, "Records the cloud no longer has are removed from this computer (many at once are held for you first); records it has in an older version come back here.")),
      h("button", { "data-testid": "cloud-accept",
        onclick: choose("accept_cloud", "Done. Press Sync now (or wait for the next sync) to take the cloud's records.") }, "Accept the cloud")),
    status,
  );
}

export function table(head: string[], rows: (string | number)[][]): HTMLElement {
  const numeric = head.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === "number"));
  return h("table", { class: "grid" },
    h("thead", null, h("tr", null, head.map((t, i) => h("th", { class: numeric[i] ? "num" : "" }, t)))),
    h("tbody", null, rows.map((r) => h("tr", null, r.map((c) => h("td", { class: typeof c === "number" ? "num" : "" }, String(c)))))),
  );
}
