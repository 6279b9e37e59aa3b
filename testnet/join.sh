#!/usr/bin/env bash
# Adds a node to the running testnet: creates its identity and config
# (coco testnet add-node), starts `coco node join`, and waits until the
# network has recorded it as pending. The members then trust it:
#   coco gov propose --as $COCO_TESTNET_DIR/members/member0 trust-node NODE-ID
#   coco gov vote --as .../member1 PROPOSAL accept   (a majority of members)
# after which it catches up and takes part in consensus.
set -euo pipefail
# shellcheck source=testnet/lib.sh
source "$(dirname "$0")/lib.sh"

[[ $# -le 1 ]] || { echo "usage: $TN_PROG [NODE]   (default: the next node number)" >&2; exit 2; }
tn_require
i=${1:-$(tn_count)}
[[ $i =~ ^[0-9]+$ ]] || die "node must be a number"
if [[ ! -f $(tn_config "$i") ]]; then
  url=$(tn_bus_url)
  ports=(--rpc-port "$(tn_port 0 rpc_addr)")
  [[ -n $url ]] || ports+=(--bus-port "$(tn_port 0 listen)" --cluster-port "$(tn_port 0 cluster_listen)")
  "$TN_BIN" testnet add-node --dir "$TN_DIR" --nodes "$(tn_genesis_count)" --index "$i" \
    "${ports[@]}" --bus-url "$url" >/dev/null
fi
tn_start "$i"
log=$TN_DIR/node$i/node.log
for _ in $(seq 1 60); do
  if grep -q "recorded as pending" "$log"; then
    id=$(jq -r .node_id "$TN_DIR/node$i/node.json")
    say "node $i is pending (node id $id). Members trust it with:"
    say "  $TN_BIN gov propose --as $TN_DIR/members/member0 trust-node $id"
    say "  $TN_BIN gov vote --as $TN_DIR/members/member1 PROPOSAL accept"
    exit 0
  fi
  if grep -q "consensus started" "$log"; then
    say "node $i is running: $(tn_rpc_url "$i")/status"
    exit 0
  fi
  sleep 1
done
tail -n 20 "$log" >&2
die "node $i was not recorded as pending within 60s"
