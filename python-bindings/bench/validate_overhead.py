#!/usr/bin/env python3
"""Overhead of the Python layer for ``vnf_mgmt.validate`` on the sample package.

Compares the per-call time of ``vnf_mgmt.validate(package, request)`` (argument
conversion, GIL release, Rust validation, report → dicts → dataclasses) with the
per-call time of the same Rust validation looped in Rust
(``vnf_mgmt._vnf_mgmt._validate_timing``). Target: overhead < 10 %.

Usage: python validate_overhead.py [--rounds N] [--calls N] [--no-digests]
Prints one line per measurement and a JSON summary on the last line. Build the wheel
with ``--release`` for representative numbers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import vnf_mgmt
from vnf_mgmt import _vnf_mgmt

REPO = Path(__file__).resolve().parents[2]
PKG = REPO / "samples" / "packages" / "k8s_cluster_with_pv"
REQ = REPO / "samples" / "requests" / "instantiate_simple_pv.json"


def python_per_call(calls: int, digests: bool) -> float:
    t0 = time.perf_counter()
    for _ in range(calls):
        vnf_mgmt.validate(PKG, REQ, verify_digests=digests)
    return (time.perf_counter() - t0) / calls


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--calls", type=int, default=50)
    ap.add_argument("--no-digests", action="store_true")
    args = ap.parse_args()
    digests = not args.no_digests
    # Warm-up (file cache, schema generated once per process).
    python_per_call(3, digests)
    _vnf_mgmt._validate_timing(str(PKG), str(REQ), 3, digests)
    py, rs = [], []
    for _ in range(args.rounds):
        # Interleave so drift affects both equally.
        rs.append(_vnf_mgmt._validate_timing(str(PKG), str(REQ), args.calls, digests))
        py.append(python_per_call(args.calls, digests))
    py_med, rs_med = statistics.median(py), statistics.median(rs)
    overhead = (py_med - rs_med) / rs_med * 100
    print(f"rust in-process validate: median {rs_med * 1e6:9.1f} us/call (min {min(rs) * 1e6:.1f})")
    print(f"vnf_mgmt.validate:        median {py_med * 1e6:9.1f} us/call (min {min(py) * 1e6:.1f})")
    print(f"python layer overhead:    {overhead:+.1f} % (target < 10 %)")
    print(json.dumps({"version": vnf_mgmt.__version__, "digests": digests,
                      "rounds": args.rounds, "calls": args.calls,
                      "rust_us": round(rs_med * 1e6, 1), "python_us": round(py_med * 1e6, 1),
                      "overhead_percent": round(overhead, 2)}))


if __name__ == "__main__":
    main()
