#!/usr/bin/env bash
# The main job, end to end, on this machine.
#
# 1. Validate the sample VNF package and its instantiate requests, pack it into a CSAR
#    with fresh digests, validate the CSAR, show a broken request being rejected, and
#    generate the Heat templates.
# 2. With no OpenStack configured, the whole lifecycle of the sample on the lab: real SSH
#    hosts in network namespaces, a loop-device volume, nfs-ganesha, and the kubeadm shim
#    with a Kubernetes API emulator over a real etcd (needs root; skipped with a note
#    otherwise): instantiate with the cluster install, re-run, scale out and in, heal a
#    worker, heal the storage server, terminate.
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

if [[ "$(id -u)" != 0 ]]; then
  printf '\ndemo: the lab part needs root (network namespaces, loop devices); skipped\n'
elif [[ -n "${OS_CLOUD:-}${OS_AUTH_URL:-}" ]]; then
  printf '\ndemo: OpenStack is configured; the lab part is skipped (use vnf-mgmt against your cloud)\n'
else
  step "the lifecycle on the lab (plan, instantiate with the cluster install, check, re-run, scale out/in, heal a worker, heal storage_server, terminate, tear down)"
  VNF_MGMT="$(realpath "$VNF_MGMT")" KUBE_EMU_BIN="$(realpath target/debug/kube-emu)" \
    cargo run -q -p mgmt-driver --example lab_demo
fi

printf '\ndemo: done (output in %s)\n' "$out"
