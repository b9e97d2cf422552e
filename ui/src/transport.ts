// The one place that knows how the UI talks to TempleSync. Inside the desktop app it uses the
// typed Tauri commands and events generated from src-tauri (./bindings.ts); in a browser
// (the same UI served by `templesync serve`) it calls the REST API at /api/sync/* with the
// bearer token the person entered once (kept in this browser's localStorage). The screens
// only ever see the `Backend` interface below.

import {
  AUTO_RESOLVE_MAX,
  commands,
  events,
  type About,
  type AutoResolveReport,
  type Choice,
  type CloudChoice,
  type Conflict,
  type ConnectionInput,
  type ConnectionTest,
  type ConnectionView,
  type MonitorEvent,
  type Overview,
  type Preferences,
  type ResolveOutcome,
  type SupportFile,
  type SyncConfig,
  type SyncRun,
  type Value,
  type VerifyReport,
} from "./bindings";

export type * from "./bindings";

/** An error as both transports report it; screens branch on `code`. */
export class AppError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly field: string | null = null,
  ) {
    super(message);
  }
}

export interface Backend {
  /** "desktop": the Tauri app; "browser": another PC, through `templesync serve`. */
  readonly kind: "desktop" | "browser";
  /** Connection settings can be viewed and changed (only on the PC that runs TempleSync). */
  readonly canEditConnection: boolean;
  overview(): Promise<Overview>;
  syncNow(): Promise<SyncRun>;
  /** Pauses syncing on this computer for `minutes` (null: until resumed). */
  pause(minutes: number | null): Promise<void>;
  /** Ends this computer's pause: a run starts at once. */
  resume(): Promise<void>;
  syncHistory(limit: number): Promise<SyncRun[]>;
  conflicts(includeResolved: boolean): Promise<Conflict[]>;
  conflict(id: string): Promise<Conflict>;
  resolveConflict(id: string, choice: Choice): Promise<ResolveOutcome>;
  autoResolve(): Promise<AutoResolveReport>;
  /** What the next sync does with a cloud that is not the one this computer last synced with. */
  chooseCloud(choice: CloudChoice): Promise<void>;
  /** Both sides compared by content; `repair` lists the differing records for the next sync. */
  verify(repair: boolean): Promise<VerifyReport>;
  syncSettings(): Promise<SyncConfig>;
  saveSyncSettings(config: SyncConfig): Promise<SyncConfig>;
  connection(): Promise<ConnectionView>;
  testConnection(input: ConnectionInput): Promise<ConnectionTest>;
  saveConnection(input: ConnectionInput): Promise<ConnectionView>;
  preferences(): Promise<Preferences>;
  savePreferences(p: Preferences): Promise<Preferences>;
  /** Versions, and where TempleSync keeps its files (on the PC that runs it). */
  about(): Promise<About>;
  /** This computer's own: only in the app on the PC that runs TempleSync. */
  openLogFolder(): Promise<string>;
  saveSupportFile(): Promise<SupportFile>;
  showInFolder(path: string): Promise<void>;
  startWithComputer(): Promise<boolean>;
  setStartWithComputer(on: boolean): Promise<boolean>;
  /** Called with every new overview (pushed by the app, polled in a browser). */
  onOverview(cb: (o: Overview) => void): void;
  /** Live run events (runs starting and ending, progress per collection). */
  onActivity(cb: (e: MonitorEvent) => void): void;
}

type Answer<T> = { status: "ok"; data: T } | { status: "error"; error: { code: string; message: string; field: string | null } };

async function unwrap<T>(p: Promise<Answer<T>>): Promise<T> {
  const r = await p;
  if (r.status === "ok") return r.data;
  throw new AppError(r.error.code, r.error.message, r.error.field);
}

