#!/usr/bin/env bash
# The live dashboard's cost to the agent: its CPU with no page open, then
# with CLIENTS pages at RATE updates a second, each over WINDOW seconds after
# WARMUP seconds. CPU is the agent's own utime + stime from /proc/PID/stat;
# the pages run in other processes.
#
#   node/dashboard/footprint.sh [BIN] [extra agent flags...]
#
# CLIENTS (10), RATE (10), WINDOW (60), WARMUP (10). BROWSER=/usr/bin/chromium
# loads the page in that many real headless tabs (drawing every update)
# instead of plain WebSocket clients that acknowledge at once.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${1:-bin/gamesa}
shift $(( $# > 0 ? 1 : 0 ))
clients=${CLIENTS:-10}
rate=${RATE:-10}
window=${WINDOW:-60}
warmup=${WARMUP:-10}
hz=$(getconf CLK_TCK)

tmp=$(mktemp -d)
go build -o "$tmp/wsload" ./node/dashboard/internal/wsload
log=$tmp/agent.log
"$bin" agent --dev --grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 --gossip-addr 127.0.0.1:0 --raft-addr 127.0.0.1:0 \
	--log-format json "$@" 2>"$log" &
pid=$!
load=
cleanup() {
	[ -n "$load" ] && kill "$load" 2>/dev/null
	kill "$pid" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

for _ in $(seq 100); do
	addr=$(sed -n 's/.*"msg":"node ready".*"http":"\([^"]*\)".*/\1/p' "$log")
	[ -n "$addr" ] && break
	sleep 0.1
done
[ -n "$addr" ] || { echo "agent did not become ready" >&2; cat "$log" >&2; exit 1; }

ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
measure() { # prints the agent's CPU over the window, in % of one core
	local t0 s0 t1 s1
	t0=$(ticks); s0=$(date +%s.%N)
	sleep "$window"
	t1=$(ticks); s1=$(date +%s.%N)
	kill -0 "$pid" || { echo "agent died" >&2; exit 1; }
	awk -v t0="$t0" -v t1="$t1" -v s0="$s0" -v s1="$s1" -v hz="$hz" 'BEGIN { printf "%.2f", 100 * (t1 - t0) / hz / (s1 - s0) }'
}

sleep "$warmup"
idle=$(measure)
echo "idle          $idle % of one core (no page, ${window} s after ${warmup} s warm-up)"

mode="WebSocket clients"
args=(-addr "$addr" -clients "$clients" -rate "$rate" -duration "$((warmup + window + 5))s")
if [ -n "${BROWSER:-}" ]; then
	mode="headless Chromium tabs"
	args+=(-browser "$BROWSER")
fi
"$tmp/wsload" "${args[@]}" >"$tmp/load.out" 2>&1 &
load=$!
sleep "$warmup"
loaded=$(measure)
wait "$load" || { cat "$tmp/load.out" >&2; echo "load failed" >&2; exit 1; }
load=
echo "loaded        $loaded % of one core ($clients $mode at $rate updates/s)"
awk -v a="$idle" -v b="$loaded" 'BEGIN { printf "above idle    %.2f %% of one core\n", b - a }'
sed 's/^/load: /' "$tmp/load.out"
rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
echo "rss           $((rss / 1024)) MB"
