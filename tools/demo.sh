#!/usr/bin/env bash
# The main job, end to end, on this machine.
#
# Today: validate the sample VNF package and its instantiate requests, pack it into a
# CSAR with fresh digests, validate the CSAR, and generate the Heat templates.
# (When the lab-backed lifecycle lands, this runs instantiate/heal/terminate on the lab.)
#
# Environment:
#   VNF_MGMT   path of the vnf-mgmt binary (default: target/debug/vnf-mgmt)
#   DEMO_DIR   where to write the CSAR and templates (default: a temporary directory)
set -euo pipefail

cd "$(dirname "$0")/.."
VNF_MGMT=${VNF_MGMT:-target/debug/vnf-mgmt}
PKG=samples/packages/k8s_cluster_with_pv
REQ=samples/requests/instantiate_simple_pv.json
out=${DEMO_DIR:-$(mktemp -d)}
mkdir -p "$out"

step() { printf '\n==> %s\n' "$*"; }

step "validate the package directory"
"$VNF_MGMT" validate "$PKG"

step "validate the package with the seed guide's instantiate request"
"$VNF_MGMT" validate "$PKG" --request "$REQ"

step "pack it into a CSAR (digests recomputed)"
"$VNF_MGMT" pack "$PKG" -o "$out/k8s_cluster_with_pv.csar"

step "validate the CSAR"
"$VNF_MGMT" validate "$out/k8s_cluster_with_pv.csar" --request "$REQ"

step "a broken request is rejected before anything runs"
if "$VNF_MGMT" validate "$PKG" --request samples/invalid/req-export-dir-metachar/request.json; then
  echo "demo: expected the broken request to be rejected" >&2
  exit 1
fi

step "generate the Heat templates for the simple flavour"
"$VNF_MGMT" hot "$PKG" --request "$REQ" --out "$out/hot"
find "$out/hot" -type f | sort

printf '\ndemo: done (output in %s)\n' "$out"
