# shellcheck shell=bash
# Sourced by the testnet operator scripts (up, start, status, load, kill,
# partition, down). It knows where the testnet lives, how to reach each node
# (ports are read from the nodes' config.yaml, so only `up.sh` looks at the
# port variables), and the process, cgroup and firewall plumbing.
#
# Nodes are numbered like their directories: node 0 .. node N-1. The consensus
# id that /status reports (id, leader) is the node number + 1.
#
# Environment:
#   COCO_TESTNET_DIR   testnet directory (default: REPO/.coco/testnet)
#   COCO_BIN           coco binary to run (default: REPO/bin/coco, built by up.sh)
#   COCO_RPC_PORT, COCO_BUS_PORT, COCO_CLUSTER_PORT
#                      ports of node 0 when up.sh creates a network (8545, 4222, 6222)
#   COCO_TRUST_MODEL   bft or tee when up.sh creates a network (default bft)
#   COCO_STOP_TIMEOUT  seconds down.sh waits after SIGTERM before SIGQUIT and SIGKILL (default 15)
set -euo pipefail

TN_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TN_DIR=${COCO_TESTNET_DIR:-$TN_REPO/.coco/testnet}
[[ $TN_DIR == /* ]] || TN_DIR=$PWD/$TN_DIR
TN_BIN=${COCO_BIN:-$TN_REPO/bin/coco}
[[ $TN_BIN == /* ]] || TN_BIN=$PWD/$TN_BIN
TN_PROG=$(basename "$0")

die() { echo "$TN_PROG: $*" >&2; exit 1; }
say() { echo "$TN_PROG: $*"; }

need_cmd() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || die "$c is required but not installed (apt-get install -y $c)"
  done
}
need_cmd curl jq

# tn_exists: the directory holds an initialized network.
tn_exists() { [[ -f $TN_DIR/genesis.json ]]; }

tn_require() {
  tn_exists || die "no testnet in $TN_DIR (run testnet/up.sh first)"
}

# tn_count: number of nodes (node directories with a config).
tn_count() {
  local n=0
  while [[ -f $TN_DIR/node$n/config.yaml ]]; do n=$((n + 1)); done
  echo "$n"
}

tn_config() { echo "$TN_DIR/node$1/config.yaml"; }

# tn_genesis_count: nodes in genesis; later ones joined (join.sh).
tn_genesis_count() { jq '.nodes | length' "$TN_DIR/genesis.json"; }

# tn_start_cmd NODE: `start` for a genesis node, `join` for a joined one
# (join just starts a node that has joined before).
tn_start_cmd() { if (($1 < $(tn_genesis_count))); then echo start; else echo join; fi; }

# tn_addr NODE KEY: host:port of a listener from the node's config
# (KEY: rpc_addr, listen or cluster_listen).
tn_addr() {
  local v
  v=$(awk -v k="$2:" '$1 == k { print $2; exit }' "$(tn_config "$1")")
  [[ -n $v ]] || die "no $2 in $(tn_config "$1")"
  echo "$v"
}
tn_port() { local a; a=$(tn_addr "$1" "$2"); echo "${a##*:}"; }

# tn_bus_url: the external NATS cluster the nodes use (bus.url in their
# configs, from COCO_BUS_URL at creation), empty when each node embeds its
# own server.
tn_bus_url() { awk '$1 == "url:" { gsub(/"/, "", $2); print $2; exit }' "$(tn_config 0)"; }
tn_rpc_url() { echo "http://$(tn_addr "$1" rpc_addr)"; }

# tn_node_arg ARG: validates a node number given on the command line.
tn_node_arg() {
  local n
  n=$(tn_count)
  [[ $1 =~ ^[0-9]+$ ]] || die "bad node number '$1' (want 0..$((n - 1)))"
  (( $1 < n )) || die "no node $1: the testnet has nodes 0..$((n - 1))"
}

# tn_pid NODE: prints the pid of the running node and succeeds, or fails.
# The pid file is checked against the process's command line so a reused
# pid is not mistaken for the node.
tn_pid() {
  local f=$TN_DIR/node$1/pid pid cmd
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
  [[ $cmd == *"node start --config $(tn_config "$1") "* || $cmd == *"node join --config $(tn_config "$1") "* ]] || return 1
  echo "$pid"
}
tn_running() { tn_pid "$1" >/dev/null; }

# tn_status NODE: the node's /status JSON, or failure.
tn_status() { curl -fsS -m 2 "$(tn_rpc_url "$1")/status" 2>/dev/null; }

# tn_port_busy PORT: something listens on 127.0.0.1:PORT (or any address).
tn_port_busy() {
  ss -Htln "sport = :$1" 2>/dev/null | grep -q .
}

# tn_leader: prints the node number of the current leader: the leader most
# answering nodes name, not counting partitioned ones (a node that is cut
# off or behind may still name an old leader; /status's view is that of the
# head block, so it cannot tell which answer is newer).
tn_leader() {
  local i n st l best=0 leader=""
  local -A votes=()
  n=$(tn_count)
  for ((i = 0; i < n; i++)); do
    tn_running "$i" || continue
    if tn_partitioned "$i"; then continue; fi
    st=$(tn_status "$i") || continue
    l=$(jq -r .leader <<<"$st")
    ((l > 0)) || continue
    votes[$l]=$((${votes[$l]:-0} + 1))
    if ((votes[$l] > best)); then best=${votes[$l]} leader=$l; fi
  done
  [[ -n $leader ]] || die "no running, connected node answers /status, so the leader is unknown"
  say "the leader is node $((leader - 1)) (consensus id $leader, named by $best node(s))" >&2
  echo $((leader - 1))
}

# --- cgroups: each node runs in its own cgroup v2 so partition.sh can tell
# its sockets apart from the other nodes' (they all use 127.0.0.1).

tn_cgroup_mount() { awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts; }

# tn_key: the network's cluster port base (its RPC port base on an external
# bus), unique among testnets running on this machine; names the cgroups
# and firewall chains.
tn_key() { if [[ -n $(tn_bus_url) ]]; then tn_port 0 rpc_addr; else tn_port 0 cluster_listen; fi; }

tn_cgroup_rel() { echo "coco-testnet-$(tn_key)/node$1"; }

# tn_cgroup_dir NODE: absolute cgroup directory of the node, or failure with
# the reason on stderr.
tn_cgroup_dir() {
  local m
  m=$(tn_cgroup_mount)
  if [[ -z $m ]]; then echo "no cgroup v2 hierarchy is mounted" >&2; return 1; fi
  if [[ $(id -u) != 0 ]]; then echo "not root" >&2; return 1; fi
  echo "$m/$(tn_cgroup_rel "$1")"
}

# tn_in_cgroup NODE PID: the process runs in the node's cgroup.
tn_in_cgroup() {
  local d
  d=$(tn_cgroup_dir "$1" 2>/dev/null) || return 1
  [[ -f $d/cgroup.procs ]] && grep -qx "$2" "$d/cgroup.procs"
}

# --- firewall (iptables, filter table, OUTPUT: on loopback every packet is
# locally generated). OUTPUT jumps to COCO-TN-<key>, which jumps to one
# chain per partitioned node, COCO-TN-<key>-<node>.

tn_chain() { echo "COCO-TN-$(tn_key)${1:+-$1}"; }

tn_need_firewall() {
  [[ $(id -u) == 0 ]] || die "partitions need root (iptables and cgroups); run as root"
  command -v iptables >/dev/null 2>&1 ||
    die "iptables is not installed (apt-get install -y iptables)"
  iptables -w -L OUTPUT -n >/dev/null 2>&1 ||
    die "iptables does not work here: $(iptables -w -L OUTPUT -n 2>&1 | head -n1)"
}

tn_chain_exists() { iptables -w -n -L "$1" >/dev/null 2>&1; }

# tn_partitioned NODE: the node is cut off the bus (quietly false when the
# firewall is not usable).
tn_partitioned() {
  [[ $(id -u) == 0 ]] && command -v iptables >/dev/null 2>&1 && tn_chain_exists "$(tn_chain "$1")"
}

# tn_heal NODE: removes the node's partition rules, if any.
tn_heal() {
  local main sub
  main=$(tn_chain) sub=$(tn_chain "$1")
  tn_chain_exists "$sub" || return 0
  while iptables -w -D "$main" -j "$sub" 2>/dev/null; do :; done
  iptables -w -F "$sub"
  iptables -w -X "$sub"
}

# tn_firewall_cleanup: removes every rule and chain of this testnet.
tn_firewall_cleanup() {
  [[ $(id -u) == 0 ]] && command -v iptables >/dev/null 2>&1 || return 0
  local main i n
  main=$(tn_chain)
  n=$(tn_count)
  for ((i = 0; i < n; i++)); do tn_heal "$i"; done
  if tn_chain_exists "$main"; then
    while iptables -w -D OUTPUT -j "$main" 2>/dev/null; do :; done
    iptables -w -F "$main"
    iptables -w -X "$main"
  fi
}

# --- processes

# tn_start NODE: starts the node in the background (own session, own
# cgroup when possible), appending its stdout and stderr to node.log.
tn_start() {
  local i=$1 d=$TN_DIR/node$1 cfg cg="" why port key pid
  cfg=$(tn_config "$i")
  if pid=$(tn_pid "$i"); then
    say "node $i is already running (pid $pid)"
    return 0
  fi
  [[ -x $TN_BIN ]] || die "no coco binary at $TN_BIN (run testnet/up.sh, or set COCO_BIN)"
  keys="rpc_addr listen cluster_listen"
  [[ -z $(tn_bus_url) ]] || keys=rpc_addr
  for key in $keys; do
    port=$(tn_port "$i" "$key")
    if tn_port_busy "$port"; then
      die "node $i: port $port ($key) is already in use by another process: $(ss -Htlnp "sport = :$port" | awk '{print $NF}' | head -n1)"
    fi
  done
  if cg=$(tn_cgroup_dir "$i" 2>/dev/null); then
    mkdir -p "$cg" 2>/dev/null || cg=""
  fi
  echo "=== $(date '+%F %T') $TN_PROG: starting node $i ===" >>"$d/node.log"
  # The subshell joins the cgroup before exec, so every socket of the node
  # belongs to it; setsid keeps terminal signals (Ctrl-C) away from the
  # node. Neither forks, so $! is the node's pid.
  (
    [[ -z $cg ]] || echo "$BASHPID" >"$cg/cgroup.procs"
    exec setsid "$TN_BIN" node "$(tn_start_cmd "$i")" --config "$cfg" </dev/null
  ) >>"$d/node.log" 2>&1 &
  echo "$!" >"$d/pid"
  if [[ -z $cg ]]; then
    why=$(tn_cgroup_dir "$i" 2>&1 >/dev/null || true)
    say "node $i: started without its own cgroup (${why:-cgroup not writable}); partition.sh will not work for it"
  fi
}

# tn_wait NODE TIMEOUT: waits until the node answers /status; on failure
# prints the end of its log.
tn_wait() {
  local i=$1 deadline=$((SECONDS + $2)) pid
  pid=$(<"$TN_DIR/node$i/pid")
  while ((SECONDS < deadline)); do
    # Until the start-up subshell has exec'd, the pid is not yet coco's.
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "--- end of $TN_DIR/node$i/node.log:" >&2
      tail -n 20 "$TN_DIR/node$i/node.log" >&2
      die "node $i exited during start-up"
    fi
    tn_running "$i" && tn_status "$i" >/dev/null && return 0
    sleep 0.2
  done
  echo "--- end of $TN_DIR/node$i/node.log:" >&2
  tail -n 20 "$TN_DIR/node$i/node.log" >&2
  die "node $i did not answer $(tn_rpc_url "$i")/status within $2 s"
}

# tn_build: builds the coco binary unless COCO_BIN names one. go build is
# incremental, so this is quick when nothing changed.
tn_build() {
  [[ -z ${COCO_BIN:-} ]] || { [[ -x $TN_BIN ]] || die "COCO_BIN=$TN_BIN is not executable"; return 0; }
  need_cmd go
  say "building $TN_BIN"
  (cd "$TN_REPO" && go build -o "$TN_BIN" ./cmd/coco) || die "go build failed"
}

# tn_endpoints: prints each node's endpoints.
tn_endpoints() {
  local i n url
  n=$(tn_count)
  url=$(tn_bus_url)
  if [[ -n $url ]]; then
    for ((i = 0; i < n; i++)); do
      printf 'node %d (id %d): rpc %s  ws ws://%s  status %s/status  log %s\n' \
        "$i" $((i + 1)) "$(tn_rpc_url "$i")" "$(tn_addr "$i" rpc_addr)" "$(tn_rpc_url "$i")" "$TN_DIR/node$i/node.log"
    done
    echo "bus: the external NATS cluster $url"
    return 0
  fi
  for ((i = 0; i < n; i++)); do
    printf 'node %d (id %d): rpc %s  ws ws://%s  status %s/status  bus nats://%s  routes %s  log %s\n' \
      "$i" $((i + 1)) "$(tn_rpc_url "$i")" "$(tn_addr "$i" rpc_addr)" "$(tn_rpc_url "$i")" \
      "$(tn_addr "$i" listen)" "$(tn_addr "$i" cluster_listen)" "$TN_DIR/node$i/node.log"
  done
}