function desktop(): Backend {
  return {
    kind: "desktop",
    canEditConnection: true,
    overview: () => unwrap(commands.overview()),
    syncNow: () => unwrap(commands.syncNow()),
    pause: async (minutes) => void (await unwrap(commands.pauseHere(minutes))),
    resume: async () => void (await unwrap(commands.resumeHere())),
    syncHistory: (limit) => unwrap(commands.syncHistory(limit)),
    conflicts: (all) => unwrap(commands.conflicts(all)),
    conflict: (id) => unwrap(commands.conflict(id)),
    resolveConflict: (id, choice) => unwrap(commands.resolveConflict(id, choice)),
    autoResolve: () => unwrap(commands.autoResolve()),
    chooseCloud: async (choice) => void (await unwrap(commands.chooseCloud(choice))),
    verify: (repair) => unwrap(commands.verify(repair)),
    syncSettings: () => unwrap(commands.syncSettings()),
    saveSyncSettings: (c) => unwrap(commands.saveSyncSettings(c)),
    connection: () => unwrap(commands.connection()),
    testConnection: (i) => unwrap(commands.testConnection(i)),
    saveConnection: (i) => unwrap(commands.saveConnection(i)),
    preferences: () => unwrap(commands.preferences()),
    savePreferences: (p) => unwrap(commands.savePreferences(p)),
    about: () => unwrap(commands.about()),
    openLogFolder: () => unwrap(commands.openLogFolder()),
    saveSupportFile: () => unwrap(commands.saveSupportFile()),
    showInFolder: async (path) => void (await unwrap(commands.showInFolder(path))),
    startWithComputer: () => unwrap(commands.startWithComputer()),
    setStartWithComputer: (on) => unwrap(commands.setStartWithComputer(on)),
    onOverview: (cb) => void events.overviewChanged.listen((e) => cb(e.payload)),
    onActivity: (cb) => void events.syncActivity.listen((e) => cb(e.payload)),
  };
}

// ---- Browser: the REST API of `templesync serve` ----

const TOKEN_KEY = "templesync.apiToken";
const PREFS_KEY = "templesync.preferences";

export function apiToken(): string | null {
  return localStorage.getItem(TOKEN_KEY);
}

export function setApiToken(token: string | null): void {
  const t = token?.trim();
  if (t) localStorage.setItem(TOKEN_KEY, t);
  else localStorage.removeItem(TOKEN_KEY);
}

/**
 * Whether `token` opens the API, asked before it is kept: "ok", "wrong", or the error that
 * kept the question from being answered (the office PC cannot be reached...).
 */
export async function checkApiToken(token: string): Promise<"ok" | "wrong" | AppError> {
  try {
    await api("GET", "/api/sync/network-status", undefined, token.trim());
    return "ok";
  } catch (e) {
    if (e instanceof AppError && e.code === "unauthorized") return "wrong";
    return e instanceof AppError ? e : new AppError("internal", String(e));
  }
}

async function api<T>(method: string, path: string, body?: unknown, token = apiToken()): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers: {
        Authorization: `Bearer ${token ?? ""}`,
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch {
    throw new AppError(
      "server_unreachable",
      "Cannot reach TempleSync on the office PC: check that the PC is on and that TempleSync is running there",
    );
  }
  const text = await res.text();
  let json: any = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    // Not TempleSync's answer (e.g. a proxy's error page): say what came back.
  }
  if (!res.ok) {
    if (res.status === 401) {
      throw new AppError("unauthorized", "The access key is not accepted: enter the one from the office PC again");
    }
    throw new AppError(
      typeof json?.code === "string" ? json.code : "http_error",
      typeof json?.message === "string" ? json.message : `The office PC answered ${res.status} ${res.statusText}`.trim(),
    );
  }
  if (json === null && text) {
    throw new AppError("http_error", "The office PC's answer was not TempleSync's: is the address right?");
  }
  return json as T;
}

/**
 * A value a person typed, as the desktop app sends it (the engine's `ResolveValue::Text`):
 * text where the value it replaces is text, else read as JSON when it is (`10` for a number).
 */
export function typedValue(text: string, replaces: Value | undefined): Value {
  if (replaces === null || replaces === undefined || typeof replaces === "string") return text;
  try {
    return JSON.parse(text) as Value;
  } catch {
    return text;
  }
}

