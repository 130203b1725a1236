#!/usr/bin/env bash
# The project's one test command (`make test`, run by CI on a fresh machine):
# formatting, vet, race-enabled Go tests against real server processes, brief
# fuzzing of every byte parser, and the real-client suite (pusher-js,
# laravel-echo, the pusher SDK, headless Chromium). It installs what the tests
# need itself, redis-server included: the cluster tests (cmd/resound/cluster_test.go)
# and a second run of the real-client suite against a 3-node cluster over Redis
# (scripts/e2e/cluster.sh).
#
#   SKIP_E2E=1   skip the Node/Chromium suite (single node and cluster)
#   SKIP_FUZZ=1  skip fuzzing
#   FUZZ_TIME=10s  time (or a count, 50000x) per fuzz target
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS="${GOFLAGS:-}"
step() { printf '\n== %s\n' "$*"; }

# fuzz1 TARGET PACKAGE RUNS: by default a number of runs (about 8 s each
# here), not a duration. Go 1.26's fuzzer can fail a healthy target with
# "context deadline exceeded" when a -fuzztime duration ends while a worker
# is busy (go.dev/issue/75804, fixed in Go 1.27); a count has no deadline.
# FUZZ_TIME (a duration or a count) overrides it for every target.
fuzz1() {
  go test -run '^$' -fuzz "^$1\$" -fuzztime "${FUZZ_TIME:-$3}" "$2"
}

fuzz() {
  step "fuzzing (${FUZZ_TIME:-a fixed number of runs} per target)"
  fuzz1 FuzzFrameHeader ./engine 150000x
  fuzz1 FuzzUpgrade ./engine 150000x
  fuzz1 FuzzReadHTTP ./engine 100000x
  fuzz1 FuzzIncrementalFraming ./engine 25000x
  fuzz1 FuzzCompressedClientFrame ./engine 40000x
  fuzz1 FuzzDecodeClientMessage ./protocol 300000x
  fuzz1 FuzzDecodeClientMessageMatchesEncodingJSON ./protocol 300000x
  fuzz1 FuzzDecodeMember ./protocol 300000x
  fuzz1 FuzzAppendString ./protocol 300000x
}

if [ -n "${FUZZ_ONLY:-}" ]; then fuzz; exit 0; fi

step "gofmt"
bad="$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './scripts/e2e/node_modules/*'))"
if [ -n "$bad" ]; then echo "gofmt would change:"; echo "$bad"; exit 1; fi

step "go vet"
go vet ./...

step "redis-server (cluster tests)"
bash scripts/redis.sh
# The cluster tests skip without redis-server unless this is set: never skip here.
export RESOUND_REQUIRE_REDIS=1

step "go test -race"
go test -race -count=1 -timeout 20m ./...

if [ -z "${SKIP_FUZZ:-}" ]; then fuzz; fi

if [ -z "${SKIP_E2E:-}" ]; then
  step "real clients: pusher-js, laravel-echo, the pusher SDK, Chromium"
  go build -o bin/resound ./cmd/resound
  RESOUND_BIN="$PWD/bin/resound" bash scripts/e2e/run.sh
  step "real clients against a 3-node cluster over Redis"
  RESOUND_BIN="$PWD/bin/resound" bash scripts/e2e/cluster.sh
fi
echo
echo "all tests passed"
