#!/usr/bin/env bash
# One line per node: process, height, view, leader, NATS peers (other nodes
# it is routed to), pending transactions, blocks caught up by sync and head
# hash from its /status;
# marks nodes that are down, not answering, partitioned (partition.sh) or
# behind the highest node.
set -euo pipefail
# shellcheck source=testnet/lib.sh
source "$(dirname "$0")/lib.sh"

[[ $# -eq 0 ]] || { echo "usage: $TN_PROG" >&2; exit 2; }
tn_require
n=$(tn_count)
echo "testnet $TN_DIR: $n nodes, $(jq -r '"network \(.network // "?"), trust model \(.trust_model // "?")"' "$TN_DIR/genesis.json")"
row() { printf '%-5s %-3s %-8s %-13s %8s %5s %6s %6s %7s %6s  %s\n' "$@"; }
row node id pid state height view leader peers pending synced head
declare -A heads=() stats=()
up=0 top=0
for ((i = 0; i < n; i++)); do
  if tn_running "$i" && st=$(tn_status "$i"); then
    stats[$i]=$st
    h=$(jq -r .height <<<"$st")
    if ((h > top)); then top=$h; fi
  fi
done
for ((i = 0; i < n; i++)); do
  pid=$(tn_pid "$i") || pid=-
  state=up
  if tn_partitioned "$i"; then state=partitioned; fi
  if [[ $pid == - ]]; then
    row "$i" $((i + 1)) - DOWN - - - - - - "not running (restart: testnet/start.sh $i)"
    continue
  fi
  if [[ -z ${stats[$i]:-} ]]; then
    row "$i" $((i + 1)) "$pid" "$state" - - - - - - "no answer from $(tn_rpc_url "$i")/status"
    continue
  fi
  st=${stats[$i]}
  up=$((up + 1))
  read -r height view leader peers pending synced head < <(jq -r '[.height, .view, .leader, (.bus_peers // .bus_routes), .pending_txs, (.synced_blocks // "-"), .head_hash] | map(tostring) | join(" ")' <<<"$st")
  heads[$head]=$height
  ((height >= top)) || head+="  ($((top - height)) behind)"
  [[ $peers != -1 ]] || peers=ext # an external NATS cluster, no routes of its own
  row "$i" $((i + 1)) "$pid" "$state" "$height" "$view" "$leader" "$peers" "$pending" "$synced" "$head"
done
if ((up == 0)); then
  echo "no node is answering"
elif ((${#heads[@]} == 1)); then
  echo "$up node(s) answering, all at the same head"
else
  echo "$up node(s) answering, ${#heads[@]} different heads (nodes catching up or partitioned)"
fi
