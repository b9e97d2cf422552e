// The database connection form, on the setup screen and in Settings.

import { asAppError, refreshOverview } from "../app";
import { fill, h } from "../dom";
import { backend, type ConnectionInput, type ConnectionTest, type ConnectionView } from "../transport";

export function connectionForm(view: ConnectionView | null, opts: { saveLabel: string }): HTMLElement {
  const local = h("input", { type: "text", class: "wide mono", value: view?.localUrl ?? "mongodb://localhost:27017", "data-testid": "local-url", spellcheck: "false" });
  const cloud = h("input", { type: "text", class: "wide mono", value: view?.cloudUrl ?? "", placeholder: "mongodb+srv://user:password@cluster0.example.net/", "data-testid": "cloud-url", spellcheck: "false" });
  const db = h("input", { type: "text", class: "mono", value: view?.database ?? "temple_db", "data-testid": "database", spellcheck: "false" });
  const out = h("div", { class: "test-results", "data-testid": "connection-result" });
  let busy = false;
  const buttons = () => [testBtn, saveBtn].forEach((b) => (b.disabled = busy));

  const input = (): ConnectionInput => ({ localUrl: local.value.trim(), cloudUrl: cloud.value.trim() || null, database: db.value.trim() });

  const show = (t: ConnectionTest) =>
    fill(out, [t.local, t.cloud].map((c, i) =>
      c && h("div", { class: `check ${c.ok ? "ok" : "bad"}` },
        h("span", { class: "check-mark" }, c.ok ? "✓" : "✗"),
        h("div", null, h("strong", null, i === 0 ? "This computer's database: " : "Cloud database: "), c.message)),
    ), !t.cloud && h("div", { class: "check bad" }, h("span", { class: "check-mark" }, "!"), "No cloud database given: TempleSync needs one to sync."));

  const fail = (e: unknown) => fill(out, h("div", { class: "check bad" }, h("span", { class: "check-mark" }, "✗"), asAppError(e).message));

  const testBtn = h("button", {
    "data-testid": "test-connection",
    onclick: async () => {
      busy = true;
      buttons();
      fill(out, h("p", { class: "muted" }, "Trying both databases…"));
      try {
        show(await backend.testConnection(input()));
      } catch (e) {
        fail(e);
      }
      busy = false;
      buttons();
    },
  }, "Test connection");

  const saveBtn = h("button", {
    class: "primary",
    "data-testid": "save-connection",
    onclick: async () => {
      busy = true;
      buttons();
      fill(out, h("p", { class: "muted" }, "Saving and connecting…"));
      try {
        const v = await backend.saveConnection(input());
        cloud.value = v.cloudUrl ?? "";
        local.value = v.localUrl;
        fill(out, h("div", { class: "check ok" }, h("span", { class: "check-mark" }, "✓"), "Saved. TempleSync now uses these databases."));
        await refreshOverview();
      } catch (e) {
        fail(e);
      }
      busy = false;
      buttons();
    },
  }, opts.saveLabel);

  return h("div", { class: "form" },
    h("label", { class: "field" }, h("span", null, "This computer's database"), local,
      h("small", null, "Where the Temple Management System keeps its data. Usually mongodb://localhost:27017")),
    h("label", { class: "field" }, h("span", null, "Cloud database"), cloud,
      h("small", null, "The MongoDB Atlas address, from whoever set up the cloud. A saved password shows as ****: leave it so to keep it.")),
    h("label", { class: "field" }, h("span", null, "Database name"), db,
      h("small", null, "The same on both sides, e.g. temple_db")),
    h("div", { class: "row" }, testBtn, saveBtn),
    out,
  );
}
