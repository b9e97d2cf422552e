// What every screen shares: the latest overview, the live progress of a run, the result of
// the last "Sync now", and navigation.

import { AppError, backend, type MonitorEvent, type Overview, type Progress, type SyncRun, type Trigger } from "./transport";

export interface Live {
  overview: Overview | null;
  /** Progress of the run in progress, per collection (cumulative). */
  progress: Map<string, Progress>;
  /** What started the run in progress. */
  trigger: Trigger | null;
  /** "Sync now" was pressed and has not answered yet. */
  syncing: boolean;
  /** The answer to the last "Sync now": the run, or why it could not start. */
  lastRun: SyncRun | null;
  lastError: AppError | null;
}

export const live: Live = {
  overview: null,
  progress: new Map(),
  trigger: null,
  syncing: false,
  lastRun: null,
  lastError: null,
};

type Listener = (what: "overview" | "activity" | "run") => void;
const listeners = new Set<Listener>();

export function subscribe(l: Listener): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

function emit(what: "overview" | "activity" | "run"): void {
  listeners.forEach((l) => l(what));
}

export function setOverview(o: Overview): void {
  live.overview = o;
  // An error from "Sync now" stays shown until things are well again.
  if (o.state === "synced") live.lastError = null;
  emit("overview");
}

export async function refreshOverview(): Promise<void> {
  try {
    setOverview(await backend.overview());
  } catch (e) {
    live.lastError = asAppError(e);
    emit("overview");
  }
}

export function onActivity(e: MonitorEvent): void {
  switch (e.kind) {
    case "runStarted":
      live.progress = new Map();
      live.trigger = e.trigger;
      live.lastError = null;
      break;
    case "progress":
      live.progress.set(e.progress.collection, e.progress);
      break;
    case "runFinished":
      live.trigger = null;
      live.lastRun = e.run;
      live.lastError = null;
      emit("run");
      break;
    case "runRefused":
      live.trigger = null;
      break;
    case "status":
      break;
  }
  emit("activity");
}

/** Presses "Sync now": one run, its progress shown as it goes. */
export async function syncNow(): Promise<SyncRun | null> {
  if (live.syncing) return null;
  live.syncing = true;
  live.lastError = null;
  live.progress = new Map();
  emit("activity");
  try {
    const run = await backend.syncNow();
    live.lastRun = run;
    emit("run");
    return run;
  } catch (e) {
    live.lastError = asAppError(e);
    return null;
  } finally {
    live.syncing = false;
    emit("activity");
    void refreshOverview();
  }
}

export function asAppError(e: unknown): AppError {
  if (e instanceof AppError) return e;
  return new AppError("internal", e instanceof Error ? e.message : String(e));
}

// ---- Navigation: #status, #history, #conflicts, #conflicts/<id>, #settings ----

export type Route = { screen: "status" | "history" | "conflicts" | "settings" | "about"; id?: string };

export function route(): Route {
  const [screen, id] = location.hash.replace(/^#/, "").split("/");
  switch (screen) {
    case "history":
    case "settings":
    case "about":
      return { screen };
    case "conflicts":
      return { screen, id: id ? decodeURIComponent(id) : undefined };
    default:
      return { screen: "status" };
  }
}

export function go(hash: string): void {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else location.hash = hash;
}
