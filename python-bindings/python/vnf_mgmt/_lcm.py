"""The LCM hook logic shared by the Tacker v1 driver and the v2 script.

Inputs are normalised to plain SOL003-shaped data (camelCase keys, JSON values) first,
so the same code serves Tacker's v1 objects, v2 dicts and duck-typed test objects.
Every hook of Tacker's sample driver runs through the engine: instantiate_end (cluster
install, storage server, PVs, exported access), scale_start/scale_end, heal_start/heal_end
(storage server, cluster nodes, entire), terminate_start (revoke, optional drain) and
terminate_end (the Kubernetes VIM entry removed). A hook returns a :class:`HookResult`;
the Tacker layers apply its VIM change to their own instance shapes.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import uuid
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
#: additionalParams extension key: the cluster runtime (``kubeadm`` or ``k3s``).
RUNTIME_KEY = "vnf_mgmt_runtime"


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
    install_cluster: bool = True
    """instantiate_end installs the Kubernetes cluster (off: it must already run;
    terminate_start then does nothing)."""
    runtime: str = "kubeadm"
    """``kubeadm`` or ``k3s`` (``additionalParams.vnf_mgmt_runtime`` overrides it)."""
    drain_on_terminate: bool = False
    """terminate_start drains the workers before revoking the access."""
    kube_timeout: int = 150
    """Seconds of each Kubernetes step (a drain waits that long for the budgets)."""
    cni: Optional[str] = None
    """Pod network of a kubeadm install: ``calico`` (default), ``flannel``, ``cilium``."""
    cni_manifest: Optional[str] = None
    """Where its manifest comes from (``https://…``/``file://…``; default: upstream)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "EngineOptions":
        """Settings of the v2 script (Tacker starts it without arguments):
        ``VNF_MGMT_INVENTORY``, ``VNF_MGMT_OS_CLOUD``, ``VNF_MGMT_KNOWN_HOSTS``,
        ``VNF_MGMT_TRUST_ON_FIRST_USE=1``, ``VNF_MGMT_STATE_DIR``,
        ``VNF_MGMT_SKIP_PV_REGISTRATION=1``, ``VNF_MGMT_INSTALL_CLUSTER=0``,
        ``VNF_MGMT_RUNTIME=k3s``, ``VNF_MGMT_DRAIN_ON_TERMINATE=1``,
        ``VNF_MGMT_KUBE_TIMEOUT=<seconds>``, ``VNF_MGMT_CNI``, ``VNF_MGMT_CNI_MANIFEST``.
        Invalid values raise ``ValueError`` naming
        the variable (:class:`~vnf_mgmt.ValidationError`, also a ``ValueError``)."""
        def flag(name: str, default: bool = False) -> bool:
            v = env.get(name, "").strip().lower()
            if not v:
                return default
            if v in ("1", "true", "yes"):
                return True
            if v in ("0", "false", "no"):
                return False
            raise ValidationError(f"{name}={env[name]!r}: expected 1/true/yes or 0/false/no")

        runtime = env.get("VNF_MGMT_RUNTIME", "").strip() or "kubeadm"
        if runtime not in ("kubeadm", "k3s"):
            raise ValidationError(f"VNF_MGMT_RUNTIME={runtime!r}: expected kubeadm or k3s")
        cni = env.get("VNF_MGMT_CNI", "").strip() or None
        if cni not in (None, "calico", "flannel", "cilium"):
            raise ValidationError(f"VNF_MGMT_CNI={cni!r}: expected calico, flannel or cilium")
        timeout = env.get("VNF_MGMT_KUBE_TIMEOUT", "").strip() or "150"
        if not timeout.isdigit() or int(timeout) < 1:
            raise ValidationError(f"VNF_MGMT_KUBE_TIMEOUT={timeout!r}: expected seconds (>= 1)")
        return cls(inventory=env.get("VNF_MGMT_INVENTORY") or None,
                   os_cloud=env.get("VNF_MGMT_OS_CLOUD") or None,
                   known_hosts=env.get("VNF_MGMT_KNOWN_HOSTS") or None,
                   trust_on_first_use=flag("VNF_MGMT_TRUST_ON_FIRST_USE"),
                   state_dir=env.get("VNF_MGMT_STATE_DIR") or None,
                   skip_pv_registration=flag("VNF_MGMT_SKIP_PV_REGISTRATION"),
                   install_cluster=flag("VNF_MGMT_INSTALL_CLUSTER", True),
                   runtime=runtime,
                   drain_on_terminate=flag("VNF_MGMT_DRAIN_ON_TERMINATE"),
                   kube_timeout=int(timeout), cni=cni,
                   cni_manifest=env.get("VNF_MGMT_CNI_MANIFEST", "").strip() or None)


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
    grant_request: Optional[Dict[str, Any]] = None
    """The grant request (v2: ``removeResources`` names the servers a scale-in removes)."""
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
    def runtime(self) -> str:
        """``additionalParams.vnf_mgmt_runtime``, else the engine setting."""
        v = self.additional_params.get(RUNTIME_KEY)
        if v is None:
            return self.engine.runtime
        if v not in ("kubeadm", "k3s"):
            raise _invalid("request.additional_params.runtime",
                           f"additionalParams.{RUNTIME_KEY} must be 'kubeadm' or 'k3s', "
                           f"not {v!r}", f"/additionalParams/{RUNTIME_KEY}")
        return str(v)

    @property
    def vim_name(self) -> str:
        """``k8s_cluster_installation_param.vim_name``, else ``kubernetes_vim_<id>``."""
        params = self.install_params
        if not params and "flavourId" not in self.request:
            # Later hooks (terminate_end, v2) carry no additionalParams: the saved request.
            saved = _engine_request(self).get("additionalParams")
            params = get(saved, "k8s_cluster_installation_param", default={})
        name = params.get("vim_name") if isinstance(params, dict) else None
        return str(name or f"kubernetes_vim_{self.instance_id}")

    @property
    def vim_id(self) -> str:
        """Id of the Kubernetes VIM entry instantiate_end adds: a UUID derived from the
        instance id and VIM name, so a retried hook replaces its own entry."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL,
                              f"vnf-mgmt:kubernetes-vim:{self.instance_id}:{self.vim_name}"))

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


@dataclass
class HookResult:
    """What a hook did, for the Tacker layers."""

    summary: Optional[Dict[str, Any]] = None
    """Plain data without secrets (operation, steps run/skipped, targets), or None for a
    no-op."""
    access: Optional[Any] = None
    """The :class:`~vnf_mgmt.ClusterAccess` exported by this run: the caller registers
    it as the instance's Kubernetes VIM (id :attr:`HookInput.vim_id`)."""
    remove_vim: bool = False
    """The caller removes the Kubernetes VIM entry instantiate_end added."""


def _vnfcs(inp: HookInput) -> List[Dict[str, Any]]:
    v = get(inp.vnf_instance, "instantiatedVnfInfo", "vnfcResourceInfo", default=[])
    return [x for x in v if isinstance(x, dict)] if isinstance(v, list) else []


def heal_vnfcs(inp: HookInput) -> Dict[str, Dict[str, Any]]:
    """Maps each requested ``vnfcInstanceId`` to its ``vnfcResourceInfo`` entry: by id,
    or (Tacker v2, SOL003 v3) through ``vnfcInfo[].vnfcResourceInfoId``."""
    ids = inp.request.get("vnfcInstanceId") or []
    if not isinstance(ids, list):
        raise _invalid("request.heal.vnfc_instance_id", "vnfcInstanceId must be a list",
                       "/vnfcInstanceId")
    by_id = {str(v.get("id")): v for v in _vnfcs(inp)}
    infos = get(inp.vnf_instance, "instantiatedVnfInfo", "vnfcInfo", default=[])
    via_info = {str(i.get("id")): str(i.get("vnfcResourceInfoId"))
                for i in (infos if isinstance(infos, list) else [])
                if isinstance(i, dict) and i.get("vnfcResourceInfoId") is not None}
    out: Dict[str, Dict[str, Any]] = {}
    for i, vid in enumerate(ids):
        vnfc = by_id.get(str(vid)) or by_id.get(via_info.get(str(vid), ""))
        if vnfc is None:
            raise _invalid("request.heal.unknown_vnfc",
                           f"heal request names VNFC instance {vid!r}, which is not in "
                           f"instantiatedVnfInfo.vnfcResourceInfo", f"/vnfcInstanceId/{i}")
        out[str(vid)] = vnfc
    return out


def heal_vdus(inp: HookInput) -> Dict[str, str]:
    """Maps each requested ``vnfcInstanceId`` to its VDU id (``vduId``)."""
    return {k: str(v.get("vduId")) for k, v in heal_vnfcs(inp).items()}


def _server_id(vnfc: Dict[str, Any]) -> Optional[str]:
    rid = get(vnfc, "computeResource", "resourceId")
    return None if rid in (None, "") else str(rid)


def heal_targets(inp: HookInput) -> List[str]:
    """The engine targets of a heal: ``["entire"]`` without ``vnfcInstanceId``; else per
    VNFC ``storage_server`` (Tacker's classification, see :func:`storage_vnfcs`) or the
    server id (``computeResource.resourceId``) of a master/worker."""
    vnfcs = heal_vnfcs(inp)
    if not vnfcs:
        return ["entire"]
    storage = storage_vnfcs(inp)
    out: List[str] = []
    for i, (vid, vnfc) in enumerate(vnfcs.items()):
        if str(vnfc.get("id")) in storage:
            t = "storage_server"
        else:
            sid = _server_id(vnfc)
            if sid is None:
                raise _invalid("request.heal.no_resource_id",
                               f"VNFC instance {vid!r} has no computeResource.resourceId "
                               f"(the server to heal)", f"/vnfcInstanceId/{i}")
            t = sid
        if t not in out:
            out.append(t)
    return out


def scale_in_targets(inp: HookInput) -> List[str]:
    """The workers a scale-in removes, as engine targets.

    Tacker v2: the COMPUTE entries of the grant request's ``removeResources`` (server
    ids). Tacker v1: ``kwargs['scale_out_id_list']`` holds the removed members' nested
    stack ids — the VNFCs whose ``metadata.stack_id`` is one of them give their server
    ids; members without such a VNFC are named by ``kwargs['scale_name_list']`` (ASG
    member resource names, also matched as topology or Kubernetes node names).
    """
    removes = (inp.grant_request or {}).get("removeResources")
    if isinstance(removes, list) and removes:
        ids = [str(get(r, "resource", "resourceId")) for r in removes
               if isinstance(r, dict) and r.get("type") == "COMPUTE"
               and get(r, "resource", "resourceId")]
        if ids:
            return list(dict.fromkeys(ids))
    stacks = [str(x) for x in inp.extra.get("scale_out_id_list") or []]
    names = [str(x) for x in inp.extra.get("scale_name_list") or []]
    out: List[str] = []
    matched = 0
    for st in stacks:
        found = [sid for v in _vnfcs(inp)
                 if str(get(v, "metadata", "stack_id") or "") == st
                 for sid in [_server_id(v)] if sid]
        if found:
            matched += 1
        out.extend(found)
    if matched < max(len(stacks), len(names)):
        # Some member is not known by its stack id: name them all (the engine resolves
        # names, server ids and Kubernetes node names; duplicates are harmless).
        out.extend(names)
    return list(dict.fromkeys(out))


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
    "instantiate_start",
    "change_external_connectivity_start", "change_external_connectivity_end",
    "modify_information_start", "modify_information_end",
})


