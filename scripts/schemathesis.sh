#!/usr/bin/env bash
# Checks the running REST API (`templesync serve`) against its own OpenAPI document with
# schemathesis: generated requests, valid and invalid, to every operation; the answers must
# never be a server error and must match the document (status codes, content types, schemas),
# a request without the token must be refused, and a method the path does not take must get
# 405 with an Allow header.
#
# It starts two SecantusDB servers (a "local" and a "cloud", in memory), loads the demo data
# with `templesync-sample demo`, syncs once with `templesync sync`, serves the API with a
# known token on a free port, runs schemathesis, and stops everything it started. Exits
# non-zero on any failure.
#
# schemathesis is installed (once) into ${TEMPLESYNC_CACHE:-$HOME/.cache/templesync}/venv-schemathesis.
#
# Environment:
#   TEMPLESYNC_SCHEMATHESIS_EXAMPLES   test cases per operation and phase (default 40)
#   TEMPLESYNC_SCHEMATHESIS_SEED       a seed, to replay a run (default: a new one each run;
#                                      schemathesis prints it)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/templesync-target}"

SCHEMATHESIS_VERSION="4.32.5"
CACHE_DIR="${TEMPLESYNC_CACHE:-$HOME/.cache/templesync}"
VENV="$CACHE_DIR/venv-schemathesis"
PYTHON="${PYTHON:-python3}"
EXAMPLES="${TEMPLESYNC_SCHEMATHESIS_EXAMPLES:-40}"

log() { echo "schemathesis.sh: $*" >&2; }

# --- schemathesis, pinned, installed once ---------------------------------------------------
installed_version() {
    "$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null || true
}
if [[ "$(installed_version)" != "$SCHEMATHESIS_VERSION" ]]; then
    log "installing schemathesis==$SCHEMATHESIS_VERSION into $VENV"
    mkdir -p "$CACHE_DIR"
    if [[ ! -x "$VENV/bin/python" ]]; then
        rm -rf "$VENV"
        "$PYTHON" -m venv "$VENV"
    fi
    "$VENV/bin/python" -m pip install --disable-pip-version-check -q "schemathesis==$SCHEMATHESIS_VERSION" >&2
    [[ "$(installed_version)" == "$SCHEMATHESIS_VERSION" ]] || { log "schemathesis did not install"; exit 1; }
fi

SECANTUSD="${TEMPLESYNC_SECANTUSD:-$(bash scripts/setup-test-deps.sh | tail -n 1)}"

log "building templesync"
cargo build --quiet --locked --workspace --bin templesync --bin templesync-sample
BIN="$CARGO_TARGET_DIR/debug"

# --- everything below is stopped on exit ----------------------------------------------------
WORK=$(mktemp -d)
PIDS=()
SERVE_PID=""
cleanup() {
    local code=$?
    if [[ -n "$SERVE_PID" ]] && kill -0 "$SERVE_PID" 2>/dev/null; then
        kill -TERM "$SERVE_PID" 2>/dev/null || true
        wait "$SERVE_PID" 2>/dev/null || true
    fi
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ $code -ne 0 && -f "$WORK/serve.log" ]]; then
        log "the server's log:"
        tail -n 50 "$WORK/serve.log" >&2
    fi
    [[ -n "${TEMPLESYNC_KEEP_LOG:-}" && -f "$WORK/serve.log" ]] && cp "$WORK/serve.log" "$TEMPLESYNC_KEEP_LOG"
    rm -rf "$WORK"
    exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

