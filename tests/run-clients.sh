#!/usr/bin/env bash
# Runs the npm client suite (tests/clients) against a fresh `coco dev` node:
# installs the pinned npm packages, starts the node on free ports with a
# throw-away data directory, runs `node --test`, and stops the node.
set -euo pipefail
bin=$(realpath "${1:-bin/coco}")
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../testnet/devnode.sh"

(cd "$here/clients" && npm ci --no-audit --no-fund --loglevel=error)
start_dev_node "$bin"
echo "client suite against $DEV_URL"
status=0
(cd "$here/clients" && COCO_RPC_URL="$DEV_URL" COCO_WS_URL="ws://${DEV_URL#http://}" \
  node --test --test-concurrency=1 test/) || status=$?
if [[ $status -ne 0 ]]; then
  echo "--- coco dev log (last 50 lines) ---"; tail -n 50 "$DEV_WORK/log"
fi
exit $status
