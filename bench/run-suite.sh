#!/usr/bin/env bash
# Builds the server and the bench, then runs the standard suite against a
# fresh `bin/resound --expose-stats` on a free loopback port. Results (JSON,
# SVG charts, the printed table) go to bench/results/. Takes 4-8 minutes.
#
#   bench/run-suite.sh            # full suite
#   bench/run-suite.sh --smoke    # every part tiny, ~20 s
#
# Everything heavy runs under /tmp/resound-heavy.lock so builds and load
# runs on this shared 2-core machine never overlap.
#
# This suite is Resound alone. The same scenarios against soketi too, in one
# run with the ratios, the write(2) floor and memory per socket with no, one
# private and one presence channel (BENCH.md's side-by-side table):
#   make bench-peers ARGS="--duration 3s --max-steps 8"    (bench/run-peers.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
lock=/tmp/resound-heavy.lock
flock "$lock" go build -o bin/resound ./cmd/resound
flock "$lock" go build -o bin/bench ./bench
status=0
flock "$lock" bin/bench suite --server-bin bin/resound --results bench/results "$@" || status=$?
echo 'side by side with soketi (ratios, write(2) floor, memory per channel kind): make bench-peers ARGS="--duration 3s --max-steps 8"'
exit "$status"
