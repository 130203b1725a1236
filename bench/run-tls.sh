#!/usr/bin/env bash
# What a TLS socket costs: wss:// connects per second and server memory per idle
# wss:// socket, next to ws:// on the same box, for an ECDSA P-256 and an RSA 2048
# certificate. Bounded (N sockets, at most 6000) and stops by itself.
#   flock /tmp/resound-heavy.lock bash bench/run-tls.sh [N_IDLE] [N_CONNECT]
set -euo pipefail
cd "$(dirname "$0")/.."
N_IDLE="${1:-4000}"
N_CONNECT="${2:-3000}"
go build -o bin/resound ./cmd/resound
go build -o bin/tlsload ./bench/tlsload
work="$(mktemp -d)"
pid=""
trap '[ -n "$pid" ] && kill -INT "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
echo '{"expose_stats":true,"drain_delay":0,"apps":[{"id":"bench","key":"bench-key","secret":"bench-secret"}]}' > "$work/cfg.json"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$work/ec.key" -out "$work/ec.pem" \
  -days 1 -subj /CN=127.0.0.1 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/rsa.key" -out "$work/rsa.pem" -days 1 -subj /CN=127.0.0.1 2>/dev/null

run() { # name, extra server flags...
  local name="$1"; shift
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  bin/resound start --host 127.0.0.1 --port "$port" --config "$work/cfg.json" "$@" >"$work/$name.log" 2>&1 &
  pid=$!
  local plain=""
  [ "$#" -eq 0 ] && plain="-plain"
  local up=""
  for _ in $(seq 1 100); do
    if bin/tlsload -addr "127.0.0.1:$port" -mode connect -n 1 $plain >/dev/null 2>&1; then up=1; break; fi
    sleep 0.1
  done
  if [ -z "$up" ] || ! kill -0 "$pid" 2>/dev/null; then echo "$name: the server did not come up:"; cat "$work/$name.log"; exit 1; fi
  echo "== $name"
  bin/tlsload -addr "127.0.0.1:$port" -mode idle -n "$N_IDLE" -inflight 64 $plain
  # the same after every socket received one 20 KB event (crypto/tls keeps its record buffers)
  bin/tlsload -addr "127.0.0.1:$port" -mode idle -n "$N_IDLE" -inflight 64 -event-bytes 20000 $plain | tail -1
  local t0 t1
  t0=$(awk '{print $14+$15}' "/proc/$pid/stat")
  bin/tlsload -addr "127.0.0.1:$port" -mode connect -n "$N_CONNECT" -inflight 64 $plain
  t1=$(awk '{print $14+$15}' "/proc/$pid/stat")
  # /proc ticks are 1/100 s: server CPU per connect, so capacity = cores / that
  echo "server CPU per connect: $(( (t1 - t0) * 10000 / N_CONNECT )) us (client and server share the cores)"
  # one socket's ping round trip, quiet and during a connect storm
  bin/tlsload -addr "127.0.0.1:$port" -mode storm -n "$N_CONNECT" -inflight 64 $plain
  kill -INT "$pid"; wait "$pid" || true; pid=""
}
[ -z "${ONLY_TLS:-}" ] && run plain
run ecdsa-p256 --tls-cert "$work/ec.pem" --tls-key "$work/ec.key"
[ -z "${ONLY_TLS:-}" ] && run rsa-2048 --tls-cert "$work/rsa.pem" --tls-key "$work/rsa.key"
