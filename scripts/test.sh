#!/usr/bin/env bash
# Runs every test: formatting, lints, unit tests, and the integration tests against real
# MongoDB wire-protocol servers that the tests start themselves. Installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/templesync-target}"
export TEMPLESYNC_SECANTUSD="${TEMPLESYNC_SECANTUSD:-$(bash scripts/setup-test-deps.sh | tail -n 1)}"

# The desktop app (src-tauri) is a workspace member: it needs WebKitGTK to compile and the
# built UI (ui/dist, which it embeds). The UI build type-checks the UI too.
echo "== desktop dependencies and UI"
bash scripts/setup-desktop-deps.sh
npm --prefix ui run build --silent >/dev/null

echo "== format"
cargo fmt --all --check
echo "== lints"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== tests"
# The CLI and HTTP tests run the real binaries, which `cargo test` alone does not build.
cargo build --workspace --locked
cargo test --workspace --locked --no-fail-fast
bash scripts/test-desktop.sh
bash scripts/test-browser.sh
bash scripts/schemathesis.sh
# The .deb: built, installed with apt, started under Xvfb against real servers, removed.
bash scripts/test-package.sh
