// The one place that knows how the UI talks to TempleSync. Inside the desktop app it uses the
// typed Tauri commands and events generated from src-tauri (./bindings.ts); in a browser
// (the same UI served by `templesync serve`) it calls the REST API at /api/sync/* with the
// bearer token the person entered once (kept in this browser's localStorage). The screens
// only ever see the `Backend` interface below.

import {
  commands,
  events,
  type AutoResolveReport,
  type Choice,
  type Conflict,
  type ConnectionInput,
  type ConnectionTest,
  type ConnectionView,
  type MonitorEvent,
  type NetworkStatus,
  type Overview,
  type Preferences,
  type ResolveOutcome,
  type SyncConfig,
  type SyncRun,
  type SyncState,
  type SyncStatus,
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
  syncHistory(limit: number): Promise<SyncRun[]>;
  conflicts(includeResolved: boolean): Promise<Conflict[]>;
  conflict(id: string): Promise<Conflict>;
  resolveConflict(id: string, choice: Choice): Promise<ResolveOutcome>;
  autoResolve(): Promise<AutoResolveReport>;
  syncSettings(): Promise<SyncConfig>;
  saveSyncSettings(config: SyncConfig): Promise<SyncConfig>;
  connection(): Promise<ConnectionView>;
  testConnection(input: ConnectionInput): Promise<ConnectionTest>;
  saveConnection(input: ConnectionInput): Promise<ConnectionView>;
  preferences(): Promise<Preferences>;
  savePreferences(p: Preferences): Promise<Preferences>;
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
    syncHistory: (limit) => unwrap(commands.syncHistory(limit)),
    conflicts: (all) => unwrap(commands.conflicts(all)),
    conflict: (id) => unwrap(commands.conflict(id)),
    resolveConflict: (id, choice) => unwrap(commands.resolveConflict(id, choice)),
    autoResolve: () => unwrap(commands.autoResolve()),
    syncSettings: () => unwrap(commands.syncSettings()),
    saveSyncSettings: (c) => unwrap(commands.saveSyncSettings(c)),
    connection: () => unwrap(commands.connection()),
    testConnection: (i) => unwrap(commands.testConnection(i)),
    saveConnection: (i) => unwrap(commands.saveConnection(i)),
    preferences: () => unwrap(commands.preferences()),
    savePreferences: (p) => unwrap(commands.savePreferences(p)),
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
  if (token) localStorage.setItem(TOKEN_KEY, token.trim());
  else localStorage.removeItem(TOKEN_KEY);
}

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers: {
        Authorization: `Bearer ${apiToken() ?? ""}`,
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new AppError(
      "server_unreachable",
      "Cannot reach the TempleSync office PC: check that it is on and that TempleSync is running there",
    );
  }
  const text = await res.text();
  const json = text ? JSON.parse(text) : null;
  if (!res.ok) {
    throw new AppError(json?.code ?? "http_error", json?.message ?? `The server answered ${res.status}`);
  }
  return json as T;
}

/** The same rules as src-tauri/src/state.rs (`sync_state`). */
export function deriveState(status: SyncStatus | null, network: NetworkStatus | null): SyncState {
  if (status && !status.remoteConfigured) return "not_configured";
  if (network?.isSyncing || status?.isSyncing) return "syncing";
  if (!status) return "failed";
  if (!network?.lastCheck) return "checking";
  if (!network.isOnline) return "offline";
  if (status.unresolvedConflicts > 0) return "conflicts";
  if (status.lastSyncStatus === "failed") return "failed";
  return "synced";
}

function browser(): Backend {
  const overviewListeners: ((o: Overview) => void)[] = [];
  const overview = async (): Promise<Overview> => {
    const network = await api<NetworkStatus>("GET", "/api/sync/network-status").catch(() => null);
    try {
      const status = await api<SyncStatus>("GET", "/api/sync/status");
      return { state: deriveState(status, network), status, network, problem: null };
    } catch (e) {
      const err = e instanceof AppError ? e : new AppError("internal", String(e));
      return { state: "failed", status: null, network, problem: { code: err.code, message: err.message, field: null } };
    }
  };
  const publish = async () => {
    if (overviewListeners.length === 0 || !apiToken()) return;
    const o = await overview();
    overviewListeners.forEach((cb) => cb(o));
  };
  // No push channel over plain HTTP: look every few seconds while the page is visible.
  setInterval(() => {
    if (document.visibilityState === "visible") void publish();
  }, 4000);
  const prefs = (): Preferences => ({
    yourName: "",
    syncAfterResolve: false,
    ...JSON.parse(localStorage.getItem(PREFS_KEY) ?? "{}"),
  });
  const notHere = () =>
    Promise.reject(
      new AppError(
        "not_available",
        "The database connection can only be changed on the office PC that runs TempleSync",
      ),
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
    syncHistory: (limit) => api("GET", `/api/sync/logs?limit=${limit}`),
    conflicts: (all) => api("GET", all ? "/api/sync/conflicts" : "/api/sync/conflicts?resolved=false"),
    conflict: async (id) => {
      const found = (await api<Conflict[]>("GET", "/api/sync/conflicts")).find((c) => c._id === id);
      if (!found) throw new AppError("conflict_not_found", `No conflict with id '${id}'`);
      return found;
    },
    resolveConflict: async (id, choice) => {
      const out = await api<ResolveOutcome>("POST", `/api/sync/conflicts/${encodeURIComponent(id)}/resolve`, {
        strategy: choice.strategy,
        newValue: choice.value?.value ?? null,
        notes: choice.notes,
        resolvedBy: prefs().yourName || "browser",
      });
      void publish();
      return out;
    },
    autoResolve: async () => {
      const r = await api<AutoResolveReport>("POST", "/api/sync/conflicts/auto-resolve", {
        max: 500,
        resolvedBy: prefs().yourName || "browser",
      });
      void publish();
      return r;
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
    onOverview: (cb) => void overviewListeners.push(cb),
    onActivity: () => {},
  };
}

export const inTauri = "__TAURI_INTERNALS__" in window;
export const backend: Backend = inTauri ? desktop() : browser();