def run_hook(inp: HookInput) -> HookResult:
    """Runs one hook; raises :class:`~vnf_mgmt.Error` subclasses (with ``.code``) on
    failure."""
    op = inp.operation
    inp.request = list_shapes(inp.request)
    log.info("%s for VNF instance %s", op, inp.instance_id)
    if op in NO_OP:
        return HookResult()
    if "_rollback_" in op:
        return HookResult({"rollback": op, "note": rollback_note(op)})
    if op == "instantiate_end":
        if not inp.install_params:
            raise _invalid("request.additional_params.missing",
                           "instantiate request has no additionalParams."
                           "k8s_cluster_installation_param",
                           "/additionalParams/k8s_cluster_installation_param")
        validate_request(inp.package, inp.request)
        return _instantiate(inp)
    if op == "terminate_start":
        if not inp.engine.install_cluster:
            return HookResult()  # vnf-mgmt exported no access to revoke.
        return _engine(inp, "terminate_start", drain=inp.engine.drain_on_terminate)
    if op == "terminate_end":
        # The VMs went with the stack; the Kubernetes VIM entry goes with them.
        return HookResult({"operation": "terminate_end", "vim_name": inp.vim_name,
                           "vim_id": inp.vim_id}, remove_vim=True)
    if op in ("scale_start", "scale_end"):
        kind = scale_type(inp)
        if op == "scale_start":
            if kind != "SCALE_IN":
                return HookResult()  # A scale-out has nothing to do before Heat acts.
            targets = scale_in_targets(inp)
            if not targets:
                raise _invalid("request.scale.no_targets",
                               "scale-in of aspect "
                               f"{inp.request.get('aspectId')!r}: no worker to remove "
                               "(neither scale_name_list/scale_out_id_list nor the grant's "
                               "removeResources name one)", "/aspectId")
            return _engine(inp, "scale_start", targets=targets)
        # scale_end on the topology after Heat's change: new workers join (SCALE_OUT), the
        # survivors' /etc/hosts blocks are rewritten (both directions).
        if kind not in ("SCALE_IN", "SCALE_OUT"):
            return HookResult()
        r = _engine(inp, "scale_end")
        if r.summary is not None and kind == "SCALE_OUT":
            r.summary["new_members"] = [str(x) for x in inp.extra.get("scale_out_id_list")
                                        or []]
        return r
    if op in ("heal_start", "heal_end"):
        targets = heal_targets(inp)
        phase = "start" if op == "heal_start" else "end"
        r = _engine(inp, f"heal_{phase}", targets=targets)
        if targets == ["entire"]:
            # The stack is rebuilt: the old access goes (heal_start); heal_end installs
            # the cluster again and registers the new access.
            r.remove_vim = phase == "start"
        return r
    raise NotImplementedOperation(op)


