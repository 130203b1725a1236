#!/usr/bin/env bash
# Resound end-to-end suite: real laravel-echo / pusher-js / pusher SDK clients
# and headless Chromium against `resound start`.
#
#   scripts/e2e/run.sh                       # everything
#   scripts/e2e/run.sh test/presence.test.mjs  # some files (paths relative to scripts/e2e)
#
# Environment:
#   RESOUND_BIN=/path/to/resound   use this binary (default: <repo>/bin/resound, built with
#                                  `go build -o bin/resound ./cmd/resound` when missing)
#   E2E_BUILD=1                    rebuild bin/resound even if it exists (it may be stale)
#   E2E_TARGETS=host:port,...      test already running servers (no spawning; clients are spread
#                                  round-robin); then E2E_CONFIG=cfg.json or E2E_CONFIG_JSON='{...}'
#                                  must give the apps they run with (see lib/harness.mjs DEFAULT_CONFIG:
#                                  app-1 is required; tests needing app-2, app-3 or app-4 skip without them)
#   E2E_SERVER_DEBUG=1             start resound with --debug (logs in artifacts/logs/)
#   E2E_SKIP_BROWSER=1             do not install Chromium (the browser test is then skipped)
#
# Non-interactive; installs what is missing (Debian's chromium via apt-get, as root; npm ci;
# test/tls.test.mjs installs Debian's nginx the same way).
set -euo pipefail

E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$E2E_DIR/../.." && pwd)"
CALLER_PWD="$(pwd)"
cd "$E2E_DIR"
export DEBIAN_FRONTEND=noninteractive

log() { printf '[e2e] %s\n' "$*" >&2; }

# --- Node 20+ -----------------------------------------------------------------
if ! command -v node >/dev/null 2>&1; then
  log "node is missing: installing Debian's nodejs and npm"
  apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
  log "Node $(node --version) is too old: Node 20 or newer is needed"; exit 1
fi

# --- Chromium (Debian's package) ------------------------------------------------
if [ -z "${E2E_SKIP_BROWSER:-}" ] && [ ! -x /usr/bin/chromium ]; then
  log "installing Debian's chromium"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo -n"; fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq chromium >/dev/null
fi

# --- npm dependencies (pinned by package-lock.json) -----------------------------
lock_sum="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ ! -f node_modules/.e2e-lock-sha256 ] || [ "$(cat node_modules/.e2e-lock-sha256)" != "$lock_sum" ]; then
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_sum" > node_modules/.e2e-lock-sha256
fi

# --- the server binary ------------------------------------------------------------
if [ -z "${E2E_TARGETS:-}" ]; then
  if [ -n "${RESOUND_BIN:-}" ]; then
    [ -x "$RESOUND_BIN" ] || { log "RESOUND_BIN=$RESOUND_BIN is not an executable"; exit 1; }
  else
    if [ -n "${E2E_BUILD:-}" ] || [ ! -x "$REPO/bin/resound" ]; then
      log "go build -o bin/resound ./cmd/resound"
      (cd "$REPO" && go build -o bin/resound ./cmd/resound)
    fi
    export RESOUND_BIN="$REPO/bin/resound"
  fi
  log "server: $RESOUND_BIN"
else
  log "targets: $E2E_TARGETS"
fi

# --- run ------------------------------------------------------------------------------
rm -rf artifacts/logs
mkdir -p artifacts
files=()
for f in "$@"; do
  # accept paths relative to the caller's directory or to scripts/e2e
  if [ -e "$CALLER_PWD/$f" ]; then files+=("$(cd "$(dirname "$CALLER_PWD/$f")" && pwd)/$(basename "$f")"); else files+=("$f"); fi
done
if [ "${#files[@]}" -eq 0 ]; then files=(test/*.test.mjs); fi

# The test runner gets its own process group, killed at the end whatever
# happens, so no resound or Chromium outlives the run.
set -m
node --test --test-concurrency=1 --test-timeout=180000 "${files[@]}" &
runner=$!
set +m
cleanup() {
  if kill -0 -- "-$runner" 2>/dev/null; then
    kill -TERM -- "-$runner" 2>/dev/null || true
    sleep 2
    kill -KILL -- "-$runner" 2>/dev/null || true
  fi
}
trap cleanup EXIT INT TERM
set +e
wait "$runner"
status=$?
set -e
exit "$status"