port_open() { (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for_port() { # port what
    local deadline=$((SECONDS + 60))
    until port_open "$1"; do
        if ((SECONDS > deadline)); then
            log "$2 did not start listening on port $1"
            exit 1
        fi
        sleep 0.2
    done
}

LOCAL_PORT=$(free_port)
CLOUD_PORT=$(free_port)
"$SECANTUSD" --host 127.0.0.1 --port "$LOCAL_PORT" --storage-path :memory: >"$WORK/local.log" 2>&1 &
PIDS+=($!)
"$SECANTUSD" --host 127.0.0.1 --port "$CLOUD_PORT" --storage-path :memory: >"$WORK/cloud.log" 2>&1 &
PIDS+=($!)
wait_for_port "$LOCAL_PORT" "the local database"
wait_for_port "$CLOUD_PORT" "the cloud database"

export MONGODB_LOCAL_URL="mongodb://127.0.0.1:$LOCAL_PORT/?directConnection=true"
export MONGODB_CLOUD_URL="mongodb://127.0.0.1:$CLOUD_PORT/?directConnection=true"
export DATABASE_NAME="temple_db"
# No .env of the developer's may change where the data goes: run from the work directory.
cd "$WORK"

"$BIN/templesync-sample" demo --local "$MONGODB_LOCAL_URL" --cloud "$MONGODB_CLOUD_URL" >&2
"$BIN/templesync" sync >"$WORK/sync.txt" || { cat "$WORK/sync.txt" >&2; log "the first sync failed"; exit 1; }

# The conflict the demo data makes: resolve is tried on it (and on generated ids), so that
# its success and "already resolved" answers are checked too, not only "no such conflict";
# likewise syncs of the real collections, not only refusals of made-up names.
CONFLICT_IDS=$("$BIN/templesync" conflicts --json | "$PYTHON" -c 'import json, sys; print(", ".join(json.dumps(c["_id"]) for c in json.load(sys.stdin)))')
[[ -n "$CONFLICT_IDS" ]] || { log "the demo data made no conflict"; exit 1; }
cat >"$WORK/schemathesis.toml" <<TOML
[dictionaries.conflicts]
values = [$CONFLICT_IDS]

[dictionaries.collections]
values = ["admins", "bookings", "events"]

[[operations]]
include-path = "/api/sync/conflicts/{id}/resolve"
parameters = { "path.id" = { dictionary = "conflicts", probability = 0.7 } }

[[operations]]
include-path = "/api/sync/sync"
parameters = { "body.collections[*]" = { dictionary = "collections", probability = 0.7 } }
TOML

TOKEN=$("$PYTHON" -c 'import secrets; print(secrets.token_hex(32))')
API_PORT=$(free_port)
TEMPLESYNC_API_TOKEN="$TOKEN" XDG_CONFIG_HOME="$WORK" TEMPLESYNC_LOG="${TEMPLESYNC_LOG:-info,templesync=debug}" \
    "$BIN/templesync" serve --bind "127.0.0.1:$API_PORT" >"$WORK/serve.log" 2>&1 &
SERVE_PID=$!
deadline=$((SECONDS + 60))
until grep -q '^Listening on ' "$WORK/serve.log"; do
    kill -0 "$SERVE_PID" 2>/dev/null || { log "templesync serve exited"; exit 1; }
    ((SECONDS < deadline)) || { log "templesync serve did not start"; exit 1; }
    sleep 0.1
done
BASE="http://127.0.0.1:$API_PORT"
log "serving on $BASE; running schemathesis $SCHEMATHESIS_VERSION ($EXAMPLES examples per operation)"

SEED_ARGS=()
if [[ -n "${TEMPLESYNC_SCHEMATHESIS_SEED:-}" ]]; then
    SEED_ARGS=(--seed "$TEMPLESYNC_SCHEMATHESIS_SEED")
fi

status=0
"$VENV/bin/schemathesis" --config-file "$WORK/schemathesis.toml" --no-color \
    run "$BASE/api/openapi.json" \
    --header "Authorization: Bearer $TOKEN" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance,negative_data_rejection,ignored_auth,unsupported_method,allow_header_conformance \
    --phases examples,coverage,fuzzing \
    --max-examples "$EXAMPLES" \
    --request-timeout 60 \
    --workers 2 \
    "${SEED_ARGS[@]}" || status=$?

# The server must still stop cleanly after all that.
kill -TERM "$SERVE_PID"
serve_status=0
wait "$SERVE_PID" || serve_status=$?
SERVE_PID=""
if [[ $serve_status -ne 0 ]]; then
    log "templesync serve exited with $serve_status after SIGTERM"
    status=1
fi
if grep -q "$TOKEN" "$WORK/serve.log"; then
    log "the token appeared in the server's log"
    status=1
fi
cd "$ROOT"
exit "$status"
