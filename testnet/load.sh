#!/usr/bin/env bash
# Runs `coco bench eth` against the JSON-RPC endpoints of every node that is
# running and answering /status, except partitioned ones (transactions sent
# to a node cut off the bus cannot commit until it heals). Extra arguments go
# to the benchmark, e.g. --rate 500 --duration 10s, --concurrency 256,
# --transport ws, --json. It prints committed tx/s, submit-to-commit
# latency p50/p95/p99, and the nodes' CPU per committed transaction.
set -euo pipefail
# shellcheck source=testnet/lib.sh
source "$(dirname "$0")/lib.sh"

tn_require
[[ -x $TN_BIN ]] || die "no coco binary at $TN_BIN (run testnet/up.sh, or set COCO_BIN)"
n=$(tn_count)
urls=()
for ((i = 0; i < n; i++)); do
  if ! tn_running "$i"; then
    say "skipping node $i: not running"
  elif tn_partitioned "$i"; then
    say "skipping node $i: partitioned"
  elif ! tn_status "$i" >/dev/null; then
    say "skipping node $i: no answer from $(tn_rpc_url "$i")/status"
  else
    urls+=("$(tn_rpc_url "$i")")
  fi
done
((${#urls[@]} > 0)) || die "no node is running and reachable (testnet/status.sh)"
list=$(IFS=,; echo "${urls[*]}")
say "coco bench eth --rpc $list $*"
exec "$TN_BIN" bench eth --rpc "$list" "$@"
