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
import { advice, plural } from "./format";
import { apiToken, backend, checkApiToken, setApiToken } from "./transport";
import { mountAbout } from "./screens/about";
import { mountConflicts } from "./screens/conflicts";
import { mountHistory } from "./screens/history";
import { mountSettings } from "./screens/settings";
import { mountSetup } from "./screens/setup";
import { mountStatus } from "./screens/status";

const root = document.getElementById("app")!;

const stateIcon = (state: string): string =>
  ({ synced: iconSynced, syncing: iconSyncing, checking: iconSyncing, offline: iconOffline, not_configured: iconOffline, paused: iconOffline })[state] ?? iconConflicts;

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
  // The words come with the overview; a run this window started shows before the next one.
  bandTitle.textContent = state === o?.state ? o.title : state === "syncing" ? "Syncing" : "Checking the connection";
  const s = o?.status;
  const lines: (HTMLElement | string)[] = [];
  if (state === "syncing") {
    const p = [...live.progress.values()];
    lines.push(
      p.length
        ? `${plural(p.reduce((a, x) => a + x.pushed, 0), "change")} sent, ${plural(p.reduce((a, x) => a + x.pulled, 0), "change")} received so far`
        : "Comparing this computer's records with the cloud…",
    );
  } else if (o?.lastSync) {
    lines.push(o.lastSync);
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
  return o?.todo ?? null;
}

// ---- The sidebar (links built once; the current one and the badge updated in place) ----

const navItems = [
  { screen: "status", label: "Status" },
  { screen: "history", label: "History" },
  { screen: "conflicts", label: "Conflicts" },
  { screen: "settings", label: "Settings" },
  { screen: "about", label: "About" },
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
    case "about":
      unmount = mountAbout(main);
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
      h("div", { class: "sidebar-foot" },
        backend.kind === "browser" && [
          h("div", null, "Opened in a browser. “This computer” on these screens is the office PC where TempleSync runs."),
          h("button", { class: "link", "data-testid": "forget-token", onclick: () => { setApiToken(null); location.reload(); } },
            "Forget the access key"),
        ],
      ),
    ),
    h("div", { class: "content" }, band, main),
  );
}

// A browser needs the access key (the API token of `templesync serve`) once. It is checked
// before it is kept, so a mistyped key is pointed out here rather than as a broken app.
function askForToken(why?: string): void {
  const input = h("input", {
    type: "password", class: "wide mono", "data-testid": "token-input", autocomplete: "off", spellcheck: "false",
    placeholder: "Paste the access key here", "aria-label": "Access key",
  });
  const problem = h("p", { class: "field-error", "data-testid": "token-error", role: "alert" }, why ?? "");
  const go = h("button", { class: "primary", type: "submit", "data-testid": "token-continue" }, "Continue");
  const submit = async (e: Event) => {
    e.preventDefault();
    const token = input.value.trim();
    if (!token) {
      problem.textContent = "Paste the access key first.";
      return;
    }
    go.disabled = true;
    problem.textContent = "Checking…";
    const answer = await checkApiToken(token);
    go.disabled = false;
    if (answer === "ok") {
      setApiToken(token);
      location.reload();
    } else if (answer === "wrong") {
      problem.textContent =
        "That access key is not right. Copy the whole line from the api-token file again (without spaces), or ask whoever set up TempleSync.";
    } else {
      problem.textContent = answer.message;
    }
  };
  document.body.classList.add("first-run");
  fill(
    root,
    h("div", { class: "setup" },
      h("div", { class: "card setup-card token-card", "data-testid": "token-screen" },
        h("img", { src: appIcon, alt: "", class: "setup-icon" }),
        h("h1", null, "Open TempleSync in this browser"),
        h("p", { class: "lead" },
          "Here you can see how syncing is going and settle conflicts, as on the office PC. The first time, TempleSync asks for its access key; this browser then remembers it."),
        h("h2", null, "Where to find the access key"),
        h("ol", { class: "steps" },
          h("li", null, "Go to the office PC where TempleSync runs (the one whose address you opened here)."),
          h("li", null,
            "Open the file ", h("code", null, "api-token"), " in the folder ", h("code", null, ".config/templesync"),
            " of that PC's home folder (", h("code", null, "~/.config/templesync/api-token"),
            ") with a text editor. When TempleSync starts, it names the file in a line beginning “The TempleSync screens”."),
          h("li", null, "Copy the one line in it, paste it below, and press Continue."),
        ),
        h("p", { class: "muted" },
          "Cannot get to that PC? Ask whoever set up TempleSync. Keep the key to yourself: whoever has it can sync and settle conflicts."),
        h("form", { class: "row", onsubmit: (e: Event) => void submit(e) }, input, go),
        problem,
      ),
    ),
  );
  input.focus();
}

async function start(): Promise<void> {
  if (backend.kind === "browser" && !apiToken()) {
    askForToken();
    return;
  }
  layout();
  renderBand();
  subscribe((what) => {
    const refused = live.overview?.problem?.code === "unauthorized" || live.lastError?.code === "unauthorized";
    if (what === "overview" && refused && backend.kind === "browser") {
      // The key was changed on the office PC (or this browser's copy was lost).
      setApiToken(null);
      askForToken("The access key this browser kept is no longer accepted: it may have been changed on the office PC. Enter the current one.");
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
