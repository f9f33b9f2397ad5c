#!/usr/bin/env bash
# Measure the agent's steady-state footprint: start `gamesa agent --dev` at
# a 1 s tick, let it warm up, then read its CPU time (the scheduler's
# per-thread runtime from /proc/PID/task/*/schedstat, and utime + stime) at
# the start and end of a window and its memory (VmRSS split into anonymous
# and file-backed, VmHWM from /proc/PID/status) at the end.
#
#   scripts/footprint.sh [BIN] [WINDOW_SECONDS] [extra agent flags...]
#
# WARMUP=S waits S seconds before the window (default 45: the agent gives
# back its start-up memory 30 s after it is ready; the in-memory history
# fills in 15 minutes and the models start training after about 10, so 960
# measures the full steady state).
# WATCHERS=N also runs N `gamesa top -o json --interval $WATCH_INTERVAL`
# clients (default 100 ms) against the agent for the whole window, each its
# own process, so only the agent's own cost is measured. Prints one line per
# figure; exits non-zero if the agent dies.
set -euo pipefail
bin=${1:-bin/gamesa}
window=${2:-60}
shift $(( $# > 2 ? 2 : $# ))
warmup=${WARMUP:-45}
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
# runtime: the scheduler's exact nanoseconds on CPU, summed over the threads
# (utime + stime are sampled at the kernel's tick, coarse for a process that
# runs in bursts of a few hundred microseconds).
runtime() { cat /proc/"$pid"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'; }
status() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$pid/status"; }
sleep "$warmup"
t0=$(ticks); n0=$(runtime); s0=$(date +%s.%N)
sleep "$window"
t1=$(ticks); n1=$(runtime); s1=$(date +%s.%N)
kill -0 "$pid" || { echo "agent died" >&2; exit 1; }

awk -v t0="$t0" -v t1="$t1" -v n0="$n0" -v n1="$n1" -v s0="$s0" -v s1="$s1" -v hz="$hz" \
	-v rss="$(status VmRSS)" -v hwm="$(status VmHWM)" -v anon="$(status RssAnon)" -v file="$(status RssFile)" 'BEGIN {
	wall = s1 - s0
	printf "window        %.1f s (after %d s warm-up), %d watchers\n", wall, '"$warmup"', '"$watchers"'
	printf "cpu           %.2f %% of one core (%.3f s CPU, schedstat); utime+stime %.2f %%\n", 100 * (n1 - n0) / 1e9 / wall, (n1 - n0) / 1e9, 100 * (t1 - t0) / hz / wall
	printf "rss           %.1f MB (VmRSS: %.1f MB anonymous, %.1f MB file-backed)\n", rss / 1024, anon / 1024, file / 1024
	printf "rss peak      %.1f MB (VmHWM)\n", hwm / 1024
}'
