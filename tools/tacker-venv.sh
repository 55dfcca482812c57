#!/usr/bin/env bash
# Creates the Tacker test virtualenv .venv-tacker: OpenStack Tacker from PyPI with its
# dependencies, stevedore, pytest and (when given) the vnf_mgmt wheel of this run.
#
#   tools/tacker-venv.sh [WHEEL]
#
# Idempotent and cached: the virtualenv is created once; the packages are installed only
# when the pinned set (python-bindings/tacker-constraints.txt plus the requirements below)
# differs from the one recorded in .venv-tacker/.vnf-mgmt-requirements. The wheel, when
# given, is always reinstalled (it is the one under test). Any failure exits non-zero, so
# `make python-test` fails rather than skipping the Tacker tests.
#
# Environment:
#   PYTHON                      interpreter for the virtualenv (default python3; >= 3.10,
#                               tacker 16.0.0 requires it; the constraints are for 3.11)
#   VNF_MGMT_TACKER_UNPINNED=1  resolve without the constraints file (to regenerate it)
set -euo pipefail

TACKER_VERSION=16.0.0
VENV=.venv-tacker
CONSTRAINTS="python-bindings/tacker-constraints.txt"
STAMP="$VENV/.vnf-mgmt-requirements"
REQUIREMENTS=("tacker==$TACKER_VERSION" stevedore pytest setuptools wheel)

info() { printf 'tacker-venv: %s\n' "$*"; }
fatal() { printf 'tacker-venv: error: %s\n' "$*" >&2; exit 1; }

wanted_stamp() {
  printf '%s\n' "${REQUIREMENTS[@]}"
  if [[ "${VNF_MGMT_TACKER_UNPINNED:-0}" == 1 ]]; then
    echo unpinned
  else
    sha256sum "$CONSTRAINTS" | cut -d' ' -f1
  fi
}

create_venv() {
  local python="${PYTHON:-python3}"
  command -v "$python" >/dev/null || fatal "$python not found"
  "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
    || fatal "$python is older than 3.10 (tacker $TACKER_VERSION needs >= 3.10)"
  if [[ ! -x "$VENV/bin/python" ]]; then
    info "creating $VENV ($("$python" --version 2>&1))"
    "$python" -m venv "$VENV"
  fi
  # Never committed: everything in the virtualenv is ignored by git.
  [[ -f "$VENV/.gitignore" ]] || printf '*\n' >"$VENV/.gitignore"
}

install_packages() {
  local wanted
  wanted="$(wanted_stamp)"
  if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$wanted" ]] \
    && "$VENV/bin/python" -c 'import tacker, stevedore, pytest, setuptools, wheel' 2>/dev/null; then
    info "tacker $TACKER_VERSION present"
    return
  fi
  local args=(install -q --disable-pip-version-check)
  [[ "${VNF_MGMT_TACKER_UNPINNED:-0}" == 1 ]] || args+=(-c "$CONSTRAINTS")
  info "installing ${REQUIREMENTS[*]} (about a minute on a cold cache)"
  local start=$SECONDS attempt
  for attempt in 1 2; do
    if "$VENV/bin/pip" "${args[@]}" "${REQUIREMENTS[@]}"; then
      printf '%s\n' "$wanted" >"$STAMP"
      info "installed in $((SECONDS - start)) s"
      return
    fi
    info "pip failed (attempt $attempt)"
    sleep 5
  done
  fatal "could not install ${REQUIREMENTS[*]} into $VENV"
}

install_wheel() {
  local wheel="$1"
  [[ -f "$wheel" ]] || fatal "no such wheel: $wheel"
  info "installing $(basename "$wheel")"
  "$VENV/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps "$wheel"
  "$VENV/bin/python" -c 'import vnf_mgmt.tacker' || fatal "vnf_mgmt does not import in $VENV"
}

main() {
  (($# <= 1)) || fatal "usage: tools/tacker-venv.sh [WHEEL]"
  local wheel=""
  if (($# == 1)); then
    wheel="$(realpath -- "$1")" || fatal "no such wheel: $1"
  fi
  cd "$(dirname "$0")/.."
  [[ -f "$CONSTRAINTS" ]] || fatal "missing $CONSTRAINTS"
  create_venv
  install_packages
  if [[ -n "$wheel" ]]; then
    install_wheel "$wheel"
  fi
}

main "$@"
