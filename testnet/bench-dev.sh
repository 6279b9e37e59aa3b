#!/usr/bin/env bash
# Measures a fresh `coco dev` node with the load generator: starts the node on
# free ports with a throw-away data directory, runs `coco bench eth` (extra
# arguments are passed through, e.g. --rate 5000 or --transport ws), stops it.
set -euo pipefail
bin=$(realpath "${1:-bin/coco}")
shift || true
work=$(mktemp -d)
node_pid=
cleanup() {
  if [[ -n "$node_pid" ]] && kill -0 "$node_pid" 2>/dev/null; then
    kill -INT "$node_pid"; wait "$node_pid" || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
"$bin" dev --data-dir "$work/data" --rpc-addr 127.0.0.1:0 --bus-listen 127.0.0.1:0 --log-level warn >"$work/out" 2>"$work/log" &
node_pid=$!
url=
for _ in $(seq 1 300); do
  url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$work/out" | head -n1 || true)
  [[ -n "$url" ]] && break
  sleep 0.1
done
[[ -n "$url" ]] || { cat "$work/log"; echo "coco dev did not start"; exit 1; }
"$bin" bench eth --rpc "$url" "$@"
