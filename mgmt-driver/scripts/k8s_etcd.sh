#!/usr/bin/env bash
# etcd maintenance on a kubeadm control-plane node (stacked etcd), with etcdctl against
# this node's own member.
#
# Usage: k8s_etcd.sh snapshot PATH        saves a snapshot to PATH (mode 0600); prints
#                                         snapshot=PATH sha256=<hex>
#        k8s_etcd.sh member-remove NAME   removes the member named exactly NAME (absent:
#                                         nothing to do; this node's own member: refused)
#        k8s_etcd.sh member-count         prints members=N
#
# kubeadm: the client URL and TLS files come from the etcd static Pod manifest
# (/etc/kubernetes/manifests/etcd.yaml): the 127.0.0.1 URL of --listen-client-urls when
# there is one, else the first of --advertise-client-urls; --cert-file, --key-file and
# --trusted-ca-file as the client certificate, key and CA.
# k3s (embedded etcd, /var/lib/rancher/k3s/server/db/etcd): https://127.0.0.1:2379 with
# the client certificate k3s keeps in /var/lib/rancher/k3s/server/tls/etcd, or plain
# http://127.0.0.1:2379 when there is none. k3s names a member NODE-<8 hex>: member-remove
# matches NAME exactly or NAME-<8 hex>, never a mere prefix.
# etcdctl is installed only when missing (package etcd-client).
set -euo pipefail
# shellcheck source=mgmt-driver/scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MANIFEST=/etc/kubernetes/manifests/etcd.yaml
K3S_ETCD_DIR=/var/lib/rancher/k3s/server/db/etcd
K3S_ETCD_TLS=/var/lib/rancher/k3s/server/tls/etcd
# This node's own member name (kubeadm: from the manifest; k3s: from its etcd config).
OWN_NAME=
# etcdctl's error output of the current call (quoted in the error message); removed on exit.
ERR=$(mktemp)
trap 'rm -f "$ERR"' EXIT

# manifest_flag NAME: prints the value of --NAME=VALUE in the manifest (list or shell
# form; quotes stripped), empty when absent.
manifest_flag() {
  grep -oE -- "--$1=[^\"'[:space:]]+" "$MANIFEST" 2>/dev/null | head -n 1 | sed -E "s/^--$1=//" || true
}

