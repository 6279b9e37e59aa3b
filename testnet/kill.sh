#!/usr/bin/env bash
# Kills a node with SIGKILL (a crash: no clean shutdown).
#   kill.sh NODE     node number (0..N-1)
#   kill.sh leader   the current consensus leader, as the running nodes' /status reports it
# Restart it with testnet/start.sh NODE (or testnet/up.sh).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

[[ $# -eq 1 ]] || { echo "usage: $TN_PROG NODE|leader" >&2; exit 2; }
tn_require
n=$(tn_count)
target=$1
if [[ $target == leader ]]; then
  # The leader of the highest view any answering node reports (a node that
  # is behind or cut off may still name an old leader).
  best_view=-1 leader=
  for ((i = 0; i < n; i++)); do
    tn_running "$i" || continue
    st=$(tn_status "$i") || continue
    read -r v l < <(jq -r '"\(.view) \(.leader)"' <<<"$st")
    if ((v > best_view)); then best_view=$v leader=$l; fi
  done
  [[ -n $leader ]] || die "no running node answers /status, so the leader is unknown"
  target=$((leader - 1))
  say "the leader is node $target (consensus id $leader, view $best_view)"
fi
tn_node_arg "$target"
pid=$(tn_pid "$target") || die "node $target is not running"
kill -KILL "$pid"
for _ in $(seq 1 50); do tn_running "$target" || break; sleep 0.1; done
tn_running "$target" && die "node $target (pid $pid) survived SIGKILL"
echo "=== $(date '+%F %T') $TN_PROG: killed node $target (pid $pid) with SIGKILL ===" >>"$TN_DIR/node$target/node.log"
say "killed node $target (pid $pid); restart it with testnet/start.sh $target"
