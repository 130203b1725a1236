# The two commands a fresh machine needs: `make run` and `make test`.
.PHONY: run build test test-go fuzz e2e bench bench-smoke bench-peers

build:
	go build -o bin/resound ./cmd/resound

# One node, in memory, a default app whose id, key and secret it prints.
run: build
	./bin/resound start

# Everything CI runs: format, vet, race tests, fuzzing, the real-client suite.
test:
	bash scripts/test.sh

test-go:
	SKIP_E2E=1 SKIP_FUZZ=1 bash scripts/test.sh

fuzz:
	SKIP_E2E=1 FUZZ_ONLY=1 FUZZ_TIME=$${FUZZ_TIME:-60s} bash scripts/test.sh

e2e: build
	E2E_BUILD=1 bash scripts/e2e/run.sh

# The standard benchmark suite, Resound alone (about 1.5 minutes); results in bench/results/,
# summary in BENCH.md. For BENCH.md's side-by-side table with soketi (ratios, the write(2) floor,
# memory per socket with no, one private and one presence channel):
#   make bench-peers ARGS="--duration 3s --max-steps 8"
bench:
	bash bench/run-suite.sh

bench-smoke:
	bash bench/run-suite.sh --smoke

# Resound and soketi side by side, same client and scenarios, one server after the other, then
# the fan-outs against the bench's write-loop server, a minimal server: a write(2) per subscriber
# (installs soketi from bench/peers/package-lock.json on first use; takes the heavy lock);
# ARGS="--scale 0.1 --duration 3s" for a short run. Table in bench/results/<stamp>-peers.md.
bench-peers:
	bash bench/run-peers.sh $(ARGS)
