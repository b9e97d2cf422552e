// The Settings screen: the database connection, the sync settings (validated as you type,
// and again by the engine), and this app's own preferences.

import { asAppError, refreshOverview } from "../app";
import { fill, h } from "../dom";
import { backend, type ConnectionView, type Preferences, type SyncConfig } from "../transport";
import { connectionForm } from "./connection-form";

export function mountSettings(el: HTMLElement): () => void {
  fill(el, h("h1", null, "Settings"), h("p", { class: "muted" }, "Loading…"));
  void (async () => {
    const [view, cfg, prefs] = await Promise.all([
      backend.canEditConnection ? backend.connection().catch(() => null) : Promise.resolve(null),
      backend.syncSettings().catch((e) => asAppError(e)),
      backend.preferences().catch((): Preferences => ({ yourName: "", syncAfterResolve: false, startWithComputer: null, notifications: true })),
    ]);
    fill(
      el,
      h("h1", null, "Settings"),
      h("section", { class: "card" },
        h("h2", null, "Database connection"),
        backend.canEditConnection
          ? [
              view?.source === "environment" &&
                h("p", { class: "note" }, "These come from this computer's environment (or the .env file). Saving here makes the app use what you save instead."),
              connectionForm(view, { saveLabel: "Save and reconnect" }),
              view && passwordNote(view),
            ]
          : h("p", { class: "note", "data-testid": "connection-not-here" },
              "The database connection cannot be seen or changed from a browser: it holds the cloud database's password. Change it on the office PC where TempleSync runs."),
      ),
      cfg instanceof Error
        ? h("section", { class: "card" }, h("h2", null, "Sync settings"), h("p", { class: "error-text" }, cfg.message))
        : syncSettings(cfg),
      preferences(prefs),
      backend.kind === "desktop" && thisComputer(),
    );
  })();
  return () => {};
}

type Check = (v: string) => string | null;
const whole = (min: number, max: number): Check => (v) =>
  /^\d+$/.test(v.trim()) && +v >= min && +v <= max ? null : `Use a whole number from ${min} to ${max}.`;
const names: Check = (v) =>
  v.split(",").map((s) => s.trim()).filter(Boolean).every((s) => /^[^$\s.][^$\s]*$/.test(s) && !s.startsWith("system."))
    ? null : "Use collection names separated by commas, e.g. admins, bookings.";
const pairs: Check = (v) =>
  v.split(",").map((s) => s.trim()).filter(Boolean).every((s) => /^[^$.\s]+\.[^$\s]+$/.test(s))
    ? null : "Use collection.field pairs separated by commas, e.g. admins.username.";

