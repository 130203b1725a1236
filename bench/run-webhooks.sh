#!/usr/bin/env bash
# What having webhooks on costs a cluster: 3 resound nodes on one fresh
# redis-server, with webhooks off and on (every event type, client_event
# included, to bin/hookrecv on loopback, which checks each signature and
# answers 200), in alternating rounds so the shared machine's drift hits
# both alike. Per round and variant:
#   fanout  3,000 subscribers over 100 channels, 100 and 1,000 publishes/s
#   whisper 1,000 members in rooms of 10, 500 whispers/s
#   whisper 1,000 members in rooms of 2, 4,000 whispers/s (with webhooks on,
#           each whisper is one client_event webhook through the Redis queue)
# With webhooks on the receiver reports events/s and whisper-to-webhook
# latency. Last, per round: the 4,000/s whispers while the receiver answers
# 503, and the rate at which that backlog is delivered once it answers 200.
# Prints bench's step rows, server and Redis CPU, and the receiver's counts.
#
#   bench/run-webhooks.sh [ROUNDS] [DURATION]      (defaults 3, 5s)
#
# Takes /tmp/resound-heavy.lock itself; everything it starts is stopped on exit.
set -uo pipefail
if [ -z "${RESOUND_HEAVY_LOCKED:-}" ]; then
	exec env RESOUND_HEAVY_LOCKED=1 flock /tmp/resound-heavy.lock "$0" "$@"
fi
cd "$(dirname "$0")/.."
rounds=${1:-3}
duration=${2:-5s}
redis_port=16493
hook_port=16499
ports=(16401 16402 16403)
targets=127.0.0.1:16401,127.0.0.1:16402,127.0.0.1:16403

go build -o bin/resound ./cmd/resound || exit 1
go build -o bin/bench ./bench || exit 1
go build -o bin/hookrecv ./bench/hookrecv || exit 1

