#!/usr/bin/env bash
# Kills a node with SIGKILL (a crash: no clean shutdown).
#   kill.sh NODE     node number (0..N-1)
#   kill.sh leader   the current consensus leader, as the running nodes' /status reports it
# Restart it with testnet/start.sh NODE (or testnet/up.sh).
set -euo pipefail
# shellcheck source=testnet/lib.sh
source "$(dirname "$0")/lib.sh"

[[ $# -eq 1 ]] || { echo "usage: $TN_PROG NODE|leader" >&2; exit 2; }
tn_require
target=$1
[[ $target != leader ]] || target=$(tn_leader)
tn_node_arg "$target"
pid=$(tn_pid "$target") || die "node $target is not running"
kill -KILL "$pid"
for _ in $(seq 1 50); do tn_running "$target" || break; sleep 0.1; done
if tn_running "$target"; then die "node $target (pid $pid) survived SIGKILL"; fi
echo "=== $(date '+%F %T') $TN_PROG: killed node $target (pid $pid) with SIGKILL ===" >>"$TN_DIR/node$target/node.log"
say "killed node $target (pid $pid); restart it with testnet/start.sh $target"