def storage_vnfcs(inp: HookInput) -> "set[str]":
    """Ids of the VNFCs Tacker classifies as the storage server: a ``vnfcCpInfo[].cpdId``
    equals ``storage_server.nic_cp_name``."""
    params = inp.install_params
    if not params:
        # Tacker v2 keeps no additionalParams on the instance: the saved request has them.
        saved = _engine_request(inp).get("additionalParams")
        params = get(saved, "k8s_cluster_installation_param", default={})
    cp = get(params, "storage_server", "nic_cp_name")
    if not cp:
        return set()
    out = set()
    for v in _vnfcs(inp):
        cps = v.get("vnfcCpInfo")
        if isinstance(cps, list) and any(isinstance(c, dict) and c.get("cpdId") == cp
                                         for c in cps):
            out.add(str(v.get("id")))
    return out


def _source(inp: HookInput) -> Dict[str, Any]:
    """Topology source keywords: the inventory override (constructor/environment, the
    request's or the stored ``additionalParams.vnf_mgmt_inventory``, else the one of the
    request instantiate_end saved), else the Heat stack with the first non-Kubernetes
    VIM's access info."""
    inv = inp.engine.inventory or inp.additional_params.get(INVENTORY_KEY)
    if not inv and "flavourId" not in inp.request:
        saved = _engine_request(inp).get("additionalParams")
        inv = saved.get(INVENTORY_KEY) if isinstance(saved, dict) else None
    if inv:
        return {"inventory": str(inv)}
    if not inp.stack_id:
        raise DiscoveryError(
            "the VNF instance has no Heat stack id (instantiatedVnfInfo.instanceId) and no "
            f"static inventory is configured (additionalParams.{INVENTORY_KEY})",
            code="driver.discovery.request")
    access = next((v.get("accessInfo") for v in inp.vim_connection_info
                   if isinstance(v.get("accessInfo"), dict) and not is_kubernetes_vim(v)),
                  None)
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
    # The OpenStack VIM(s) only: the Kubernetes entry instantiate_end added carries the
    # cluster token and is not the engine's business.
    vims = [v for v in inp.vim_connection_info if not is_kubernetes_vim(v)]
    if vims:
        req["vimConnectionInfo"] = vims
    return req


