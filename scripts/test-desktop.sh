#!/usr/bin/env bash
# Builds the desktop app (debug) and its UI, then runs the desktop end-to-end tests
# (tests/desktop_e2e.rs): the real app under Xvfb, driven through tauri-driver and
# WebKitWebDriver, against real servers. Screenshots of each screen land in screenshots/
# (git-ignored), the app's logs in screenshots/logs/.
#
# Installs what it needs (scripts/setup-test-deps.sh, scripts/setup-desktop-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/templesync-target}"
export TEMPLESYNC_SECANTUSD="${TEMPLESYNC_SECANTUSD:-$(bash scripts/setup-test-deps.sh | tail -n 1)}"
export PATH="$HOME/.cargo/bin:$PATH"

bash scripts/setup-desktop-deps.sh
echo "== desktop: build"
npm --prefix ui run build --silent >/dev/null
cargo build --locked --quiet -p templesync-desktop
cargo test --locked --quiet -p templesync-tests --test desktop_e2e --no-run 2>/dev/null

echo "== desktop: end-to-end tests (Xvfb)"
mkdir -p screenshots/logs
# Each test records the tauri-driver it starts (in its own process group, with WebKitWebDriver
# and the app). A test process that is killed cannot stop them: stop what is left here.
PIDS=screenshots/logs/tauri-driver.pids
rm -f "$PIDS"
stop_leftovers() {
    [[ -f "$PIDS" ]] || return 0
    while read -r pid; do
        if [[ -n "$pid" ]] && grep -qa tauri-driver "/proc/$pid/cmdline" 2>/dev/null; then
            kill -KILL -- "-$pid" 2>/dev/null || true
        fi
    done <"$PIDS"
}
trap stop_leftovers EXIT
# Without a display the app cannot start and a WebDriver connect can hang: always bounded.
TEMPLESYNC_E2E=1 timeout 600 xvfb-run -a -s "-screen 0 1280x800x24" dbus-run-session -- \
    cargo test --locked -p templesync-tests --test desktop_e2e -- --test-threads=1
