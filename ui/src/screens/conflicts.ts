// The Conflicts screen: the list (open ones, or all on a filter) and one conflict side by
// side with the buttons to settle it.

import { asAppError, go, live, subscribe, syncNow } from "../app";
import { fill, h } from "../dom";
import { ago, kindExplanation, kindTitle, plural, valueText, when } from "../format";
import { AppError, backend, type AutoResolveReport, type Choice, type Conflict, type ResolveOutcome, type Value } from "../transport";

export function mountConflicts(el: HTMLElement, id?: string): () => void {
  return id ? mountOne(el, id) : mountList(el);
}

// ---- The list ----

let showResolved = false;

function mountList(el: HTMLElement): () => void {
  let list: Conflict[] = [];
  let error: string | null = null;
  let loaded = false;
  let report: AutoResolveReport | null = null;
  let busy = false;
  let lastCount = live.overview?.status?.unresolvedConflicts;

  const load = async () => {
    try {
      list = await backend.conflicts(showResolved);
      error = null;
    } catch (e) {
      error = asAppError(e).message;
    }
    loaded = true;
    render();
  };

  const autoResolve = async () => {
    busy = true;
    render();
    try {
      report = await backend.autoResolve();
      error = null;
    } catch (e) {
      error = asAppError(e).message;
    }
    busy = false;
    await load();
  };

  const render = () => {
    const open = list.filter((c) => !c.resolved).length;
    fill(
      el,
      h("div", { class: "title-row" },
        h("h1", null, "Conflicts"),
        h("div", { class: "segmented" },
          h("button", { class: showResolved ? "" : "on", "data-testid": "filter-open", onclick: () => { showResolved = false; void load(); } }, "Waiting for a decision"),
          h("button", { class: showResolved ? "on" : "", "data-testid": "filter-all", onclick: () => { showResolved = true; void load(); } }, "All, with resolved"),
        ),
      ),
      h("p", { class: "lead" },
        "When the same record changed on this computer and in the cloud, or a name is already taken, TempleSync does not guess: it waits for you. Nothing is lost while it waits."),
      open > 0 && h("div", { class: "toolbar" },
        h("button", { "data-testid": "auto-resolve", disabled: busy, onclick: () => void autoResolve() }, busy ? "Working…" : "Auto-resolve"),
        h("span", { class: "muted" }, "Settles the simple cases (a name created in the last hour is renamed; an edit whose cloud version is newer keeps the cloud's) and leaves the rest for you."),
      ),
      report && h("div", { class: "banner info", "data-testid": "auto-report" },
        `${plural(report.resolved, "conflict")} settled, ${report.skipped} left for you`,
        report.failed ? `, ${report.failed} could not be settled` : "", ".",
        report.resolved > 0 && h("button", { class: "primary", onclick: () => void syncNow() }, "Sync now")),
      error && h("p", { class: "error-text" }, error),
      loaded && list.length === 0 && !error &&
        h("div", { class: "card empty", "data-testid": "no-conflicts" },
          h("div", { class: "empty-mark" }, "✓"),
          showResolved ? "No conflicts have been recorded." : "No conflicts are waiting. Everything that changed could be synced."),
      h("div", { class: "conflict-list" }, list.map(item)),
    );
  };

  const off = subscribe((what) => {
    // Reload when a run or a resolution elsewhere changed the number waiting.
    const n = live.overview?.status?.unresolvedConflicts;
    if (what === "overview" && n !== lastCount) {
      lastCount = n;
      void load();
    }
  });
  render();
  void load();
  return off;
}

