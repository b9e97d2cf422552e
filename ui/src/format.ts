// Words and numbers as office staff read them.

import agoTable from "../../crates/engine/src/app/ago.json";
import type { Conflict, ConflictKind, RunStatus, SyncRun, Trigger, Value } from "./transport";

// The one wording of "how long ago", shared with the engine (command line, tray, status band).
type AgoStep = { below?: number; say?: string; unit?: string; seconds?: number };
const AGO = agoTable as {
  future: { beyond: number; say: string };
  steps: AgoStep[];
  count: { one: string; many: string };
};

export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "never";
  const s = Math.trunc((now - Date.parse(iso)) / 1000);
  if (s < -AGO.future.beyond) return AGO.future.say;
  const step = AGO.steps.find((st) => st.below === undefined || s < st.below) ?? AGO.steps[AGO.steps.length - 1];
  if (step.say !== undefined) return step.say;
  const per = Math.max(1, step.seconds ?? 1);
  const n = Math.max(1, Math.floor((Math.max(0, s) + Math.floor(per / 2)) / per));
  return (n === 1 ? AGO.count.one : AGO.count.many).replace("{n}", String(n)).replace("{unit}", step.unit ?? "second");
}

export function when(iso: string | null | undefined): string {
  if (!iso) return "";
  return new Date(iso).toLocaleString(undefined, {
    day: "numeric",
    month: "short",
    year: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  });
}

export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return "";
  if (seconds < 0.1) return "under 0.1 s";
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  if (seconds < 120) return `${Math.round(seconds)} s`;
  return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

export function total(m: Record<string, number> | null | undefined): number {
  return Object.values(m ?? {}).reduce((a, b) => a + b, 0);
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

export const triggerLabel: Record<Trigger, string> = {
  manual: "Sync now",
  startup: "App opened",
  reconnect: "Back online",
  periodic: "Schedule",
  automatic: "Automatic",
};

/** Why a run started, to end a sentence ("… because the app opened"). */
export const triggerReason: Record<Trigger, string> = {
  manual: "Sync now was pressed",
  startup: "the app opened",
  reconnect: "the cloud was reachable again",
  periodic: "it was time for the scheduled sync",
  automatic: "of an automatic sync",
};

export const runStatusLabel: Record<RunStatus, string> = {
  running: "Running",
  completed: "Completed",
  failed: "Failed",
  interrupted: "Interrupted",
};

export const kindTitle: Record<ConflictKind, string> = {
  unique: "Name already taken in the cloud",
  update: "Changed on both sides",
  delete: "Deleted on one side, changed on the other",
  bulk: "Many records deleted on one side",
};

export function kindExplanation(c: Conflict): string {
  switch (c.type) {
    case "unique":
      return `This computer has a ${c.field ?? "value"} "${valueText(c.localValue)}" that a different record in the cloud already uses. Both cannot keep it: rename the one on this computer (the usual choice), keep the cloud's record, or keep this computer's.`;
    case "update":
      return `Since the last sync, ${c.field ? `the ${c.field.includes(",") ? "fields" : "field"} ${c.field}` : "the same field"} changed here and in the cloud to different values. Choose which value to keep, or combine them. Other changes to this record were merged already.`;
    case "delete":
      return c.deletedOn === "local"
        ? "This record was deleted on this computer, but someone changed it in the cloud since the last sync. Keep the deletion (Keep local) or bring the cloud's version back (Keep remote)."
        : "This record was deleted in the cloud, but it was changed on this computer since the last sync. Keep this computer's version (Keep local) or delete it here too (Keep remote).";
    case "bulk":
      return c.deletedOn === "local"
        ? `${c.count ?? "Many"} records of ${c.collection} were deleted (or are missing) on this computer. So many deletions at once are often a mistake, so TempleSync has not deleted them in the cloud. Keep the deletion (Keep local: they are deleted in the cloud too) or bring them back here from the cloud (Keep remote).`
        : `${c.count ?? "Many"} records of ${c.collection} were deleted in the cloud. So many deletions at once are often a mistake, so TempleSync has not deleted them on this computer. Put them back in the cloud from this computer (Keep local) or delete them here too (Keep remote).`;
  }
}

/** A value as a person reads it. */
export function valueText(v: Value | undefined): string {
  if (v === null || v === undefined) return "(empty)";
  if (typeof v === "string" && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(v)) return when(v);
  if (typeof v === "string") return v === "" ? "(empty text)" : v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  const date = (v as Record<string, Value>)["$date"];
  if (date !== undefined && typeof date === "string") return when(date);
  return JSON.stringify(v);
}

/** What to do about an error, when its message does not say already. */
export function advice(code: string): string | null {
  switch (code) {
    case "remote_unreachable":
      return "Your changes are kept on this computer and sent when the cloud is reachable again.";
    case "local_unreachable":
      return "Start the Temple Management System's database (MongoDB) on this computer, then try again.";
    case "database_error":
      return "Try again in a minute. If it keeps happening, note the message and call for help.";
    case "sync_in_progress":
      return null;
    case "server_unreachable":
      return null;
    case "unauthorized":
      return "Enter the access key again (it is shown on the office PC where `templesync serve` runs).";
    default:
      return null;
  }
}

export function runSummary(r: SyncRun): string {
  const parts = [
    `${plural(total(r.localToRemote), "change")} sent`,
    `${plural(total(r.remoteToLocal), "change")} received`,
  ];
  const c = total(r.conflicts);
  if (c) parts.push(plural(c, "conflict"));
  return parts.join(" · ");
}

/** A time of day ("15:30"), with the day when it is not today. */
export function clockTime(iso: string): string {
  const d = new Date(iso);
  const today = d.toDateString() === new Date().toDateString();
  return d.toLocaleString(undefined, today
    ? { hour: "2-digit", minute: "2-digit" }
    : { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
}
