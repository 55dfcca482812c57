#!/usr/bin/env bash
# Runs every benchmark and prints the numbers the issues ask for. Benchmarks report;
# they never fail on timing (performance targets are not test assertions).
#
# Environment:
#   BENCH_QUICK=1   shorter criterion runs
set -euo pipefail
cd "$(dirname "$0")/.."

section() { printf '\n===== %s =====\n' "$*"; }
crit_args=()
[[ "${BENCH_QUICK:-0}" == 1 ]] && crit_args=(--warm-up-time 1 --measurement-time 2)

section "whole-package validation (target: a few ms)"
cargo bench -q -p mgmt-driver --bench validate -- "${crit_args[@]}"

if [[ -f vnf-package/benches/hash.rs ]]; then
  section "hash throughput vs sha256sum on a 1 GiB file (target: >= 0.9x)"
  cargo bench -q -p vnf-package --bench hash
fi

if [[ -f hot-templates/benches/generate.rs ]]; then
  section "HOT generation (target: well under 1 ms)"
  cargo bench -q -p hot-templates --bench generate -- "${crit_args[@]}"
fi

if [[ "$(id -u)" == 0 ]]; then
  section "lab: hosts up and memory per host (target: 10 hosts < 10 s)"
  cargo bench -q -p vnf-lab --bench lab_up -- 10 50
  section "lab: storage-slice instantiate, 1/4/8 workers (target: 1 SSH connection per host per operation)"
  cargo bench -q -p mgmt-driver --bench lab_instantiate -- 1 4 8 runs=3
  section "lab: cluster install 1 master + 20 workers, parallel vs --parallel 1 (target: parallel <= 1.3x the critical path)"
  cargo build -q -p kube-emu --bin kube-emu
  KUBE_EMU_BIN="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/kube-emu" \
    cargo bench -q -p mgmt-driver --bench cluster_parallel -- workers=20 delay_ms=2000
  KUBE_EMU_BIN="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/kube-emu" \
    cargo bench -q -p mgmt-driver --bench cluster_parallel -- workers=20 delay_ms=5000
else
  section "lab benchmark skipped: needs root"
fi
