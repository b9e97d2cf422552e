#!/usr/bin/env bash
# Tests the .deb on this machine, as someone installing it would use it:
#
#   1. builds it from the debug build (scripts/package.sh --debug --bundles deb: quick after
#      scripts/test.sh, which made that build), or with --release the release package;
#   2. installs it with `apt-get install ./TempleSync_..._amd64.deb` and checks what it put
#      where: /usr/bin/templesync-desktop, /usr/bin/templesync, the desktop entry (Name, Exec,
#      Icon, Categories; desktop-file-validate) and the icons; runs `templesync --version`;
#   3. starts two test servers (SecantusDB, on free ports), syncs them once with the installed
#      `templesync`, then starts the installed app under Xvfb against them, with a home and
#      XDG folders of its own; checks that its window is there and that it logs "monitoring
#      started", and takes a screenshot (screenshots/package-installed.png, git-ignored; the
#      app's log in screenshots/logs/package-app.log);
#   4. stops the app, purges the package, and checks that its files are gone.
#
# Needs root or sudo (apt-get). A copy of the package that was installed before is replaced
# and removed. Every step is bounded by a timeout; the servers, the app and the package are
# removed however it ends. Installs what it needs (scripts/setup-test-deps.sh,
# scripts/setup-desktop-deps.sh, and x11-utils and desktop-file-utils from Debian).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/templesync-target}"
export TEMPLESYNC_SECANTUSD="${TEMPLESYNC_SECANTUSD:-$(bash scripts/setup-test-deps.sh | tail -n 1)}"
export DEBIAN_FRONTEND=noninteractive

say() { printf 'test-package: %s\n' "$*" >&2; }
fail() {
    say "FAILED: $*"
    exit 1
}

PACKAGE_ARGS=(--debug --bundles deb)
case "${1:-}" in
    "") ;;
    --release) PACKAGE_ARGS=(--bundles deb) ;;
    *) fail "unknown option '$1' (scripts/test-package.sh [--release])" ;;
esac

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || fail "installing a package needs root, or sudo (not found)"
    SUDO=(sudo)
fi

