"""Fixtures: the repository's samples, found from this file (the package under test is
the installed wheel, never the source tree)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLE_PKG = REPO / "samples" / "packages" / "k8s_cluster_with_pv"
REQUESTS = REPO / "samples" / "requests"
INVALID = REPO / "samples" / "invalid"


def invalid_cases() -> List[Tuple[str, Path, Optional[Path], str]]:
    """(name, package, request, expected_code) of every samples/invalid case."""
    out = []
    for case in sorted(INVALID.iterdir()):
        spec: Dict[str, Any] = json.loads((case / "case.json").read_text())

        def resolve(p: str) -> Path:
            local = case / p
            return local if local.exists() else REPO / p

        req = spec.get("request")
        out.append((case.name, resolve(spec["package"]), resolve(req) if req else None,
                    spec["expected_code"]))
    return out


@pytest.fixture
def sample_pkg() -> Path:
    return SAMPLE_PKG


@pytest.fixture
def simple_request() -> Path:
    return REQUESTS / "instantiate_simple_pv.json"


@pytest.fixture
def simple_request_dict(simple_request: Path) -> Dict[str, Any]:
    return json.loads(simple_request.read_text())
