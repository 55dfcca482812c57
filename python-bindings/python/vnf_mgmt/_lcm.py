"""The LCM hook logic shared by the Tacker v1 driver and the v2 script.

Inputs are normalised to plain SOL003-shaped data (camelCase keys, JSON values) first,
so the same code serves Tacker's v1 objects, v2 dicts and duck-typed test objects.
Hooks whose engine operation does not exist yet extract and check their parameters,
then raise :class:`~vnf_mgmt.exceptions.NotImplementedOperation`; none pretends success.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional

from ._types import Finding, Location, Report
from .exceptions import DiscoveryError, Error, NotImplementedOperation, ValidationError

log = logging.getLogger("vnf_mgmt.tacker")

#: Keys whose values are free-form maps: their inner keys are kept as given.
PRESERVED = frozenset({
    "additionalParams", "accessInfo", "interfaceInfo", "extra", "metadata", "extensions",
    "vnfConfigurableProperties", "userData",
})

#: Maps keyed by identifiers (v2 ``vimConnectionInfo``): keys kept, values converted.
KEYED_BY_ID = frozenset({"vimConnectionInfo"})

_CAMEL = re.compile(r"_([a-z0-9])")


def camel(key: str) -> str:
    """``ext_virtual_links`` → ``extVirtualLinks``; camelCase keys are unchanged."""
    return _CAMEL.sub(lambda m: m.group(1).upper(), key)


def _fields(obj: Any) -> Optional[Dict[str, Any]]:
    """Attributes of an oslo versioned object, an object with ``to_dict``, or a plain object."""
    fields = getattr(obj, "obj_fields", None) or getattr(obj, "fields", None)
    if isinstance(fields, (list, tuple, dict, set, frozenset)) and hasattr(obj, "obj_attr_is_set"):
        return {k: getattr(obj, k) for k in fields if obj.obj_attr_is_set(k)}
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict):
        try:
            d = to_dict()
        except Exception:  # noqa: BLE001 - fall back to attributes
            d = None
        if isinstance(d, Mapping):
            return dict(d)
    if hasattr(obj, "__dict__"):
        return {k: v for k, v in vars(obj).items() if not k.startswith("_")}
    return None


def to_plain(obj: Any, preserve: bool = False, ids: bool = False) -> Any:
    """Converts a Tacker object / dict / list to JSON data with SOL003 (camelCase) keys.

    Under :data:`PRESERVED` keys the inner keys are kept as given (``additionalParams``
    holds snake_case driver parameters).
    """
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, Mapping):
        out: Dict[str, Any] = {}
        for k, v in obj.items():
            key = str(k) if preserve or ids else camel(str(k))
            out[key] = to_plain(v, preserve or key in PRESERVED, key in KEYED_BY_ID)
        return out
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_plain(v, preserve) for v in obj]
    fields = _fields(obj)
    if fields is not None:
        return to_plain(fields, preserve)
    return str(obj)


def get(obj: Any, *path: str, default: Any = None) -> Any:
    """Follows ``path`` through dicts (snake_case or camelCase keys) and attributes."""
    cur = obj
    for name in path:
        if cur is None:
            return default
        nxt = None
        for key in (name, camel(name)):
            if isinstance(cur, Mapping):
                if key in cur:
                    nxt = cur[key]
                    break
            elif hasattr(cur, key):
                nxt = getattr(cur, key)
                break
        cur = nxt
    return default if cur is None else cur


#: additionalParams extension key: a static inventory (path) used instead of Heat
#: discovery, for deployments without OpenStack.
INVENTORY_KEY = "vnf_mgmt_inventory"


@dataclass
class EngineOptions:
    """Engine settings of the Tacker drivers (constructor arguments of the v1 class)."""

    inventory: Optional[str] = None
    """Static inventory instead of Heat discovery (else ``additionalParams.vnf_mgmt_inventory``)."""
    os_cloud: Optional[str] = None
    """``clouds.yaml`` entry; default: ``OS_CLOUD``/``OS_*``, else the VIM's accessInfo."""
    known_hosts: Optional[str] = None
    trust_on_first_use: bool = False
    state_dir: Optional[str] = None
    events: Optional[Callable[[Dict[str, Any]], Any]] = None
    skip_pv_registration: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "EngineOptions":
        """Settings of the v2 script (Tacker starts it without arguments):
        ``VNF_MGMT_INVENTORY``, ``VNF_MGMT_OS_CLOUD``, ``VNF_MGMT_KNOWN_HOSTS``,
        ``VNF_MGMT_TRUST_ON_FIRST_USE=1``, ``VNF_MGMT_STATE_DIR``,
        ``VNF_MGMT_SKIP_PV_REGISTRATION=1``."""
        def flag(name: str) -> bool:
            return env.get(name, "").strip().lower() in ("1", "true", "yes")

        return cls(inventory=env.get("VNF_MGMT_INVENTORY") or None,
                   os_cloud=env.get("VNF_MGMT_OS_CLOUD") or None,
                   known_hosts=env.get("VNF_MGMT_KNOWN_HOSTS") or None,
                   trust_on_first_use=flag("VNF_MGMT_TRUST_ON_FIRST_USE"),
                   state_dir=env.get("VNF_MGMT_STATE_DIR") or None,
                   skip_pv_registration=flag("VNF_MGMT_SKIP_PV_REGISTRATION"))


