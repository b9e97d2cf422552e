#!/usr/bin/env bash
# The Python side of the benchmarks: a virtualenv with pymongo (the baseline, bench/baseline.py)
# and matplotlib (the chart, bench/chart.py), pinned; and GNU time (`/usr/bin/time`) if missing.
#
# Idempotent and fast when already done: the venv records what it was built with in
# .templesync-bench and is left alone while that matches. The last line on stdout is the
# venv's python, so callers can do:
#
#     PY="$(bench/setup.sh | tail -n1)"
#
# Environment:
#   TEMPLESYNC_CACHE   cache root (default: $HOME/.cache/templesync)
#   PYTHON             interpreter to build the venv with (default: python3)
set -euo pipefail

PYMONGO_VERSION="4.20.1"
MATPLOTLIB_VERSION="3.11.2"
CACHE_DIR="${TEMPLESYNC_CACHE:-$HOME/.cache/templesync}"
VENV_DIR="$CACHE_DIR/venv-bench"
PY="$VENV_DIR/bin/python"
MARKER="$VENV_DIR/.templesync-bench"
WANT="pymongo==$PYMONGO_VERSION matplotlib==$MATPLOTLIB_VERSION"
PYTHON="${PYTHON:-python3}"

log() { echo "bench/setup.sh: $*" >&2; }

# GNU time measures the peak memory of the engine and the baseline processes (the bench
# falls back to polling /proc when it is missing). Debian package `time`.
if [[ ! -x /usr/bin/time ]]; then
    if [[ $(id -u) -eq 0 ]] || command -v sudo >/dev/null; then
        if [[ $(id -u) -eq 0 ]]; then SUDO=(); else SUDO=(sudo); fi
        log "installing GNU time (Debian package 'time')"
        { "${SUDO[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq time; } >&2 \
            || log "could not install GNU time; peak memory will be polled from /proc"
    fi
fi

if [[ -x "$PY" && -f "$MARKER" && "$(cat "$MARKER")" == "$WANT" ]]; then
    echo "$PY"
    exit 0
fi

mkdir -p "$CACHE_DIR"
if [[ ! -x "$PY" ]]; then
    rm -rf "$VENV_DIR"
    if ! "$PYTHON" -m venv "$VENV_DIR" >/dev/null 2>&1; then
        rm -rf "$VENV_DIR"
        log "'$PYTHON -m venv' failed; installing python3-venv with apt-get"
        if [[ $(id -u) -eq 0 ]]; then SUDO=(); else SUDO=(sudo); fi
        "${SUDO[@]}" apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq python3-venv >&2
        "$PYTHON" -m venv "$VENV_DIR" >&2
    fi
fi

log "installing $WANT into $VENV_DIR"
# shellcheck disable=SC2086
if ! "$PY" -m pip install --disable-pip-version-check -q $WANT >&2; then
    log "pip install failed"
    exit 1
fi
echo "$WANT" > "$MARKER"
echo "$PY"
