#!/usr/bin/env bash
# Stops every node: SIGTERM (a clean shutdown); a node still running after
# COCO_STOP_TIMEOUT seconds (default 15) gets SIGQUIT (Go writes a goroutine
# dump to its node.log and exits), then SIGKILL. Also removes the testnet's
# partition rules and cgroups.
#   down.sh           stop; the network and its data stay for the next up.sh
#   down.sh --clean   stop and delete the testnet directory
set -euo pipefail
# shellcheck source=testnet/lib.sh
source "$(dirname "$0")/lib.sh"

clean=
case ${1:-} in
"") ;;
--clean) clean=1 ;;
*) echo "usage: $TN_PROG [--clean]" >&2; exit 2 ;;
esac
[[ $# -le 1 ]] || { echo "usage: $TN_PROG [--clean]" >&2; exit 2; }
if ! tn_exists; then
  [[ -d $TN_DIR && -n $clean ]] && die "$TN_DIR holds no genesis.json; not deleting a directory that is not a testnet"
  say "no testnet in $TN_DIR"
  exit 0
fi
timeout=${COCO_STOP_TIMEOUT:-15}
[[ $timeout =~ ^[0-9]+$ ]] || die "COCO_STOP_TIMEOUT=$timeout: want whole seconds"
n=$(tn_count)

pids=() nodes=()
for ((i = 0; i < n; i++)); do
  if pid=$(tn_pid "$i"); then
    kill -TERM "$pid" 2>/dev/null || true
    pids+=("$pid") nodes+=("$i")
  fi
done
if ((${#pids[@]} == 0)); then
  say "no node was running"
else
  say "sent SIGTERM to node(s) ${nodes[*]}"
  deadline=$((SECONDS + timeout))
  while ((SECONDS < deadline)); do
    alive=0
    for i in "${nodes[@]}"; do
      if tn_running "$i"; then alive=1; fi
    done
    ((alive)) || break
    sleep 0.2
  done
  # A node that ignores SIGTERM is hung: SIGQUIT makes the Go runtime
  # write every goroutine's stack to node.log and exit, SIGKILL follows.
  hung=()
  for i in "${nodes[@]}"; do
    if pid=$(tn_pid "$i"); then
      say "node $i (pid $pid) still running after ${timeout}s: SIGQUIT (goroutine dump in $TN_DIR/node$i/node.log)"
      kill -QUIT "$pid" 2>/dev/null || true
      hung+=("$i")
    fi
  done
  ((${#hung[@]} == 0)) || sleep 2
  for i in "${hung[@]}"; do
    if pid=$(tn_pid "$i"); then
      say "node $i (pid $pid): SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  say "stopped node(s) ${nodes[*]}"
fi
for ((i = 0; i < n; i++)); do rm -f "$TN_DIR/node$i/pid"; done

tn_firewall_cleanup
if m=$(tn_cgroup_mount) && [[ -n $m && -d $m/coco-testnet-$(tn_key) ]]; then
  for ((i = 0; i < n; i++)); do
    d=$m/$(tn_cgroup_rel "$i")
    [[ ! -d $d ]] || rmdir "$d" 2>/dev/null || say "cgroup $d is still in use"
  done
  rmdir "$m/coco-testnet-$(tn_key)" 2>/dev/null || true
fi

if [[ -n $clean ]]; then
  rm -rf -- "$TN_DIR"
  say "deleted $TN_DIR"
fi
