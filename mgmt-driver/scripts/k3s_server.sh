#!/usr/bin/env bash
# A k3s server (control plane with embedded etcd): the first one initialises the
# cluster, the others join it.
#
# Usage: k3s_server.sh NODE_NAME NODE_IP init [-] [TLS_SAN...]
#        k3s_server.sh NODE_NAME NODE_IP join SERVER_URL [TLS_SAN...] < secrets
#   NODE_NAME   the node's name (DNS-1123 label)
#   NODE_IP     the node's IPv4 address (node-ip)
#   init        first server: cluster-init; no SERVER_URL (a literal "-" in its place is
#               accepted and skipped); k3s generates the token (read by k3s_join_info.sh)
#   join        further server: SERVER_URL https://HOST:PORT of a running server
#   TLS_SAN     extra names/addresses of the API certificate (e.g. the VIP)
#   stdin       join: token=<k3s token>; init: nothing
#
# Everything goes into /etc/rancher/k3s/config.yaml (mode 0600; the token only for join,
# never in argv or the environment). k3s is installed only when missing (upstream
# script, pinned release, not started by the installer); started with systemd when it is
# PID 1, else as a setsid daemon (pid file /run/vnf-mgmt-k3s.pid, log
# /var/log/vnf-mgmt-k3s.log). A running server whose configuration did not change is
# left alone; a changed configuration restarts it. On a node that already has a
# datastore (/var/lib/rancher/k3s/server/db) k3s restarts its existing etcd member:
# cluster-init never starts a fresh database there. Waits until
# /etc/rancher/k3s/k3s.yaml exists and the node is registered.
set -euo pipefail
# shellcheck source=mgmt-driver/scripts/lib.sh
source "$(dirname "$0")/lib.sh"

# The rendered configuration (holds the token) until it is installed; removed on exit.
CFG_TMP=''
trap '[[ -z "$CFG_TMP" ]] || rm -f "$CFG_TMP"' EXIT

KUBECONFIG_FILE=/etc/rancher/k3s/k3s.yaml
DB_DIR=/var/lib/rancher/k3s/server/db
READY_TIMEOUT=300

# node_registered NAME: the node is in the API (through this server's admin kubeconfig).
node_registered() {
  [[ -s "$KUBECONFIG_FILE" ]] &&
    k3s kubectl --kubeconfig "$KUBECONFIG_FILE" get node "$1" -o name >/dev/null 2>&1
}

main() {
  (($# >= 3)) || fatal "usage: k3s_server.sh NODE_NAME NODE_IP init|join [SERVER_URL] [TLS_SAN...] < secrets"
  local name=$1 ip=$2 mode=$3 url='' san token changed=0
  shift 3
  valid_dns_label "$name" || fatal "invalid node name: $name"
  valid_ipv4 "$ip" || fatal "invalid node address: $ip"
  case $mode in
    init)
      [[ "${1:-}" != - ]] || shift
      ;;
    join)
      (($# >= 1)) || fatal "join needs SERVER_URL (https://HOST:PORT)"
      url=$1
      shift
      valid_https_url "$url" || fatal "invalid server URL: $url (https://HOST:PORT)"
      ;;
    *) fatal "invalid mode: $mode (init or join)" ;;
  esac
  for san in "$@"; do
    [[ "$san" =~ ^[A-Za-z0-9]([A-Za-z0-9.:-]{0,251}[A-Za-z0-9])?$ ]] || fatal "invalid TLS SAN: $san"
  done
  token=$(k3s_read_token)
  if [[ "$mode" == join ]]; then
    valid_k3s_token "$token" || fatal "no valid token on stdin"
  elif [[ -n "$token" ]]; then
    fatal "init takes no token on stdin (k3s generates it)"
  fi
  verify_root
  if [[ "$mode" == join ]]; then
    # Through the VIP, HAProxy passes connections on only once its health checks have
    # marked a server up: wait until the URL answers before k3s gives up on it.
    wait_until 120 https_answers "${url#https://}" || fatal "$url does not answer"
  fi

  CFG_TMP=$(umask 077 && mktemp)
  {
    printf '# Written by vnf-mgmt (k3s_server.sh). Mode 0600: may hold the cluster token.\n'
    printf 'node-name: "%s"\n' "$name"
    printf 'node-ip: "%s"\n' "$ip"
    if [[ "$mode" == init ]]; then
      printf 'cluster-init: true\n'
    else
      printf 'server: "%s"\n' "$url"
      printf 'token: "%s"\n' "$token"
    fi
    printf 'write-kubeconfig-mode: "0600"\n'
    if (($# > 0)); then
      printf 'tls-san:\n'
      for san in "$@"; do
        printf '  - "%s"\n' "$san"
      done
    fi
  } >"$CFG_TMP"
  k3s_ensure_installed server
  k3s_write_config "$CFG_TMP" && changed=1
  if [[ -d "$DB_DIR" ]]; then
    info "datastore $DB_DIR exists: k3s restarts its etcd member (no new cluster)"
  fi
  if k3s_running server; then
    if ((changed)); then
      info "configuration of $name changed: restarting k3s"
      k3s_stop server
      k3s_start server
    else
      info "k3s server running on $name with the same configuration"
    fi
  else
    ((changed)) && info "wrote $K3S_CONFIG"
    k3s_start server
  fi
  k3s_wait server "$READY_TIMEOUT" test -s "$KUBECONFIG_FILE"
  k3s_wait server "$READY_TIMEOUT" node_registered "$name"
  info "k3s server $name ready ($mode)"
}

main "$@"
