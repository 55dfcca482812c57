"""vnf_mgmt: the ETSI NFV VNF LCM management driver for a Kubernetes-cluster VNF on
OpenStack, as a Python module.

Quick start::

    import vnf_mgmt
    report = vnf_mgmt.validate("pkg.csar", "instantiate.json")
    if not report.ok:
        print(report)
    bundle = vnf_mgmt.generate_hot("pkg.csar", "instantiate.json")
    bundle.write("out/")
    summary = vnf_mgmt.instantiate("pkg.csar", "instantiate.json", vnf_instance_id="vnf-1",
                                   inventory="inventory.yaml", install_cluster=True)
    print(summary.access)            # the token never prints
    kubeconfig = summary.access.kubeconfig("vnf-1")

Errors derive from :class:`vnf_mgmt.Error` and carry ``.code`` (see
:mod:`vnf_mgmt.exceptions`). Rust log records reach the ``vnf_mgmt`` logger.
Every call releases the GIL while it works.
"""

from __future__ import annotations

import os
from typing import List, Optional, Sequence, Tuple, Union

from . import _vnf_mgmt
from ._ops import (ClusterAccess, Secret, Summary, heal, heal_storage_server, instantiate, run,
                   scale, terminate)
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
    "heal",
    "scale",
    "terminate",
    "run",
    "Summary",
    "ClusterAccess",
    "Secret",
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
         vnf_instance_id: str, *, verify_digests: bool = False,
         targets: Union[str, Sequence[str], None] = None, install_cluster: bool = False,
         runtime: str = "kubeadm", cni: Optional[str] = None,
         cni_manifest: Optional[str] = None, drain: bool = False,
         register_pvs: bool = True) -> Plan:
    """Plans an LCM operation against a static inventory; nothing is contacted.

    ``operation``: ``instantiate``, ``heal_start``, ``heal_end``, ``scale_start``,
    ``scale_end`` or ``terminate_start``. ``targets`` (list or comma-separated string):
    the nodes a heal rebuilds or a scale-in removes (node names, server ids, Kubernetes
    node names, ``storage_server``, ``entire``). ``install_cluster``/``runtime``: the
    cluster install (``kubeadm`` or ``k3s``); ``cni`` (``calico``, ``flannel``, ``cilium``)
    and ``cni_manifest`` (``https://…``/``file://…``) its pod network. ``drain``: terminate_start drains the
    workers. Raises ``ValueError`` for an unknown operation or runtime,
    :class:`ValidationError`, :class:`DiscoveryError` (inventory) or :class:`PlanError`.
    """
    from ._ops import _targets

    d = _vnf_mgmt.plan(operation, _path(package), _path(request), _path(inventory),
                       vnf_instance_id, verify_digests, targets=_targets(targets),
                       install_cluster=install_cluster, runtime=runtime, cni=cni,
                       cni_manifest=cni_manifest, drain=drain, register_pvs=register_pvs)
    return Plan(d["plan"], d["text"])


def all_codes() -> List[Tuple[str, str]]:
    """Every stable code as ``(code, summary)``, sorted."""
    return list(_vnf_mgmt.all_codes())
