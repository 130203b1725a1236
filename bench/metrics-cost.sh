#!/usr/bin/env bash
# Fan-out cost of the metrics: runs the same fanout step against a baseline
# binary (no counters), this build with metrics off, and this build with
# metrics on and scraped every second, in alternating rounds so the shared
# machine's drift hits every variant alike. Prints the server CPU per
# delivery of each run and the median per variant.
#
#   bench/metrics-cost.sh BASELINE_BIN [ROUNDS] [N] [RATE] [DURATION] [CHANNELS]
#
# Build BASELINE_BIN from the commit before the metrics, e.g.
#   git archive <commit> | tar -x -C /tmp/base && (cd /tmp/base && go build -o /tmp/resound-base ./cmd/resound)
set -uo pipefail
cd "$(dirname "$0")/.."
base=${1:?baseline binary}
rounds=${2:-3}
n=${3:-5000}
rate=${4:-20}
duration=${5:-5s}
channels=${6:-1}
go build -o bin/resound ./cmd/resound || exit 1
go build -o bin/bench ./bench || exit 1
config=$(mktemp)
echo '{"apps":[{"id":"bench","key":"bench-key","secret":"bench-secret","allowed_origins":["*"]}]}' >"$config"
results=$(mktemp)
port=16451
mport=16452

run() { # variant binary [flags...]
	local variant=$1 bin=$2
	shift 2
	"$bin" start --host 127.0.0.1 --port $port --config "$config" "$@" >/dev/null 2>&1 &
	local pid=$! scraper=""
	for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/up" >/dev/null && break; sleep 0.05; done
	if [ "$variant" = on ]; then
		(while kill -0 $pid 2>/dev/null; do curl -sf "http://127.0.0.1:$mport/metrics" >/dev/null || true; sleep 1; done) &
		scraper=$!
	fi
	local out
	out=$(timeout 300 bin/bench fanout --targets 127.0.0.1:$port --n "$n" --channels "$channels" --rates "$rate" --duration "$duration" --server-pid $pid --quiet 2>&1 || true)
	kill -INT $pid; wait $pid 2>/dev/null || true
	[ -n "$scraper" ] && { kill $scraper 2>/dev/null; wait $scraper 2>/dev/null || true; }
	# The step's row: offered achieved sent err delivered/s lost p50 p90 p99 p99.9 max lag ccpu scpu ok
	local row
	row=$(echo "$out" | awk '!done && $1=="'"$rate"'" && NF>=15 {print; done=1}')
	local cpu
	cpu=$(echo "$out" | sed -n 's/.*server cpu \([0-9.]*\)s.*/\1/p' | tail -1)
	echo "$variant $row cpu_s=$cpu" | tee -a "$results"
}

for r in $(seq "$rounds"); do
	run base "$base"
	run off bin/resound
	run on bin/resound --metrics-port $mport
done
echo "median server CPU (s) per variant, and µs per delivery:"
for v in base off on; do
	grep "^$v " "$results" | awk -v v=$v '{
		split($0, a, "cpu_s="); cpu=a[2]; delivered=$6; 
		print cpu, delivered }' | sort -n | awk -v v=$v -v d="${duration%s}" '{c[NR]=$1; dl[NR]=$2} END {m=int((NR+1)/2); printf "%s: cpu %.2fs, %.3f µs of server CPU per delivery (median of %d)\n", v, c[m], c[m]*1e6/(dl[m]*d), NR}'
done
rm -f "$config" "$results"
