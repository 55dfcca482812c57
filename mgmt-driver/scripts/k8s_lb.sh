#!/usr/bin/env bash
# Load balancer for the Kubernetes API on one master: HAProxy forwards FRONTEND_PORT to
# every master's API server, keepalived holds the VIP on the master with the highest
# priority whose HAProxy is alive.
#
# Usage: k8s_lb.sh VIP PREFIX_LEN FRONTEND_PORT PRIORITY VRID NODE_IP BACKEND... < secrets
#   VIP            the virtual IPv4 address (the cluster's API endpoint is VIP:FRONTEND_PORT)
#   PREFIX_LEN     prefix length of the VIP on the node's interface (1-32; the subnet's,
#                  never assumed to be /24)
#   FRONTEND_PORT  HAProxy's listening port (not the API server's own 6443)
#   PRIORITY       VRRP priority of this master (1-254, the highest holds the VIP)
#   VRID           VRRP virtual router id (1-255), unique per cluster on the network
#   NODE_IP        this master's address; keepalived runs on the interface holding it
#   BACKEND        NAME=IP:PORT, one per master API server (NAME a DNS-1123 label)
#   stdin          vrrp_password=<1-8 printable characters, no spaces, no " or \>
#
# Both configuration files are generated whole: the backend list is exactly the BACKEND
# words of this run (a heal removes a master by running with the survivors' list and
# re-adds it with the full list). A file is written only when its content changes and the
# service reloaded only then; a service that does not run is started. HAProxy and
# keepalived are installed only when missing.
set -euo pipefail
# shellcheck source=mgmt-driver/scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HAPROXY_CFG=/etc/haproxy/haproxy.cfg
KEEPALIVED_CONF=/etc/keepalived/keepalived.conf