function item(c: Conflict): HTMLElement {
  return h("button", {
    class: `conflict-item ${c.resolved ? "resolved" : ""}`,
    "data-testid": "conflict-row",
    "data-kind": c.type,
    "data-collection": c.collection,
    "data-id": c._id,
    onclick: () => go(`#conflicts/${encodeURIComponent(c._id)}`),
  },
    h("div", { class: "ci-head" },
      h("span", { class: `kind ${c.type}` }, kindTitle[c.type]),
      h("span", { class: "muted" }, ago(c.timestamp)),
    ),
    h("div", { class: "ci-where" }, h("strong", null, c.collection), c.field && ` · ${c.field}`),
    c.type === "unique"
      ? h("div", { class: "ci-values" }, h("span", null, `"${valueText(c.localValue)}" is used by a different record in the cloud`))
      : h("div", { class: "ci-values" },
          h("span", null, h("span", { class: "side local" }, "This computer"), " ", valueText(c.localValue)),
          h("span", null, h("span", { class: "side cloud" }, "Cloud"), " ", valueText(c.remoteValue)),
        ),
    c.resolved && h("div", { class: "ci-resolved" },
      `Resolved${c.resolution ? `: ${c.resolution.replace(/_/g, " ")}` : ""}${c.resolvedBy ? ` by ${c.resolvedBy}` : ""}${c.resolvedAt ? `, ${ago(c.resolvedAt)}` : ""}`),
  );
}

// ---- One conflict ----