function syncSettings(cfg: SyncConfig): HTMLElement {
  const errors = new Map<string, HTMLElement>();
  const checks = new Map<string, () => string | null>();
  const out = h("div", { "data-testid": "settings-result" });

  const number = (key: string, value: number, check: Check, attrs: Record<string, string> = {}) => {
    const input = h("input", { type: "text", inputmode: "numeric", class: "short", value: String(value), "data-testid": `cfg-${key}`, ...attrs });
    const err = h("span", { class: "field-error" });
    errors.set(key, err);
    checks.set(key, () => check(input.value));
    input.addEventListener("input", () => validate(key));
    return { input, err };
  };

  const auto = h("input", { type: "checkbox", checked: cfg.autoSyncEnabled, "data-testid": "cfg-autoSyncEnabled" });
  const periodicOn = h("input", { type: "checkbox", checked: cfg.syncIntervalMinutes !== null, "data-testid": "cfg-periodic" });
  const interval = number("syncIntervalMinutes", cfg.syncIntervalMinutes ?? 60, whole(1, 1440));
  checks.set("syncIntervalMinutes", () => (periodicOn.checked ? whole(1, 1440)(interval.input.value) : null));
  periodicOn.addEventListener("change", () => { interval.input.disabled = !periodicOn.checked; validate("syncIntervalMinutes"); });
  interval.input.disabled = !periodicOn.checked;
  const strategy = h("select", { "data-testid": "cfg-conflictResolutionStrategy" },
    h("option", { value: "manual" }, "Ask me (recommended)"),
    h("option", { value: "last_write_wins" }, "The newest change wins"),
  );
  strategy.value = cfg.conflictResolutionStrategy;
  const check = number("checkIntervalSeconds", cfg.checkIntervalSeconds, whole(5, 3600));
  const retries = number("maxRetries", cfg.maxRetries, whole(0, 10));
  const batch = number("batchSize", cfg.batchSize, whole(1, 10000));
  const deleteLimit = number("massDeleteLimit", cfg.massDeleteLimit, whole(1, 1000000));
  const deletePercent = number("massDeletePercent", cfg.massDeletePercent, whole(0, 100));
  const retention = number("retentionDays", cfg.retentionDays, whole(1, 3650));
  const historyDays = number("historyDays", cfg.historyDays, whole(1, 3650));
  const historyMb = number("historyMaxMb", cfg.historyMaxMb, whole(1, 100000));
  const text = (key: string, value: string, c: Check, placeholder: string) => {
    const input = h("input", { type: "text", class: "wide mono", value, placeholder, "data-testid": `cfg-${key}` });
    const err = h("span", { class: "field-error" });
    errors.set(key, err);
    checks.set(key, () => c(input.value));
    input.addEventListener("input", () => validate(key));
    return { input, err };
  };
  const collections = text("collectionsToSync", cfg.collectionsToSync.join(", "), names, "All collections");
  const unique = text("uniqueFields",
    Object.entries(cfg.uniqueFields).flatMap(([c, fs]) => fs.map((f) => `${c}.${f}`)).join(", "), pairs, "admins.username");

  const save = h("button", { class: "primary", "data-testid": "save-settings" }, "Save sync settings");
  const validate = (key?: string): boolean => {
    let ok = true;
    for (const [k, c] of checks) {
      const msg = c();
      if (msg) ok = false;
      if (!key || key === k) errors.get(k)!.textContent = msg ?? "";
    }
    save.disabled = !ok;
    return ok;
  };

  save.addEventListener("click", async () => {
    if (!validate()) return;
    const next: SyncConfig = {
      autoSyncEnabled: auto.checked,
      syncIntervalMinutes: periodicOn.checked ? Number(interval.input.value) : null,
      conflictResolutionStrategy: strategy.value as SyncConfig["conflictResolutionStrategy"],
      collectionsToSync: collections.input.value.split(",").map((s) => s.trim()).filter(Boolean),
      maxRetries: Number(retries.input.value),
      batchSize: Number(batch.input.value),
      uniqueFields: unique.input.value.split(",").map((s) => s.trim()).filter(Boolean).reduce<Record<string, string[]>>((m, p) => {
        const i = p.indexOf(".");
        (m[p.slice(0, i)] ??= []).push(p.slice(i + 1));
        return m;
      }, {}),
      checkIntervalSeconds: Number(check.input.value),
      massDeleteLimit: Number(deleteLimit.input.value),
      massDeletePercent: Number(deletePercent.input.value),
      retentionDays: Number(retention.input.value),
      historyDays: Number(historyDays.input.value),
      historyMaxMb: Number(historyMb.input.value),
    };
    try {
      await backend.saveSyncSettings(next);
      fill(out, h("div", { class: "check ok" }, h("span", { class: "check-mark" }, "✓"), "Saved. TempleSync uses the new settings from now on."));
      void refreshOverview();
    } catch (e) {
      const err = asAppError(e);
      const at = err.field ? errors.get(err.field) : undefined;
      if (at) at.textContent = err.message;
      fill(out, h("div", { class: "check bad" }, h("span", { class: "check-mark" }, "✗"), err.message));
    }
  });

  const row = (label: string, control: HTMLElement | HTMLElement[], help: string, err?: HTMLElement) =>
    h("div", { class: "setting" },
      h("div", { class: "setting-label" }, h("div", null, label), h("small", null, help)),
      h("div", { class: "setting-control" }, control, err),
    );

  return h("section", { class: "card" },
    h("h2", null, "Sync settings"),
    h("p", { class: "muted" }, "Kept in the office database, so every TempleSync on this database uses them."),
    row("Sync by itself", h("label", { class: "inline" }, auto, " at start-up and when the connection comes back"), "Recommended: nobody has to remember to sync."),
    row("Also sync on a schedule", [h("label", { class: "inline" }, periodicOn, " every "), interval.input, h("span", null, " minutes")], "While this app is open.", interval.err),
    row("When both sides change the same field", strategy, "Asking keeps a person in charge. With the newest change winning, the other value is kept in the conflict's record."),
    row("Check the connection every", [check.input, h("span", null, " seconds")], "How quickly TempleSync notices the internet coming back.", check.err),
    row("Collections to sync", collections.input, "Leave empty to sync everything.", collections.err),
    row("Values that must be unique", unique.input, "e.g. admins.username: two different admins cannot share one.", unique.err),
    h("details", null,
      h("summary", null, "Advanced"),
      row("Retries after a network error", retries.input, "0 to 10.", retries.err),
      row("Records per batch", batch.input, "1 to 10000. Smaller batches suit slow connections.", batch.err),
      row("Ask before deleting more than", [deleteLimit.input, h("span", null, " records, or "), deletePercent.input, h("span", null, " % of a collection")],
        "Whichever is larger. Deleting every record of a collection always asks first.", h("span", null, deleteLimit.err, " ", deletePercent.err)),
      row("Keep the history of syncs and settled conflicts", [retention.input, h("span", null, " days")], "1 to 3650. Older entries are removed.", retention.err),
      row("Keep the versions a sync replaced", [historyDays.input, h("span", null, " days, at most "), historyMb.input, h("span", null, " MB")],
        "Every version a sync overwrote or deleted on this computer, to look at or bring back. The oldest go first.", h("span", null, historyDays.err, " ", historyMb.err)),
    ),
    h("div", { class: "row" }, save),
    out,
  );
}

