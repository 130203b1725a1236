#!/usr/bin/env bash
# Installs soketi from bench/peers/package-lock.json (once; npm ci), builds
# the server and the bench, then runs the same scenarios against Resound and
# soketi one after another, then the fan-outs against the bench's write-loop
# server (a minimal server: one write(2) per subscriber), and prints them side by
# side with the write(2) floor. Results go to
# bench/results/<stamp>-peers.{json,md}.
#
#   bench/run-peers.sh                      # full sizes, 5 s steps
#   bench/run-peers.sh --duration 3s --max-steps 8   # BENCH.md's table, ~3 min 15 s
#   bench/run-peers.sh --scale 0.1 --duration 3s   # a short run
#
# Load runs take /tmp/resound-heavy.lock so they never overlap other heavy
# runs on a shared machine.
set -euo pipefail
cd "$(dirname "$0")/.."
lock=/tmp/resound-heavy.lock
peers=bench/peers
if [ ! -f "$peers/node_modules/@soketi/soketi/package.json" ]; then
	echo "installing soketi into $peers (npm ci)..." >&2
	(cd "$peers" && npm ci --no-audit --no-fund --loglevel=error)
fi
# One lock for the builds and the run: queueing once, not three times, behind other heavy runs.
exec flock "$lock" bash -c 'go build -o bin/resound ./cmd/resound && go build -o bin/bench ./bench &&
	exec bin/bench peers --server-bin bin/resound --soketi-dir "$0" --results bench/results "$@"' "$peers" "$@"