@dataclass
class HookInput:
    """One hook call, normalised."""

    operation: str
    """Hook name, e.g. ``instantiate_end`` or ``scale_rollback_start``."""
    request: Dict[str, Any] = field(default_factory=dict)
    """The LCM request (SOL003 shape); empty when Tacker passes none."""
    vnf_instance: Dict[str, Any] = field(default_factory=dict)
    """The VNF instance (SOL003 shape)."""
    package: Optional[str] = None
    """Path of the extracted VNF package, when known."""
    grant: Optional[Dict[str, Any]] = None
    extra: Dict[str, Any] = field(default_factory=dict)
    """Hook keyword arguments (``scale_name_list``, ``scale_out_id_list``, …)."""
    engine: "EngineOptions" = field(default_factory=lambda: EngineOptions())
    """How the engine runs (topology source override, journal, host keys, events)."""

    @property
    def instance_id(self) -> Optional[str]:
        v = self.vnf_instance.get("id")
        return None if v is None else str(v)

    @property
    def additional_params(self) -> Dict[str, Any]:
        """The request's additionalParams, else those stored at instantiation."""
        p = self.request.get("additionalParams")
        if isinstance(p, dict) and p:
            return p
        stored = get(self.vnf_instance, "instantiatedVnfInfo", "additionalParams")
        return stored if isinstance(stored, dict) else {}

    @property
    def install_params(self) -> Dict[str, Any]:
        p = self.additional_params.get("k8s_cluster_installation_param")
        return p if isinstance(p, dict) else {}

    @property
    def vim_connection_info(self) -> List[Dict[str, Any]]:
        """The request's vimConnectionInfo, else the instance's (list form)."""
        for src in (self.request, self.vnf_instance):
            v = src.get("vimConnectionInfo")
            if isinstance(v, dict) and v:
                return [dict(x, id=k) if isinstance(x, dict) else {"id": k} for k, x in v.items()]
            if isinstance(v, list) and v:
                return [x for x in v if isinstance(x, dict)]
        return []

    @property
    def stack_id(self) -> Optional[str]:
        info = self.vnf_instance.get("instantiatedVnfInfo") or {}
        v = info.get("instanceId") or get(info, "metadata", "stack_id")
        return None if v is None else str(v)


