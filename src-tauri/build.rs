//! Runs tauri-build with the config at the repository root, and makes sure the web UI it
//! embeds (ui/dist) exists: `generate_context!` fails with a less helpful message otherwise.

use std::path::Path;

fn main() {
    // The UI is embedded at compile time: a rebuilt UI must rebuild the app.
    println!("cargo:rerun-if-changed=../ui/dist");
    if !Path::new("../ui/dist/index.html").exists() {
        println!(
            "cargo:warning=The desktop UI is not built (ui/dist/index.html is missing): run \
             `bash scripts/setup-desktop-deps.sh && npm --prefix ui run build` first"
        );
        std::process::exit(1);
    }
    tauri_build::try_build(tauri_build::Attributes::new().config_path("../tauri.conf.json"))
        .expect("tauri-build failed (see the message above)");
}
