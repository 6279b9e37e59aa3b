#!/usr/bin/env bash
# Measures a fresh `coco dev` node with the load generator: starts the node on
# free ports with a throw-away data directory, runs `coco bench eth` (extra
# arguments are passed through, e.g. --rate 5000 or --transport ws), stops it.
set -euo pipefail
bin=$(realpath "${1:-bin/coco}")
shift || true
source "$(dirname "$0")/devnode.sh"
start_dev_node "$bin"
"$bin" bench eth --rpc "$DEV_URL" "$@"
