#!/usr/bin/env bash
# Starts a local testnet: builds bin/coco, creates the network in the
# testnet directory if it holds none yet (N nodes, default 4), starts every
# node that is not running (each its own process; pid and log under
# DIR/nodeI/), waits until all answer /status, and prints the endpoints.
# Run it again to restart nodes that were killed. See docs/testnet.md.
set -euo pipefail
# shellcheck source=testnet/lib.sh
source "$(dirname "$0")/lib.sh"

usage() { echo "usage: $TN_PROG [NODES]   (default 4; env: COCO_TESTNET_DIR, COCO_RPC_PORT, COCO_BUS_PORT, COCO_CLUSTER_PORT, COCO_TRUST_MODEL, COCO_BUS_URL)" >&2; exit 2; }
[[ $# -le 1 ]] || usage
want=${1:-}
[[ -z $want || $want =~ ^[1-9][0-9]*$ ]] || usage

tn_build

if tn_exists; then
  n=$(tn_count)
  [[ -z $want || $want == "$n" ]] ||
    die "$TN_DIR already holds a $n-node network; use 'testnet/up.sh' or 'testnet/down.sh --clean' first"
  say "using the $n-node network in $TN_DIR"
else
  n=${want:-4}
  rpc=${COCO_RPC_PORT:-8545} bus=${COCO_BUS_PORT:-4222} cluster=${COCO_CLUSTER_PORT:-6222}
  bus_url=${COCO_BUS_URL:-}
  for ((i = 0; i < n; i++)); do
    ports="$((rpc + i)) $((bus + i)) $((cluster + i))"
    [[ -z $bus_url ]] || ports=$((rpc + i)) # no embedded NATS servers
    for p in $ports; do
      if tn_port_busy "$p"; then
        die "port $p is in use; pick other ports with COCO_RPC_PORT, COCO_BUS_PORT, COCO_CLUSTER_PORT"
      fi
    done
  done
  mkdir -p "$TN_DIR"
  "$TN_BIN" testnet init --dir "$TN_DIR" --nodes "$n" --rpc-port "$rpc" --bus-port "$bus" \
    --cluster-port "$cluster" --bus-url "$bus_url" --trust-model "${COCO_TRUST_MODEL:-bft}" | tail -n1
fi

started=()
for ((i = 0; i < n; i++)); do
  if ! tn_running "$i"; then
    tn_start "$i"
    started+=("$i")
  fi
done
for i in "${started[@]}"; do tn_wait "$i" 60; done
if ((${#started[@]} == 0)); then
  say "all $n nodes were already running"
else
  say "started node(s) ${started[*]}"
fi
tn_endpoints
echo "status: testnet/status.sh   load: testnet/load.sh   stop: testnet/down.sh"
