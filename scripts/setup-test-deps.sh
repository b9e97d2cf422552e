#!/usr/bin/env bash
# Install the test-only dependencies of TempleSync's integration tests.
#
# Today that is SecantusDB (a MongoDB wire-protocol server written in Python, GPL-2.0, beta),
# pinned to one version and installed into its own virtualenv under the user's cache. It is
# only ever run as a separate process by the test harness (tests/harness); it is never linked,
# bundled or shipped.
#
# Idempotent and fast when already done: if the `secantusd-py` entry point already exists in
# the venv, nothing is installed. The last line printed on stdout is always the absolute path
# of the `secantusd-py` binary, so callers can do:
#
#     export TEMPLESYNC_SECANTUSD="$(scripts/setup-test-deps.sh | tail -n1)"
#
# Environment:
#   TEMPLESYNC_CACHE   cache root (default: $HOME/.cache/templesync)
#   PYTHON             python interpreter to build the venv with (default: python3)
set -euo pipefail

SECANTUS_VERSION="0.7.0b3"
CACHE_DIR="${TEMPLESYNC_CACHE:-$HOME/.cache/templesync}"
VENV_DIR="$CACHE_DIR/venv-secantus-$SECANTUS_VERSION"
BIN="$VENV_DIR/bin/secantusd-py"
PYTHON="${PYTHON:-python3}"

log() { echo "setup-test-deps: $*" >&2; }

if [[ -x "$BIN" ]]; then
    echo "$BIN"
    exit 0
fi

mkdir -p "$CACHE_DIR"

make_venv() {
    "$PYTHON" -m venv "$VENV_DIR"
}

# A venv left behind by an interrupted run (python there, secantusd-py not) is reused: pip
# below completes it. Otherwise create it, installing python3-venv first if needed (Debian
# ships python3 without ensurepip).
if [[ ! -x "$VENV_DIR/bin/python" ]]; then
    rm -rf "$VENV_DIR"
    if ! make_venv >/dev/null 2>&1; then
        rm -rf "$VENV_DIR"
        log "'$PYTHON -m venv' failed; installing python3-venv with apt-get"
        if [[ $(id -u) -eq 0 ]]; then SUDO=(); else SUDO=(sudo); fi
        "${SUDO[@]}" apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq python3-venv >&2
        make_venv >&2
    fi
fi

log "installing secantusdb==$SECANTUS_VERSION into $VENV_DIR"
if ! "$VENV_DIR/bin/python" -m pip install --disable-pip-version-check -q \
        "secantusdb==$SECANTUS_VERSION" >&2; then
    rm -rf "$VENV_DIR"
    log "pip install failed"
    exit 1
fi

if [[ ! -x "$BIN" ]]; then
    log "secantusdb installed but $BIN is missing"
    exit 1
fi

echo "$BIN"