function preferences(p: Preferences): HTMLElement {
  const name = h("input", { type: "text", value: p.yourName, placeholder: "e.g. Priya (office)", "data-testid": "pref-name" });
  const after = h("input", { type: "checkbox", checked: p.syncAfterResolve, "data-testid": "pref-sync-after" });
  const notify = h("input", { type: "checkbox", checked: p.notifications, "data-testid": "pref-notifications" });
  const out = h("span", { class: "muted" });
  const save = async () => {
    try {
      await backend.savePreferences({ ...p, yourName: name.value.trim(), syncAfterResolve: after.checked, notifications: notify.checked });
      out.textContent = "Saved.";
    } catch (e) {
      out.textContent = asAppError(e).message;
    }
  };
  return h("section", { class: "card" },
    h("h2", null, backend.kind === "browser" ? "This browser" : "This app"),
    h("div", { class: "setting" },
      h("div", { class: "setting-label" }, h("div", null, "Your name"), h("small", null, "Recorded with the conflicts you settle.")),
      h("div", { class: "setting-control" }, name)),
    h("div", { class: "setting" },
      h("div", { class: "setting-label" }, h("div", null, "After settling a conflict"), h("small", null, "Otherwise TempleSync offers to sync.")),
      h("div", { class: "setting-control" }, h("label", { class: "inline" }, after, " sync at once"))),
    backend.kind === "desktop" && h("div", { class: "setting" },
      h("div", { class: "setting-label" }, h("div", null, "Notifications"),
        h("small", null, "When a decision waits for you, when syncing keeps failing, or when a sync is held for you. Once for each.")),
      h("div", { class: "setting-control" }, h("label", { class: "inline" }, notify, " tell me"))),
    h("div", { class: "row" }, h("button", { "data-testid": "save-preferences", onclick: () => void save() }, "Save"), out),
  );
}

