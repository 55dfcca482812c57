#!/usr/bin/env bash
# Prints what a worker needs to join, as named outputs for the executor to capture into
# the run's secret store (never logged): a fresh bootstrap token and the CA public-key
# hash of the cluster this master runs.
#
# Usage: k8s_join_info.sh
# Output (stdout, one per line): token=<id.secret> and ca_cert_hash=sha256:<hex>.
set -euo pipefail
# shellcheck source=mgmt-driver/scripts/lib.sh
source "$(dirname "$0")/lib.sh"

main() {
  (($# == 0)) || fatal "usage: k8s_join_info.sh"
  verify_root
  [[ -s /etc/kubernetes/admin.conf ]] || fatal "no /etc/kubernetes/admin.conf: the cluster is not initialised here"
  local cmd token hash
  cmd=$(kubeadm token create --print-join-command --kubeconfig /etc/kubernetes/admin.conf 2>/dev/null) ||
    fatal "kubeadm token create failed"
  token=$(sed -nE 's/.*--token[[:space:]]+([a-z0-9]{6}\.[a-z0-9]{16}).*/\1/p' <<<"$cmd")
  hash=$(sed -nE 's/.*--discovery-token-ca-cert-hash[[:space:]]+(sha256:[0-9a-f]{64}).*/\1/p' <<<"$cmd")
  [[ -n "$token" && -n "$hash" ]] || fatal "unexpected output of kubeadm token create"
  printf 'token=%s\nca_cert_hash=%s\n' "$token" "$hash"
}

main "$@"
