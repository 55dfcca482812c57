#!/usr/bin/env bash
# Initialises the cluster on the first master with kubeadm (control-plane endpoint,
# pod CIDR, service CIDR, --upload-certs).
#
# Usage: k8s_init.sh NODE_NAME ADVERTISE_IP ENDPOINT POD_CIDR SERVICE_CIDR
#
# Skipped when this node already runs a control plane (/etc/kubernetes/admin.conf
# exists): a re-run never initialises a second cluster. No secret is passed in argv:
# kubeadm generates the bootstrap token and certificate key itself; they are read later
# by k8s_join_info.sh, whose output the executor captures.
set -euo pipefail
# shellcheck source=mgmt-driver/scripts/lib.sh
source "$(dirname "$0")/lib.sh"

# wait_endpoint ENDPOINT NODE_IP: through a VIP, the API must answer before the next
# steps use the endpoint (HAProxy marks a new API server up after its health checks).
wait_endpoint() {
  local endpoint=$1 ip=$2 host=${1%:*}
  host=${host#[}
  host=${host%]}
  [[ "$host" == "$ip" ]] && return 0
  wait_until 120 https_answers "$endpoint" ||
    fatal "the API does not answer through $endpoint"
  info "the API answers through $endpoint"
}

main() {
  (($# == 5)) || fatal "usage: k8s_init.sh NODE_NAME ADVERTISE_IP ENDPOINT POD_CIDR SERVICE_CIDR"
  local name=$1 ip=$2 endpoint=$3 pod_cidr=$4 svc_cidr=$5
  [[ "$name" =~ ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$ ]] || fatal "invalid node name: $name"
  [[ "$ip" =~ ^[0-9a-fA-F.:]+$ ]] || fatal "invalid advertise address: $ip"
  local endpoint_re='^[][A-Za-z0-9.:-]+:[0-9]+$'
  [[ "$endpoint" =~ $endpoint_re ]] || fatal "invalid control-plane endpoint: $endpoint"
  [[ "$pod_cidr" =~ ^[0-9a-fA-F.:]+/[0-9]+$ ]] || fatal "invalid pod CIDR: $pod_cidr"
  [[ "$svc_cidr" =~ ^[0-9a-fA-F.:]+/[0-9]+$ ]] || fatal "invalid service CIDR: $svc_cidr"
  verify_root
  command -v kubeadm >/dev/null 2>&1 || fatal "kubeadm is missing (k8s_node.sh runs first)"
  # An endpoint other than this node (the VIP) must answer before kubeadm uses it:
  # keepalived takes a few seconds to claim the VIP after k8s_lb.sh started it.
  local ep_host=${endpoint%:*} ep_port=${endpoint##*:}
  ep_host=${ep_host#[}
  ep_host=${ep_host%]}
  if [[ "$ep_host" != "$ip" ]]; then
    wait_until 120 tcp_open "$ep_host" "$ep_port" ||
      fatal "control-plane endpoint $endpoint does not answer (is the VIP up on a master?)"
    info "control-plane endpoint $endpoint answers"
  fi
  if [[ -s /etc/kubernetes/admin.conf ]]; then
    info "control plane already initialised on $name"
    wait_endpoint "$endpoint" "$ip"
    return 0
  fi
  # kubeadm writes progress to stderr; only its exit status decides.
  kubeadm init \
    --node-name "$name" \
    --apiserver-advertise-address "$ip" \
    --control-plane-endpoint "$endpoint" \
    --pod-network-cidr "$pod_cidr" \
    --service-cidr "$svc_cidr" \
    --upload-certs >/var/log/vnf-mgmt-kubeadm-init.log 2>&1 ||
    fatal "kubeadm init failed (see /var/log/vnf-mgmt-kubeadm-init.log on $name)"
  chmod 0600 /var/log/vnf-mgmt-kubeadm-init.log
  [[ -s /etc/kubernetes/admin.conf ]] || fatal "kubeadm init wrote no /etc/kubernetes/admin.conf"
  wait_endpoint "$endpoint" "$ip"
  info "control plane initialised on $name (endpoint $endpoint)"
}

main "$@"
