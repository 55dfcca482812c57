#!/usr/bin/env bash
# Makes sure a Kubernetes node can mount NFS volumes (kubelet runs mount.nfs).
#
# Usage: nfs_client.sh [PACKAGE]
#   PACKAGE  Debian package providing mount.nfs (default nfs-common)
#
# Nothing is installed when mount.nfs is already present (offline images, other
# distributions' packaging); otherwise PACKAGE is installed. Idempotent.
set -euo pipefail
# shellcheck source=mgmt-driver/scripts/lib.sh
source "$(dirname "$0")/lib.sh"

has_mount_nfs() {
  command -v mount.nfs >/dev/null 2>&1 || [[ -x /sbin/mount.nfs || -x /usr/sbin/mount.nfs ]]
}

main() {
  local package=${1:-nfs-common}
  [[ "$package" =~ ^[a-z0-9][a-z0-9.+-]*$ ]] || fatal "invalid package name: $package"
  verify_root
  if has_mount_nfs; then
    info "NFS client present (mount.nfs)"
    return 0
  fi
  ensure_packages "$package"
  has_mount_nfs || fatal "$package is installed but mount.nfs is still missing"
  info "NFS client installed ($package)"
}

main "$@"
