// The About screen: which TempleSync this is, and where it keeps its files.

import { asAppError } from "../app";
import { fill, h } from "../dom";
import { backend } from "../transport";

export function mountAbout(el: HTMLElement): () => void {
  fill(el, h("h1", null, "About TempleSync"), h("p", { class: "muted" }, "Loading…"));
  void (async () => {
    try {
      const a = await backend.about();
      const where = backend.kind === "browser" ? "on the office PC" : "on this computer";
      const row = (label: string, value: string | null | undefined, id: string) =>
        h("tr", null, h("th", { scope: "row" }, label), h("td", { class: "mono", "data-testid": `about-${id}` }, value ?? "Not known"));
      fill(el,
        h("h1", null, "About TempleSync"),
        h("section", { class: "card", "data-testid": "about" },
          h("h2", null, `TempleSync ${a.version}`),
          h("table", { class: "grid about" },
            h("tbody", null,
              row("Version", a.version, "version"),
              row("Sync engine", a.engineVersion, "engine"),
              row("System", a.system, "system"),
            )),
        ),
        h("section", { class: "card" },
          h("h2", null, `Where TempleSync keeps its files ${where}`),
          h("table", { class: "grid about" },
            h("tbody", null,
              row("Settings", a.places?.config, "config"),
              a.appSettingsFile && row("This app's settings", a.appSettingsFile, "app-settings"),
              row("Data", a.places?.data, "data"),
              row("Log files", a.places?.logs, "logs"),
            )),
          backend.kind === "desktop" && h("div", { class: "row" },
            h("button", { "data-testid": "about-open-logs", onclick: () => void backend.openLogFolder().catch(() => {}) }, "Open log folder")),
        ),
        h("section", { class: "card" },
          h("h2", null, "Databases"),
          h("table", { class: "grid about" },
            h("tbody", null,
              row("This computer", `${a.localDatabase} · ${a.databaseName}`, "local"),
              row("The cloud", a.cloudDatabase ?? "Not set up yet", "cloud"),
            )),
          h("p", { class: "muted small" }, "Passwords are never shown."),
        ),
      );
    } catch (e) {
      fill(el, h("h1", null, "About TempleSync"), h("p", { class: "error-text" }, asAppError(e).message));
    }
  })();
  return () => {};
}
