#!/usr/bin/env bash
# Prints the cluster token of this k3s server as a named output for the executor to
# capture into the run's secret store (never logged).
#
# Usage: k3s_join_info.sh
# Output (stdout): token=<content of /var/lib/rancher/k3s/server/token>
set -euo pipefail
# shellcheck source=mgmt-driver/scripts/lib.sh
source "$(dirname "$0")/lib.sh"

TOKEN_FILE=/var/lib/rancher/k3s/server/token

main() {
  (($# == 0)) || fatal "usage: k3s_join_info.sh"
  verify_root
  [[ -s "$TOKEN_FILE" ]] || fatal "no $TOKEN_FILE: no k3s server initialised here"
  local token
  token=$(head -n 1 "$TOKEN_FILE")
  valid_k3s_token "$token" || fatal "unexpected content in $TOKEN_FILE"
  printf 'token=%s\n' "$token"
}

main "$@"