function mountOne(el: HTMLElement, id: string): () => void {
  let c: Conflict | null = null;
  let error: AppError | null = null;
  let done: ResolveOutcome | null = null;
  let busy = false;
  let confirmKeepLocal = false;
  let confirmDelete: "keep_local" | "keep_remote" | null = null;
  let syncedAfter = false;

  const load = async () => {
    try {
      c = await backend.conflict(id);
      error = null;
    } catch (e) {
      error = asAppError(e);
    }
    render();
  };

  const resolve = async (choice: Choice) => {
    busy = true;
    error = null;
    render();
    try {
      done = await backend.resolveConflict(id, choice);
      c = await backend.conflict(id).catch(() => c);
      const prefs = await backend.preferences().catch(() => null);
      if (prefs?.syncAfterResolve) {
        syncedAfter = true;
        void syncNow();
      }
    } catch (e) {
      error = asAppError(e);
    }
    busy = false;
    render();
  };

  const render = () => {
    fill(
      el,
      h("a", { href: "#conflicts", class: "back", "data-testid": "back-to-list" }, "← All conflicts"),
      !c && !error && h("p", { class: "muted" }, "Loading…"),
      !c && error && h("p", { class: "error-text" }, error.message),
      c && detail(c),
    );
  };

  const detail = (c: Conflict): HTMLElement =>
    h("div", { class: "conflict-detail", "data-testid": "conflict-detail", "data-kind": c.type },
      h("h1", null, kindTitle[c.type]),
      h("p", { class: "muted" },
        h("strong", null, c.collection), c.field && ` · ${c.field}`, ` · found ${ago(c.timestamp)} (${when(c.timestamp)})`),
      h("p", { class: "lead" }, kindExplanation(c)),
      compare(c),
      done
        ? resolvedBanner(done)
        : c.resolved
          ? h("div", { class: "banner info" },
              `Already resolved${c.resolution ? ` (${c.resolution.replace(/_/g, " ")})` : ""}${c.resolvedBy ? ` by ${c.resolvedBy}` : ""}${c.resolvedAt ? `, ${ago(c.resolvedAt)}` : ""}.`,
              c.resolutionNotes && ` Note: ${c.resolutionNotes}`)
          : actions(c),
    );

  const resolvedBanner = (o: ResolveOutcome): HTMLElement =>
    h("div", { class: "banner success", "data-testid": "resolved-banner" },
      h("div", { class: "banner-title" }, "Decision saved"),
      h("p", null, o.message.replace(/^Conflict resolved using \w+ strategy\. /, "")),
      syncedAfter
        ? h("p", null, live.syncing ? "Syncing now…" : "Synced.")
        : h("p", null, "Sync now to carry it out at once, or let TempleSync do it with the next sync."),
      h("div", { class: "row" },
        !syncedAfter && h("button", {
          class: "primary", "data-testid": "offer-sync", disabled: live.syncing,
          onclick: () => { syncedAfter = true; void syncNow().then(render); render(); },
        }, "Sync now"),
        h("a", { class: "button", href: "#conflicts" }, "Back to conflicts"),
      ),
    );

  const actions = (c: Conflict): HTMLElement => {
    const notes = h("input", { type: "text", class: "wide", placeholder: "Why (optional, kept with the decision)", "data-testid": "notes" });
    const note = () => notes.value.trim() || null;
    const err = error && h("p", { class: "error-text", "data-testid": "resolve-error" }, error.message);
    const field = c.field ?? "value";
    const blocks: HTMLElement[] = [];

    if (c.type === "unique") {
      const suggested = typeof c.suggestedValue === "string" ? c.suggestedValue : "";
      const input = h("input", { type: "text", class: "wide mono", value: suggested, "data-testid": "rename-input", "aria-label": `New ${field}` });
      const hint = h("p", { class: "field-error" });
      const rename = () => {
        const v = input.value.trim();
        if (!v) return void (hint.textContent = `Type a new ${field} for this computer's record.`);
        if (v === valueText(c.localValue)) return void (hint.textContent = `"${v}" is the ${field} already taken in the cloud: choose another.`);
        hint.textContent = "";
        void resolve({ strategy: "rename_local", value: { kind: "text", value: v }, notes: note() });
      };
      blocks.push(
        h("div", { class: "choice recommended" },
          h("div", { class: "choice-text" },
            h("h3", null, "Rename this computer's record ", h("span", { class: "tag" }, "usual choice")),
            h("p", null, `Give this computer's record a new ${field}. TempleSync checks that nobody uses it before accepting it.`),
            h("label", { class: "field" }, h("span", null, `New ${field}`), input),
            hint,
            err,
          ),
          h("button", { class: "primary", "data-testid": "rename-local", disabled: busy, onclick: rename }, "Rename local"),
        ),
        h("div", { class: "choice" },
          h("div", { class: "choice-text" },
            h("h3", null, "Keep the cloud's record"),
            h("p", null, `Undo this computer's record; the cloud's record keeps the ${field}. This computer's version is kept in the conflict's record.`),
          ),
          h("button", { "data-testid": "keep-remote", disabled: busy, onclick: () => void resolve({ strategy: "keep_remote", value: null, notes: note() }) }, "Keep remote"),
        ),
        h("div", { class: "choice" },
          h("div", { class: "choice-text" },
            h("h3", null, "Keep this computer's record"),
            h("p", null, `This computer's record keeps the ${field}; the cloud's record that holds it is deleted on both sides by the next sync.`),
            confirmKeepLocal && h("p", { class: "warn-text" }, "Are you sure? The cloud's record will be deleted (a copy stays in the conflict's record)."),
          ),
          confirmKeepLocal
            ? h("div", { class: "column" },
                h("button", { class: "danger", "data-testid": "keep-local-confirm", disabled: busy, onclick: () => void resolve({ strategy: "keep_local", value: null, notes: note() }) }, "Yes, keep local"),
                h("button", { onclick: () => { confirmKeepLocal = false; render(); } }, "Cancel"))
            : h("button", { "data-testid": "keep-local", disabled: busy, onclick: () => { confirmKeepLocal = true; render(); } }, "Keep local"),
        ),
      );
    } else {
      const deleted = c.type === "delete" || c.type === "bulk";
      const many = c.type === "bulk" ? `these ${c.count ?? ""} records`.replace("  ", " ") : "the record";
      const localText = c.type === "bulk"
        ? c.deletedOn === "local" ? `Keep the deletion: ${many} are deleted in the cloud too.` : `Put ${many} back in the cloud from this computer.`
        : deleted
        ? c.deletedOn === "local" ? "Keep the deletion: the record is deleted in the cloud too." : "Keep this computer's version: it is put back in the cloud."
        : fieldsOf(c).length === 1
          ? "Use this computer's value; the cloud gets it with the next sync."
          : `Use this computer's ${fieldsOf(c).length} values; the cloud gets them with the next sync.`;
      const remoteText = c.type === "bulk"
        ? c.deletedOn === "local" ? `Bring ${many} back to this computer from the cloud.` : `Delete ${many} here too, as in the cloud.`
        : deleted
        ? c.deletedOn === "local" ? "Bring the cloud's version back to this computer." : "Delete it here too, as in the cloud (a copy stays in the conflict's record)."
        : fieldsOf(c).length === 1
          ? "Use the cloud's value on this computer."
          : `Use the cloud's ${fieldsOf(c).length} values on this computer.`;
      // Carrying out held mass deletes asks once more: it deletes many records at once.
      const deletes = (strategy: "keep_local" | "keep_remote") =>
        c.type === "bulk" && (strategy === "keep_local") === (c.deletedOn === "local");
      const choice = (strategy: "keep_local" | "keep_remote", title: string, text: string, label: string) => {
        const testid = strategy === "keep_local" ? "keep-local" : "keep-remote";
        const go = () => void resolve({ strategy, value: null, notes: note() });
        const where = strategy === "keep_local" ? "in the cloud" : "on this computer";
        const asking = confirmDelete === strategy;
        return h("div", { class: "choice" },
          h("div", { class: "choice-text" },
            h("h3", null, title),
            h("p", null, text),
            asking && h("p", { class: "warn-text", "data-testid": "confirm-delete-text" }, `Are you sure? ${c.count ?? "These"} records will be deleted ${where}. Their ids stay in this conflict's record.`),
          ),
          asking
            ? h("div", { class: "column" },
                h("button", { class: "danger", "data-testid": `${testid}-confirm`, disabled: busy, onclick: go }, `Yes, delete ${c.count ?? ""} records`.replace("  ", " ")),
                h("button", { onclick: () => { confirmDelete = null; render(); } }, "Cancel"))
            : h("button", { "data-testid": testid, disabled: busy, onclick: deletes(strategy) ? () => { confirmDelete = strategy; render(); } : go }, label),
        );
      };
      blocks.push(
        choice("keep_local", "This computer's version", localText, "Keep local"),
        choice("keep_remote", "The cloud's version", remoteText, "Keep remote"),
      );
      if (!deleted) blocks.push(mergeBlock(c, busy, (choice) => void resolve({ ...choice, notes: note() })));
      if (err) blocks.push(err);
    }
    return h("section", { class: "card decide" },
      h("h2", null, "Your decision"),
      blocks,
      h("label", { class: "field" }, h("span", null, "Note"), notes),
    );
  };

  const off = subscribe((what) => {
    if (done && what === "activity") render();
  });
  void load();
  return off;
}

