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
#   FUZZ_TIME=10s  time per fuzz target
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS="${GOFLAGS:-}"
step() { printf '\n== %s\n' "$*"; }

fuzz() {
  local t="${FUZZ_TIME:-8s}"
  step "fuzzing ($t per target)"
  go test -run '^$' -fuzz '^FuzzFrameHeader$' -fuzztime "$t" ./engine
  go test -run '^$' -fuzz '^FuzzUpgrade$' -fuzztime "$t" ./engine
  go test -run '^$' -fuzz '^FuzzReadHTTP$' -fuzztime "$t" ./engine
  go test -run '^$' -fuzz '^FuzzIncrementalFraming$' -fuzztime "$t" ./engine
  go test -run '^$' -fuzz '^FuzzCompressedClientFrame$' -fuzztime "$t" ./engine
  go test -run '^$' -fuzz '^FuzzDecodeClientMessage$' -fuzztime "$t" ./protocol
  go test -run '^$' -fuzz '^FuzzDecodeClientMessageMatchesEncodingJSON$' -fuzztime "$t" ./protocol
  go test -run '^$' -fuzz '^FuzzDecodeMember$' -fuzztime "$t" ./protocol
  go test -run '^$' -fuzz '^FuzzAppendString$' -fuzztime "$t" ./protocol
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
