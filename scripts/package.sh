#!/usr/bin/env bash
# Builds TempleSync's Linux packages, a .deb and an .rpm, with Tauri's bundler (the Tauri CLI
# from npm: @tauri-apps/cli in ui/package.json, a prebuilt binary in the npm package).
#
#   scripts/package.sh                      release build; .deb and .rpm
#   scripts/package.sh --debug              from the debug build, the one `scripts/test.sh`
#                                           makes (so quick after it); for tests
#   scripts/package.sh --bundles deb        only some of: deb, rpm, appimage (an AppImage needs
#                                           linuxdeploy, which the bundler downloads from GitHub)
#
# Each package holds the desktop app (/usr/bin/templesync-desktop), its desktop entry
# (/usr/share/applications/TempleSync.desktop), its icons (/usr/share/icons/hicolor/*/apps/)
# and the `templesync` command (/usr/bin/templesync). They land in
# $CARGO_TARGET_DIR/{release,debug}/bundle/{deb,rpm}/ (CARGO_TARGET_DIR defaults to
# ~/.cache/templesync-target, as for scripts/test.sh); the lines printed on stdout are their
# paths, one a line, and nothing else (the rest goes to stderr).
#
# How: cargo builds both binaries (the release one with `tauri/custom-protocol`, as
# `tauri build` does; --debug takes what `cargo build --workspace` built), then `tauri bundle`
# packages them. The Tauri CLI reads its config in the app crate's folder, but this
# repository keeps tauri.conf.json at the root (src-tauri/build.rs and lib.rs point there):
# for the bundling only, this script writes src-tauri/tauri.conf.json (the root one with its
# paths made relative to src-tauri, bundling on, and the `templesync` binary added) and
# removes it when it ends. `scripts/package.sh --write-config CLI_BINARY` only writes that
# file and leaves it, for this system (deb/rpm, Windows installers or the macOS app); the
# release workflow (.github/workflows/release.yml) runs it before tauri-action.
#
# Installs what it needs, idempotently (scripts/setup-desktop-deps.sh: Debian packages, npm).
set -euo pipefail
CALLER_PWD=$(pwd)
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/templesync-target}"
# (A relative one is taken from where the script was started, as cargo would.)
[[ "$CARGO_TARGET_DIR" == /* ]] || CARGO_TARGET_DIR="$CALLER_PWD/$CARGO_TARGET_DIR"
export PATH="$HOME/.cargo/bin:$PATH"

# The Tauri CLI of the cargo fallback (used only when the npm package's binary does not run
# here): the newest 2.12 on crates.io, the minor of the `tauri` crate in Cargo.lock.
TAURI_CLI_CARGO_VERSION="2.12.4"
GENERATED="$ROOT/src-tauri/tauri.conf.json"

say() { printf 'package: %s\n' "$*" >&2; }
die() {
    say "$*"
    exit 1
}

# Writes $GENERATED from the root tauri.conf.json for this system (see the top).
write_config() { # cli_binary
    if git -C "$ROOT" ls-files --error-unmatch "$GENERATED" >/dev/null 2>&1; then
        die "src-tauri/tauri.conf.json is in git: this script writes that file, so it will not overwrite it"
    fi
    # (Node on Windows wants C:/... paths, not Git Bash's /c/...)
    native() { if command -v cygpath >/dev/null 2>&1; then cygpath -m "$1"; else printf '%s' "$1"; fi; }
    node - "$(native "$ROOT")" "$(native "$GENERATED")" "$(native "$1")" <<'JS'
const fs = require('fs');
const path = require('path');
const [root, out, cli] = process.argv.slice(2);
const conf = JSON.parse(fs.readFileSync(path.join(root, 'tauri.conf.json'), 'utf8'));
const tauriDir = path.dirname(out);
const slashes = (p) => p.split(path.sep).join('/');
// Paths in the root config are relative to the root; the CLI reads them from src-tauri.
const fromTauriDir = (p) =>
  path.isAbsolute(p) ? p : slashes(path.relative(tauriDir, path.resolve(root, p)));
if (typeof conf.build?.frontendDist === 'string' && !/^[a-z]+:\/\//.test(conf.build.frontendDist)) {
  conf.build.frontendDist = fromTauriDir(conf.build.frontendDist);
}
conf.bundle = conf.bundle || {};
conf.bundle.active = true;
conf.bundle.icon = (conf.bundle.icon || []).map(fromTauriDir);
const bin = slashes(path.resolve(cli));
if (process.platform === 'linux') {
  const linux = (conf.bundle.linux = conf.bundle.linux || {});
  for (const kind of ['deb', 'rpm']) {
    linux[kind] = linux[kind] || {};
    linux[kind].files = { ...(linux[kind].files || {}), '/usr/bin/templesync': bin };
  }
  linux.appimage = linux.appimage || {};
  linux.appimage.files = { ...(linux.appimage.files || {}), '/usr/bin/templesync': bin };
} else if (process.platform === 'darwin') {
  // Inside the app: TempleSync.app/Contents/MacOS/templesync.
  const mac = (conf.bundle.macOS = conf.bundle.macOS || {});
  mac.files = { ...(mac.files || {}), 'MacOS/templesync': bin };
} else if (process.platform === 'win32') {
  // Windows wants an .ico (tauri-build's resource file looks for icons/icon.ico, and the
  // installers for one in bundle > icon): made from icons/icon.png by the Tauri CLI.
  const ico = path.join(root, 'icons', 'icon.ico');
  if (!fs.existsSync(ico)) {
    const tmp = fs.mkdtempSync(path.join(require('os').tmpdir(), 'templesync-icons-'));
    const tauri = path.join(root, 'ui', 'node_modules', '@tauri-apps', 'cli', 'tauri.js');
    require('child_process').execFileSync(
      process.execPath,
      [tauri, 'icon', path.join(root, 'icons', 'icon.png'), '--output', tmp],
      { stdio: ['ignore', 2, 2] },
    );
    fs.copyFileSync(path.join(tmp, 'icon.ico'), ico);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  if (!conf.bundle.icon.some((i) => i.endsWith('.ico'))) {
    conf.bundle.icon.push(fromTauriDir('icons/icon.ico'));
  }
  // templesync.exe installed next to the app's .exe (MSI and NSIS both install resources).
  const resources = Array.isArray(conf.bundle.resources)
    ? Object.fromEntries(conf.bundle.resources.map((r) => [r, r]))
    : conf.bundle.resources || {};
  conf.bundle.resources = { ...resources, [bin]: 'templesync.exe' };
}
fs.writeFileSync(out, JSON.stringify(conf, null, 2) + '\n');
JS
}

DEBUG=0
BUNDLES="deb,rpm"
while (($#)); do
    case "$1" in
        --debug) DEBUG=1 ;;
        --bundles)
            [[ $# -ge 2 ]] || die "--bundles needs a list, e.g. --bundles deb,rpm"
            BUNDLES=$2
            shift
            ;;
        --bundles=*) BUNDLES=${1#--bundles=} ;;
        --write-config)
            [[ $# -ge 2 ]] || die "--write-config needs the path of the templesync binary"
            cli=$2
            [[ "$cli" == /* || "$cli" =~ ^[A-Za-z]:[/\\] ]] || cli="$CALLER_PWD/$cli"
            [[ -f "$cli" ]] || die "no templesync binary at $2"
            write_config "$cli"
            say "wrote $GENERATED"
            exit 0
            ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$ROOT/scripts/package.sh" | sed '$d' | sed 's/^# \{0,1\}//' >&2
            exit 0
            ;;
        *) die "unknown option '$1' (see scripts/package.sh --help)" ;;
    esac
    shift
done
IFS=, read -r -a BUNDLE_LIST <<<"$BUNDLES"
for b in "${BUNDLE_LIST[@]}"; do
    case "$b" in
        deb | rpm | appimage) ;;
        *) die "unknown bundle '$b': use deb, rpm or appimage" ;;
    esac
done

if ((DEBUG)); then
    PROFILE=debug
    CARGO_PROFILE=()
    # Exactly what `cargo build --workspace` (scripts/test.sh) builds: nothing to do after it.
    CARGO_FEATURES=()
    TAURI_PROFILE=(--debug)
else
    PROFILE=release
    CARGO_PROFILE=(--release)
    # What `tauri build` adds: the UI served from the binary as in production, not a dev build.
    CARGO_FEATURES=(--features tauri/custom-protocol)
    TAURI_PROFILE=()
fi
OUT="$CARGO_TARGET_DIR/$PROFILE"

# Build dependencies (Debian packages, the UI's npm packages with the Tauri CLI).
bash scripts/setup-desktop-deps.sh >&2

# The UI, unless ui/dist is newer than everything in ui/: a rebuilt ui/dist makes cargo
# rebuild both binaries (they embed it), which is what would be slow after scripts/test.sh.
if [[ -f ui/dist/index.html ]] &&
    [[ -z "$(find ui -path ui/node_modules -prune -o -path ui/dist -prune -o -newer ui/dist/index.html -print -quit)" ]]; then
    say "the UI is built already (ui/dist is newer than its sources)"
else
    say "building the UI"
    if ! ui_out=$(npm --prefix ui run build --silent 2>&1); then
        printf '%s\n' "$ui_out" >&2
        die "the UI does not build (npm --prefix ui run build)"
    fi
fi

say "building the desktop app and the templesync command ($PROFILE)"
# --workspace with --bin: the features of the whole workspace, as `cargo build --workspace`.
cargo build --locked "${CARGO_PROFILE[@]}" --workspace --bin templesync-desktop --bin templesync \
    "${CARGO_FEATURES[@]}" >&2
for bin in templesync-desktop templesync; do
    [[ -x "$OUT/$bin" ]] || die "cargo did not make $OUT/$bin"
done

# The Tauri CLI: the prebuilt binary of the npm package; else from crates.io, once.
TAURI=(node "$ROOT/ui/node_modules/@tauri-apps/cli/tauri.js")
if ! "${TAURI[@]}" --version >/dev/null 2>&1; then
    if ! cargo tauri --version 2>/dev/null | grep -q "^tauri-cli $TAURI_CLI_CARGO_VERSION\$"; then
        say "the npm Tauri CLI does not run here: installing tauri-cli $TAURI_CLI_CARGO_VERSION from crates.io"
        cargo install tauri-cli --locked --version "$TAURI_CLI_CARGO_VERSION" >&2
    fi
    TAURI=(cargo tauri)
fi
say "bundling with $("${TAURI[@]}" --version)"

# One bundling at a time: the config file written below is shared by every run.
exec 9<"$ROOT/scripts/package.sh"
flock -w 1800 9 || die "another scripts/package.sh is still bundling"
cleanup() { rm -f "$GENERATED"; }
trap cleanup EXIT
write_config "$OUT/templesync"

STAMP=$(mktemp)
trap 'cleanup; rm -f "$STAMP"' EXIT
# The CLI finds the app's crate (and so the config) from its working folder: src-tauri.
(
    cd src-tauri
    TAURI_FRONTEND_PATH="$ROOT/ui" "${TAURI[@]}" bundle --ci --bundles "$BUNDLES" "${TAURI_PROFILE[@]}"
) >&2

made=()
for b in "${BUNDLE_LIST[@]}"; do
    while IFS= read -r -d '' f; do
        made+=("$f")
    done < <(find "$OUT/bundle/$b" -maxdepth 1 -type f -newer "$STAMP" -print0 2>/dev/null)
done
((${#made[@]})) || die "the bundler made no package (see above)"
say "made:"
printf '%s\n' "${made[@]}"
