//! Embeds the built web UI (`ui/dist`, made by `npm --prefix ui run build`) in the binary, so
//! that `templesync serve` shows it at `/` with nothing to install beside the program.
//!
//! Writes `$OUT_DIR/ui_files.rs`: a table of each file's path and `include_bytes!` of it (so
//! rustc tracks every file, and a debug build embeds them as a release build does). Without
//! `ui/dist` the table is empty and the binary still builds: its `/` then says how to build
//! the UI. Cargo scans the folder for changes, so a new UI build is picked up by the next
//! `cargo build`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    // `TEMPLESYNC_UI_DIST` names another built UI (packaging; the test of a binary without one).
    println!("cargo:rerun-if-env-changed=TEMPLESYNC_UI_DIST");
    let dist = std::env::var_os("TEMPLESYNC_UI_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../../ui/dist"));
    // A folder is scanned whole; a missing one makes the script run again at each build, so
    // that a UI built later is embedded then.
    println!("cargo:rerun-if-changed={}", dist.display());

    let mut files = Vec::new();
    if dist.join("index.html").is_file() {
        let dist = dist.canonicalize().expect("ui/dist resolves");
        collect(&dist, &dist, &mut files);
    }
    files.sort();

    let mut table = String::from(
        "/// The files of ui/dist (path relative to it, contents), sorted by path.\n\
         pub static FILES: &[(&str, &[u8])] = &[\n",
    );
    for (rel, abs) in &files {
        writeln!(table, "    ({rel:?}, include_bytes!({abs:?})),").expect("a String");
    }
    table.push_str("];\n");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    std::fs::write(out.join("ui_files.rs"), table).expect("OUT_DIR is writable");
}

/// Every file under `dir`, as (path relative to `root` with `/` separators, absolute path).
fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, String)>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {dir:?}: {e}"));
    for entry in entries {
        let path = entry.expect("a folder entry").path();
        if path.is_dir() {
            collect(root, &path, files);
        } else if path.is_file() {
            let rel = path.strip_prefix(root).expect("under the root");
            let rel = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            let abs = path.to_str().expect("a UTF-8 path").to_string();
            files.push((rel, abs));
        }
    }
}