/** This computer: starting with it, the log folder, the support file. */
function thisComputer(): HTMLElement {
  const start = h("input", { type: "checkbox", disabled: true, "data-testid": "pref-autostart" });
  const startOut = h("span", { class: "muted", role: "status" });
  void backend.startWithComputer().then((on) => {
    start.checked = on;
    start.disabled = false;
  }, (e) => { startOut.textContent = asAppError(e).message; });
  start.addEventListener("change", async () => {
    start.disabled = true;
    try {
      start.checked = await backend.setStartWithComputer(start.checked);
      startOut.textContent = start.checked ? "TempleSync will start with the computer, in the tray." : "TempleSync will not start with the computer.";
    } catch (e) {
      start.checked = !start.checked;
      startOut.textContent = asAppError(e).message;
    }
    start.disabled = false;
  });
  const logsOut = h("span", { class: "muted", role: "status", "data-testid": "log-folder-result" });
  const openLogs = async () => {
    try {
      logsOut.textContent = `Opened ${await backend.openLogFolder()}`;
    } catch (e) {
      logsOut.textContent = asAppError(e).message;
    }
  };
  const supportOut = h("div", { role: "status", "data-testid": "support-result" });
  const saveSupport = async () => {
    fill(supportOut, h("p", { class: "muted" }, "Writing the support file…"));
    try {
      const f = await backend.saveSupportFile();
      fill(supportOut,
        h("p", { class: "ok-text" }, `Saved as ${f.path}. Every password was removed from it.`),
        f.missing.length > 0 && h("p", { class: "muted" }, `Some parts could not be read (the file says so): ${f.missing.join("; ")}`),
        h("button", { "data-testid": "support-show", onclick: () => void backend.showInFolder(f.path).catch((e) => fill(supportOut, h("p", { class: "error-text" }, asAppError(e).message))) }, "Show in folder"));
    } catch (e) {
      fill(supportOut, h("p", { class: "error-text" }, asAppError(e).message));
    }
  };
  const row = (label: string, help: string, ...control: (HTMLElement | string | false)[]) =>
    h("div", { class: "setting" },
      h("div", { class: "setting-label" }, h("div", null, label), h("small", null, help)),
      h("div", { class: "setting-control" }, ...control));
  return h("section", { class: "card", "data-testid": "this-computer" },
    h("h2", null, "This computer"),
    row("Start with the computer", "TempleSync opens in the tray when the computer starts, so it syncs without anyone opening it.",
      h("label", { class: "inline" }, start, " start TempleSync with the computer"), startOut),
    row("Log files", "What TempleSync did, day by day. Kept for about a week.",
      h("button", { "data-testid": "open-log-folder", onclick: () => void openLogs() }, "Open log folder"), logsOut),
    row("Support file", "One file with the logs, the last 50 syncs and the settings, without any password, to send to whoever helps you.",
      h("button", { "data-testid": "save-support-file", onclick: () => void saveSupport() }, "Save support file"), supportOut),
  );
}

/** Where the cloud password is kept on this computer, and any trouble reading it back. */
function passwordNote(v: ConnectionView): HTMLElement | null {
  if (v.passwordProblem) return h("p", { class: "error-text", "data-testid": "password-store" }, v.passwordProblem);
  const said: Record<ConnectionView["passwordIn"], string | null> = {
    keychain: "The cloud password is kept in this computer's keychain, not in TempleSync's files.",
    file: "No keychain answered on this computer, so the cloud password is kept in TempleSync's settings file, which only your account can read.",
    environment: "The cloud password comes from this computer's environment (or the .env file). Saving here moves it to the keychain.",
    none: null,
  };
  const text = said[v.passwordIn];
  return text ? h("p", { class: "muted small", "data-testid": "password-store" }, text) : null;
}