# haproxy_config PORT BACKEND...: prints the whole HAProxy configuration.
haproxy_config() {
  local port=$1 b name addr
  shift
  cat <<CFG
# Written by vnf-mgmt (k8s_lb.sh): load balancer of the Kubernetes API. Rewritten as a
# whole on every run; local changes are lost.
global
  daemon
  maxconn 4000

defaults
  mode tcp
  # A dead master: its connection attempt fails fast and goes to another backend.
  retries 2
  option redispatch
  timeout connect 2s
  timeout client 1h
  timeout server 1h

frontend kubernetes-apiserver
  mode tcp
  bind *:$port
  default_backend kubernetes-apiserver

backend kubernetes-apiserver
  mode tcp
  balance roundrobin
  option tcp-check
  default-server inter 2s fall 2 rise 2
CFG
  for b in "$@"; do
    name=${b%%=*}
    addr=${b#*=}
    printf '  server %s %s check\n' "$name" "$addr"
  done
}

# keepalived_config VIP PREFIX PRIORITY VRID IFACE PASSWORD: prints keepalived.conf.
keepalived_config() {
  local vip=$1 prefix=$2 prio=$3 vrid=$4 iface=$5 pass=$6 pgrep
  # The real path: keepalived runs the resolved file, and a multi-call binary behind a
  # symlink (pidof -> killall5) would not know what it was called as.
  pgrep=$(readlink -f "$(command -v pgrep || echo /usr/bin/pgrep)")
  cat <<CFG
# Written by vnf-mgmt (k8s_lb.sh): VIP of the Kubernetes API. Rewritten as a whole on
# every run; holds the VRRP password (mode 0600).
global_defs {
  router_id vnf_mgmt_vrid_$vrid
  script_user root
  enable_script_security
}

vrrp_script chk_haproxy {
  script "$pgrep -x haproxy"
  interval 2
  fall 2
  rise 2
}

vrrp_instance k8s_api_$vrid {
  state BACKUP
  interface $iface
  virtual_router_id $vrid
  priority $prio
  advert_int 1
  authentication {
    auth_type PASS
    auth_pass "$pass"
  }
  virtual_ipaddress {
    $vip/$prefix dev $iface
  }
  track_script {
    chk_haproxy
  }
}
CFG
}

# in_range N MIN MAX: true when N is a decimal integer (no leading zero) in MIN..MAX.
in_range() {
  [[ "$1" =~ ^[1-9][0-9]{0,4}$ ]] || return 1
  (($1 >= $2 && $1 <= $3))
}

main() {
  (($# >= 7)) || fatal "usage: k8s_lb.sh VIP PREFIX_LEN FRONTEND_PORT PRIORITY VRID NODE_IP BACKEND... < secrets"
  local vip=$1 prefix=$2 port=$3 prio=$4 vrid=$5 node_ip=$6 b name addr line pass='' iface tmp
  shift 6
  valid_ipv4 "$vip" || fatal "invalid VIP: $vip"
  [[ "$prefix" =~ ^([1-9]|[12][0-9]|3[0-2])$ ]] || fatal "invalid prefix length: $prefix (1-32)"
  valid_port "$port" || fatal "invalid frontend port: $port"
  in_range "$prio" 1 254 || fatal "invalid priority: $prio (1-254)"
  in_range "$vrid" 1 255 || fatal "invalid virtual router id: $vrid (1-255)"
  valid_ipv4 "$node_ip" || fatal "invalid node address: $node_ip"
  [[ "$vip" != "$node_ip" ]] || fatal "the VIP must not be the node's own address: $vip"
  local -A seen=()
  for b in "$@"; do
    [[ "$b" =~ ^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)=([0-9.]+):([0-9]+)$ ]] ||
      fatal "invalid backend (NAME=IP:PORT): $b"
    name=${BASH_REMATCH[1]}
    addr=${BASH_REMATCH[3]}
    valid_ipv4 "$addr" || fatal "invalid backend address: $b"
    valid_port "${BASH_REMATCH[4]}" || fatal "invalid backend port: $b"
    [[ -z "${seen[$name]:-}" ]] || fatal "duplicate backend name: $name"
    seen[$name]=1
  done
  while IFS= read -r line; do
    case $line in
      vrrp_password=*) pass=${line#vrrp_password=} ;;
    esac
  done
  [[ "$pass" =~ ^[!-~]{1,8}$ && "$pass" != *'"'* && "$pass" != *\\* ]] ||
    fatal 'no valid vrrp_password on stdin (1-8 printable characters, no spaces, no " or \)'
  verify_root
  iface=$(iface_of_ip "$node_ip")
  [[ -n "$iface" ]] || fatal "no interface holds $node_ip on this host"

  command -v haproxy >/dev/null 2>&1 || ensure_packages haproxy
  command -v keepalived >/dev/null 2>&1 || ensure_packages keepalived

  tmp=$(mktemp)
  haproxy_config "$port" "$@" >"$tmp"
  haproxy -c -q -f "$tmp" >/dev/null 2>&1 || {
    rm -f "$tmp"
    fatal "generated HAProxy configuration does not pass haproxy -c"
  }
  if install_if_changed "$tmp" "$HAPROXY_CFG" 0644; then
    info "$HAPROXY_CFG written (frontend *:$port, $# backends: ${*%%=*})"
    svc_reload_or_start haproxy
  else
    info "$HAPROXY_CFG up to date"
    svc_start haproxy
  fi

  tmp=$(umask 077 && mktemp)
  keepalived_config "$vip" "$prefix" "$prio" "$vrid" "$iface" "$pass" >"$tmp"
  if install_if_changed "$tmp" "$KEEPALIVED_CONF" 0600; then
    info "$KEEPALIVED_CONF written (VIP $vip/$prefix on $iface, VRID $vrid, priority $prio)"
    svc_reload_or_start keepalived
  else
    info "$KEEPALIVED_CONF up to date"
    svc_start keepalived
  fi
}

# Run unless sourced (the tests source this file to check the generated configurations).
[[ "${BASH_SOURCE[0]}" != "$0" ]] || main "$@"
