// The browser end-to-end tests' hands (tests/browser_e2e.rs): Debian's Chromium, headless,
// driven by Playwright. The test sends one JSON command a line on stdin and reads one JSON
// answer a line on stdout ({"ok": true, "value": ...} or {"ok": false, "error": "..."}); the
// flows themselves, the servers and the database checks are in Rust.
//
// Environment: TEMPLESYNC_BROWSER_PROFILE (a fresh, empty folder for Chromium's profile) and
// optionally TEMPLESYNC_CHROMIUM (default /usr/bin/chromium). Closing stdin closes the browser.

import readline from "node:readline";
import { chromium } from "playwright-core";

const profile = process.env.TEMPLESYNC_BROWSER_PROFILE;
if (!profile) {
  console.error("driver: TEMPLESYNC_BROWSER_PROFILE is not set");
  process.exit(2);
}

// The network is closed here: without these, Chromium waits on connections to Google's
// services (updates, sync, field trials) and can hang.
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.TEMPLESYNC_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
  viewport: { width: 1280, height: 800 },
  locale: "en-GB",
});
const page = context.pages()[0] ?? (await context.newPage());

// What the page got wrong: uncaught exceptions, and anything the Content-Security-Policy
// blocked. The tests fail on them.
const problems = [];
page.on("pageerror", (e) => problems.push(`uncaught: ${e.message}`));
page.on("console", (m) => {
  if (m.type() === "error" && /Content.Security.Policy/i.test(m.text())) problems.push(`CSP: ${m.text()}`);
});

const first = (css) => page.locator(css).first();

const ops = {
  goto: ({ url, timeout }) => page.goto(url, { timeout, waitUntil: "load" }).then(() => null),
  reload: ({ timeout }) => page.reload({ timeout, waitUntil: "load" }).then(() => null),
  click: ({ css, timeout }) => first(css).click({ timeout }).then(() => null),
  fill: ({ css, text, timeout }) => first(css).fill(text, { timeout }).then(() => null),
  press: ({ css, key, timeout }) => first(css).press(key, { timeout }).then(() => null),
  wait: ({ css, state, timeout }) => first(css).waitFor({ state: state ?? "visible", timeout }).then(() => null),
  text: ({ css, timeout }) => first(css).innerText({ timeout }),
  value: ({ css, timeout }) => first(css).inputValue({ timeout }),
  attr: ({ css, name, timeout }) => first(css).getAttribute(name, { timeout }),
  enabled: ({ css, timeout }) => first(css).isEnabled({ timeout }),
  count: ({ css }) => page.locator(css).count(),
  scroll: ({ css, timeout }) => first(css).scrollIntoViewIfNeeded({ timeout }).then(() => null),
  // Two animation frames first, so the picture shows what the DOM already says.
  shot: async ({ path, fullPage }) => {
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    await page.screenshot({ path, fullPage: Boolean(fullPage) });
    return null;
  },
  eval: ({ js }) => page.evaluate(js),
  url: async () => page.url(),
  problems: async () => problems.slice(),
};

const answer = (a) => process.stdout.write(`${JSON.stringify(a)}\n`);

const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (e) {
    answer({ ok: false, error: `not JSON: ${e.message}` });
    continue;
  }
  const op = ops[cmd.op];
  if (!op) {
    answer({ ok: false, error: `unknown op ${cmd.op}` });
    continue;
  }
  try {
    const value = await op({ timeout: 30_000, ...cmd });
    answer({ ok: true, value: value ?? null });
  } catch (e) {
    // Playwright's messages carry a call log: the first lines say what went wrong.
    answer({ ok: false, error: String(e?.message ?? e).split("\n").slice(0, 6).join("\n") });
  }
}
await context.close();
