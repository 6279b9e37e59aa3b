#!/usr/bin/env bash
# Starts one node of the existing testnet (e.g. after kill.sh) and waits
# until it answers /status. testnet/up.sh without arguments starts all nodes
# that are not running.
set -euo pipefail
# shellcheck source=testnet/lib.sh
source "$(dirname "$0")/lib.sh"

[[ $# -eq 1 ]] || { echo "usage: $TN_PROG NODE" >&2; exit 2; }
tn_require
tn_node_arg "$1"
if tn_running "$1"; then die "node $1 is already running (pid $(tn_pid "$1"))"; fi
tn_start "$1"
tn_wait "$1" 60
say "node $1 is up (pid $(tn_pid "$1")): $(tn_rpc_url "$1")/status"
