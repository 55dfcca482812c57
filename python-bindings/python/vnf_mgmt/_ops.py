"""Operations that change hosts: :func:`instantiate` and :func:`heal_storage_server`."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple, Union
from contextlib import contextmanager

from . import _vnf_mgmt

PathLike = Union[str, "os.PathLike[str]"]
#: A request or inventory: a file path, or the parsed content (written to a private
#: temporary file for the call).
Source = Union[PathLike, Mapping[str, Any]]
EventCallback = Callable[[Dict[str, Any]], Any]


@dataclass(frozen=True)
class Summary:
    """What an operation did."""

    operation: str
    """Engine operation name (``instantiate``, ``heal_start``, ``heal_end``)."""
    vnf_instance_id: str
    executed: int
    """Steps run."""
    skipped: int
    """Steps skipped because the journal records them as done (a resumed run)."""
    trusted_on_first_use: List[Tuple[str, str]] = field(default_factory=list)
    """``(host, key description)`` of host keys accepted on first use."""

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Summary":
        return cls(str(d["operation"]), str(d["vnf_instance_id"]), int(d["executed"]),
                   int(d["skipped"]),
                   [(str(h), str(w)) for h, w in d.get("trusted_on_first_use") or []])


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


def _run(package: PathLike, request: Source, vnf_instance_id: str, phase: Optional[str], *,
         inventory: Optional[Source], stack: Optional[str], os_cloud: Optional[str],
         access_info: Optional[Mapping[str, Any]], known_hosts: Optional[PathLike],
         trust_on_first_use: bool, state_dir: Optional[PathLike],
         events: Optional[EventCallback], register_pvs: bool, max_parallel: int,
         connect_timeout: int, attempts: int, replace_volumes: bool = False,
         rebuild_timeout: int = 1800) -> Summary:
    if (inventory is None) == (stack is None):
        raise ValueError("give exactly one of inventory= (static inventory) and "
                         "stack= (Heat stack id or name)")
    if events is not None and not callable(events):
        raise TypeError("events must be a callable taking one dict, or None")
    with _as_file(request, "instantiate_vnf_request.json", access_info) as req, \
            _as_file(inventory, "inventory.yaml") as inv:
        assert req is not None
        d = _vnf_mgmt._run(
            os.fspath(package), req, vnf_instance_id, phase=phase, inventory=inv,
            os_cloud=os_cloud, stack=stack,
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
                connect_timeout: int = 20, attempts: int = 3) -> Summary:
    """Sets up the storage server, the NFS clients and (unless ``skip_pv_registration``)
    the PersistentVolumes of ``pv_registration_params``.

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
    return _run(package, request, vnf_instance_id, None, inventory=inventory, stack=stack,
                os_cloud=os_cloud, access_info=access_info, known_hosts=known_hosts,
                trust_on_first_use=trust_on_first_use, state_dir=state_dir, events=events,
                register_pvs=not skip_pv_registration, max_parallel=max_parallel,
                connect_timeout=connect_timeout, attempts=attempts)


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
    return _run(package, request, vnf_instance_id, phase, inventory=inventory, stack=stack,
                os_cloud=os_cloud, access_info=access_info, known_hosts=known_hosts,
                trust_on_first_use=trust_on_first_use, state_dir=state_dir, events=events,
                register_pvs=True, max_parallel=max_parallel,
                connect_timeout=connect_timeout, attempts=attempts,
                replace_volumes=replace_volumes, rebuild_timeout=rebuild_timeout)
