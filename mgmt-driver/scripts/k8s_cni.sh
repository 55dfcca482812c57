#!/usr/bin/env bash
# Applies the pod network (CNI) on a kubeadm cluster, once.
#
# Usage: k8s_cni.sh CNI MANIFEST_URL POD_CIDR NAMESPACE DAEMONSET
#   CNI           calico | flannel | cilium
#   MANIFEST_URL  https://… (the pinned upstream release, or a mirror) or file:///…
#   POD_CIDR      the cluster's pod network; written into the manifest where the CNI
#                 takes it (Calico: CALICO_IPV4POOL_CIDR; flannel: net-conf.json Network)
#   NAMESPACE, DAEMONSET  the CNI's DaemonSet: when it exists, nothing is done
#
# Runs on the first master with /etc/kubernetes/admin.conf. The download goes through
# the proxy settings of this shell's environment (curl honours https_proxy/no_proxy).
set -euo pipefail
# shellcheck source=mgmt-driver/scripts/lib.sh
source "$(dirname "$0")/lib.sh"

KUBECONFIG_FILE=/etc/kubernetes/admin.conf
MANIFEST=''
trap '[[ -z "$MANIFEST" ]] || rm -f "$MANIFEST"' EXIT

kctl() {
  kubectl --kubeconfig "$KUBECONFIG_FILE" "$@"
}

# set_pod_cidr CNI FILE CIDR: puts CIDR where the CNI's manifest takes the pod network.
set_pod_cidr() {
  local cni=$1 file=$2 cidr=$3 tmp
  tmp=$(mktemp)
  case $cni in
    calico)
      # The upstream manifest ships the pool commented out:
      #   # - name: CALICO_IPV4POOL_CIDR
      #   #   value: "192.168.0.0/16"
      awk -v cidr="$cidr" '
        /^[[:space:]]*#?[[:space:]]*- name: CALICO_IPV4POOL_CIDR[[:space:]]*$/ {
          sub(/#[[:space:]]?/, ""); print; pool = 1; next
        }
        pool && /value:/ {
          sub(/#[[:space:]]?/, ""); sub(/value:.*/, "value: \"" cidr "\""); print; pool = 0; next
        }
        { pool = 0; print }
      ' "$file" >"$tmp"
      ;;
    flannel)
      sed -E "s|(\"Network\":[[:space:]]*\")[^\"]*(\")|\\1${cidr}\\2|" "$file" >"$tmp"
      ;;
    *) cp "$file" "$tmp" ;;
  esac
  mv -f "$tmp" "$file"
}

main() {
  (($# == 5)) || fatal "usage: k8s_cni.sh CNI MANIFEST_URL POD_CIDR NAMESPACE DAEMONSET"
  local cni=$1 url=$2 cidr=$3 ns=$4 ds=$5
  [[ "$cni" =~ ^(calico|flannel|cilium)$ ]] || fatal "unknown CNI: $cni"
  [[ "$url" =~ ^(https://|file:///)[A-Za-z0-9._~:/?#@!\&+,\;=%-]+$ ]] || fatal "invalid manifest URL: $url"
  [[ "$cidr" =~ ^[0-9a-fA-F.:]+/[0-9]{1,3}$ ]] || fatal "invalid pod CIDR: $cidr"
  valid_dns_label "$ns" || fatal "invalid namespace: $ns"
  valid_dns_label "$ds" || fatal "invalid DaemonSet name: $ds"
  verify_root
  [[ -s "$KUBECONFIG_FILE" ]] || fatal "no $KUBECONFIG_FILE: the cluster is not initialised here"
  command -v kubectl >/dev/null 2>&1 || fatal "kubectl is missing (k8s_node.sh installs it)"
  if kctl -n "$ns" get daemonset "$ds" -o name >/dev/null 2>&1; then
    info "$cni already applied (DaemonSet $ns/$ds exists)"
    return 0
  fi
  MANIFEST=$(umask 077 && mktemp --suffix=.yaml)
  curl -fsSL --retry 3 --max-time 120 -o "$MANIFEST" "$url" ||
    fatal "cannot download the $cni manifest from $url (set --cni-manifest to a reachable copy)"
  [[ -s "$MANIFEST" ]] || fatal "the $cni manifest from $url is empty"
  set_pod_cidr "$cni" "$MANIFEST" "$cidr"
  local err
  err=$(mktemp)
  if ! kctl apply --validate=false -f "$MANIFEST" >/dev/null 2>"$err"; then
    warn "$(tail -n 5 "$err")"
    rm -f "$err"
    fatal "kubectl apply of the $cni manifest failed"
  fi
  rm -f "$err"
  wait_until 60 kctl -n "$ns" get daemonset "$ds" -o name ||
    fatal "the $cni manifest applied but DaemonSet $ns/$ds does not exist (wrong manifest?)"
  info "$cni applied (pod network $cidr)"
}

main "$@"
