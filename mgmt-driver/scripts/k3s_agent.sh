#!/usr/bin/env bash
# A k3s agent (worker) joining a cluster.
#
# Usage: k3s_agent.sh NODE_NAME NODE_IP SERVER_URL < secrets
#   NODE_NAME   the node's name (DNS-1123 label)
#   NODE_IP     the node's IPv4 address (node-ip)
#   SERVER_URL  https://HOST:PORT of a server (or the VIP in front of them)
#   stdin       token=<k3s token>
#
# /etc/rancher/k3s/config.yaml (mode 0600) holds server and token: the token is never in
# argv or the environment. k3s is installed only when missing; started with systemd when
# it is PID 1, else as a setsid daemon (pid file /run/vnf-mgmt-k3s.pid, log
# /var/log/vnf-mgmt-k3s.log). A running agent with the same configuration is left alone
# (a changed configuration restarts it). Waits until the node is registered: through the
# kubelet's kubeconfig (/var/lib/rancher/k3s/agent/kubelet.kubeconfig) when k3s wrote one,
# else by the agent's "Node NAME registered" log line.
set -euo pipefail
# shellcheck source=mgmt-driver/scripts/lib.sh
source "$(dirname "$0")/lib.sh"

# The rendered configuration (holds the token) until it is installed; removed on exit.
CFG_TMP=''
trap '[[ -z "$CFG_TMP" ]] || rm -f "$CFG_TMP"' EXIT

KUBELET_KUBECONFIG=/var/lib/rancher/k3s/agent/kubelet.kubeconfig
# Where the log of the k3s process this run waits for starts (a started process's lines
# only; 0 for one that was already running).
LOG_FROM=0
READY_TIMEOUT=300

# node_registered NAME: the agent's node is in the API.
node_registered() {
  if [[ -s "$KUBELET_KUBECONFIG" ]]; then
    k3s kubectl --kubeconfig "$KUBELET_KUBECONFIG" get node "$1" -o name >/dev/null 2>&1
  else
    [[ -s "$K3S_LOG" ]] && tail -c "+$((LOG_FROM + 1))" "$K3S_LOG" | grep -Fq "Node $1 registered"
  fi
}

main() {
  (($# == 3)) || fatal "usage: k3s_agent.sh NODE_NAME NODE_IP SERVER_URL < secrets"
  local name=$1 ip=$2 url=$3 token changed=0
  valid_dns_label "$name" || fatal "invalid node name: $name"
  valid_ipv4 "$ip" || fatal "invalid node address: $ip"
  valid_https_url "$url" || fatal "invalid server URL: $url (https://HOST:PORT)"
  token=$(k3s_read_token)
  valid_k3s_token "$token" || fatal "no valid token on stdin"
  verify_root
  # Through the VIP, HAProxy passes connections on only once its health checks have
  # marked a server up: wait until the URL answers before k3s gives up on it.
  wait_until 120 https_answers "${url#https://}" || fatal "$url does not answer"

  CFG_TMP=$(umask 077 && mktemp)
  {
    printf '# Written by vnf-mgmt (k3s_agent.sh). Mode 0600: holds the cluster token.\n'
    printf 'node-name: "%s"\n' "$name"
    printf 'node-ip: "%s"\n' "$ip"
    printf 'server: "%s"\n' "$url"
    printf 'token: "%s"\n' "$token"
  } >"$CFG_TMP"
  k3s_ensure_installed agent
  k3s_write_config "$CFG_TMP" && changed=1
  if k3s_running agent; then
    if ((changed)); then
      info "configuration of $name changed: restarting the k3s agent"
      k3s_stop agent
      LOG_FROM=$(stat -c %s "$K3S_LOG" 2>/dev/null || echo 0)
      k3s_start agent
    else
      info "k3s agent running on $name with the same configuration"
    fi
  else
    LOG_FROM=$(stat -c %s "$K3S_LOG" 2>/dev/null || echo 0)
    k3s_start agent
  fi
  k3s_wait agent "$READY_TIMEOUT" node_registered "$name"
  info "k3s agent $name registered with $url"
}

main "$@"