def list_shapes(request: Dict[str, Any]) -> Dict[str, Any]:
    """The request with SOL003 v3 (Tacker v2) maps in the v2.6.1 list shapes the engine
    reads: ``vimConnectionInfo`` ``{id: info}`` becomes ``[info + {"id": id}]`` and
    ``extVirtualLinks[].extCps[].cpConfig`` ``{id: config}`` becomes ``[config]``.
    List-shaped (Tacker v1) requests are returned unchanged."""
    req = dict(request)
    vci = req.get("vimConnectionInfo")
    if isinstance(vci, dict):
        req["vimConnectionInfo"] = [dict(v, id=k) if isinstance(v, dict) else {"id": k}
                                    for k, v in vci.items()]
    links = req.get("extVirtualLinks")
    if isinstance(links, list):
        out = []
        for vl in links:
            cps = vl.get("extCps") if isinstance(vl, dict) else None
            if isinstance(cps, list):
                vl = dict(vl, extCps=[
                    dict(cp, cpConfig=list(cp["cpConfig"].values()))
                    if isinstance(cp, dict) and isinstance(cp.get("cpConfig"), dict) else cp
                    for cp in cps])
            out.append(vl)
        req["extVirtualLinks"] = out
    return req


def _invalid(code: str, message: str, pointer: Optional[str] = None) -> ValidationError:
    report = Report([Finding(code, "error", message, Location(pointer=pointer))])
    return ValidationError(message, report=report)


