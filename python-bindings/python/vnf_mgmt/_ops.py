"""Operations that change hosts: :func:`run` and its shorthands :func:`instantiate`,
:func:`heal`, :func:`heal_storage_server`, :func:`scale`, :func:`terminate`."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from typing import (Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple,
                    Union)
from contextlib import contextmanager

from . import _vnf_mgmt

PathLike = Union[str, "os.PathLike[str]"]
#: A request or inventory: a file path, or the parsed content (written to a private
#: temporary file for the call).
Source = Union[PathLike, Mapping[str, Any]]
EventCallback = Callable[[Dict[str, Any]], Any]


#: Engine operations :func:`run` accepts (``heal``: the storage server's whole heal with
#: the rebuild through Heat).
OPERATIONS = ("instantiate", "heal_start", "heal_end", "heal", "scale_start", "scale_end",
              "terminate_start")
#: Cluster runtimes.
RUNTIMES = ("kubeadm", "k3s")

#: Cluster access exported by an install (endpoint, CA, token as a non-printing
#: :class:`Secret`; ``vim_connection_info(vim_id)``, ``kubeconfig(name)``,
#: ``write_kubeconfig(path, name)``).
ClusterAccess = _vnf_mgmt.ClusterAccess
#: A secret string: ``repr``/``str`` are ``***``; ``reveal()`` returns the value.
Secret = _vnf_mgmt.Secret


@dataclass(frozen=True)
class Summary:
    """What an operation did."""

    operation: str
    """Engine operation name (``instantiate``, ``heal_start``, ``heal_end``, ``heal``,
    ``scale_start``, ``scale_end``, ``terminate_start``)."""
    vnf_instance_id: str
    executed: int
    """Steps run."""
    skipped: int
    """Steps skipped because the journal records them as done (a resumed run)."""
    trusted_on_first_use: List[Tuple[str, str]] = field(default_factory=list)
    """``(host, key description)`` of host keys accepted on first use."""
    access: Optional[Any] = None
    """The :class:`ClusterAccess` an install exported in this run (``install_cluster``
    with ``export_access``), else None. Its token never shows in ``repr``."""

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Summary":
        return cls(str(d["operation"]), str(d["vnf_instance_id"]), int(d["executed"]),
                   int(d["skipped"]),
                   [(str(h), str(w)) for h, w in d.get("trusted_on_first_use") or []],
                   d.get("access"))


@contextmanager
def _as_file(src: Optional[Source], name: str,
             access_info: Optional[Mapping[str, Any]] = None) -> Iterator[Optional[str]]:
    """A path for `src`; mappings (and requests needing `access_info`) go to a temp file."""
    if src is None:
        yield None
        return
    if access_info is None and not isinstance(src, Mapping):
        yield os.fspath(src)
        return
    if isinstance(src, Mapping):
        data: Dict[str, Any] = dict(src)
    else:
        with open(os.fspath(src), encoding="utf-8") as f:
            data = json.load(f)
    if access_info is not None:
        # The engine takes OpenStack credentials from the request's vimConnectionInfo
        # when no clouds.yaml entry / OS_* variables are configured.
        vims = [v for v in data.get("vimConnectionInfo") or [] if isinstance(v, dict)]
        vims = [v for v in vims if "accessInfo" not in v]
        vims.insert(0, {"id": "vim_connection_info_0", "vimType": "openstack",
                        "accessInfo": dict(access_info)})
        data["vimConnectionInfo"] = vims
    with tempfile.TemporaryDirectory(prefix="vnf-mgmt-") as tmp:
        os.chmod(tmp, 0o700)
        path = os.path.join(tmp, name)
        # JSON is valid YAML 1.2, so inventories can be written the same way.
        with open(path, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, default=str)
        yield path


def _targets(targets: Union[str, Sequence[str], None]) -> List[str]:
    if targets is None:
        return []
    if isinstance(targets, str):
        return [t for t in targets.split(",") if t]
    return [str(t) for t in targets]


def run(operation: str, package: PathLike, request: Source, *, vnf_instance_id: str,
        targets: Union[str, Sequence[str], None] = None, install_cluster: bool = False,
        runtime: str = "kubeadm", cni: Optional[str] = None,
        cni_manifest: Optional[str] = None, drain: bool = False, export_access: bool = True,
        inventory: Optional[Source] = None, stack: Optional[str] = None,
        os_cloud: Optional[str] = None, access_info: Optional[Mapping[str, Any]] = None,
        known_hosts: Optional[PathLike] = None, trust_on_first_use: bool = False,
        state_dir: Optional[PathLike] = None, events: Optional[EventCallback] = None,
        register_pvs: bool = True, max_parallel: int = 8, connect_timeout: int = 20,
        attempts: int = 3, kube_timeout: int = 150, replace_volumes: bool = False,
        rebuild_timeout: int = 1800) -> Summary:
    """Runs any engine operation of :data:`OPERATIONS`; the functions :func:`instantiate`,
    :func:`heal`, :func:`scale` and :func:`terminate` are this with fewer knobs.

    ``targets`` (a list, or one comma-separated string): the nodes a heal rebuilds or a
    scale-in removes — topology node names, server (VNFC resource) ids, Kubernetes node
    names, ``"storage_server"``, or ``"entire"``. ``install_cluster``: install the
    Kubernetes cluster (``runtime`` ``"kubeadm"`` or ``"k3s"``; the runtime also tells
    every later operation where the admin kubeconfig is). ``cni`` (``calico`` — kubeadm's
    default —, ``flannel``, ``cilium``) and ``cni_manifest`` (``https://…`` or
    ``file://…``, e.g. a mirror; default: the CNI's pinned upstream manifest): the pod
    network of a kubeadm install (k3s keeps its built-in flannel). ``drain``: terminate_start
    drains the workers first. ``kube_timeout``: seconds of each Kubernetes step (drains
    wait that long for a PodDisruptionBudget to allow an eviction).
    Other arguments as for :func:`instantiate`.
    """
    if operation not in OPERATIONS:
        raise ValueError(f"operation must be one of {', '.join(OPERATIONS)}, not {operation!r}")
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be 'kubeadm' or 'k3s', not {runtime!r}")
    if (inventory is None) == (stack is None):
        raise ValueError("give exactly one of inventory= (static inventory) and "
                         "stack= (Heat stack id or name)")
    if events is not None and not callable(events):
        raise TypeError("events must be a callable taking one dict, or None")
    with _as_file(request, "instantiate_vnf_request.json", access_info) as req, \
            _as_file(inventory, "inventory.yaml") as inv:
        assert req is not None
        d = _vnf_mgmt._run(
            os.fspath(package), req, vnf_instance_id, operation=operation,
            targets=_targets(targets), install_cluster=install_cluster, runtime=runtime,
            cni=cni, cni_manifest=cni_manifest, drain=drain, export_access=export_access,
            kube_timeout=kube_timeout,
            inventory=inv, os_cloud=os_cloud, stack=stack,
            known_hosts=None if known_hosts is None else os.fspath(known_hosts),
            trust_on_first_use=trust_on_first_use,
            state_dir=None if state_dir is None else os.fspath(state_dir), events=events,
            register_pvs=register_pvs, max_parallel=max_parallel,
            connect_timeout=connect_timeout, attempts=attempts,
            replace_volumes=replace_volumes, rebuild_timeout=rebuild_timeout)
    return Summary.from_dict(d)


def instantiate(package: PathLike, request: Source, *, vnf_instance_id: str,
                inventory: Optional[Source] = None, stack: Optional[str] = None,
                os_cloud: Optional[str] = None,
                access_info: Optional[Mapping[str, Any]] = None,
                known_hosts: Optional[PathLike] = None, trust_on_first_use: bool = False,
                state_dir: Optional[PathLike] = None,
                events: Optional[EventCallback] = None,
                skip_pv_registration: bool = False, max_parallel: int = 8,
                connect_timeout: int = 20, attempts: int = 3,
                install_cluster: bool = False, runtime: str = "kubeadm",
                export_access: bool = True, kube_timeout: int = 150,
                cni: Optional[str] = None, cni_manifest: Optional[str] = None) -> Summary:
    """Sets up the storage server, the NFS clients and (unless ``skip_pv_registration``)
    the PersistentVolumes of ``pv_registration_params``; with ``install_cluster`` first
    installs the Kubernetes cluster (``runtime`` ``"kubeadm"`` or ``"k3s"``; ``cni``,
    ``cni_manifest`` as for :func:`run`) and, unless
    ``export_access=False``, exports the orchestrator's access: ``Summary.access`` is a
    :class:`ClusterAccess` (endpoint, CA, token as a non-printing :class:`Secret`,
    ``vim_connection_info(vim_id)``, ``kubeconfig(name)``).

    The topology comes from a static ``inventory`` (path or parsed mapping) or from the
    Heat ``stack`` (credentials: ``os_cloud`` / ``OS_CLOUD`` / ``OS_*``, else
    ``access_info`` — Tacker's ``vim_connection_info[0].access_info`` — else the
    request's ``vimConnectionInfo``). Steps already done (journal under ``state_dir``,
    default ``$XDG_STATE_HOME/vnf-mgmt``) are skipped, so a re-run resumes.

    ``events`` receives one dict per engine event; without it, progress goes to the
    ``vnf_mgmt.api`` logger. The GIL is released while the engine works; Ctrl-C
    (``KeyboardInterrupt``) lets the running steps finish, starts no new one, then
    re-raises. Raises :class:`~vnf_mgmt.ValidationError`,
    :class:`~vnf_mgmt.DiscoveryError`, :class:`~vnf_mgmt.PlanError`,
    :class:`~vnf_mgmt.AuthenticationError`, :class:`~vnf_mgmt.HostKeyMismatch`,
    :class:`~vnf_mgmt.RemoteCommandError`, :class:`~vnf_mgmt.Timeout`, … (all with
    ``.code``).
    """
    return run("instantiate", package, request, vnf_instance_id=vnf_instance_id,
               install_cluster=install_cluster, runtime=runtime, cni=cni,
               cni_manifest=cni_manifest, export_access=export_access,
               inventory=inventory, stack=stack, os_cloud=os_cloud, access_info=access_info,
               known_hosts=known_hosts, trust_on_first_use=trust_on_first_use,
               state_dir=state_dir, events=events, register_pvs=not skip_pv_registration,
               max_parallel=max_parallel, connect_timeout=connect_timeout,
               attempts=attempts, kube_timeout=kube_timeout)


def heal(package: PathLike, request: Source, *, targets: Union[str, Sequence[str]],
         phase: str, vnf_instance_id: str, runtime: str = "kubeadm", **kwargs: Any) -> Summary:
    """Heals cluster nodes or the storage server, one phase (``"start"`` before the
    orchestrator rebuilds the VMs, ``"end"`` after; see ``docs/heal.md``).

    ``targets``: topology node names, server (VNFC resource) ids or Kubernetes node names
    of masters/workers — start drains and deletes them (a master: etcd member removed,
    HAProxy backends of the survivors), end resets and joins the rebuilt VMs —;
    ``"storage_server"`` — start deletes the VNF's PersistentVolumes (refused with
    :class:`~vnf_mgmt.PersistentVolumeInUse` while one is bound), end sets the storage
    server up again —; ``"entire"`` — end runs the whole instantiate with the cluster
    install on the new stack. ``phase="all"`` is the storage server's start, rebuild
    through Heat and end (see :func:`heal_storage_server`). Keyword arguments as for
    :func:`run`.
    """
    if phase not in ("start", "end", "all"):
        raise ValueError(f"phase must be 'start', 'end' or 'all', not {phase!r}")
    names = _targets(targets)
    if not names:
        raise ValueError("targets must name at least one node, 'storage_server' or 'entire'")
    op = "heal" if phase == "all" else f"heal_{phase}"
    return run(op, package, request, vnf_instance_id=vnf_instance_id, targets=names,
               runtime=runtime, **kwargs)


def scale(package: PathLike, request: Source, *, phase: str, vnf_instance_id: str,
          remove: Union[str, Sequence[str], None] = None, runtime: str = "kubeadm",
          **kwargs: Any) -> Summary:
    """One phase of a scale around the orchestrator's change of the worker count.

    ``phase="start"`` with ``remove`` (a scale-in: the workers that go, by topology node
    name, server id or Kubernetes node name): drains them (evictions respect
    PodDisruptionBudgets; a drain the budgets forbid fails with ``.code``
    ``driver.kube.*`` after ``kube_timeout`` and deletes nothing) and deletes their Nodes;
    without ``remove`` (a scale-out) nothing runs. ``phase="end"`` on the topology after
    the change: new workers are prepared and join, every node's ``/etc/hosts`` block is
    rewritten. Keyword arguments as for :func:`run`.
    """
    if phase not in ("start", "end"):
        raise ValueError(f"phase must be 'start' or 'end', not {phase!r}")
    names = _targets(remove)
    if names and phase == "end":
        raise ValueError("remove= is for phase 'start' (the workers a scale-in removes)")
    return run(f"scale_{phase}", package, request, vnf_instance_id=vnf_instance_id,
               targets=names, runtime=runtime, **kwargs)


def terminate(package: PathLike, request: Source, *, vnf_instance_id: str,
              drain: bool = False, runtime: str = "kubeadm", **kwargs: Any) -> Summary:
    """``terminate_start``: optionally drains the workers, then revokes the access the
    install exported (ServiceAccount, binding, token Secret). Nothing else runs at
    terminate (the VMs go with the stack; the orchestrator drops the Kubernetes VIM).
    Keyword arguments as for :func:`run`."""
    return run("terminate_start", package, request, vnf_instance_id=vnf_instance_id,
               drain=drain, runtime=runtime, **kwargs)


def heal_storage_server(package: PathLike, request: Source, *, phase: str,
                        vnf_instance_id: str, inventory: Optional[Source] = None,
                        stack: Optional[str] = None, os_cloud: Optional[str] = None,
                        access_info: Optional[Mapping[str, Any]] = None,
                        known_hosts: Optional[PathLike] = None,
                        trust_on_first_use: bool = False,
                        state_dir: Optional[PathLike] = None,
                        events: Optional[EventCallback] = None, max_parallel: int = 8,
                        connect_timeout: int = 20, attempts: int = 3,
                        replace_volumes: bool = False,
                        rebuild_timeout: int = 1800) -> Summary:
    """Heals the storage server (see ``docs/heal.md``), one phase or all of it.

    ``phase="start"`` (before the VM is rebuilt) deletes the VNF's PersistentVolumes,
    refused with :class:`~vnf_mgmt.PersistentVolumeInUse` (``.volumes``, ``.claims``)
    while a claim binds one; ``phase="end"`` (after the rebuild) sets the storage server
    up again and re-registers the PVs. Under Tacker the orchestrator rebuilds the VM
    between the two. ``phase="all"`` (needs ``stack``) runs start, rebuilds the server
    through Heat (mark unhealthy + stack update; ``replace_volumes`` also replaces its
    volumes, ``rebuild_timeout`` seconds), re-discovers the stack and runs end; the
    rebuild itself is not interruptible (``KeyboardInterrupt`` takes effect after it).
    Other arguments as for :func:`instantiate`.
    """
    if phase not in ("start", "end", "all"):
        raise ValueError(f"phase must be 'start', 'end' or 'all', not {phase!r}")
    if phase == "all" and stack is None:
        raise ValueError("phase 'all' rebuilds the VM through Heat and needs stack=; with a "
                         "static inventory run phase 'start', rebuild the VM, then 'end'")
    op = "heal" if phase == "all" else f"heal_{phase}"
    return run(op, package, request, vnf_instance_id=vnf_instance_id, inventory=inventory,
               stack=stack, os_cloud=os_cloud, access_info=access_info,
               known_hosts=known_hosts, trust_on_first_use=trust_on_first_use,
               state_dir=state_dir, events=events, max_parallel=max_parallel,
               connect_timeout=connect_timeout, attempts=attempts,
               replace_volumes=replace_volumes, rebuild_timeout=rebuild_timeout)
