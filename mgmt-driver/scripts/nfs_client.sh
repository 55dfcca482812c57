#!/usr/bin/env bash
# Installs the NFS client on a Kubernetes node, only if missing.
#
# Usage: nfs_client.sh
set -euo pipefail
# shellcheck source=mgmt-driver/scripts/lib.sh
source "$(dirname "$0")/lib.sh"

main() {
  verify_root
  ensure_packages nfs-common
}

main "$@"
