#!/usr/bin/env bash
# Clears what an earlier kubeadm or k3s install left on a node that a heal rebuilt, so
# it can join again. A fresh VM has nothing to clear: nothing is done then.
#
# Usage: k8s_reset.sh kubeadm|k3s
#
# kubeadm: `kubeadm reset -f` when /etc/kubernetes/kubelet.conf or admin.conf exists
# (it also removes this node's own etcd member when others remain).
# k3s: stops k3s (systemd unit or the daemon started by k3s_server.sh/k3s_agent.sh) and
# removes its database, agent state and kubeconfig; /etc/rancher/k3s/config.yaml is
# rewritten by the join.
set -euo pipefail
# shellcheck source=mgmt-driver/scripts/lib.sh
source "$(dirname "$0")/lib.sh"

reset_kubeadm() {
  if [[ ! -e /etc/kubernetes/kubelet.conf && ! -e /etc/kubernetes/admin.conf ]]; then
    info "no kubeadm state on this node"
    return 0
  fi
  command -v kubeadm >/dev/null 2>&1 || fatal "kubeadm state present but kubeadm is missing"
  kubeadm reset -f >/var/log/vnf-mgmt-kubeadm-reset.log 2>&1 ||
    fatal "kubeadm reset failed (see /var/log/vnf-mgmt-kubeadm-reset.log)"
  rm -f /etc/kubernetes/kubelet.conf /etc/kubernetes/admin.conf
  info "kubeadm state reset"
}

stop_k3s() {
  local unit pidfile pid
  for unit in k3s k3s-agent; do
    if [[ -d /run/systemd/system ]] && systemctl is-active --quiet "$unit" 2>/dev/null; then
      systemctl stop "$unit" || fatal "could not stop $unit"
      info "stopped $unit"
    fi
  done
  for pidfile in /run/vnf-mgmt-k3s.pid /run/vnf-mgmt-k3s-server.pid /run/vnf-mgmt-k3s-agent.pid; do
    [[ -s "$pidfile" ]] || continue
    pid=$(<"$pidfile")
    if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      kill -9 "$pid" 2>/dev/null || true
      info "stopped k3s (pid $pid)"
    fi
    rm -f "$pidfile"
  done
}

reset_k3s() {
  if [[ ! -e /var/lib/rancher/k3s/server/db && ! -e /var/lib/rancher/k3s/agent &&
    ! -e /etc/rancher/k3s/k3s.yaml ]]; then
    info "no k3s state on this node"
    return 0
  fi
  stop_k3s
  rm -rf /var/lib/rancher/k3s/server/db /var/lib/rancher/k3s/agent /etc/rancher/k3s/k3s.yaml
  info "k3s state reset"
}

main() {
  (($# == 1)) || fatal "usage: k8s_reset.sh kubeadm|k3s"
  verify_root
  case $1 in
    kubeadm) reset_kubeadm ;;
    k3s) reset_k3s ;;
    *) fatal "unknown runtime: $1" ;;
  esac
}

main "$@"
