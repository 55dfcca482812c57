#!/usr/bin/env bash
# askpass.sh: SSH_ASKPASS helper for password logins in tests; prints $VNF_LAB_PASSWORD.
set -euo pipefail
printf '%s\n' "${VNF_LAB_PASSWORD:?VNF_LAB_PASSWORD not set}"
