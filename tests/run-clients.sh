#!/usr/bin/env bash
# Runs the npm client suite (tests/clients) against a fresh `coco dev` node:
# installs the pinned npm packages, starts the node on free ports with a
# throw-away data directory, runs `node --test`, and stops the node.
set -euo pipefail
bin=$(realpath "${1:-bin/coco}")
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
node_pid=
cleanup() {
  if [[ -n "$node_pid" ]] && kill -0 "$node_pid" 2>/dev/null; then
    kill -INT "$node_pid"; wait "$node_pid" || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

(cd "$here/clients" && npm ci --no-audit --no-fund --loglevel=error)

"$bin" dev --data-dir "$work/data" --rpc-addr 127.0.0.1:0 --bus-listen 127.0.0.1:0 \
  --log-level warn >"$work/out" 2>"$work/log" &
node_pid=$!
for _ in $(seq 1 300); do
  url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$work/out" | head -n1 || true)
  [[ -n "$url" ]] && break
  kill -0 "$node_pid" 2>/dev/null || { cat "$work/log"; echo "coco dev exited"; exit 1; }
  sleep 0.1
done
[[ -n "$url" ]] || { cat "$work/log"; echo "coco dev did not print its endpoints"; exit 1; }
echo "client suite against $url"

status=0
(cd "$here/clients" && COCO_RPC_URL="$url" COCO_WS_URL="ws://${url#http://}" \
  node --test --test-concurrency=1 test/) || status=$?
if [[ $status -ne 0 ]]; then
  echo "--- coco dev log (last 50 lines) ---"; tail -n 50 "$work/log"
fi
exit $status