# What the checks use, beside what the build installs.
bash scripts/setup-desktop-deps.sh
missing=()
for p in x11-utils desktop-file-utils; do
    [[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)" == installed ]] || missing+=("$p")
done
if ((${#missing[@]})); then
    say "installing Debian packages: ${missing[*]}"
    timeout 600 "${SUDO[@]}" apt-get update -qq
    timeout 600 "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

SHOTS="$ROOT/screenshots"
mkdir -p "$SHOTS/logs"
WORK=$(mktemp -d -t templesync-package-test.XXXXXX)
PKG=""
SERVER_PIDS=()

cleanup() {
    local status=$?
    for pid in "${SERVER_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${SERVER_PIDS[@]}"; do
        timeout 10 tail --pid="$pid" -f /dev/null 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    done
    if [[ -n "$PKG" ]] && dpkg-query -W -f='${db:Status-Status}' "$PKG" 2>/dev/null | grep -q installed; then
        say "removing $PKG (left installed by a failed step)"
        timeout 300 "${SUDO[@]}" apt-get purge -y -qq "$PKG" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. The package.
say "building the .deb (scripts/package.sh ${PACKAGE_ARGS[*]})"
started=$SECONDS
timeout 3600 bash scripts/package.sh "${PACKAGE_ARGS[@]}" >"$WORK/made"
say "package built in $((SECONDS - started)) s"
DEB=$(grep '\.deb$' "$WORK/made" | tail -n 1)
[[ -f "$DEB" ]] || fail "scripts/package.sh printed no .deb"
PKG=$(dpkg-deb -f "$DEB" Package)
VERSION=$(dpkg-deb -f "$DEB" Version)
say "$DEB: package $PKG $VERSION, $(du -h "$DEB" | cut -f1)"
dpkg-deb -f "$DEB" Depends >&2

# 2. Install it, and check what it put where.
if dpkg-query -W -f='${db:Status-Status}' "$PKG" 2>/dev/null | grep -q installed; then
    say "$PKG is installed already: it is replaced by this build, and removed at the end"
fi
say "apt-get install $DEB"
timeout 600 "${SUDO[@]}" apt-get install -y -qq --reinstall "$DEB" >"$WORK/apt-install.log" 2>&1 ||
    {
        cat "$WORK/apt-install.log" >&2
        fail "apt-get install"
    }
dpkg-query -W -f='${db:Status-Status}' "$PKG" | grep -q installed || fail "$PKG is not installed after apt-get install"
dpkg -L "$PKG" >"$WORK/files"

APP=/usr/bin/templesync-desktop
CLI=/usr/bin/templesync
for f in "$APP" "$CLI"; do
    grep -qx "$f" "$WORK/files" || fail "$f is not in the package"
    [[ -x "$f" ]] || fail "$f is not installed as an executable"
done
DESKTOP=$(grep -E '^/usr/share/applications/.+\.desktop$' "$WORK/files" | head -n 1)
[[ -n "$DESKTOP" && -f "$DESKTOP" ]] || fail "no desktop entry in /usr/share/applications"
entry() { sed -n "s/^$1=//p" "$DESKTOP" | head -n 1; }
for key in Name Exec Icon Categories Type; do
    [[ -n "$(entry "$key")" ]] || fail "$DESKTOP has no $key"
done
[[ "$(entry Name)" == TempleSync ]] || fail "$DESKTOP: Name is '$(entry Name)', not TempleSync"
[[ "$(command -v "$(entry Exec | cut -d' ' -f1)")" == "$APP" ]] || fail "$DESKTOP: Exec '$(entry Exec)' is not $APP"
ICON=$(entry Icon)
icons=()
for f in /usr/share/icons/hicolor/*/apps/"$ICON".png; do
    [[ -f "$f" ]] && icons+=("$f")
done
((${#icons[@]})) || fail "no icon '$ICON' in /usr/share/icons/hicolor"
desktop-file-validate "$DESKTOP" || fail "desktop-file-validate $DESKTOP"
say "installed: $APP, $CLI, $DESKTOP (Exec=$(entry Exec), Icon=$ICON, Categories=$(entry Categories)), ${#icons[@]} icons"

CLI_VERSION=$(timeout 30 "$CLI" --version)
say "$CLI --version: $CLI_VERSION"
[[ "$CLI_VERSION" == *"${VERSION%%-*}"* ]] || fail "templesync --version does not say $VERSION"

# 3. Two servers, and the installed app against them.
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
start_server() { # name -> prints the port
    local name=$1 port dir="$WORK/$1" pid
    mkdir -p "$dir/data"
    : >"$dir/secantusd.toml"
    for _ in 1 2 3 4 5; do
        port=$(free_port)
        (cd "$dir" && PYTHONUNBUFFERED=1 exec "$TEMPLESYNC_SECANTUSD" --host 127.0.0.1 --port "$port" \
            --storage-path "$dir/data" --config "$dir/secantusd.toml" </dev/null >"$dir/log" 2>&1) &
        pid=$!
        SERVER_PIDS+=("$pid")
        for _ in $(seq 120); do
            if grep -q "listening on 127.0.0.1:$port" "$dir/log"; then
                echo "$port"
                return 0
            fi
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.25
        done
        kill "$pid" 2>/dev/null || true
        grep -q "Address already in use" "$dir/log" || break
    done
    cat "$dir/log" >&2
    fail "the $name server did not start"
}
# (Not in a $(...) subshell: the PIDs must reach the cleanup.)
start_server local >"$WORK/local.port"
start_server cloud >"$WORK/cloud.port"
LOCAL_PORT=$(cat "$WORK/local.port")
CLOUD_PORT=$(cat "$WORK/cloud.port")
export MONGODB_LOCAL_URL="mongodb://127.0.0.1:$LOCAL_PORT/?directConnection=true"
export MONGODB_CLOUD_URL="mongodb://127.0.0.1:$CLOUD_PORT/?directConnection=true"
export DATABASE_NAME=templesync_package_test
say "servers: local on $LOCAL_PORT, cloud on $CLOUD_PORT"

HOME_DIR="$WORK/home"
mkdir -p "$HOME_DIR"/{config,data,state,cache,runtime}
chmod 700 "$HOME_DIR/runtime"
in_home() {
    env HOME="$HOME_DIR" XDG_CONFIG_HOME="$HOME_DIR/config" XDG_DATA_HOME="$HOME_DIR/data" \
        XDG_STATE_HOME="$HOME_DIR/state" XDG_CACHE_HOME="$HOME_DIR/cache" \
        XDG_RUNTIME_DIR="$HOME_DIR/runtime" "$@"
}
# The installed command against real servers (from the home folder: no .env of the checkout).
(cd "$HOME_DIR" && in_home timeout 120 "$CLI" sync) >"$WORK/sync.out" 2>&1 ||
    {
        cat "$WORK/sync.out" >&2
        fail "the installed templesync could not sync the two servers"
    }
say "installed templesync synced the two servers: $(grep -m1 -i 'status' "$WORK/sync.out" || true)"

LOG="$SHOTS/logs/package-app.log"
SHOT="$SHOTS/package-installed.png"
rm -f "$SHOT"
# Inside Xvfb and a D-Bus session of its own: start the app, wait for its window and for
# monitoring to start, take the screenshot, stop the app. Exit 0 only if all went well.
cat >"$WORK/in-display.sh" <<'INNER'
set -u
APP=$1 LOG=$2 SHOT=$3
"$APP" >"$LOG" 2>&1 &
app=$!
stop_app() {
    kill "$app" 2>/dev/null || return 0
    for _ in $(seq 40); do kill -0 "$app" 2>/dev/null || return 0; sleep 0.25; done
    kill -KILL "$app" 2>/dev/null || true
}
trap stop_app EXIT
window="" monitoring=""
for _ in $(seq 240); do
    kill -0 "$app" 2>/dev/null || { echo "the app exited early"; exit 1; }
    [[ -n "$window" ]] || window=$(xwininfo -root -tree 2>/dev/null | grep -m1 '"TempleSync"' || true)
    [[ -n "$monitoring" ]] || monitoring=$(grep -m1 'monitoring started' "$LOG" || true)
    [[ -n "$window" && -n "$monitoring" ]] && break
    sleep 0.25
done
[[ -n "$window" ]] || { echo "no TempleSync window appeared within 60 s"; exit 1; }
[[ -n "$monitoring" ]] || { echo "the app did not log 'monitoring started' within 60 s"; exit 1; }
echo "window:$window"
# Let the page draw and its first status come in.
sleep 4
import -window root "$SHOT" || { echo "the screenshot failed"; exit 1; }
kill -0 "$app" 2>/dev/null || { echo "the app exited"; exit 1; }
INNER
say "starting the installed app under Xvfb"
if ! (cd "$HOME_DIR" && in_home TEMPLESYNC_LOG="info,tao=warn,wry=warn,mongodb=warn" \
    timeout -k 10 180 xvfb-run -a -s "-screen 0 1280x800x24" dbus-run-session -- \
    bash "$WORK/in-display.sh" "$APP" "$LOG" "$SHOT") >"$WORK/display.out" 2>&1; then
    cat "$WORK/display.out" >&2
    say "the app's log ($LOG):"
    tail -n 30 "$LOG" >&2 || true
    fail "the installed app did not come up"
fi
sed -n 's/^window:/window: /p' "$WORK/display.out" >&2
grep -m1 'monitoring started' "$LOG" >&2
[[ -s "$SHOT" ]] || fail "no screenshot"
colours=$(identify -format '%k' "$SHOT")
((colours > 16)) || fail "the screenshot is blank ($colours colours)"
say "screenshot: $SHOT ($colours colours)"

# 4. Remove it, and check that nothing of it is left.
say "apt-get purge $PKG"
timeout 300 "${SUDO[@]}" apt-get purge -y -qq "$PKG" >"$WORK/apt-purge.log" 2>&1 ||
    {
        cat "$WORK/apt-purge.log" >&2
        fail "apt-get purge"
    }
if dpkg-query -W -f='${db:Status-Status}' "$PKG" 2>/dev/null | grep -q installed; then
    fail "$PKG is still installed after apt-get purge"
fi
left=()
while IFS= read -r f; do
    [[ -f "$f" || -L "$f" ]] && left+=("$f")
done <"$WORK/files"
((${#left[@]} == 0)) || fail "files left after the purge: ${left[*]}"
PKG=""
say "OK: installed, ran (window, monitoring, screenshot) and removed cleanly"
