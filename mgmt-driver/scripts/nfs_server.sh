#!/usr/bin/env bash
# Exports directories over NFS on the storage server.
#
# Usage: nfs_server.sh EXPORT_DIR EXPORT_TO [EXPORT_DIR EXPORT_TO]...
#
# Installs the NFS server only if missing, creates each directory (owned by
# nobody:nogroup), writes /etc/exports' vnf-mgmt block as a whole (other lines are
# untouched), re-exports, then verifies with `exportfs -v` that every directory is
# exported to its client. Idempotent.
set -euo pipefail
# shellcheck source=mgmt-driver/scripts/lib.sh
source "$(dirname "$0")/lib.sh"

readonly OPTIONS="rw,sync,no_subtree_check,insecure,all_squash"
readonly BEGIN_MARK="# BEGIN vnf-mgmt exports"
readonly END_MARK="# END vnf-mgmt exports"

start_server() {
  if command -v systemctl >/dev/null 2>&1 && systemctl is-system-running >/dev/null 2>&1; then
    systemctl enable --now nfs-server >/dev/null 2>&1 || systemctl start nfs-kernel-server || true
  elif [[ -x /etc/init.d/nfs-kernel-server ]]; then
    service nfs-kernel-server status >/dev/null 2>&1 || service nfs-kernel-server start || true
  fi
}

verify_exports() {
  local listing dir client
  listing=$(exportfs -v)
  while (($# >= 2)); do
    dir=$1 client=$2
    shift 2
    # exportfs -v prints "<dir>  <client>(opts)" or "<dir>\n\t<client>(opts)".
    if ! tr '\n' ' ' <<<"$listing" | tr -s ' \t' ' ' | grep -qF "$dir $client("; then
      fatal "$dir is not exported to $client (exportfs -v: $(tr '\n' ' ' <<<"$listing"))"
    fi
    info "exported $dir to $client"
  done
}

main() {
  (($# >= 2 && $# % 2 == 0)) || fatal "usage: nfs_server.sh EXPORT_DIR EXPORT_TO [EXPORT_DIR EXPORT_TO]..."
  verify_root
  ensure_packages nfs-kernel-server
  local dir client args=("$@")
  # Global: the EXIT trap runs after main's locals are gone.
  CONTENT=$(mktemp)
  trap 'rm -f "$CONTENT"' EXIT
  while (($# >= 2)); do
    dir=$1 client=$2
    shift 2
    [[ "$dir" == /* ]] || fatal "export directory must be absolute: $dir"
    mkdir -p "$dir"
    chown nobody:nogroup "$dir"
    printf '%s %s(%s)\n' "$dir" "$client" "$OPTIONS" >>"$CONTENT"
  done
  if replace_block /etc/exports "$BEGIN_MARK" "$END_MARK" "$CONTENT"; then
    info "/etc/exports updated"
  else
    info "/etc/exports unchanged"
  fi
  start_server
  exportfs -ra
  verify_exports "${args[@]}"
}

main "$@"
