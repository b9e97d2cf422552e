// The app shell: the sidebar, the status bar that is always visible, and the screen chosen
// in the sidebar. With nothing configured, the setup screen instead.

/// <reference types="vite/client" />
import "./style.css";
// The same pictures as the tray's (icons/ at the repository root).
import appIcon from "../../icons/128x128.png";
import iconConflicts from "../../icons/tray-conflicts.png";
import iconOffline from "../../icons/tray-offline.png";
import iconSynced from "../../icons/tray-synced.png";
import iconSyncing from "../../icons/tray-syncing.png";
import { go, live, onActivity, refreshOverview, route, setOverview, subscribe, syncNow } from "./app";
import { fill, h } from "./dom";
import { advice, ago, duration, plural, stateTitle } from "./format";
import { apiToken, backend, setApiToken } from "./transport";
import { mountConflicts } from "./screens/conflicts";
import { mountHistory } from "./screens/history";
import { mountSettings } from "./screens/settings";
import { mountSetup } from "./screens/setup";
import { mountStatus } from "./screens/status";

const root = document.getElementById("app")!;

const stateIcon = (state: string): string =>
  ({ synced: iconSynced, syncing: iconSyncing, checking: iconSyncing, offline: iconOffline, not_configured: iconOffline })[state] ?? iconConflicts;

document.head.append(h("link", { rel: "icon", type: "image/png", href: appIcon }));

// ---- The status bar ----
// Built once and updated in place, so a click never lands on a replaced button.

const bandIcon = h("img", { class: "band-icon", alt: "" });
const bandTitle = h("div", { class: "band-title", "data-testid": "state-title" });
const bandSub = h("div", { class: "band-sub" });
const bandProblem = h("div", { class: "band-problem", "data-testid": "band-problem" });
const syncButton = h("button", { class: "primary big", "data-testid": "sync-now", onclick: () => void syncNow() }, "Sync now");
const band = h("header", { class: "band", "data-testid": "status-band" },
  bandIcon,
  h("div", { class: "band-text" }, bandTitle, bandSub, bandProblem),
  syncButton,
);

function renderBand(): void {
  const o = live.overview;
  const state = live.syncing ? "syncing" : (o?.state ?? "checking");
  band.className = `band state-${state}`;
  band.dataset.state = state;
  if (bandIcon.getAttribute("src") !== stateIcon(state)) bandIcon.src = stateIcon(state);
  bandTitle.textContent = stateTitle[state as keyof typeof stateTitle] ?? state;
  const s = o?.status;
  const lines: (HTMLElement | string)[] = [];
  if (state === "syncing") {
    const p = [...live.progress.values()];
    lines.push(
      p.length
        ? `${plural(p.reduce((a, x) => a + x.pushed, 0), "change")} sent, ${plural(p.reduce((a, x) => a + x.pulled, 0), "change")} received so far`
        : "Comparing this computer's records with the cloud…",
    );
  } else if (s?.lastSyncTime) {
    const how = s.lastSyncStatus === "completed" ? `completed in ${duration(s.lastSyncDuration)}` : (s.lastSyncStatus ?? "");
    lines.push(`Last sync ${ago(s.lastSyncTime)}, ${how}`);
  } else if (o?.status) {
    lines.push("Not synced yet");
  }
  if (s && s.unresolvedConflicts > 0) {
    lines.push(
      h("a", { href: "#conflicts", class: "band-link", "data-testid": "band-conflicts" },
        `${plural(s.unresolvedConflicts, "conflict")} to decide`),
    );
  }
  fill(bandSub, lines.flatMap((l, i) => (i ? [" · ", l] : [l])));
  const problem = problemText();
  bandProblem.textContent = problem ?? "";
  bandProblem.hidden = !problem;
  syncButton.disabled = state === "syncing" || state === "not_configured" || live.syncing;
  syncButton.textContent = state === "syncing" ? "Syncing…" : "Sync now";
}

