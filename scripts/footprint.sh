#!/usr/bin/env bash
# Measure the agent's steady-state footprint: start `gamesa agent --dev` at
# a 1 s tick, let it warm up, then read its CPU time (utime + stime from
# /proc/PID/stat) at the start and end of a window and its memory
# (VmRSS, VmHWM from /proc/PID/status) at the end.
#
#   scripts/footprint.sh [BIN] [WINDOW_SECONDS] [extra agent flags...]
#
# WARMUP=S waits S seconds before the window (default 10; the models start
# training after about 10 minutes, so 660 measures the steady state).
# WATCHERS=N also runs N `gamesa top -o json --interval $WATCH_INTERVAL`
# clients (default 100 ms) against the agent for the whole window, each its
# own process, so only the agent's own cost is measured. Prints one line per
# figure; exits non-zero if the agent dies.
set -euo pipefail
bin=${1:-bin/gamesa}
window=${2:-60}
shift $(( $# > 2 ? 2 : $# ))
warmup=${WARMUP:-10}
hz=$(getconf CLK_TCK)

watchers=${WATCHERS:-0}
watch_interval=${WATCH_INTERVAL:-100ms}
log=$(mktemp)
"$bin" agent --dev --grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 --log-format json "$@" 2>"$log" &
pid=$!
clients=()
cleanup() {
	for c in "${clients[@]}"; do kill "$c" 2>/dev/null || true; done
	kill "$pid" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -f "$log"
}
trap cleanup EXIT

# The agent logs its gRPC address once it is ready.
for _ in $(seq 100); do
	addr=$(sed -n 's/.*"msg":"node ready".*"grpc":"\([^"]*\)".*/\1/p' "$log")
	[ -n "$addr" ] && break
	sleep 0.1
done
[ -n "$addr" ] || { echo "agent did not become ready" >&2; cat "$log" >&2; exit 1; }
for _ in $(seq "$watchers"); do
	"$bin" top --addr "$addr" -o json --interval "$watch_interval" >/dev/null 2>&1 &
	clients+=($!)
done

ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; } # utime + stime, after the comm field
sleep "$warmup"
t0=$(ticks); s0=$(date +%s.%N)
sleep "$window"
t1=$(ticks); s1=$(date +%s.%N)
kill -0 "$pid" || { echo "agent died" >&2; exit 1; }
rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status")

awk -v t0="$t0" -v t1="$t1" -v s0="$s0" -v s1="$s1" -v hz="$hz" -v rss="$rss" -v hwm="$hwm" 'BEGIN {
	wall = s1 - s0
	printf "window        %.1f s (after %d s warm-up), %d watchers\n", wall, '"$warmup"', '"$watchers"'
	printf "cpu           %.2f %% of one core (%.3f s CPU)\n", 100 * (t1 - t0) / hz / wall, (t1 - t0) / hz
	printf "rss           %.1f MB (VmRSS)\n", rss / 1024
	printf "rss peak      %.1f MB (VmHWM)\n", hwm / 1024
}'
