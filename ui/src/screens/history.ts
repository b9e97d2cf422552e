// The History screen: every run from `sync_logs`, newest first; a click shows its details.

import { asAppError, subscribe } from "../app";
import { fill, h } from "../dom";
import { advice, ago, duration, runStatusLabel, total, triggerLabel, when } from "../format";
import { backend, type SyncRun } from "../transport";
import { table } from "./status";

export function mountHistory(el: HTMLElement): () => void {
  let runs: SyncRun[] = [];
  let open: string | null = null;
  let error: string | null = null;
  let loaded = false;

  const load = async () => {
    try {
      runs = await backend.syncHistory(100);
      error = null;
    } catch (e) {
      error = asAppError(e).message;
    }
    loaded = true;
    render();
  };

  const render = () => {
    fill(
      el,
      h("div", { class: "title-row" },
        h("h1", null, "History"),
        h("button", { onclick: () => void load() }, "Refresh"),
      ),
      h("p", { class: "lead" }, "Every sync, newest first. Click one to see what it did."),
      error && h("p", { class: "error-text" }, error),
      loaded && runs.length === 0 && !error && h("div", { class: "card empty" }, "No sync has run yet."),
      runs.length > 0 &&
        h("table", { class: "grid history", "data-testid": "history" },
          h("thead", null,
            h("tr", null,
              ["When", "Started by", "Result"].map((t) => h("th", null, t)),
              ["Sent", "Received", "Conflicts", "Took"].map((t) => h("th", { class: "num" }, t)),
            ),
          ),
          h("tbody", null, runs.flatMap((r) => row(r))),
        ),
    );
  };

  const row = (r: SyncRun): HTMLElement[] => {
    const isOpen = open === r._id;
    const tr = h("tr", {
      class: `run ${isOpen ? "open" : ""}`,
      "data-testid": "history-row",
      "data-trigger": r.trigger,
      "data-status": r.status,
      tabindex: 0,
      onclick: () => {
        open = isOpen ? null : r._id;
        render();
      },
    },
      h("td", { title: when(r.startTime) }, h("div", null, ago(r.startTime)), h("div", { class: "muted small" }, when(r.startTime))),
      h("td", null, triggerLabel[r.trigger]),
      h("td", null, h("span", { class: `pill ${r.status}` }, runStatusLabel[r.status])),
      h("td", { class: "num" }, String(total(r.localToRemote))),
      h("td", { class: "num" }, String(total(r.remoteToLocal))),
      h("td", { class: `num ${total(r.conflicts) ? "warn" : ""}` }, String(total(r.conflicts))),
      h("td", { class: "num" }, duration(r.durationSeconds)),
    );
    if (!isOpen) return [tr];
    return [tr, h("tr", { class: "details" }, h("td", { colspan: 7 }, details(r)))];
  };

  const off = subscribe((what) => {
    if (what === "run") void load();
  });
  render();
  void load();
  return off;
}

function details(r: SyncRun): HTMLElement {
  const names = [...new Set([...r.collections, ...Object.keys(r.localToRemote), ...Object.keys(r.remoteToLocal)])];
  const extra = r.errorCode ? advice(r.errorCode) : null;
  return h("div", { class: "run-details", "data-testid": "run-details" },
    h("p", null,
      `Started ${when(r.startTime)}`,
      r.endTime && `, ended ${when(r.endTime)}`,
      r.host && ` on ${r.host}`, "."),
    r.error && h("div", { class: "problem" },
      h("strong", null, "What went wrong: "), r.error, extra && h("div", null, extra)),
    names.length > 0
      ? table(["Collection", "Sent to the cloud", "Received here", "Conflicts"],
          names.map((c) => [c, r.localToRemote[c] ?? 0, r.remoteToLocal[c] ?? 0, r.conflicts[c] ?? 0]))
      : h("p", { class: "muted" }, "No collections were looked at."),
    r.errors.length > 0 && h("div", null,
      h("h3", null, "Records that could not be synced"),
      h("ul", null, r.errors.map((e) => h("li", null, `${e.collection} ${e.documentId}: ${e.message}`))),
    ),
  );
}
