"""Tacker v1 management driver: ``vnf_mgmt.tacker.KubernetesMgmtDriver``.

Register it under the stevedore namespace ``tacker.tacker.mgmt.drivers`` as
``mgmt-drivers-kubernetes`` (the wheel declares that entry point) and list it in
``[tacker] vnflcm_mgmt_driver``. When Tacker is importable the class subclasses
``VnflcmMgmtAbstractDriver``; without Tacker it works on dicts and duck-typed objects.

Hooks follow Tacker's sample Kubernetes driver (topology from the Heat stack
``instantiated_vnf_info.instance_id`` with the VIM's access info, or a static inventory):

- ``instantiate_end`` installs the cluster (kubeadm, or k3s), sets up the storage server,
  NFS clients and PersistentVolumes, and appends the cluster as a Kubernetes
  ``VimConnectionInfo`` (``vim_type='kubernetes'``, ``access_info`` ``auth_url``,
  ``bearer_token``, ``ssl_ca_cert``) to ``vnf_instance.vim_connection_info``, then calls
  ``vnf_instance.save()``;
- ``scale_start`` (SCALE_IN) drains and deletes the removed workers; ``scale_end`` joins
  the new workers (and rewrites every node's ``/etc/hosts`` block);
- ``heal_start``/``heal_end``: the storage server, masters/workers (by server id), or the
  entire VNF (no ``vnfc_instance_id``: the VIM entry goes at start, comes back at end);
- ``terminate_start`` revokes the exported access (optionally drains the workers first);
  ``terminate_end`` removes the Kubernetes VIM entry;
- ``instantiate_start``, ``change_external_connectivity_*``, ``modify_information_*`` are
  no-ops.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, Optional

from . import _lcm

try:  # pragma: no cover - depends on the environment
    from tacker.vnfm.mgmt_drivers.vnflcm_abstract_driver import (  # type: ignore
        VnflcmMgmtAbstractDriver as _Base,
    )
except Exception:  # ImportError, or Tacker failing to import without its config
    _Base = object  # type: ignore[misc,assignment,unused-ignore]

__all__ = ["KubernetesMgmtDriver", "DRIVER_TYPE", "register_vim", "deregister_vim",
           "vim_connection_info_entry"]

#: The driver key: entry-point name, ``get_type()`` and the VNFD artifact name.
DRIVER_TYPE = "mgmt-drivers-kubernetes"


def _package_path(context: Any, vnf_instance: Any, kwargs: Dict[str, Any]) -> Optional[str]:
    """The extracted package: ``kwargs['vnf']['vnf_package_path']``, else Tacker's lookup."""
    path = _lcm.get(kwargs.get("vnf"), "vnf_package_path")
    if path:
        return str(path)
    try:  # pragma: no cover - needs Tacker
        from tacker.vnflcm import utils as vnflcm_utils  # type: ignore

        return str(vnflcm_utils._get_vnf_package_path(context, _lcm.get(vnf_instance, "vnfd_id")))
    except Exception:
        return None


def _vim_entries(vnf_instance: Any) -> List[Any]:
    cur = _lcm.get(vnf_instance, "vim_connection_info")
    return list(cur) if isinstance(cur, (list, tuple)) else []


def _entry_id(entry: Any) -> Optional[str]:
    v = entry.get("id") if isinstance(entry, dict) else getattr(entry, "id", None)
    return None if v is None else str(v)


def _ours(entry: Any) -> bool:
    """An entry vnf-mgmt added (``extra.managed_by``)."""
    extra = entry.get("extra") if isinstance(entry, dict) else getattr(entry, "extra", None)
    return isinstance(extra, dict) and extra.get("managed_by") == "vnf-mgmt"


def _set_vims(vnf_instance: Any, entries: List[Any]) -> None:
    """Assigns the list (an oslo object records the field as changed), then saves."""
    if isinstance(vnf_instance, dict):
        vnf_instance["vim_connection_info"] = entries
    else:
        setattr(vnf_instance, "vim_connection_info", entries)
    save = getattr(vnf_instance, "save", None)
    if callable(save):
        save()


def vim_connection_info_entry(vim_id: str, vim_name: str, access: Any) -> Any:
    """The Kubernetes VIM entry: Tacker's ``objects.VimConnectionInfo`` when Tacker is
    importable, else a dict with the same fields (``id``, ``vim_id``,
    ``vim_type='kubernetes'``, ``access_info`` {``auth_url``, ``bearer_token``,
    ``ssl_ca_cert``}, ``interface_info`` {``endpoint``, ``ssl_ca_cert``}, ``extra``)."""
    d = access.vim_connection_info(vim_id)
    d["extra"] = {"vim_name": vim_name, "managed_by": "vnf-mgmt"}
    try:  # pragma: no cover - depends on the environment
        from tacker.objects.vim_connection import VimConnectionInfo  # type: ignore
    except Exception:
        return d
    return VimConnectionInfo(id=d["id"], vim_id=d["vim_id"], vim_type=d["vim_type"],
                             access_info=d["access_info"], interface_info=d["interface_info"],
                             extra=d["extra"])