function browser(): Backend {
  const overviewListeners: ((o: Overview) => void)[] = [];
  // The state and its words come from TempleSync; only "the office PC did not answer" is
  // this side's to say.
  const overview = async (): Promise<Overview> => {
    try {
      return await api<Overview>("GET", "/api/sync/overview");
    } catch (e) {
      const err = e instanceof AppError ? e : new AppError("internal", String(e));
      return {
        state: "failed",
        title: "No answer from the office PC",
        headline: err.message,
        todo: null,
        lastSync: null,
        lastCheck: null,
        unresolvedConflicts: 0,
        status: null,
        network: null,
        pausedHere: null,
        problem: { code: err.code, message: err.message, kind: "unavailable", field: null },
      };
    }
  };
  const publish = async () => {
    if (overviewListeners.length === 0 || !apiToken()) return;
    const o = await overview();
    overviewListeners.forEach((cb) => cb(o));
  };
  // No push channel over plain HTTP: look every few seconds while the page is visible, and
  // at once when it comes back into view.
  setInterval(() => {
    if (document.visibilityState === "visible") void publish();
  }, 3000);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") void publish();
  });
  const prefs = (): Preferences => {
    let saved: Preferences = {};
    try {
      saved = JSON.parse(localStorage.getItem(PREFS_KEY) ?? "{}") ?? {};
    } catch {
      // A damaged entry: the defaults.
    }
    return { yourName: "", syncAfterResolve: false, startWithComputer: null, notifications: true, ...saved };
  };
  const conflict = (id: string): Promise<Conflict> => api("GET", `/api/sync/conflicts/${encodeURIComponent(id)}`);
  const notHere = () =>
    Promise.reject(
      new AppError(
        "not_available",
        "The database connection can only be changed on the office PC that runs TempleSync",
      ),
    );
  const notOnThePc = () =>
    Promise.reject(
      new AppError("not_available", "This can only be done in the TempleSync app on the office PC"),
    );
  return {
    kind: "browser",
    canEditConnection: false,
    overview,
    syncNow: async () => {
      const run = await api<SyncRun>("POST", "/api/sync/sync", {});
      void publish();
      return run;
    },
    pause: async (minutes) => {
      await api("POST", "/api/sync/pause", { minutes });
      void publish();
    },
    resume: async () => {
      await api("POST", "/api/sync/resume");
      void publish();
    },
    syncHistory: (limit) => api("GET", `/api/sync/logs?limit=${limit}`),
    conflicts: (all) => api("GET", all ? "/api/sync/conflicts" : "/api/sync/conflicts?resolved=false"),
    conflict,
    resolveConflict: async (id, choice) => {
      let newValue: Value = null;
      if (choice.value?.kind === "json") newValue = choice.value.value;
      if (choice.value?.kind === "text") {
        const c = await conflict(id);
        newValue = typedValue(choice.value.value, c.fields.length === 1 ? c.fields[0].local : c.localValue);
      }
      const out = await api<ResolveOutcome>("POST", `/api/sync/conflicts/${encodeURIComponent(id)}/resolve`, {
        strategy: choice.strategy,
        newValue,
        notes: choice.notes?.trim() || null,
        resolvedBy: prefs().yourName?.trim() || "browser",
      });
      void publish();
      return out;
    },
    autoResolve: async () => {
      const r = await api<AutoResolveReport>("POST", "/api/sync/conflicts/auto-resolve", {
        max: AUTO_RESOLVE_MAX,
        resolvedBy: prefs().yourName?.trim() || "browser",
      });
      void publish();
      return r;
    },
    verify: (repair) => api("POST", "/api/sync/verify", { repair }),
    chooseCloud: async (choice) => {
      await api("POST", "/api/sync/cloud", { choice });
      void publish();
    },
    syncSettings: () => api("GET", "/api/sync/config"),
    saveSyncSettings: (c) => api("PUT", "/api/sync/config", c),
    connection: notHere,
    testConnection: notHere,
    saveConnection: notHere,
    preferences: async () => prefs(),
    savePreferences: async (p) => {
      localStorage.setItem(PREFS_KEY, JSON.stringify(p));
      return p;
    },
    about: () => api("GET", "/api/sync/about"),
    openLogFolder: notOnThePc,
    saveSupportFile: notOnThePc,
    showInFolder: notOnThePc,
    startWithComputer: notOnThePc,
    setStartWithComputer: notOnThePc,
    onOverview: (cb) => void overviewListeners.push(cb),
    onActivity: () => {},
  };
}

export const inTauri = "__TAURI_INTERNALS__" in window;
export const backend: Backend = inTauri ? desktop() : browser();
