# Sourced by scripts that need a throw-away `coco dev` node.
# start_dev_node BIN: starts it on free ports with a temporary data directory,
# sets DEV_URL (http://127.0.0.1:PORT), DEV_WORK (temp dir, logs in
# $DEV_WORK/log) and DEV_PID, and stops it (Ctrl-C) and cleans up on exit.
DEV_PID=
DEV_WORK=$(mktemp -d)
stop_dev_node() {
  if [[ -n "$DEV_PID" ]] && kill -0 "$DEV_PID" 2>/dev/null; then
    kill -INT "$DEV_PID"; wait "$DEV_PID" || true
  fi
  rm -rf "$DEV_WORK"
}
trap stop_dev_node EXIT

start_dev_node() {
  "$1" dev --data-dir "$DEV_WORK/data" --rpc-addr 127.0.0.1:0 --bus-listen 127.0.0.1:0 \
    --log-level warn >"$DEV_WORK/out" 2>"$DEV_WORK/log" &
  DEV_PID=$!
  DEV_URL=
  for _ in $(seq 1 300); do
    DEV_URL=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$DEV_WORK/out" | head -n1 || true)
    [[ -n "$DEV_URL" ]] && return 0
    kill -0 "$DEV_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$DEV_WORK/log"
  echo "coco dev did not start" >&2
  return 1
}
