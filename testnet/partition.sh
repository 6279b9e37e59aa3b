#!/usr/bin/env bash
# Cuts a node off the bus while its process keeps running, or heals it.
#   partition.sh NODE         drop NODE's NATS route traffic to and from all other nodes
#   partition.sh leader       the same for the current leader
#   partition.sh heal [NODE]  remove the partition of NODE (default: of every node)
#   partition.sh list         show partitioned nodes
# How: every node runs in its own cgroup v2 (up.sh puts it there), and all
# nodes share 127.0.0.1, so iptables rules in OUTPUT (loopback traffic is all
# locally generated) reject, with a TCP reset, (a) every packet of a socket
# in NODE's cgroup to or from a cluster (route) port and (b) every packet to
# NODE's cluster port. Existing route connections are closed (ss -K) and
# reconnection attempts refused; the node's own client connection, its
# JSON-RPC port and /status keep working. Needs root and iptables.
set -euo pipefail
# shellcheck source=testnet/lib.sh
source "$(dirname "$0")/lib.sh"

usage() { echo "usage: $TN_PROG NODE|leader | heal [NODE] | list" >&2; exit 2; }
[[ $# -ge 1 ]] || usage
tn_require
n=$(tn_count)
if [[ $1 != list ]] && url=$(tn_bus_url) && [[ -n $url ]]; then
  die "this testnet's nodes use the external NATS cluster $url, not routes between embedded servers: cut a node off by stopping or firewalling its connection to that cluster"
fi

# cut_connections NODE LO HI: closes NODE's established route connections at
# both ends now (ss -K), instead of at their next packet, so idle pooled
# routes go too and /status shows the partition at once. Best effort: the
# rules alone break every connection as soon as it carries traffic.
cut_connections() {
  local cg ports="( sport >= :$2 and sport <= :$3 ) or ( dport >= :$2 and dport <= :$3 )"
  local l r peers=""
  cg=/$(tn_cgroup_rel "$1")
  while read -r l r; do
    peers+="${peers:+ or }( src $r and dst $l )"
  done < <(ss -Htn state established "cgroup $cg and ( $ports )" 2>/dev/null | awk '{print $3, $4}')
  ss -K -Htn "cgroup $cg and ( $ports )" >/dev/null 2>&1 || true
  ss -K -Htn "dport = :$(tn_port "$1" cluster_listen)" >/dev/null 2>&1 || true
  [[ -z $peers ]] || ss -K -Htn "$peers" >/dev/null 2>&1 || true
}

case $1 in
list)
  [[ $# -eq 1 ]] || usage
  any=
  for ((i = 0; i < n; i++)); do
    if tn_partitioned "$i"; then echo "node $i is partitioned"; any=1; fi
  done
  [[ -n $any ]] || echo "no node is partitioned"
  ;;
heal)
  [[ $# -le 2 ]] || usage
  tn_need_firewall
  if [[ $# -eq 2 ]]; then
    tn_node_arg "$2"
    tn_partitioned "$2" || die "node $2 is not partitioned"
    tn_heal "$2"
    say "node $2 healed: its NATS routes reconnect within a few seconds"
  else
    healed=()
    for ((i = 0; i < n; i++)); do
      if tn_partitioned "$i"; then tn_heal "$i"; healed+=("$i"); fi
    done
    if ((${#healed[@]} == 0)); then say "no node was partitioned"; else say "healed node(s) ${healed[*]}"; fi
  fi
  still=
  for ((i = 0; i < n; i++)); do
    if tn_partitioned "$i"; then still=1; fi
  done
  [[ -n $still ]] || tn_firewall_cleanup
  ;;
*)
  [[ $# -eq 1 ]] || usage
  tn_need_firewall
  i=$1
  [[ $i != leader ]] || i=$(tn_leader)
  tn_node_arg "$i"
  if tn_partitioned "$i"; then die "node $i is already partitioned ('$TN_PROG heal $i' restores it)"; fi
  pid=$(tn_pid "$i") || die "node $i is not running"
  tn_in_cgroup "$i" "$pid" ||
    die "node $i (pid $pid) does not run in its cgroup $(tn_cgroup_rel "$i"); restart it as root with testnet/up.sh (kill.sh $i, then up.sh)"
  lo=$(tn_port 0 cluster_listen) hi=$(tn_port $((n - 1)) cluster_listen)
  ((hi - lo == n - 1)) || die "cluster ports are not consecutive ($lo..$hi for $n nodes)"
  main=$(tn_chain) sub=$(tn_chain "$i")
  tn_chain_exists "$main" || iptables -w -N "$main"
  iptables -w -C OUTPUT -j "$main" 2>/dev/null || iptables -w -I OUTPUT -j "$main"
  iptables -w -N "$sub"
  if ! err=$(iptables -w -A "$sub" -p tcp -m cgroup --path "$(tn_cgroup_rel "$i")" -m multiport --ports "$lo:$hi" \
    -j REJECT --reject-with tcp-reset 2>&1) ||
    ! err=$(iptables -w -A "$sub" -p tcp --dport "$(tn_port "$i" cluster_listen)" -j REJECT --reject-with tcp-reset 2>&1); then
    iptables -w -F "$sub"
    iptables -w -X "$sub"
    die "iptables cannot add the partition rules here (needs the cgroup, multiport and REJECT matches): $err"
  fi
  iptables -w -A "$main" -j "$sub"
  cut_connections "$i" "$lo" "$hi"
  say "node $i (pid $pid) is cut off the bus; 'testnet/partition.sh heal' restores it"
  ;;
esac
