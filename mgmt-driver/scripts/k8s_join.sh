#!/usr/bin/env bash
# Joins this node to the cluster as a worker.
#
# Usage: k8s_join.sh NODE_NAME ENDPOINT < secrets
#   stdin: token=<id.secret> and ca_cert_hash=sha256:<hex>, one per line
#
# The token and hash never appear in argv: kubeadm reads them from a JoinConfiguration
# file (mode 0600) that is removed afterwards. Skipped when the node has already joined
# (/etc/kubernetes/kubelet.conf exists), so a re-run leaves joined nodes untouched.
set -euo pipefail
# shellcheck source=mgmt-driver/scripts/lib.sh
source "$(dirname "$0")/lib.sh"

# The JoinConfiguration file (holds the token); removed on exit, whatever happens.
JOIN_CFG=''
trap '[[ -z "$JOIN_CFG" ]] || rm -f "$JOIN_CFG"' EXIT

main() {
  (($# == 2)) || fatal "usage: k8s_join.sh NODE_NAME ENDPOINT < secrets"
  local name=$1 endpoint=$2 line token='' hash=''
  [[ "$name" =~ ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$ ]] || fatal "invalid node name: $name"
  local endpoint_re='^[][A-Za-z0-9.:-]+:[0-9]+$'
  [[ "$endpoint" =~ $endpoint_re ]] || fatal "invalid control-plane endpoint: $endpoint"
  while IFS= read -r line; do
    case $line in
      token=*) token=${line#token=} ;;
      ca_cert_hash=*) hash=${line#ca_cert_hash=} ;;
    esac
  done
  [[ "$token" =~ ^[a-z0-9]{6}\.[a-z0-9]{16}$ ]] || fatal "no valid token on stdin"
  [[ "$hash" =~ ^sha256:[0-9a-f]{64}$ ]] || fatal "no valid ca_cert_hash on stdin"
  verify_root
  if [[ -s /etc/kubernetes/kubelet.conf ]]; then
    info "node $name already joined"
    return 0
  fi
  command -v kubeadm >/dev/null 2>&1 || fatal "kubeadm is missing (k8s_node.sh runs first)"
  JOIN_CFG=$(umask 077 && mktemp /etc/kubernetes-join.XXXXXX.yaml)
  cat >"$JOIN_CFG" <<CFG
apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
discovery:
  bootstrapToken:
    apiServerEndpoint: "$endpoint"
    token: "$token"
    caCertHashes:
      - "$hash"
nodeRegistration:
  name: "$name"
CFG
  kubeadm join --config "$JOIN_CFG" >/var/log/vnf-mgmt-kubeadm-join.log 2>&1 ||
    fatal "kubeadm join failed (see /var/log/vnf-mgmt-kubeadm-join.log on $name)"
  info "node $name joined $endpoint"
}

main "$@"
