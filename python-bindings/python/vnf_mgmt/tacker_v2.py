"""Tacker v2 management-driver script: ``python -m vnf_mgmt.tacker_v2``.

Speaks the conductor's protocol (``tacker/sol_refactored/conductor/vnflcm_driver_v2.py``):
a pickled dict on stdin with ``operation``, ``request``, ``vnf_instance``,
``grant_request``, ``grant_response``, ``tmp_csar_dir`` and
``user_script_err_handling_data``; on success a pickled dict on stdout with
``vnf_instance`` and ``user_script_err_handling_data``, exit status 0; on failure a
concise message on stderr (``<code>: <message>`` plus the error findings) and exit
status 1. ``<op>_rollback_start/_end`` are handled.

``instantiate_end`` adds the installed cluster to the returned
``vnf_instance['vimConnectionInfo']`` (key: the VIM id) in Tacker v2's shape
(``vimType='ETSINFV.KUBERNETES.V_1'``, ``interfaceInfo`` {``endpoint``, ``ssl_ca_cert``},
``accessInfo`` {``bearer_token``}), after the OpenStack entry (Tacker selects the first);
``terminate_end`` and an entire heal's ``heal_start`` remove it. A scale-in removes the
servers of the grant request's ``removeResources``.

The package's ``Scripts/vnf_mgmt_driver.py`` calls :func:`main`.
"""

from __future__ import annotations

import io
import logging
import os
import pickle
import sys
from typing import Any, BinaryIO, Dict, Optional, TextIO

from . import _lcm
from .exceptions import Error

__all__ = ["main", "handle", "vim_entry", "with_vim", "without_vim"]

#: Exit status of a failed hook (the conductor raises MgmtDriverExecutionFailed).
EXIT_FAILED = 1
#: Exit status of unusable stdin.
EXIT_USAGE = 2


def handle(script_dict: Dict[str, Any]) -> Dict[str, Any]:
    """Runs one hook for a conductor dict; returns the dict to pickle to stdout."""
    operation = script_dict.get("operation")
    if not isinstance(operation, str) or not operation:
        raise Error("stdin dict has no 'operation'", code="driver.input.invalid")
    request = script_dict.get("request")
    vnf_instance = script_dict.get("vnf_instance")
    inp = _lcm.HookInput(
        operation=operation,
        request=_lcm.to_plain(request) or {},
        vnf_instance=_lcm.to_plain(vnf_instance) or {},
        package=script_dict.get("tmp_csar_dir"),
        grant=_lcm.to_plain(script_dict.get("grant_response")),
        grant_request=_lcm.to_plain(script_dict.get("grant_request")),
        engine=_lcm.EngineOptions.from_env(os.environ),
    )
    result = _lcm.run_hook(inp)
    err_data = script_dict.get("user_script_err_handling_data")
    err_data = dict(err_data) if isinstance(err_data, dict) else {}
    if result.summary is not None:
        err_data.setdefault("vnf_mgmt", {})[operation] = result.summary
    if isinstance(vnf_instance, dict):
        if result.access is not None:
            vnf_instance = with_vim(vnf_instance, inp.vim_id, inp.vim_name, result.access)
        elif result.remove_vim:
            vnf_instance = without_vim(vnf_instance, inp.vim_id)
    return {"vnf_instance": vnf_instance, "user_script_err_handling_data": err_data}


def vim_entry(vim_name: str, vim_id: str, access: Any) -> Dict[str, Any]:
    """Tacker v2's ``VimConnectionInfo`` of the cluster (as ``vim_utils`` builds it for a
    registered Kubernetes VIM)."""
    return {"vimId": vim_id, "vimType": "ETSINFV.KUBERNETES.V_1",
            "interfaceInfo": {"endpoint": access.endpoint, "ssl_ca_cert": access.ca_cert_pem},
            "accessInfo": {"bearer_token": access.bearer_token.reveal()},
            "extra": {"vim_name": vim_name, "managed_by": "vnf-mgmt"}}


def _vims(vnf_instance: Dict[str, Any]) -> Dict[str, Any]:
    cur = vnf_instance.get("vimConnectionInfo")
    return dict(cur) if isinstance(cur, dict) else {}


def with_vim(vnf_instance: Dict[str, Any], vim_id: str, vim_name: str,
             access: Any) -> Dict[str, Any]:
    """A copy of the instance dict with the cluster's VIM entry added last (replaced on a
    retried hook)."""
    vims = _vims(vnf_instance)
    vims.pop(vim_id, None)
    vims[vim_id] = vim_entry(vim_name, vim_id, access)
    return dict(vnf_instance, vimConnectionInfo=vims)


def without_vim(vnf_instance: Dict[str, Any], vim_id: str) -> Dict[str, Any]:
    """A copy of the instance dict without the cluster's VIM entry (and any other entry
    vnf-mgmt added: ``extra.managed_by``)."""
    vims = _vims(vnf_instance)
    kept = {k: v for k, v in vims.items() if k != vim_id and not (
        isinstance(v, dict) and isinstance(v.get("extra"), dict)
        and v["extra"].get("managed_by") == "vnf-mgmt")}
    if len(kept) == len(vims):
        return vnf_instance
    return dict(vnf_instance, vimConnectionInfo=kept)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, Error):
        return str(exc)
    if isinstance(exc, OSError):
        return f"driver.input.unreadable: {exc}"
    return f"driver.internal: {type(exc).__name__}: {exc}"


def main(stdin: Optional[BinaryIO] = None, stdout: Optional[BinaryIO] = None,
         stderr: Optional[TextIO] = None) -> int:
    """Reads the pickled dict, runs the hook, writes the pickled result.

    Exits the process with the status when called without arguments (as a script).
    """
    as_script = stdin is None and stdout is None and stderr is None
    stdin = stdin or sys.stdin.buffer
    out = stdout or sys.stdout.buffer
    err = stderr or sys.stderr
    # Nothing but the pickle may reach stdout: route stray prints to stderr.
    saved = sys.stdout
    sys.stdout = err if isinstance(err, io.TextIOBase) else sys.stderr
    if as_script and not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                            format="vnf-mgmt: %(levelname)s %(name)s: %(message)s")
    try:
        try:
            script_dict = pickle.load(stdin)
        except Exception as exc:  # noqa: BLE001 - any unpickling failure is a usage error
            err.write(f"driver.input.invalid: cannot read the pickled dict on stdin: {exc}\n")
            status = EXIT_USAGE
        else:
            if not isinstance(script_dict, dict):
                err.write("driver.input.invalid: stdin must hold a pickled dict\n")
                status = EXIT_USAGE
            else:
                try:
                    result = handle(script_dict)
                except Exception as exc:  # noqa: BLE001 - reported, never a traceback
                    err.write(_describe(exc) + "\n")
                    status = EXIT_FAILED
                else:
                    out.write(pickle.dumps(result))
                    out.flush()
                    status = 0
    finally:
        sys.stdout = saved
        err.flush()
    if as_script:
        sys.exit(status)
    return status


if __name__ == "__main__":
    main()
