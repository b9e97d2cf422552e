#!/usr/bin/env bash
# Installs what the browser end-to-end tests (tests/browser_e2e.rs, scripts/test-browser.sh)
# need:
#
#   - Debian's `chromium` (the browser the tests drive, headless);
#   - the driver's npm package, playwright-core (`npm ci` in tests/browser/), which drives that
#     Chromium and never downloads a browser of its own;
#   - the UI's npm packages, through scripts/setup-desktop-deps.sh (the UI is built before the
#     `templesync` binary, which embeds it).
#
# Idempotent and quick when done: apt runs only when chromium is missing (checked with
# dpkg-query), `npm ci` only when tests/browser/node_modules is missing or its lock file
# changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "setup-browser-deps: $*" >&2; }

bash scripts/setup-desktop-deps.sh

PACKAGES=(chromium)
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

# npm ci when node_modules is missing or the lock file changed since the last install.
# PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: playwright-core downloads nothing, and this says so.
STAMP=tests/browser/node_modules/.package-lock.sha256
want=$(sha256sum tests/browser/package-lock.json | cut -d' ' -f1)
if [[ ! -d tests/browser/node_modules ]] || [[ "$(cat "$STAMP" 2>/dev/null || true)" != "$want" ]]; then
    log "installing the browser tests' npm packages"
    (cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" >"$STAMP"
fi
