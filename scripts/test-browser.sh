#!/usr/bin/env bash
# Builds the UI and the `templesync` binary (which embeds it), then runs the browser
# end-to-end tests (tests/browser_e2e.rs): the real `templesync serve` against real servers,
# its web UI driven in Debian's Chromium (headless) through Playwright. Screenshots of each
# screen land in screenshots/browser/ (git-ignored), the logs in screenshots/browser/logs/.
#
# Installs what it needs (scripts/setup-test-deps.sh, scripts/setup-browser-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/templesync-target}"
export TEMPLESYNC_SECANTUSD="${TEMPLESYNC_SECANTUSD:-$(bash scripts/setup-test-deps.sh | tail -n 1)}"

bash scripts/setup-browser-deps.sh
echo "== browser: build"
# The UI first: the binary embeds ui/dist as it is at build time.
npm --prefix ui run build --silent >/dev/null
cargo build --locked --quiet --bin templesync
cargo test --locked --quiet -p templesync-tests --test browser_e2e --no-run 2>/dev/null

echo "== browser: end-to-end tests (Chromium)"
mkdir -p screenshots/browser/logs
# Each test records the driver it starts (in its own process group, with Chromium). A test
# process that is killed cannot stop them: stop what is left here.
PIDS=screenshots/browser/logs/driver.pids
rm -f "$PIDS"
stop_leftovers() {
    [[ -f "$PIDS" ]] || return 0
    while read -r pid; do
        if [[ -n "$pid" ]] && grep -qa driver.mjs "/proc/$pid/cmdline" 2>/dev/null; then
            kill -KILL -- "-$pid" 2>/dev/null || true
        fi
    done <"$PIDS"
}
trap stop_leftovers EXIT
TEMPLESYNC_BROWSER_E2E=1 timeout 600 \
    cargo test --locked -p templesync-tests --test browser_e2e -- --test-threads=1
