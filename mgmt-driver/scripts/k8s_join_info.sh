#!/usr/bin/env bash
# Prints what a node needs to join, as named outputs for the executor to capture into
# the run's secret store (never logged): a fresh bootstrap token and the CA public-key
# hash of the cluster this master runs; with --certificate-key also a fresh certificate
# key (the control-plane certificates uploaded again, encrypted with it) for masters
# joining as control planes.
#
# Usage: k8s_join_info.sh [--certificate-key]
# Output (stdout, one per line): token=<id.secret>, ca_cert_hash=sha256:<hex>
# [, certificate_key=<64 hex>].
set -euo pipefail
# shellcheck source=mgmt-driver/scripts/lib.sh
source "$(dirname "$0")/lib.sh"

main() {
  local want_key=0
  case $# in
    0) ;;
    1) [[ "$1" == --certificate-key ]] || fatal "usage: k8s_join_info.sh [--certificate-key]"; want_key=1 ;;
    *) fatal "usage: k8s_join_info.sh [--certificate-key]" ;;
  esac
  verify_root
  [[ -s /etc/kubernetes/admin.conf ]] || fatal "no /etc/kubernetes/admin.conf: the cluster is not initialised here"
  local cmd token hash out key=''
  local errfile
  errfile=$(mktemp)
  # stdout holds the token: only stderr (kubeadm's diagnostics) is ever shown.
  if ! cmd=$(kubeadm token create --print-join-command --kubeconfig /etc/kubernetes/admin.conf 2>"$errfile"); then
    warn "$(tail -n 3 "$errfile")"
    rm -f "$errfile"
    fatal "kubeadm token create failed"
  fi
  rm -f "$errfile"
  token=$(sed -nE 's/.*--token[[:space:]]+([a-z0-9]{6}\.[a-z0-9]{16}).*/\1/p' <<<"$cmd")
  hash=$(sed -nE 's/.*--discovery-token-ca-cert-hash[[:space:]]+(sha256:[0-9a-f]{64}).*/\1/p' <<<"$cmd")
  [[ -n "$token" && -n "$hash" ]] || fatal "unexpected output of kubeadm token create"
  if ((want_key)); then
    # kubeadm prints the key alone on the line after "Using certificate key:".
    errfile=$(mktemp)
    if ! out=$(kubeadm init phase upload-certs --upload-certs --kubeconfig /etc/kubernetes/admin.conf 2>"$errfile"); then
      warn "$(tail -n 3 "$errfile")"
      rm -f "$errfile"
      fatal "kubeadm init phase upload-certs failed"
    fi
    rm -f "$errfile"
    key=$(grep -E '^[0-9a-f]{64}$' <<<"$out" | tail -n 1 || true)
    [[ -n "$key" ]] || fatal "unexpected output of kubeadm init phase upload-certs"
  fi
  printf 'token=%s\nca_cert_hash=%s\n' "$token" "$hash"
  if [[ -n "$key" ]]; then
    printf 'certificate_key=%s\n' "$key"
  fi
}

main "$@"
