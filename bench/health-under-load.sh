#!/bin/bash
# /up latency while the HTTP API is flooded, for one resound binary.
#   bench/health-under-load.sh BINARY flood  [CONNS]   signed publishes over CONNS (6000) keep-alive connections
#   bench/health-under-load.sh BINARY redis  [CONNS]   a one-node cluster; publishes to a cache- channel (each
#                                                      stores the event in Redis) over CONNS (1000) connections;
#                                                      redis-server is SIGSTOPped 1 s in, for 4 s
# GET /up is timed every 20 ms from a separate process (bench publish --probe-up). Run it under
# `flock /tmp/resound-heavy.lock` on a shared machine. Needs bin/bench (go build -o bin/bench ./bench).
set -euo pipefail
bin=$1 mode=$2
port=6001 rport=6391
dir=$(mktemp -d)
app='{"id":"bench","key":"bench-key","secret":"bench-secret"}'
pids=()
cleanup() { for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done; rm -rf "$dir"; }
trap cleanup EXIT
case $mode in
flood)
  conns=${3:-6000}
  echo "{\"apps\":[$app]}" > "$dir/cfg.json"
  extra=() ;;
redis)
  conns=${3:-1000}
  redis-server --port $rport --save '' --appendonly no --bind 127.0.0.1 > "$dir/redis.log" 2>&1 &
  rpid=$!; pids+=("$rpid")
  for _ in $(seq 50); do redis-cli -p $rport ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
  echo "{\"apps\":[$app],\"scaling\":{\"enabled\":true,\"url\":\"redis://127.0.0.1:$rport/0\",\"prefix\":\"benchstall\"}}" > "$dir/cfg.json"
  extra=(--publish-channel cache-bench) ;;
*) echo "mode must be flood or redis" >&2; exit 2 ;;
esac
"$bin" start --host 127.0.0.1 --port $port --config "$dir/cfg.json" > "$dir/server.log" 2>&1 &
spid=$!; pids=("$spid" "${pids[@]}")
for _ in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:$port/up && break; sleep 0.1; done
if [ "$mode" = redis ]; then (sleep 1; kill -STOP "$rpid"; sleep 4; kill -CONT "$rpid") & fi
bin/bench publish --targets 127.0.0.1:$port --conns "$conns" --duration 5s --probe-up 20ms --server-pid "$spid" --quiet "${extra[@]}" || true
echo "server log lines about 503s: $(grep -c 'api: 503' "$dir/server.log" || true)"
