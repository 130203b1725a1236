#!/usr/bin/env bash
# The real-client suite against a cluster: one redis-server on a free loopback
# port (no persistence), three `resound start` processes sharing it through the
# "scaling" config block, and scripts/e2e/run.sh with E2E_TARGETS set to the
# three nodes, so the suite's clients and API calls are spread over them
# round-robin. Everything started here is killed on exit.
#
#   scripts/e2e/cluster.sh                           # the whole suite
#   scripts/e2e/cluster.sh test/presence.test.mjs    # some files (as for run.sh)
#
# Environment:
#   RESOUND_BIN=/path/to/resound   the binary (default <repo>/bin/resound, built when missing)
#   CLUSTER_NODES=3                number of resound nodes
#   CLUSTER_RACE=1                 build and run the nodes with -race (slower)
#   CLUSTER_DEBUG=1                start the nodes with --debug
#   and run.sh's own (E2E_SKIP_BROWSER, ...)
#
# Logs: scripts/e2e/artifacts/cluster-logs/ (redis.log, node-N.log).
set -euo pipefail

E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$E2E_DIR/../.." && pwd)"
NODES="${CLUSTER_NODES:-3}"
log() { printf '[cluster] %s\n' "$*" >&2; }

bash "$REPO/scripts/redis.sh"

work="$(mktemp -d "${TMPDIR:-/tmp}/resound-cluster.XXXXXX")"
logs="$E2E_DIR/artifacts/cluster-logs"
rm -rf "$logs"
mkdir -p "$logs"

BIN="${RESOUND_BIN:-$REPO/bin/resound}"
if [ -n "${CLUSTER_RACE:-}" ]; then
  log "go build -race"
  (cd "$REPO" && go build -race -o "$work/resound" ./cmd/resound)
  BIN="$work/resound"
elif [ ! -x "$BIN" ]; then
  log "go build -o bin/resound ./cmd/resound"
  (cd "$REPO" && go build -o bin/resound ./cmd/resound)
fi

pids=()
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 100); do
    local alive=0
    for pid in "${pids[@]}"; do if kill -0 "$pid" 2>/dev/null; then alive=1; fi; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A port nothing listens on (checked by connecting), not handed out before.
used=" "
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 40000))
    case "$used" in *" $p "*) continue ;; esac
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      used="$used$p "
      echo "$p"
      return 0
    fi
  done
  log "no free port found"
  return 1
}

# GET /up answers 200.
is_up() {
  timeout 2 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "GET /up HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" >&3
    IFS= read -r line <&3 || exit 1
    case "$line" in "HTTP/1."?" 200"*) exit 0 ;; *) exit 1 ;; esac
  ' _ "$1" 2>/dev/null
}

# --- redis ----------------------------------------------------------------------
redis_port="$(free_port)"
redis-server --save "" --appendonly no --port "$redis_port" --bind 127.0.0.1 \
  --protected-mode no --dir "$work" >"$logs/redis.log" 2>&1 &
pids+=("$!")
redis_pid=$!
for i in $(seq 1 100); do
  if [ "$(redis-cli -h 127.0.0.1 -p "$redis_port" ping 2>/dev/null)" = PONG ]; then break; fi
  if ! kill -0 "$redis_pid" 2>/dev/null || [ "$i" = 100 ]; then
    log "redis-server did not start:"; cat "$logs/redis.log" >&2; exit 1
  fi
  sleep 0.1
done
log "redis-server on 127.0.0.1:$redis_port"

# --- the config: the apps of DEFAULT_CONFIG in scripts/e2e/lib/harness.mjs ----------
cfg="$work/cluster.json"
cat >"$cfg" <<JSON
{
  "apps": [
    {"id": "app-1", "key": "key-1", "secret": "secret-1", "allowed_origins": ["*"],
     "ping_interval": 60, "activity_timeout": 30, "max_message_size": 10000,
     "max_connections": 0, "accept_client_events_from": "members"},
    {"id": "app-2", "key": "key-2", "secret": "secret-2", "allowed_origins": ["*"],
     "ping_interval": 60, "activity_timeout": 30, "max_message_size": 10000,
     "max_connections": 0, "accept_client_events_from": "members"},
    {"id": "app-3", "key": "key-3", "secret": "secret-3", "allowed_origins": ["*"],
     "ping_interval": 60, "activity_timeout": 1, "max_message_size": 10000,
     "max_connections": 0, "accept_client_events_from": "members"},
    {"id": "app-4", "key": "key-4", "secret": "secret-4", "allowed_origins": ["*"],
     "ping_interval": 1, "activity_timeout": 30, "max_message_size": 10000,
     "max_connections": 0, "accept_client_events_from": "members"}
  ],
  "scaling": {"enabled": true, "url": "redis://127.0.0.1:$redis_port/0", "prefix": "resound-e2e", "node_timeout": 3}
}
JSON

# --- the nodes ------------------------------------------------------------------------
targets=()
node_pids=()
for n in $(seq 1 "$NODES"); do
  port="$(free_port)"
  args=(start --host 127.0.0.1 --port "$port" --config "$cfg")
  if [ -n "${CLUSTER_DEBUG:-}" ]; then args+=(--debug); fi
  GORACE="halt_on_error=0" "$BIN" "${args[@]}" >"$logs/node-$n.log" 2>&1 &
  pids+=("$!")
  node_pids+=("$!")
  targets+=("127.0.0.1:$port")
done
for n in $(seq 1 "$NODES"); do
  port="${targets[$((n - 1))]##*:}"
  pid="${node_pids[$((n - 1))]}"
  for i in $(seq 1 150); do
    if is_up "$port"; then break; fi
    if ! kill -0 "$pid" 2>/dev/null || [ "$i" = 150 ]; then
      log "node $n (port $port) did not come up:"; cat "$logs/node-$n.log" >&2; exit 1
    fi
    sleep 0.1
  done
done
E2E_TARGETS="$(IFS=,; echo "${targets[*]}")"
log "nodes: $E2E_TARGETS"

# --- the suite ---------------------------------------------------------------------------
set +e
E2E_TARGETS="$E2E_TARGETS" E2E_CONFIG="$cfg" bash "$E2E_DIR/run.sh" "$@"
status=$?
set -e

# Every node must have survived the suite, without a panic or a race report.
for n in $(seq 1 "$NODES"); do
  pid="${node_pids[$((n - 1))]}"
  if ! kill -0 "$pid" 2>/dev/null; then
    log "node $n exited during the suite:"; tail -n 50 "$logs/node-$n.log" >&2; status=1
  fi
  if grep -qE 'panic:|DATA RACE|fatal error:' "$logs/node-$n.log"; then
    log "node $n logged a panic or race:"; grep -nE -A 20 'panic:|DATA RACE|fatal error:' "$logs/node-$n.log" | head -n 80 >&2; status=1
  fi
done
if [ "$status" != 0 ]; then
  log "failed; node logs in $logs"
fi
exit "$status"