def is_kubernetes_vim(vim: Dict[str, Any]) -> bool:
    """A Kubernetes/Helm VIM entry (v1 ``vim_type``, v2 ``vimType``), in SOL003 shape."""
    kind = str(vim.get("vimType") or "").upper()
    return "KUBERNETES" in kind or "HELM" in kind


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


def _options(inp: HookInput) -> Dict[str, Any]:
    e = inp.engine
    return {"known_hosts": e.known_hosts, "trust_on_first_use": e.trust_on_first_use,
            "state_dir": e.state_dir, "events": e.events, "kube_timeout": e.kube_timeout,
            "cni": e.cni, "cni_manifest": e.cni_manifest}


def _summary(s: Any, targets: Optional[List[str]] = None) -> Dict[str, Any]:
    log.info("%s: %d step(s) run, %d skipped", s.operation, s.executed, s.skipped)
    d: Dict[str, Any] = {"operation": s.operation, "executed": s.executed,
                         "skipped": s.skipped}
    if targets:
        d["targets"] = list(targets)
    return d


def _instantiate(inp: HookInput) -> HookResult:
    """instantiate_end: cluster install (unless disabled), storage server, NFS clients,
    PVs, exported access through the engine."""
    from ._ops import run  # late: the package imports this module

    if not inp.instance_id:
        raise _invalid("request.vnf_instance.id", "the VNF instance has no id", "/id")
    request = _engine_request(inp)
    runtime = inp.runtime
    _save_request(inp, request)
    s = run("instantiate", str(inp.package), request, vnf_instance_id=inp.instance_id,
            install_cluster=inp.engine.install_cluster, runtime=runtime,
            register_pvs=not inp.engine.skip_pv_registration, **_source(inp),
            **_options(inp))
    return _result(inp, s)