work=$(mktemp -d)
pids=()
stop_all() {
	for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	pids=()
}
cleanup() {
	stop_all
	[ -n "${hook_pid:-}" ] && kill "$hook_pid" 2>/dev/null
	[ -n "${redis_pid:-}" ] && kill "$redis_pid" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

redis-server --port $redis_port --bind 127.0.0.1 --save "" --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
redis_pid=$!
bin/hookrecv --addr 127.0.0.1:$hook_port >"$work/hookrecv.log" 2>&1 &
hook_pid=$!
for _ in $(seq 100); do redis-cli -p $redis_port ping >/dev/null 2>&1 && curl -s "http://127.0.0.1:$hook_port/count" >/dev/null && break; sleep 0.05; done

app='"id":"bench","key":"bench-key","secret":"bench-secret","activity_timeout":120,"ping_interval":120'
scaling="\"scaling\":{\"enabled\":true,\"url\":\"redis://127.0.0.1:$redis_port/0\"}"
hooks="\"webhooks\":[{\"url\":\"http://127.0.0.1:$hook_port/hooks\",\"event_types\":[\"channel_occupied\",\"channel_vacated\",\"member_added\",\"member_removed\",\"client_event\",\"cache_miss\"]}]"
echo "{\"expose_stats\":true,$scaling,\"apps\":[{$app}]}" >"$work/off.json"
# queue_size is raised so a backlog measures delivery, not drops; a short
# retry_max_ms so the drain starts soon after the receiver answers 200.
echo "{\"expose_stats\":true,$scaling,\"webhooks\":{\"queue_size\":100000},\"apps\":[{$app,$hooks}]}" >"$work/on.json"

cpu_ticks() { # utime+stime of pids, in clock ticks
	local t=0
	for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
	echo $t
}

start_nodes() { # variant
	redis-cli -p $redis_port flushall >/dev/null
	for port in "${ports[@]}"; do
		bin/resound start --host 127.0.0.1 --port "$port" --config "$work/$1.json" >>"$work/nodes.log" 2>&1 &
		pids+=($!)
	done
	for port in "${ports[@]}"; do
		for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/up" >/dev/null && break; sleep 0.05; done
	done
}

# settle waits for held member_removed/channel_vacated (delay_ms, 3 s,
# after the sockets closed) and for the receiver to stop getting events.
settle() {
	sleep 3.5
	local prev=-1 now
	for _ in $(seq 120); do
		now=$(curl -s "http://127.0.0.1:$hook_port/count" | jq .events)
		[ "$now" = "$prev" ] && break
		prev=$now
		sleep 1
	done
}

# drain: with webhooks on, the receiver answers 503 while 1,000 members in
# rooms of 2 whisper 4,000/s, so every client_event piles up in Redis; then
# it answers 200 and times the backlog's delivery.
drain() {
	start_nodes on
	curl -s "http://127.0.0.1:$hook_port/fail" >/dev/null
	local out
	out=$(timeout 300 bin/bench whisper --n 1000 --room-size 2 --rate 4000 --targets $targets --duration "$duration" --quiet 2>&1)
	echo "### webhook backlog drain: whisper 1000 in rooms of 2 at 4000/s while the receiver answers 503"
	echo "$out" | grep -E '^ *(offered|[0-9]+ )|ERROR|lost'
	echo "redis queue: $(redis-cli -p $redis_port xlen resound:webhooks:queue) entries in the stream"
	curl -s "http://127.0.0.1:$hook_port/reset" >/dev/null
	curl -s "http://127.0.0.1:$hook_port/ok" >/dev/null
	settle
	echo "receiver after it answered 200: $(curl -s "http://127.0.0.1:$hook_port/count" | jq -c 'del(.client_event_ms)')"
	local stats=""
	for port in "${ports[@]}"; do
		stats="$stats $(curl -s "http://127.0.0.1:$port/stats" | jq -c .webhooks)"
	done
	echo "node /stats webhooks:$stats"
	stop_all
	echo
}

# run LABEL VARIANT bench-args...: one bench run on fresh nodes, with the
# server (3 nodes) and Redis CPU it took and what the receiver got.
run() {
	local label=$1 variant=$2
	shift 2
	start_nodes "$variant"
	curl -s "http://127.0.0.1:$hook_port/reset" >/dev/null
	local node_pids s0 r0
	node_pids=$(IFS=,; echo "${pids[*]}")
	s0=$(cpu_ticks "${pids[@]}")
	r0=$(cpu_ticks $redis_pid)
	local out
	out=$(timeout 300 bin/bench "$@" --targets $targets --server-pid "$node_pids" --duration "$duration" --quiet 2>&1)
	local s1 r1
	s1=$(cpu_ticks "${pids[@]}")
	r1=$(cpu_ticks $redis_pid)
	local stats=""
	if [ "$variant" = on ]; then
		settle
		for port in "${ports[@]}"; do
			stats="$stats $(curl -s "http://127.0.0.1:$port/stats" | jq -c .webhooks)"
		done
	fi
	echo "### $label, webhooks $variant"
	echo "$out" | grep -E '^ *(offered|[0-9]+ )|server cpu|ERROR|lost'
	echo "cpu over the whole run (sockets opened, steps, closed): nodes $(((s1 - s0) * 10)) ms, redis $(((r1 - r0) * 10)) ms (100 ticks/s)"
	if [ "$variant" = on ]; then
		echo "receiver: $(curl -s "http://127.0.0.1:$hook_port/count" | jq -c .)"
		echo "node /stats webhooks:$stats"
	fi
	stop_all
	echo
}

for r in $(seq "$rounds"); do
	echo "## round $r"
	for variant in off on; do
		run "fanout 3000 subs/100 channels" $variant fanout --n 3000 --channels 100 --rates 100,1000
		run "whisper 1000 in rooms of 10 at 500/s" $variant whisper --n 1000 --room-size 10 --rate 500
		run "whisper 1000 in rooms of 2 at 4000/s" $variant whisper --n 1000 --room-size 2 --rate 4000
	done
	drain
done