/** The fields in conflict, with both sides' values. */
function fieldsOf(c: Conflict): { path: string; local: Value; remote: Value }[] {
  if (c.fields.length) return c.fields.map((f) => ({ path: f.path, local: f.local, remote: f.remote }));
  return c.field ? [{ path: c.field, local: c.localValue, remote: c.remoteValue }] : [];
}

function mergeBlock(c: Conflict, busy: boolean, done: (choice: Omit<Choice, "notes">) => void): HTMLElement {
  const fields = fieldsOf(c);
  const picks = fields.map((f, i) => {
    const name = `merge-${i}`;
    const typed = h("input", { type: "text", class: "mono", placeholder: "Type a value", "data-testid": `merge-typed-${f.path}`, oninput: () => ((document.getElementById(`${name}-typed`) as HTMLInputElement).checked = true) });
    return {
      f,
      typed,
      el: h("fieldset", { class: "merge-field" },
        h("legend", null, f.path),
        h("label", null, h("input", { type: "radio", name, value: "local", checked: true }), h("span", { class: "side local" }, "This computer"), " ", valueText(f.local)),
        h("label", null, h("input", { type: "radio", name, value: "remote" }), h("span", { class: "side cloud" }, "Cloud"), " ", valueText(f.remote)),
        h("label", null, h("input", { type: "radio", name, value: "typed", id: `${name}-typed` }), "Another value: ", typed),
      ),
      pick: () => (document.querySelector(`input[name=${name}]:checked`) as HTMLInputElement | null)?.value ?? "local",
    };
  });
  const merge = () => {
    if (fields.length === 1) {
      const p = picks[0];
      const which = p.pick();
      done({
        strategy: "merge",
        value: which === "typed" ? { kind: "text", value: p.typed.value } : { kind: "json", value: which === "local" ? p.f.local : p.f.remote },
      });
      return;
    }
    const obj: Record<string, Value> = {};
    for (const p of picks) {
      const which = p.pick();
      obj[p.f.path] = which === "typed" ? like(p.typed.value, p.f.local) : which === "local" ? p.f.local : p.f.remote;
    }
    done({ strategy: "merge", value: { kind: "json", value: obj } });
  };
  return h("div", { class: "choice merge" },
    h("div", { class: "choice-text" },
      h("h3", null, "Combine them"),
      h("p", null, "For each field, pick a side or type the value to keep."),
      picks.map((p) => p.el),
    ),
    h("button", { "data-testid": "merge", disabled: busy, onclick: merge }, "Merge"),
  );
}

