// First run: nothing configured yet, so a short setup instead of errors.

import { asAppError, live } from "../app";
import { fill, h } from "../dom";
import { backend } from "../transport";
import { connectionForm } from "./connection-form";
import appIcon from "../../../icons/128x128.png";

export function mountSetup(el: HTMLElement): () => void {
  fill(el, h("p", { class: "muted" }, "Loading…"));
  void (async () => {
    const view = await backend.connection().catch((e) => {
      fill(el, h("p", { class: "error-text" }, asAppError(e).message));
      return null;
    });
    const problem = live.overview?.problem;
    fill(
      el,
      h("div", { class: "setup", "data-testid": "setup" },
        h("div", { class: "card setup-card" },
          h("img", { src: appIcon, alt: "", class: "setup-icon" }),
          h("h1", null, "Welcome to TempleSync"),
          h("p", { class: "lead" },
            "TempleSync keeps this office's database and the temple's cloud copy in step, both ways. It works offline and catches up by itself. Tell it where the two databases are:"),
          problem && h("div", { class: "problem" }, problem.message),
          backend.canEditConnection
            ? connectionForm(view, { saveLabel: "Save and start" })
            : h("p", { class: "note" },
                "TempleSync on the office PC has no cloud database yet, so there is nothing to sync. The connection cannot be set from a browser (it holds the cloud database's password): set it on the office PC, in the TempleSync app or as MONGODB_CLOUD_URL for `templesync serve`, then reload this page."),
        ),
      ),
    );
  })();
  return () => {};
}