def register_vim(vnf_instance: Any, vim_id: str, vim_name: str, access: Any) -> None:
    """Appends (or replaces, on a retried hook) the Kubernetes VIM entry ``vim_id`` after
    the instance's other entries — Tacker's hooks use element [0], the OpenStack VIM —
    and calls ``save()`` when the instance has it."""
    entries = [e for e in _vim_entries(vnf_instance) if _entry_id(e) != vim_id]
    entries.append(vim_connection_info_entry(vim_id, vim_name, access))
    _set_vims(vnf_instance, entries)


def deregister_vim(vnf_instance: Any, vim_id: str) -> None:
    """Removes the Kubernetes VIM entry ``vim_id`` — and any other entry vnf-mgmt added
    (``extra.managed_by``, e.g. under another ``vim_name``) — saving only when one was
    there."""
    entries = _vim_entries(vnf_instance)
    kept = [e for e in entries if _entry_id(e) != vim_id and not _ours(e)]
    if len(kept) != len(entries):
        _set_vims(vnf_instance, kept)


class KubernetesMgmtDriver(_Base):  # type: ignore[misc,valid-type,unused-ignore]
    """Tacker v1 ``VnflcmMgmtAbstractDriver`` backed by vnf-mgmt.

    Keyword arguments configure the engine (Tacker constructs the driver without any, so
    all are optional): ``inventory`` — a static inventory used instead of Heat discovery
    (also ``additionalParams.vnf_mgmt_inventory``); ``os_cloud``; ``known_hosts`` and
    ``trust_on_first_use`` for hosts without console-pinned keys; ``state_dir`` (journal);
    ``events`` (callable receiving each engine event as a dict); ``skip_pv_registration``;
    ``install_cluster`` (default True); ``runtime`` (``kubeadm``/``k3s``; the request's
    ``additionalParams.vnf_mgmt_runtime`` overrides it); ``drain_on_terminate``;
    ``kube_timeout`` (seconds of each Kubernetes step); ``cni`` and ``cni_manifest`` (the
    pod network of a kubeadm install).
    A setting not given falls back to the environment: ``VNF_MGMT_INVENTORY``,
    ``VNF_MGMT_OS_CLOUD``, ``VNF_MGMT_KNOWN_HOSTS``, ``VNF_MGMT_TRUST_ON_FIRST_USE=1``,
    ``VNF_MGMT_STATE_DIR``, ``VNF_MGMT_SKIP_PV_REGISTRATION=1``,
    ``VNF_MGMT_INSTALL_CLUSTER=0``, ``VNF_MGMT_RUNTIME``, ``VNF_MGMT_DRAIN_ON_TERMINATE=1``,
    ``VNF_MGMT_KUBE_TIMEOUT``, ``VNF_MGMT_CNI``, ``VNF_MGMT_CNI_MANIFEST``.
    """

    def __init__(self, *, inventory: Optional[str] = None, os_cloud: Optional[str] = None,
                 known_hosts: Optional[str] = None, trust_on_first_use: Optional[bool] = None,
                 state_dir: Optional[str] = None,
                 events: Optional[Callable[[Dict[str, Any]], Any]] = None,
                 skip_pv_registration: Optional[bool] = None,
                 install_cluster: Optional[bool] = None, runtime: Optional[str] = None,
                 drain_on_terminate: Optional[bool] = None,
                 kube_timeout: Optional[int] = None, cni: Optional[str] = None,
                 cni_manifest: Optional[str] = None) -> None:
        super().__init__()
        # Tacker constructs the driver without arguments (stevedore ``invoke_on_load``):
        # settings not given here come from tacker-conductor's environment, the same
        # ``VNF_MGMT_*`` variables as the v2 script.
        env = _lcm.EngineOptions.from_env(os.environ)
        self.engine = _lcm.EngineOptions(
            inventory=inventory if inventory is not None else env.inventory,
            os_cloud=os_cloud if os_cloud is not None else env.os_cloud,
            known_hosts=known_hosts if known_hosts is not None else env.known_hosts,
            trust_on_first_use=(trust_on_first_use if trust_on_first_use is not None
                                else env.trust_on_first_use),
            state_dir=state_dir if state_dir is not None else env.state_dir,
            events=events,
            skip_pv_registration=(skip_pv_registration if skip_pv_registration is not None
                                  else env.skip_pv_registration),
            install_cluster=install_cluster if install_cluster is not None
            else env.install_cluster,
            runtime=runtime if runtime is not None else env.runtime,
            drain_on_terminate=(drain_on_terminate if drain_on_terminate is not None
                                else env.drain_on_terminate),
            kube_timeout=kube_timeout if kube_timeout is not None else env.kube_timeout,
            cni=cni if cni is not None else env.cni,
            cni_manifest=cni_manifest if cni_manifest is not None else env.cni_manifest)
        if self.engine.runtime not in ("kubeadm", "k3s"):
            raise ValueError(f"runtime must be 'kubeadm' or 'k3s', not {self.engine.runtime!r}")

    def get_type(self) -> str:
        return DRIVER_TYPE

    def get_name(self) -> str:
        return DRIVER_TYPE

    def get_description(self) -> str:
        return "Tacker Kubernetes VNFMgmt Driver (vnf-mgmt)"

    def _hook(self, operation: str, context: Any, vnf_instance: Any, request: Any,
              grant: Any, kwargs: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        inp = _lcm.HookInput(
            operation=operation,
            request=_lcm.to_plain(request) or {},
            vnf_instance=_lcm.to_plain(vnf_instance) or {},
            package=_package_path(context, vnf_instance, kwargs),
            grant=_lcm.to_plain(grant),
            extra={k: v for k, v in kwargs.items() if k != "vnf"},
            engine=getattr(self, "engine", None) or _lcm.EngineOptions(),
        )
        result = _lcm.run_hook(inp)
        if result.access is not None:
            register_vim(vnf_instance, inp.vim_id, inp.vim_name, result.access)
        elif result.remove_vim:
            deregister_vim(vnf_instance, inp.vim_id)
        return None

    def instantiate_start(self, context: Any, vnf_instance: Any, instantiate_vnf_request: Any,
                          grant: Any, grant_request: Any, **kwargs: Any) -> None:
        self._hook("instantiate_start", context, vnf_instance, instantiate_vnf_request, grant,
                   kwargs)

    def instantiate_end(self, context: Any, vnf_instance: Any, instantiate_vnf_request: Any,
                        grant: Any, grant_request: Any, **kwargs: Any) -> None:
        self._hook("instantiate_end", context, vnf_instance, instantiate_vnf_request, grant,
                   kwargs)

    def terminate_start(self, context: Any, vnf_instance: Any, terminate_vnf_request: Any,
                        grant: Any, grant_request: Any, **kwargs: Any) -> None:
        self._hook("terminate_start", context, vnf_instance, terminate_vnf_request, grant,
                   kwargs)

    def terminate_end(self, context: Any, vnf_instance: Any, terminate_vnf_request: Any,
                      grant: Any, grant_request: Any, **kwargs: Any) -> None:
        self._hook("terminate_end", context, vnf_instance, terminate_vnf_request, grant, kwargs)

    def scale_start(self, context: Any, vnf_instance: Any, scale_vnf_request: Any,
                    grant: Any, grant_request: Any, **kwargs: Any) -> None:
        self._hook("scale_start", context, vnf_instance, scale_vnf_request, grant, kwargs)

    def scale_end(self, context: Any, vnf_instance: Any, scale_vnf_request: Any,
                  grant: Any, grant_request: Any, **kwargs: Any) -> None:
        self._hook("scale_end", context, vnf_instance, scale_vnf_request, grant, kwargs)

    def heal_start(self, context: Any, vnf_instance: Any, heal_vnf_request: Any,
                   grant: Any, grant_request: Any, **kwargs: Any) -> None:
        self._hook("heal_start", context, vnf_instance, heal_vnf_request, grant, kwargs)

    def heal_end(self, context: Any, vnf_instance: Any, heal_vnf_request: Any,
                 grant: Any, grant_request: Any, **kwargs: Any) -> None:
        self._hook("heal_end", context, vnf_instance, heal_vnf_request, grant, kwargs)

    def change_external_connectivity_start(self, context: Any, vnf_instance: Any,
                                           change_ext_conn_request: Any, grant: Any,
                                           grant_request: Any, **kwargs: Any) -> None:
        self._hook("change_external_connectivity_start", context, vnf_instance,
                   change_ext_conn_request, grant, kwargs)

    def change_external_connectivity_end(self, context: Any, vnf_instance: Any,
                                         change_ext_conn_request: Any, grant: Any,
                                         grant_request: Any, **kwargs: Any) -> None:
        self._hook("change_external_connectivity_end", context, vnf_instance,
                   change_ext_conn_request, grant, kwargs)

    def modify_information_start(self, context: Any, vnf_instance: Any,
                                 modify_vnf_request: Any, **kwargs: Any) -> None:
        self._hook("modify_information_start", context, vnf_instance, modify_vnf_request, None,
                   kwargs)

    def modify_information_end(self, context: Any, vnf_instance: Any,
                               modify_vnf_request: Any, **kwargs: Any) -> None:
        self._hook("modify_information_end", context, vnf_instance, modify_vnf_request, None,
                   kwargs)