def validate_request(package: Optional[str], request: Dict[str, Any]) -> Report:
    """Validates the package and the request through :func:`vnf_mgmt.validate`.

    Raises :class:`ValidationError` on error findings, ``OSError`` when the package
    cannot be read.
    """
    from . import validate  # late: the package imports this module

    if not package:
        raise Error("the VNF package path is unknown (kwargs['vnf']['vnf_package_path'] "
                    "or tmp_csar_dir)", code="driver.input.unreadable")
    with tempfile.TemporaryDirectory(prefix="vnf-mgmt-") as tmp:
        # The name shows up in finding locations.
        path = os.path.join(tmp, "instantiate_vnf_request.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(request, f, indent=2, default=str)
        report = validate(package, path, verify_digests=False)
    if not report.ok:
        raise ValidationError(
            f"package {package} with the {request_kind(request)} is invalid "
            f"({len(report.errors)} error(s))", report=report)
    return report


def request_kind(request: Dict[str, Any]) -> str:
    return "instantiate request" if "flavourId" in request else "request"


def scale_type(inp: HookInput) -> str:
    return str(inp.request.get("type") or "").upper()


def heal_vdus(inp: HookInput) -> Dict[str, str]:
    """Maps each requested ``vnfcInstanceId`` to its VDU id (``vduId``)."""
    ids = inp.request.get("vnfcInstanceId") or []
    if not isinstance(ids, list):
        raise _invalid("request.heal.vnfc_instance_id", "vnfcInstanceId must be a list",
                       "/vnfcInstanceId")
    vnfcs = get(inp.vnf_instance, "instantiatedVnfInfo", "vnfcResourceInfo", default=[])
    by_id = {str(v.get("id")): v for v in vnfcs if isinstance(v, dict)}
    out: Dict[str, str] = {}
    for i, vid in enumerate(ids):
        vnfc = by_id.get(str(vid))
        if vnfc is None:
            raise _invalid("request.heal.unknown_vnfc",
                           f"heal request names VNFC instance {vid!r}, which is not in "
                           f"instantiatedVnfInfo.vnfcResourceInfo", f"/vnfcInstanceId/{i}")
        out[str(vid)] = str(vnfc.get("vduId"))
    return out


def rollback_note(op: str) -> str:
    """What a rollback hook leaves as it is, and why that is safe."""
    if op.startswith(("instantiate_", "heal_")):
        # instantiate_end/heal_* change the VNF's own VMs only (storage server setup,
        # NFS clients, the VNF's PVs): Tacker's instantiate rollback deletes those VMs;
        # a heal is finished by re-running it (the journal resumes it).
        return ("vnf-mgmt undoes nothing: its changes are on the VNF's own VMs and "
                "PersistentVolumes; re-run the operation to resume it from the journal")
    return "nothing to roll back: vnf-mgmt made no changes for this operation"


NO_OP = frozenset({
    "instantiate_start", "terminate_start",
    "change_external_connectivity_start", "change_external_connectivity_end",
    "modify_information_start", "modify_information_end",
})


def run_hook(inp: HookInput) -> Optional[Dict[str, Any]]:
    """Runs one hook. Returns a summary dict for the no-ops and rollbacks; raises otherwise."""
    op = inp.operation
    inp.request = list_shapes(inp.request)
    log.info("%s for VNF instance %s", op, inp.instance_id)
    if op in NO_OP:
        return None
    if "_rollback_" in op:
        return {"rollback": op, "note": rollback_note(op)}
    if op == "instantiate_end":
        if not inp.install_params:
            raise _invalid("request.additional_params.missing",
                           "instantiate request has no additionalParams."
                           "k8s_cluster_installation_param",
                           "/additionalParams/k8s_cluster_installation_param")
        validate_request(inp.package, inp.request)
        return _instantiate(inp)
    if op == "terminate_end":
        vim = inp.install_params.get("vim_name") or f"kubernetes_vim_{inp.instance_id}"
        raise NotImplementedOperation(f"terminate_end (deleting Kubernetes VIM {vim!r})")
    if op in ("scale_start", "scale_end"):
        kind = scale_type(inp)
        acting = "SCALE_IN" if op == "scale_start" else "SCALE_OUT"
        if kind != acting:
            return None  # Tacker's driver acts on SCALE_IN at start, SCALE_OUT at end.
        aspect = inp.request.get("aspectId")
        steps = inp.request.get("numberOfSteps", 1)
        if op == "scale_start":
            members = list(inp.extra.get("scale_name_list") or [])
            what = f"removing workers {members} of aspect {aspect!r} ({steps} step(s))"
        else:
            members = list(inp.extra.get("scale_out_id_list") or [])
            what = f"joining new workers {members} of aspect {aspect!r} ({steps} step(s))"
        raise NotImplementedOperation(f"{op} ({what})")
    if op in ("heal_start", "heal_end"):
        vdus = heal_vdus(inp)
        storage = storage_vnfcs(inp)
        if vdus and set(vdus) <= storage:
            return _heal_storage(inp, "start" if op == "heal_start" else "end")
        what = (f"VNFCs {vdus}" if vdus else "the entire cluster")
        raise NotImplementedOperation(f"{op} (healing {what})")
    raise NotImplementedOperation(op)


def storage_vnfcs(inp: HookInput) -> "set[str]":
    """Ids of the VNFCs Tacker classifies as the storage server: a ``vnfcCpInfo[].cpdId``
    equals ``storage_server.nic_cp_name``."""
    cp = get(inp.install_params, "storage_server", "nic_cp_name")
    if not cp:
        return set()
    vnfcs = get(inp.vnf_instance, "instantiatedVnfInfo", "vnfcResourceInfo", default=[])
    out = set()
    for v in vnfcs if isinstance(vnfcs, list) else []:
        cps = v.get("vnfcCpInfo") if isinstance(v, dict) else None
        if isinstance(cps, list) and any(isinstance(c, dict) and c.get("cpdId") == cp
                                         for c in cps):
            out.add(str(v.get("id")))
    return out


def _source(inp: HookInput) -> Dict[str, Any]:
    """Topology source keywords: the inventory override, else the Heat stack."""
    inv = inp.engine.inventory or inp.additional_params.get(INVENTORY_KEY)
    if inv:
        return {"inventory": str(inv)}
    if not inp.stack_id:
        raise DiscoveryError(
            "the VNF instance has no Heat stack id (instantiatedVnfInfo.instanceId) and no "
            f"static inventory is configured (additionalParams.{INVENTORY_KEY})",
            code="driver.discovery.request")
    access = next((v.get("accessInfo") for v in inp.vim_connection_info
                   if isinstance(v.get("accessInfo"), dict)), None)
    return {"stack": inp.stack_id, "os_cloud": inp.engine.os_cloud, "access_info": access}


def _engine_request(inp: HookInput) -> Dict[str, Any]:
    """The InstantiateVnfRequest the engine plans from.

    instantiate_end: the hook's request. Heal: the request instantiate_end saved (see
    :func:`saved_request_path`), else the file named by the stored
    ``additionalParams.vnf_mgmt_instantiate_request``, else one rebuilt from the instance
    (flavour, level, stored additionalParams, vimConnectionInfo).
    """
    if "flavourId" in inp.request:
        return dict(inp.request)
    saved = saved_request_path(inp)
    stored = inp.additional_params.get("vnf_mgmt_instantiate_request")
    for path in (saved, str(stored) if stored else None):
        if path and os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                loaded = json.load(f)
            if isinstance(loaded, dict):
                return loaded
    info = inp.vnf_instance.get("instantiatedVnfInfo") or {}
    req: Dict[str, Any] = {"flavourId": info.get("flavourId"),
                           "additionalParams": inp.additional_params}
    if info.get("instantiationLevelId"):
        req["instantiationLevelId"] = info["instantiationLevelId"]
    if inp.vim_connection_info:
        req["vimConnectionInfo"] = inp.vim_connection_info
    return req


def state_dir(inp: HookInput) -> str:
    """The engine's state directory (as the engine defaults it)."""
    if inp.engine.state_dir:
        return inp.engine.state_dir
    xdg = os.environ.get("XDG_STATE_HOME")
    if xdg:
        return os.path.join(xdg, "vnf-mgmt")
    home = os.environ.get("HOME")
    return os.path.join(home, ".local/state/vnf-mgmt") if home else ".vnf-mgmt-state"


def saved_request_path(inp: HookInput) -> Optional[str]:
    """``<state_dir>/requests/<vnf instance id>.json``: the InstantiateVnfRequest
    instantiate_end ran with, kept for heal (Tacker passes heal hooks no such request)."""
    if not inp.instance_id or not re.fullmatch(r"[A-Za-z0-9._-]+", inp.instance_id) \
            or inp.instance_id.startswith("."):
        return None
    return os.path.join(state_dir(inp), "requests", f"{inp.instance_id}.json")


def _save_request(inp: HookInput, request: Dict[str, Any]) -> None:
    path = saved_request_path(inp)
    if path is None:
        return
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(request, f, indent=2, default=str)
    os.replace(tmp, path)


def _options(inp: HookInput) -> Dict[str, Any]:
    e = inp.engine
    return {"known_hosts": e.known_hosts, "trust_on_first_use": e.trust_on_first_use,
            "state_dir": e.state_dir, "events": e.events}


def _instantiate(inp: HookInput) -> Dict[str, Any]:
    """instantiate_end: the storage server, NFS clients and PVs through the engine."""
    from ._ops import instantiate  # late: the package imports this module

    if not inp.instance_id:
        raise _invalid("request.vnf_instance.id", "the VNF instance has no id", "/id")
    request = _engine_request(inp)
    _save_request(inp, request)
    s = instantiate(str(inp.package), request, vnf_instance_id=inp.instance_id,
                    skip_pv_registration=inp.engine.skip_pv_registration, **_source(inp),
                    **_options(inp))
    log.info("%s: %d step(s) run, %d skipped", s.operation, s.executed, s.skipped)
    return {"operation": s.operation, "executed": s.executed, "skipped": s.skipped}


def _heal_storage(inp: HookInput, phase: str) -> Dict[str, Any]:
    """heal_start/heal_end of the storage server VNFC through the engine."""
    from ._ops import heal_storage_server

    if not inp.package:
        raise Error("the VNF package path is unknown (kwargs['vnf']['vnf_package_path'])",
                    code="driver.input.unreadable")
    if not inp.instance_id:
        raise _invalid("request.vnf_instance.id", "the VNF instance has no id", "/id")
    s = heal_storage_server(str(inp.package), _engine_request(inp), phase=phase,
                            vnf_instance_id=inp.instance_id, **_source(inp), **_options(inp))
    log.info("%s: %d step(s) run, %d skipped", s.operation, s.executed, s.skipped)
    return {"operation": s.operation, "executed": s.executed, "skipped": s.skipped}