/** A typed value, with the type of the value it replaces (a number stays a number). */
function like(text: string, old: Value): Value {
  if (typeof old === "number" && text.trim() !== "" && !Number.isNaN(Number(text))) return Number(text);
  if (typeof old === "boolean" && (text === "true" || text === "false")) return text === "true";
  return text;
}

// ---- Side by side ----

function flatten(v: Value, prefix = "", out: Map<string, Value> = new Map()): Map<string, Value> {
  if (v && typeof v === "object" && !Array.isArray(v) && !("$date" in v) && !("$oid" in v)) {
    for (const [k, x] of Object.entries(v)) flatten(x, prefix ? `${prefix}.${k}` : k, out);
  } else if (prefix) {
    out.set(prefix, v);
  }
  return out;
}

function compare(c: Conflict): HTMLElement {
  if (c.type === "bulk") {
    return h("section", { class: "card compare", "data-testid": "bulk-sample" },
      h("p", null, c.notes),
      c.sample.length > 0 && h("p", { class: "muted" },
        `Some of them (record ids): ${c.sample.join(", ")}${(c.count ?? 0) > c.sample.length ? ", …" : ""}`),
    );
  }
  const local = flatten(c.localDocument);
  const remote = flatten(c.remoteDocument);
  const base = flatten(c.baseDocument);
  const withBase = c.type === "update" && base.size > 0;
  const conflicting = new Set(fieldsOf(c).map((f) => f.path));
  const keys = [...new Set([...local.keys(), ...remote.keys()])].sort((a, b) => (a === "_id" ? -1 : b === "_id" ? 1 : 0));
  const same = (a: Value | undefined, b: Value | undefined) => JSON.stringify(a) === JSON.stringify(b);
  const cell = (v: Value | undefined, has: boolean) =>
    h("td", { class: has ? "mono" : "mono absent" }, has ? valueText(v) : "—");
  const localLabel = c.type === "delete" && c.deletedOn === "local" ? "This computer (deleted)" : "This computer";
  const remoteLabel = c.type === "delete" && c.deletedOn === "remote" ? "Cloud (deleted)" : "Cloud";
  return h("section", { class: "card compare" },
    h("table", { class: "grid sbs", "data-testid": "side-by-side" },
      h("thead", null, h("tr", null,
        h("th", null, "Field"),
        h("th", null, h("span", { class: "side local" }, localLabel)),
        h("th", null, h("span", { class: "side cloud" }, remoteLabel)),
        withBase && h("th", null, "At the last sync"),
      )),
      h("tbody", null, keys.map((k) => {
        const cls = conflicting.has(k) ? "conflict" : same(local.get(k), remote.get(k)) ? "" : "differs";
        return h("tr", { class: cls, "data-field": k },
          h("td", { class: "fname" }, k === "_id" ? "record id" : k, cls === "conflict" && h("span", { class: "flag" }, "conflict")),
          cell(local.get(k), local.has(k)),
          cell(remote.get(k), remote.has(k)),
          withBase && cell(base.get(k), base.has(k)),
        );
      })),
    ),
    h("p", { class: "legend muted small" },
      h("span", { class: "swatch conflict" }), "the field to decide on  ",
      h("span", { class: "swatch differs" }), "differs between the two"),
  );
}
