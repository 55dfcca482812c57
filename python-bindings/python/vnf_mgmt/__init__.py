"""vnf_mgmt: the ETSI NFV VNF LCM management driver for a Kubernetes-cluster VNF on
OpenStack, as a Python module.

Quick start::

    import vnf_mgmt
    report = vnf_mgmt.validate("pkg.csar", "instantiate.json")
    if not report.ok:
        print(report)
    bundle = vnf_mgmt.generate_hot("pkg.csar", "instantiate.json")
    bundle.write("out/")

Errors derive from :class:`vnf_mgmt.Error` and carry ``.code`` (see
:mod:`vnf_mgmt.exceptions`). Rust log records reach the ``vnf_mgmt`` logger.
Every call releases the GIL while it works.
"""

from __future__ import annotations

import os
from typing import List, Optional, Tuple, Union

from . import _vnf_mgmt
from ._ops import Summary, heal_storage_server, instantiate
from ._types import Finding, HotBundle, Location, Plan, Report
from .exceptions import (
    AuthenticationError,
    Cancelled,
    DiscoveryError,
    Error,
    ExecutionError,
    HostKeyMismatch,
    HotGenerationError,
    NotImplementedOperation,
    PersistentVolumeInUse,
    PlanError,
    RemoteCommandError,
    Timeout,
    ValidationError,
)

__version__: str = _vnf_mgmt.__version__

PathLike = Union[str, "os.PathLike[str]"]

__all__ = [
    "__version__",
    "validate",
    "generate_hot",
    "plan",
    "instantiate",
    "heal_storage_server",
    "Summary",
    "all_codes",
    "Report",
    "Finding",
    "Location",
    "HotBundle",
    "Plan",
    "Error",
    "ValidationError",
    "HotGenerationError",
    "DiscoveryError",
    "PlanError",
    "ExecutionError",
    "RemoteCommandError",
    "AuthenticationError",
    "HostKeyMismatch",
    "Timeout",
    "PersistentVolumeInUse",
    "Cancelled",
    "NotImplementedOperation",
]


def _path(p: PathLike) -> str:
    return os.fspath(p)


def validate(package: PathLike, request: Optional[PathLike] = None, *,
             verify_digests: bool = True) -> Report:
    """Validates a package (directory or CSAR) and, if given, an InstantiateVnfRequest
    JSON against it. Returns every finding; never raises for invalid content.

    Raises ``FileNotFoundError``/``OSError`` when a path cannot be read and
    :class:`Error` (code ``driver.input.unreadable``) for an unreadable archive.
    """
    d = _vnf_mgmt.validate(_path(package), None if request is None else _path(request),
                           verify_digests)
    return Report.from_dict(d)


def generate_hot(package: PathLike, request: PathLike, flavour: Optional[str] = None,
                 level: Optional[str] = None) -> HotBundle:
    """Validates, then generates the Heat bundle for the flavour (default: the request's
    ``flavourId``) and instantiation level (default: the request's, else the flavour's
    default).

    Raises :class:`ValidationError` for an invalid package/request and
    :class:`HotGenerationError` when the VNFD cannot be expressed as HOT.
    """
    d = _vnf_mgmt.generate_hot(_path(package), _path(request), flavour, level)
    return HotBundle.from_dict(d)


def plan(operation: str, package: PathLike, request: PathLike, inventory: PathLike,
         vnf_instance_id: str, *, verify_digests: bool = False) -> Plan:
    """Plans an LCM operation against a static inventory; nothing is contacted.

    Only ``"instantiate"`` is implemented; other operations raise
    :class:`NotImplementedOperation`. Raises :class:`ValidationError`,
    :class:`DiscoveryError` (inventory) or :class:`PlanError`.
    """
    d = _vnf_mgmt.plan(operation, _path(package), _path(request), _path(inventory),
                       vnf_instance_id, verify_digests)
    return Plan(d["plan"], d["text"])


def all_codes() -> List[Tuple[str, str]]:
    """Every stable code as ``(code, summary)``, sorted."""
    return list(_vnf_mgmt.all_codes())
