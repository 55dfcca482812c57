#!/usr/bin/env bash
# Joins this node to the cluster as a worker, or as a control plane.
#
# Usage: k8s_join.sh NODE_NAME ENDPOINT [control-plane ADVERTISE_IP] < secrets
#   stdin: token=<id.secret> and ca_cert_hash=sha256:<hex>, one per line; for a control
#          plane also certificate_key=<64 hex>
#
# The token, hash and key never appear in argv: kubeadm reads them from a
# JoinConfiguration file (mode 0600) that is removed afterwards. Skipped when the node
# has already joined (/etc/kubernetes/kubelet.conf exists), so a re-run leaves joined
# nodes untouched.
set -euo pipefail
# shellcheck source=mgmt-driver/scripts/lib.sh
source "$(dirname "$0")/lib.sh"

# The JoinConfiguration file (holds the token); removed on exit, whatever happens.
JOIN_CFG=''
trap '[[ -z "$JOIN_CFG" ]] || rm -f "$JOIN_CFG"' EXIT

main() {
  (($# == 2 || $# == 4)) || fatal "usage: k8s_join.sh NODE_NAME ENDPOINT [control-plane ADVERTISE_IP] < secrets"
  local name=$1 endpoint=$2 line token='' hash='' key='' control_plane=0 advertise=''
  if (($# == 4)); then
    [[ "$3" == control-plane ]] || fatal "usage: k8s_join.sh NODE_NAME ENDPOINT [control-plane ADVERTISE_IP] < secrets"
    advertise=$4
    [[ "$advertise" =~ ^[0-9a-fA-F.:]+$ ]] || fatal "invalid advertise address: $advertise"
    control_plane=1
  fi
  [[ "$name" =~ ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$ ]] || fatal "invalid node name: $name"
  local endpoint_re='^[][A-Za-z0-9.:-]+:[0-9]+$'
  [[ "$endpoint" =~ $endpoint_re ]] || fatal "invalid control-plane endpoint: $endpoint"
  while IFS= read -r line; do
    case $line in
      token=*) token=${line#token=} ;;
      ca_cert_hash=*) hash=${line#ca_cert_hash=} ;;
      certificate_key=*) key=${line#certificate_key=} ;;
    esac
  done
  [[ "$token" =~ ^[a-z0-9]{6}\.[a-z0-9]{16}$ ]] || fatal "no valid token on stdin"
  [[ "$hash" =~ ^sha256:[0-9a-f]{64}$ ]] || fatal "no valid ca_cert_hash on stdin"
  if ((control_plane)); then
    [[ "$key" =~ ^[0-9a-f]{64}$ ]] || fatal "no valid certificate_key on stdin"
  fi
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
  if ((control_plane)); then
    cat >>"$JOIN_CFG" <<CFG
controlPlane:
  localAPIEndpoint:
    advertiseAddress: "$advertise"
  certificateKey: "$key"
CFG
  fi
  kubeadm join --config "$JOIN_CFG" >/var/log/vnf-mgmt-kubeadm-join.log 2>&1 ||
    fatal "kubeadm join failed (see /var/log/vnf-mgmt-kubeadm-join.log on $name)"
  if ((control_plane)); then
    info "node $name joined $endpoint as a control plane"
  else
    info "node $name joined $endpoint"
  fi
}

main "$@"