# client_url: the URL etcdctl talks to.
client_url() {
  local listen advertise u url_re
  listen=$(manifest_flag listen-client-urls)
  advertise=$(manifest_flag advertise-client-urls)
  for u in ${listen//,/ }; do
    [[ "$u" =~ ^https?://127\.0\.0\.1:[0-9]+$ ]] && { printf '%s\n' "$u"; return 0; }
  done
  u=${advertise%%,*}
  [[ -n "$u" ]] || u=${listen%%,*}
  url_re='^https?://[][A-Za-z0-9.:-]+$'
  [[ "$u" =~ $url_re ]] || return 1
  printf '%s\n' "$u"
}

ETCDCTL=()

# setup_etcdctl: fills ETCDCTL with the command and its connection flags.
setup_etcdctl() {
  if [[ ! -s "$MANIFEST" && -d "$K3S_ETCD_DIR" ]]; then
    setup_etcdctl_k3s
    return 0
  fi
  [[ -s "$MANIFEST" ]] || fatal "no $MANIFEST and no $K3S_ETCD_DIR: not a control-plane node with etcd"
  OWN_NAME=$(manifest_flag name)
  local url cert key ca
  url=$(client_url) || fatal "no usable client URL in $MANIFEST"
  command -v etcdctl >/dev/null 2>&1 || ensure_packages etcd-client
  ETCDCTL=(etcdctl --endpoints "$url" --dial-timeout 5s --command-timeout 30s)
  cert=$(manifest_flag cert-file)
  key=$(manifest_flag key-file)
  ca=$(manifest_flag trusted-ca-file)
  if [[ "$url" == https://* ]]; then
    [[ -n "$cert" && -n "$key" && -n "$ca" ]] ||
      fatal "$MANIFEST: an https client URL without --cert-file, --key-file and --trusted-ca-file"
  fi
  [[ -z "$cert" ]] || ETCDCTL+=(--cert "$cert")
  [[ -z "$key" ]] || ETCDCTL+=(--key "$key")
  [[ -z "$ca" ]] || ETCDCTL+=(--cacert "$ca")
}

# setup_etcdctl_k3s: etcdctl against k3s's embedded etcd on this server.
setup_etcdctl_k3s() {
  command -v etcdctl >/dev/null 2>&1 || ensure_packages etcd-client
  if [[ -s "$K3S_ETCD_TLS/client.crt" ]]; then
    ETCDCTL=(etcdctl --endpoints https://127.0.0.1:2379 --dial-timeout 5s --command-timeout 30s
      --cert "$K3S_ETCD_TLS/client.crt" --key "$K3S_ETCD_TLS/client.key"
      --cacert "$K3S_ETCD_TLS/server-ca.crt")
  else
    ETCDCTL=(etcdctl --endpoints http://127.0.0.1:2379 --dial-timeout 5s --command-timeout 30s)
  fi
  OWN_NAME=$(sed -nE 's/^name:[[:space:]]*"?([^"]+)"?[[:space:]]*$/\1/p' "$K3S_ETCD_DIR/config" 2>/dev/null | head -n 1 || true)
}

# members: prints the member list, one "ID, STATUS, NAME, PEER URLS, CLIENT URLS, LEARNER"
# line per member.
members() {
  ETCDCTL_API=3 "${ETCDCTL[@]}" member list -w simple 2>"$ERR" ||
    fatal "etcdctl member list failed: $(head -c 400 "$ERR")"
}

cmd_snapshot() {
  local path=$1 dir tmp sum
  dir=$(dirname "$path")
  if [[ ! -d "$dir" ]]; then
    mkdir -p "$dir" || fatal "cannot create $dir for the snapshot"
    chmod 0700 "$dir" || fatal "cannot restrict $dir"
  fi
  # etcdctl writes PATH.part then renames; the umask keeps both private.
  tmp="$path.vnf-mgmt.tmp"
  rm -f "$tmp" "$tmp.part"
  (umask 077 && ETCDCTL_API=3 "${ETCDCTL[@]}" snapshot save "$tmp" >"$ERR" 2>&1) || {
    rm -f "$tmp" "$tmp.part"
    fatal "etcdctl snapshot save failed: $(head -c 400 "$ERR")"
  }
  chmod 0600 "$tmp"
  mv -f "$tmp" "$path"
  sum=$(sha256sum "$path" | cut -d' ' -f1)
  printf 'snapshot=%s sha256=%s\n' "$path" "$sum"
}

cmd_member_remove() {
  local name=$1 list id
  # The member this node runs is never removed from here (it would cut this node's own
  # etcd off): a dead master's member is removed from a surviving master.
  list=$(members)
  # Exactly NAME, or k3s's NAME-<8 hex>.
  id=$(awk -F', ' -v n="$name" '$3 == n || ($3 ~ ("^" n "-[0-9a-f]{8}$")) { print $1 }' <<<"$list")
  if [[ -n "$id" && -n "$OWN_NAME" ]] &&
    awk -F', ' -v i="$id" -v o="$OWN_NAME" '$1 == i && $3 == o { f = 1 } END { exit !f }' <<<"$list"; then
    fatal "refusing to remove $name: it is this node's own etcd member (run on another master)"
  fi
  [[ "$(wc -l <<<"$id")" == 1 ]] || fatal "more than one etcd member matches $name"
  if [[ -z "$id" ]]; then
    info "no etcd member named $name: nothing to remove"
    return 0
  fi
  [[ "$id" =~ ^[0-9a-f]{1,16}$ ]] || fatal "unexpected member id for $name: $id"
  # etcd refuses a reconfiguration while a member joined less than a few seconds ago is
  # not yet counted as active ("unhealthy cluster"): that answer is retried for a while,
  # every other failure is final.
  local start=$SECONDS
  until ETCDCTL_API=3 "${ETCDCTL[@]}" member remove "$id" >"$ERR" 2>&1; do
    if ! grep -q 'unhealthy cluster' "$ERR" || ((SECONDS - start >= 60)); then
      fatal "etcdctl member remove $id ($name) failed: $(head -c 400 "$ERR")"
    fi
    sleep 2
  done
  info "etcd member $name ($id) removed"
}

cmd_member_count() {
  local list
  list=$(members)
  printf 'members=%s\n' "$(grep -c . <<<"$list" || true)"
}

main() {
  (($# >= 1)) || fatal "usage: k8s_etcd.sh snapshot PATH | member-remove NODE_NAME | member-count"
  local cmd=$1
  shift
  case $cmd in
    snapshot)
      (($# == 1)) || fatal "usage: k8s_etcd.sh snapshot PATH"
      [[ "$1" =~ ^/[A-Za-z0-9._/-]+$ && "/$1/" != *'/../'* && "$1" != */ ]] ||
        fatal "invalid snapshot path: $1 (absolute, [A-Za-z0-9._/-], no ..)"
      ;;
    member-remove)
      (($# == 1)) || fatal "usage: k8s_etcd.sh member-remove NODE_NAME"
      valid_dns_label "$1" || fatal "invalid node name: $1"
      ;;
    member-count)
      (($# == 0)) || fatal "usage: k8s_etcd.sh member-count"
      ;;
    *) fatal "unknown command: $cmd (snapshot, member-remove, member-count)" ;;
  esac
  verify_root
  setup_etcdctl
  case $cmd in
    snapshot) cmd_snapshot "$1" ;;
    member-remove) cmd_member_remove "$1" ;;
    member-count) cmd_member_count ;;
  esac
}

# Run unless sourced (the tests source this file to check the manifest parsing).
[[ "${BASH_SOURCE[0]}" != "$0" ]] || main "$@"
