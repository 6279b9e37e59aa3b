#!/usr/bin/env bash
# One line per node: process, height, view, leader, NATS routes to other
# nodes, pending transactions and head hash from its /status; marks nodes
# that are down, not answering, or partitioned (partition.sh).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

[[ $# -eq 0 ]] || { echo "usage: $TN_PROG" >&2; exit 2; }
tn_require
n=$(tn_count)
echo "testnet $TN_DIR: $n nodes, $(jq -r '"network \(.network // "?"), trust model \(.trust_model // "?")"' "$TN_DIR/genesis.json")"
fmt='%-5s %-3s %-8s %-13s %8s %5s %6s %6s %7s  %s\n'
printf "$fmt" node id pid state height view leader routes pending head
declare -A heads=()
up=0
for ((i = 0; i < n; i++)); do
  pid=$(tn_pid "$i") || pid=-
  state=up
  tn_partitioned "$i" && state=partitioned
  if [[ $pid == - ]]; then
    printf "$fmt" "$i" $((i + 1)) - DOWN - - - - - "not running (restart: testnet/start.sh $i)"
    continue
  fi
  if ! st=$(tn_status "$i"); then
    printf "$fmt" "$i" $((i + 1)) "$pid" "$state" - - - - - "no answer from $(tn_rpc_url "$i")/status"
    continue
  fi
  up=$((up + 1))
  read -r height view leader routes pending head < <(jq -r '[.height, .view, .leader, .bus_routes, .pending_txs, .head_hash] | map(tostring) | join(" ")' <<<"$st")
  heads[$head]=$height
  printf "$fmt" "$i" $((i + 1)) "$pid" "$state" "$height" "$view" "$leader" "$routes" "$pending" "$head"
done
if ((up == 0)); then
  echo "no node is answering"
elif ((${#heads[@]} == 1)); then
  echo "$up node(s) answering, all at the same head"
else
  echo "$up node(s) answering, ${#heads[@]} different heads (nodes catching up or partitioned)"
fi
