#!/usr/bin/env bash
# Runs TempleSync.
#
#   scripts/run-app.sh              build and open the desktop app
#   scripts/run-app.sh cli-demo     build, then sync and show the status and conflicts in the terminal
#   scripts/run-app.sh cli ARGS...  run `templesync ARGS...` against the same databases
#   scripts/run-app.sh stop         stop the demo servers
#
# Without a display (no DISPLAY or WAYLAND_DISPLAY) the default is the terminal demo.
#
# With MONGODB_CLOUD_URL set (in the environment or in .env), it uses your databases.
# Without it, it starts a demo pair of servers — a "local" office database and a "cloud"
# one (SecantusDB, on ports 27117 and 27118, data kept in .demo/) — and loads a small sample
# of temple data with one username that both sides use, so there is a conflict to resolve.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/templesync-target}"
DEMO="$ROOT/.demo"
LOCAL_PORT=27117
CLOUD_PORT=27118

say() { printf '%s\n' "$*" >&2; }

configured() {
    [[ -n "${MONGODB_CLOUD_URL:-}" ]] || { [[ -f .env ]] && grep -Eq '^[[:space:]]*MONGODB_CLOUD_URL=.+' .env; }
}

port_open() { (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_server() { # name port
    local name=$1 port=$2
    if port_open "$port"; then
        return 0
    fi
    mkdir -p "$DEMO/$name"
    "$SECANTUSD" --host 127.0.0.1 --port "$port" --storage-path "$DEMO/$name" --sync-on-commit \
        >"$DEMO/$name.log" 2>&1 &
    echo $! >"$DEMO/$name.pid"
    for _ in $(seq 60); do
        port_open "$port" && return 0
        sleep 0.5
    done
    say "The demo $name server did not start; see $DEMO/$name.log"
    exit 1
}

stop_demo() {
    for name in local cloud; do
        if [[ -f "$DEMO/$name.pid" ]]; then
            kill "$(cat "$DEMO/$name.pid")" 2>/dev/null || true
            rm -f "$DEMO/$name.pid"
        fi
    done
    say "Demo servers stopped (their data stays in .demo/; delete that folder to start afresh)."
}

if [[ "${1:-}" == "stop" ]]; then
    stop_demo
    exit 0
fi

MODE=${1:-app}
case "$MODE" in
    app | cli | cli-demo) ;;
    *)
        say "Unknown command '$MODE': use no argument (the desktop app), cli-demo, cli ARGS... or stop"
        exit 2
        ;;
esac
if [[ "$MODE" == app && -z "${DISPLAY:-}" && -z "${WAYLAND_DISPLAY:-}" ]]; then
    say "No display here, so the terminal demo instead of the desktop app (scripts/run-app.sh cli-demo)."
    MODE=cli-demo
fi

[[ "$MODE" == "cli" ]] || say "Building TempleSync (the first build takes a few minutes)..."
if [[ "$MODE" == app ]]; then
    bash scripts/setup-desktop-deps.sh
    npm --prefix ui run build --silent >/dev/null
    cargo build --quiet --locked -p templesync-desktop -p templesync-cli -p templesync-sample
else
    cargo build --quiet --locked -p templesync-cli -p templesync-sample
fi
BIN="$CARGO_TARGET_DIR/debug"

if ! configured; then
    SECANTUSD="$(bash scripts/setup-test-deps.sh | tail -n 1)"
    start_server local $LOCAL_PORT
    start_server cloud $CLOUD_PORT
    export MONGODB_LOCAL_URL="mongodb://127.0.0.1:$LOCAL_PORT/?directConnection=true"
    export MONGODB_CLOUD_URL="mongodb://127.0.0.1:$CLOUD_PORT/?directConnection=true"
    export DATABASE_NAME="${DATABASE_NAME:-temple_db}"
    DEMO_MODE=1
fi

if [[ "$MODE" == "cli" ]]; then
    shift
    exec "$BIN/templesync" "$@"
fi

if [[ -n "${DEMO_MODE:-}" ]]; then
    say ""
    say "No MONGODB_CLOUD_URL is configured, so this is the demo:"
    say "  local (office) database: 127.0.0.1:$LOCAL_PORT   cloud database: 127.0.0.1:$CLOUD_PORT"
    "$BIN/templesync-sample" demo --local "$MONGODB_LOCAL_URL" --cloud "$MONGODB_CLOUD_URL" --database "$DATABASE_NAME" >&2
    say ""
fi

if [[ "$MODE" == app ]]; then
    say "Opening the TempleSync window. Closing it keeps TempleSync in the tray, syncing;"
    say "Quit in the tray menu (or Ctrl-C here) stops it."
    if [[ -n "${DEMO_MODE:-}" ]]; then
        say "Stop the demo servers afterwards with: scripts/run-app.sh stop"
    fi
    exec "$BIN/templesync-desktop"
fi

"$BIN/templesync" status
echo
"$BIN/templesync" sync || true
echo
"$BIN/templesync" conflicts

cat <<EOF

What next:
  scripts/run-app.sh cli conflicts                   the conflicts, with the commands to resolve them
  scripts/run-app.sh cli resolve ID --strategy rename_local
  scripts/run-app.sh cli sync                        sync again
  scripts/run-app.sh cli logs                        the history of runs
  scripts/run-app.sh cli --help                      everything else
EOF
if [[ -n "${DEMO_MODE:-}" ]]; then
    echo "  scripts/run-app.sh stop                            stop the demo servers"
fi
