#!/usr/bin/env bash
# Installs what the desktop app (src-tauri/, ui/) needs to build and to be tested end to end:
#
#   - the Debian packages of Tauri 2 on Linux (WebKitGTK 4.1, appindicator, ...), and those of
#     the E2E tests: Xvfb, dbus, dunst (a notification server, to see the app's notices on the
#     session bus), gnome-keyring and secret-tool (a real Secret Service, for the keychain),
#     WebKitWebDriver (webkit2gtk-driver) and ImageMagick (`import` takes screenshots of the
#     virtual screen; the icons in icons/ were drawn with it);
#   - `tauri-driver` 2.x (the WebDriver server for Tauri apps), from crates.io;
#   - the UI's npm packages (`npm ci` in ui/).
#
# Idempotent and quick when done: apt runs only when a package is missing (checked with
# dpkg-query), cargo install only when `tauri-driver` is not there, `npm ci` only when
# ui/node_modules is missing or ui/package-lock.json changed since the last install. No
# browser or other binary is downloaded from anywhere but the package registries.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "setup-desktop-deps: $*" >&2; }

PACKAGES=(
    libwebkit2gtk-4.1-dev build-essential curl wget file libxdo-dev libssl-dev
    libayatana-appindicator3-dev librsvg2-dev libdbus-1-dev
    xvfb xauth webkit2gtk-driver dbus imagemagick x11-apps
    dunst gnome-keyring libsecret-tools
)

missing=()
for p in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [[ "$status" == "installed" ]] || missing+=("$p")
done
if ((${#missing[@]})); then
    log "installing Debian packages: ${missing[*]}"
    SUDO=()
    [[ $(id -u) -eq 0 ]] || SUDO=(sudo)
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get update -qq
    "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

TAURI_DRIVER_VERSION="2.1.0"
if ! command -v tauri-driver >/dev/null 2>&1 && [[ ! -x "$HOME/.cargo/bin/tauri-driver" ]]; then
    log "installing tauri-driver $TAURI_DRIVER_VERSION"
    cargo install tauri-driver --version "$TAURI_DRIVER_VERSION" --locked --quiet
fi

# npm ci when node_modules is missing or the lock file changed since the last install.
STAMP=ui/node_modules/.package-lock.sha256
want=$(sha256sum ui/package-lock.json | cut -d' ' -f1)
if [[ ! -d ui/node_modules ]] || [[ "$(cat "$STAMP" 2>/dev/null || true)" != "$want" ]]; then
    log "installing the UI's npm packages"
    (cd ui && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" >"$STAMP"
fi
