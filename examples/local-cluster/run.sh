#!/usr/bin/env bash
# A secure local cluster: 3 servers and 2 clients on 127.0.0.1, each with its
# own ports and data directory, mutual TLS from a fresh cluster CA, an
# encrypted gossip mesh, bearer tokens, and the simulated machine with a
# different workload per node. Stop it with stop.sh (or make cluster-stop).
#
# Usage: run.sh [path/to/gamesa]   (default: bin/gamesa)
# Environment: CLUSTER_DIR (default ${TMPDIR:-/tmp}/gamesa-local-cluster)
set -euo pipefail

BIN=${1:-bin/gamesa}
DIR=${CLUSTER_DIR:-${TMPDIR:-/tmp}/gamesa-local-cluster}
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")

if [[ -f "$DIR/pids" ]] && kill -0 $(cat "$DIR/pids") 2>/dev/null; then
	echo "a local cluster is already running in $DIR (stop it with make cluster-stop)" >&2
	exit 1
fi
rm -rf "$DIR"
mkdir -p "$DIR/pki"
cd "$DIR"

# The operator's one-time setup, with gamesa's own commands.
"$BIN" tls ca create --dir pki >/dev/null
for i in 0 1 2; do "$BIN" tls cert create --server --dir pki >/dev/null; done
for i in 0 1; do "$BIN" tls cert create --client --dir pki >/dev/null; done
"$BIN" tls cert create --cli --dir pki >/dev/null
"$BIN" keygen --out pki/gossip.key >/dev/null
"$BIN" acl token create --scope admin --name operator >pki/tokens
"$BIN" acl token create --scope read --name dashboard >>pki/tokens
chmod 600 pki/tokens
awk '$1 == "admin" {print $2}' pki/tokens >pki/admin.token
chmod 600 pki/admin.token

common=(--source sim --encrypt-key-file pki/gossip.key --tokens-file pki/tokens
	--tls-ca pki/gamesa-agent-ca.pem --log-format json)
scenarios=(game render compile browser cycle)

start() { # name role index kind grpc http gossip raft scenario [join]
	local name=$1 role=$2 idx=$3 kind=$4 grpc=$5 http=$6 gossip=$7 raft=$8 scenario=$9 join=${10:-}
	local args=(agent --node-id "$name" --data-dir "data/$name" --role "$role"
		--grpc-addr "127.0.0.1:$grpc" --http-addr "127.0.0.1:$http"
		--gossip-addr "127.0.0.1:$gossip" --raft-addr "127.0.0.1:$raft"
		--tls-cert "pki/gamesa-$kind-gamesa-$idx.pem" --tls-key "pki/gamesa-$kind-gamesa-$idx-key.pem"
		--sim-scenario "$scenario" --sim-seed "$((idx + 1))" "${common[@]}")
	[[ $role == server ]] && args+=(--bootstrap-expect 3)
	[[ -n $join ]] && args+=(--join "$join")
	mkdir -p "data/$name"
	"$BIN" "${args[@]}" >"$name.log" 2>&1 &
	echo $! >>pids
}

start server1 server 0 server 7071 8081 7951 7961 "${scenarios[0]}"
start server2 server 1 server 7072 8082 7952 7962 "${scenarios[1]}" 127.0.0.1:7951
start server3 server 2 server 7073 8083 7953 7963 "${scenarios[2]}" 127.0.0.1:7951
start client1 client 0 client 7074 8084 7954 7964 "${scenarios[3]}" 127.0.0.1:7951
start client2 client 1 client 7075 8085 7955 7965 "${scenarios[4]}" 127.0.0.1:7952

cli=(--tls-ca "$DIR/pki/gamesa-agent-ca.pem" --tls-cert "$DIR/pki/gamesa-cli-gamesa-0.pem"
	--tls-key "$DIR/pki/gamesa-cli-gamesa-0-key.pem" --token-file "$DIR/pki/admin.token")

# Wait for a leader: a consistent read answers only once there is one.
for _ in $(seq 1 100); do
	if "$BIN" cluster --addr 127.0.0.1:7074 "${cli[@]}" >/dev/null 2>&1; then break; fi
	sleep 0.2
done
"$BIN" cluster --addr 127.0.0.1:7074 "${cli[@]}"

cat <<EOM

A secure GAMESA cluster runs in $DIR (logs: $DIR/*.log).
Servers: gRPC 127.0.0.1:7071-7073, clients: 127.0.0.1:7074-7075; dashboards http://127.0.0.1:8081-8085/gamesa

  CLI="${cli[*]}"
  $BIN members --addr 127.0.0.1:7074 \$CLI
  $BIN cluster set power/budget_watts 3500 --addr 127.0.0.1:7075 \$CLI
  $BIN cluster --addr 127.0.0.1:7072 \$CLI

  grpcurl -cacert $DIR/pki/gamesa-agent-ca.pem -cert $DIR/pki/gamesa-cli-gamesa-0.pem \\
    -key $DIR/pki/gamesa-cli-gamesa-0-key.pem -servername server.gamesa \\
    -H "authorization: Bearer \$(cat $DIR/pki/admin.token)" \\
    127.0.0.1:7071 gamesa.v1.ClusterService/GetClusterState

Stop it with: make cluster-stop
EOM