/** The problem to show in plain words, with what to do. */
function problemText(): string | null {
  const o = live.overview;
  const err = live.lastError ?? o?.problem ?? null;
  if (err) {
    const extra = advice(err.code);
    return extra ? `${err.message}. ${extra}` : err.message;
  }
  if (o?.state === "offline") {
    const why = o.network?.lastError ?? o.status?.offlineReason;
    return why ?? "Cannot reach the cloud database: check the internet connection; TempleSync will sync by itself when it is back.";
  }
  if (o?.state === "failed" && o.status?.lastSyncError) {
    return `The last sync stopped: ${o.status.lastSyncError}`;
  }
  return o?.status?.clockWarning ?? null;
}

// ---- The sidebar (links built once; the current one and the badge updated in place) ----

const navItems = [
  { screen: "status", label: "Status" },
  { screen: "history", label: "History" },
  { screen: "conflicts", label: "Conflicts" },
  { screen: "settings", label: "Settings" },
] as const;

const badge = h("span", { class: "badge", "data-testid": "conflict-count" });
const navLinks = navItems.map((n) =>
  h("a", { href: `#${n.screen}`, class: "nav-item", "data-testid": `nav-${n.screen}`, "data-screen": n.screen },
    n.label, n.screen === "conflicts" && badge),
);
const nav = h("nav", { class: "nav" }, navLinks);

function renderNav(): void {
  const current = route().screen;
  for (const a of navLinks) a.classList.toggle("active", a.dataset.screen === current);
  const open = live.overview?.status?.unresolvedConflicts ?? 0;
  badge.textContent = String(open);
  badge.hidden = open === 0;
}

// ---- Screens ----

const main = h("main", { class: "screen" });
let unmount: (() => void) | null = null;
let shown = "";

function showScreen(): void {
  const r = route();
  const configured = live.overview?.state !== "not_configured";
  const key = configured ? `${r.screen}/${r.id ?? ""}` : "setup";
  if (key === shown) return;
  shown = key;
  unmount?.();
  main.replaceChildren();
  document.body.classList.toggle("first-run", !configured);
  if (!configured) {
    unmount = mountSetup(main);
    return;
  }
  switch (r.screen) {
    case "status":
      unmount = mountStatus(main);
      break;
    case "history":
      unmount = mountHistory(main);
      break;
    case "conflicts":
      unmount = mountConflicts(main, r.id);
      break;
    case "settings":
      unmount = mountSettings(main);
      break;
  }
  renderNav();
}

function layout(): void {
  fill(
    root,
    h("aside", { class: "sidebar" },
      h("div", { class: "brand" },
        h("img", { src: appIcon, alt: "", class: "brand-icon" }),
        h("div", null, h("div", { class: "brand-name" }, "TempleSync"), h("div", { class: "brand-sub" }, "Office ⇄ Cloud")),
      ),
      nav,
      h("div", { class: "sidebar-foot" }, backend.kind === "browser" ? "Opened in a browser" : ""),
    ),
    h("div", { class: "content" }, band, main),
  );
}

// A browser needs the access key of `templesync serve` once.
function askForToken(): void {
  const input = h("input", { type: "password", class: "wide", "data-testid": "token-input", placeholder: "Access key" });
  fill(
    root,
    h("div", { class: "setup" },
      h("div", { class: "card setup-card" },
        h("img", { src: appIcon, alt: "", class: "setup-icon" }),
        h("h1", null, "TempleSync"),
        h("p", null, "Enter the access key shown on the office PC where TempleSync runs (`templesync serve`). This browser remembers it."),
        h("form", { onsubmit: (e: Event) => { e.preventDefault(); setApiToken(input.value); location.reload(); } },
          input, " ", h("button", { class: "primary", type: "submit" }, "Continue")),
      ),
    ),
  );
}

async function start(): Promise<void> {
  if (backend.kind === "browser" && !apiToken()) {
    askForToken();
    return;
  }
  layout();
  renderBand();
  subscribe((what) => {
    if (what === "overview" && live.lastError?.code === "unauthorized" && backend.kind === "browser") {
      setApiToken(null);
      askForToken();
      return;
    }
    renderBand();
    renderNav();
    if (what === "overview") showScreen();
  });
  backend.onOverview(setOverview);
  backend.onActivity(onActivity);
  window.addEventListener("hashchange", () => {
    showScreen();
    renderNav();
  });
  // Relative times ("5 minutes ago") stay true without a new overview.
  setInterval(renderBand, 30_000);
  await refreshOverview();
  showScreen();
  if (!location.hash) go("#status");
}

void start();