def _result(inp: HookInput, s: Any, targets: Optional[List[str]] = None) -> HookResult:
    d = _summary(s, targets)
    if s.access is not None:
        d["kubernetes_vim"] = {"vim_name": inp.vim_name, "vim_id": inp.vim_id,
                               "endpoint": s.access.endpoint}
    return HookResult(d, access=s.access)


def _engine(inp: HookInput, operation: str, targets: Optional[List[str]] = None,
            drain: bool = False) -> HookResult:
    """One engine operation on the instance's topology with the request instantiate_end
    ran with (see :func:`_engine_request`)."""
    from ._ops import run

    if not inp.package:
        raise Error("the VNF package path is unknown (kwargs['vnf']['vnf_package_path'] "
                    "or tmp_csar_dir)", code="driver.input.unreadable")
    if not inp.instance_id:
        raise _invalid("request.vnf_instance.id", "the VNF instance has no id", "/id")
    request = _engine_request(inp)
    probe = HookInput(operation=inp.operation, request=request, engine=inp.engine)
    if not inp.engine.install_cluster and operation != "terminate_start" \
            and targets != ["storage_server"]:
        raise Error(f"{inp.operation} of {targets or 'the workers'}: the Kubernetes cluster "
                    "is not installed by vnf-mgmt (install_cluster is off, "
                    "VNF_MGMT_INSTALL_CLUSTER=0), so its nodes are not managed here; only "
                    "the storage server can be healed", code="driver.input.invalid")
    s = run(operation, str(inp.package), request, vnf_instance_id=inp.instance_id,
            targets=targets, runtime=probe.runtime, drain=drain, **_source(inp),
            **_options(inp))
    return _result(inp, s, targets)
