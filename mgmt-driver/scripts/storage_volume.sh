#!/usr/bin/env bash
# Prepares one Cinder volume on the storage server: find the device, make an ext4
# filesystem ONLY if it has none, mount it, and keep it mounted across reboots.
#
# Usage: storage_volume.sh VOLUME_ID MOUNT_TO [FALLBACK_DEVICE] [--force-format]
#   VOLUME_ID        Cinder volume id; the device is /dev/disk/by-id/virtio-<first 20 chars>
#   MOUNT_TO         absolute mount point
#   FALLBACK_DEVICE  device name from the volume attachment (e.g. /dev/vdb), used only
#                    when the by-id link is absent; "-" for none
#   --force-format   reformat even if a filesystem exists (destroys data)
#
# Idempotent: re-running after success changes nothing; after a failure it resumes.
set -euo pipefail
# shellcheck source=mgmt-driver/scripts/lib.sh
source "$(dirname "$0")/lib.sh"

find_device() {
  local id=$1 fallback=$2 link
  link="/dev/disk/by-id/virtio-${id:0:20}"
  if [[ -e "$link" ]]; then
    readlink -f "$link"
    return
  fi
  if [[ "$fallback" != "-" && -b "$fallback" ]]; then
    warn "no $link; using the attachment's device name $fallback"
    printf '%s\n' "$fallback"
    return
  fi
  fatal "volume $id not found: no $link${fallback:+ and no block device $fallback}"
}

# withdraw_exports: empties vnf-mgmt's block in /etc/exports and re-exports, so the NFS
# server lets go of the volume. The exports step of the same operation re-creates them.
withdraw_exports() {
  local empty
  grep -qF "# BEGIN vnf-mgmt exports" /etc/exports 2>/dev/null || return 0
  empty=$(mktemp)
  if replace_block /etc/exports "# BEGIN vnf-mgmt exports" "# END vnf-mgmt exports" "$empty"; then
    warn "withdrew vnf-mgmt's NFS exports to reformat (they are re-created by the exports step)"
    exportfs -ra || warn "exportfs -ra failed"
  fi
  rm -f "$empty"
}

# release_device DEV: unmounts every mount of DEV (needed before reformatting), after
# withdrawing vnf-mgmt's NFS exports. Fails clearly when a mount stays busy.
release_device() {
  local dev=$1 target try
  while read -r target; do
    [[ -n "$target" ]] || continue
    withdraw_exports
    for try in 1 2 3 4 5 6 7 8 9 10; do
      umount "$target" 2>/dev/null && break
      ((try < 10)) || fatal "cannot reformat $dev: $target is busy; stop what uses it first"
      sleep 0.5
    done
    info "unmounted $target"
  done < <(findmnt -n -o TARGET --source "$dev" 2>/dev/null || true)
}

ensure_filesystem() {
  local dev=$1 force=$2 fstype
  fstype=$(blkid -o value -s TYPE "$dev" 2>/dev/null || true)
  if [[ -n "$fstype" && "$force" != 1 ]]; then
    info "$dev already has a $fstype filesystem; keeping its data"
    return
  fi
  if [[ -n "$fstype" ]]; then
    warn "reformatting $dev ($fstype) as requested (--force-format)"
    release_device "$dev"
  fi
  info "making an ext4 filesystem on $dev"
  mkfs.ext4 -q -F "$dev"
}

ensure_fstab() {
  local dev=$1 mount_to=$2 uuid fstype content
  uuid=$(blkid -o value -s UUID "$dev")
  fstype=$(blkid -o value -s TYPE "$dev")
  [[ -n "$uuid" ]] || fatal "$dev has no filesystem UUID"
  content=$(mktemp)
  printf 'UUID=%s %s %s defaults,nofail 0 2\n' "$uuid" "$mount_to" "$fstype" >"$content"
  if replace_block /etc/fstab "# BEGIN vnf-mgmt ${mount_to}" "# END vnf-mgmt ${mount_to}" "$content"; then
    info "fstab entry for $mount_to updated"
  fi
  rm -f "$content"
}

# dev_id PATH: the block device's major:minor (follows symlinks), empty if none.
dev_id() {
  stat -L -c '%t:%T' "$1" 2>/dev/null || true
}

ensure_mounted() {
  local dev=$1 mount_to=$2 current
  mkdir -p "$mount_to"
  current=$(findmnt -n -o SOURCE --mountpoint "$mount_to" 2>/dev/null | tail -n 1 || true)
  if [[ -n "$current" ]]; then
    # Compare devices, not names: /dev/vdb, its by-id link and /dev/loopN may all be
    # the same device.
    if [[ "$(readlink -f "$current")" == "$(readlink -f "$dev")" ||
      ("$(dev_id "$current")" == "$(dev_id "$dev")" && -n "$(dev_id "$dev")") ]]; then
      info "$dev already mounted at $mount_to"
      return
    fi
    fatal "$mount_to is already a mount point of $current, not $dev"
  fi
  mount "$dev" "$mount_to"
  info "mounted $dev at $mount_to"
}

main() {
  (($# >= 2)) || fatal "usage: storage_volume.sh VOLUME_ID MOUNT_TO [FALLBACK_DEVICE] [--force-format]"
  local id=$1 mount_to=$2 fallback=${3:--} force=0
  [[ "${4:-}" == "--force-format" || "${3:-}" == "--force-format" ]] && force=1
  [[ "$fallback" == "--force-format" ]] && fallback=-
  [[ "$mount_to" == /* && "$mount_to" != / ]] || fatal "mount point must be an absolute path other than /: $mount_to"
  verify_root
  local dev
  dev=$(find_device "$id" "$fallback")
  ensure_filesystem "$dev" "$force"
  ensure_fstab "$dev" "$mount_to"
  ensure_mounted "$dev" "$mount_to"
  findmnt -n -o SOURCE,TARGET,FSTYPE --mountpoint "$mount_to"
}

main "$@"
