#!/usr/bin/env bash
# Shared helpers for vnf-mgmt's remote scripts. Sourced, never run on its own.
# Every script runs as root (the executor uses sudo with the password on stdin).

info() { printf 'vnf-mgmt: %s\n' "$*"; }
warn() { printf 'vnf-mgmt: warning: %s\n' "$*" >&2; }
fatal() { printf 'vnf-mgmt: error: %s\n' "$*" >&2; exit 1; }

verify_root() {
  [[ "$(id -u)" == 0 ]] || fatal "must run as root (got uid $(id -u))"
}

# pkg_installed NAME: true when the Debian package is installed.
pkg_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# ensure_packages NAME...: installs only the missing packages.
ensure_packages() {
  local missing=() p
  for p in "$@"; do
    pkg_installed "$p" || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && { info "packages present: $*"; return 0; }
  info "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q --no-install-recommends "${missing[@]}"; then
    apt-get update -q || warn "apt-get update failed"
    apt-get install -y -q --no-install-recommends "${missing[@]}" ||
      fatal "could not install ${missing[*]}"
  fi
}

# replace_block FILE BEGIN END CONTENT_FILE: replaces the lines between the markers
# (inclusive) with BEGIN, the content, END; appends the block when absent. Other lines
# are untouched. Writes atomically (temp file in the same directory, then rename).
replace_block() {
  local file=$1 begin=$2 end=$3 content=$4 tmp
  touch "$file"
  tmp=$(mktemp "${file}.vnf-mgmt.XXXXXX")
  awk -v b="$begin" -v e="$end" -v cf="$content" '
    function emit(  line) {
      print b
      while ((getline line < cf) > 0) print line
      close(cf)
      print e
    }
    $0 == b { skipping = 1; if (!done) { emit(); done = 1 }; next }
    $0 == e && skipping { skipping = 0; next }
    !skipping { print }
    END { if (!done) emit() }
  ' "$file" >"$tmp"
  chmod --reference="$file" "$tmp" 2>/dev/null || chmod 0644 "$tmp"
  if cmp -s "$tmp" "$file"; then
    rm -f "$tmp"
    return 1
  fi
  mv -f "$tmp" "$file"
  return 0
}
