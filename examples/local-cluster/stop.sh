#!/usr/bin/env bash
# Stops the local cluster that run.sh started: SIGTERM (each node leaves the
# cluster gracefully), then SIGKILL for any node still running after 15 s.
set -euo pipefail
DIR=${CLUSTER_DIR:-${TMPDIR:-/tmp}/gamesa-local-cluster}
[[ -f "$DIR/pids" ]] || { echo "no local cluster in $DIR"; exit 0; }
pids=$(cat "$DIR/pids")
kill -TERM $pids 2>/dev/null || true
for _ in $(seq 1 75); do
	kill -0 $pids 2>/dev/null || break
	sleep 0.2
done
kill -KILL $pids 2>/dev/null || true
rm -f "$DIR/pids"
echo "stopped the local cluster in $DIR (data and logs kept there)"
