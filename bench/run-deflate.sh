#!/usr/bin/env bash
# permessage-deflate, measured: a ~2 KB event to 10,000 subscribers of one
# channel at 10 publishes/s, (1) with compression off in the server, (2) on
# but the subscribers not offering it, (3) on and every subscriber using it;
# then idle memory per socket without and with deflate negotiated. Each run
# gets a fresh `bin/resound --expose-stats` on a free loopback port. About
# 2 minutes; results in bench/results/<stamp>-deflate-*.{json,txt}.
#
#   bench/run-deflate.sh                         # full size
#   N=1000 IDLE_N=2000 bench/run-deflate.sh      # a short run
#
# The whole run holds /tmp/resound-heavy.lock.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${DEFLATE_BENCH_LOCKED:-}" ]; then
  DEFLATE_BENCH_LOCKED=1 exec flock /tmp/resound-heavy.lock "$0" "$@"
fi
N="${N:-10000}"
RATE="${RATE:-10}"
DURATION="${DURATION:-5s}"
IDLE_N="${IDLE_N:-19000}"
PAD="${PAD:-2000}"

go build -o bin/resound ./cmd/resound
go build -o bin/bench ./bench
stamp="$(date -u +%Y%m%d-%H%M%S)"
out="bench/results/$stamp-deflate"
mkdir -p bench/results
dir="$(mktemp -d)"
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT

free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
}

# start_server COMPRESSION: a fresh node with the bench app.
start_server() {
  port="$(free_port)"
  echo "{\"expose_stats\":true,\"compression\":$1,\"apps\":[{\"id\":\"bench\",\"key\":\"bench-key\",\"secret\":\"bench-secret\"}]}" > "$dir/cfg.json"
  bin/resound start --host 127.0.0.1 --port "$port" --config "$dir/cfg.json" > "$dir/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return; fi
    sleep 0.1
  done
  cat "$dir/server.log"; exit 1
}

stop_server() {
  kill -INT "$pid"; wait "$pid" 2>/dev/null || true; pid=""
}

fanout() { # NAME SERVER_COMPRESSION CLIENT_DEFLATE
  start_server "$2"
  echo "== fanout, server compression $2, subscribers offering deflate: $3"
  bin/bench fanout --targets "127.0.0.1:$port" --server-pid "$pid" --n "$N" --channels 1 --rate "$RATE" \
    --duration "$DURATION" --pad-bytes "$PAD" --deflate="$3" --quiet --out "$out-$1.json" | tee "$out-$1.txt"
  stop_server
}

idle() { # NAME CLIENT_DEFLATE
  start_server true
  echo "== idle, sockets offering deflate: $2"
  bin/bench idle --targets "127.0.0.1:$port" --n "$IDLE_N" --deflate="$2" --quiet --out "$out-$1.json" | tee "$out-$1.txt"
  stop_server
}

fanout fanout-off false false
fanout fanout-plain true false
fanout fanout-deflate true true
idle idle-plain false
idle idle-deflate true
echo "results: $out-*"
