"""The Tacker v1 driver class (duck-typed objects, no Tacker installed) and the v2
script (driven as the conductor drives it: pickled dict on stdin)."""

from __future__ import annotations

import inspect
import json
import pickle
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict

import pytest

import vnf_mgmt
from vnf_mgmt import _lcm
from vnf_mgmt.tacker import DRIVER_TYPE, KubernetesMgmtDriver

from conftest import REPO

GRANT_HOOKS = [
    "instantiate_start", "instantiate_end", "terminate_start", "terminate_end",
    "scale_start", "scale_end", "heal_start", "heal_end",
    "change_external_connectivity_start", "change_external_connectivity_end",
]


def snake_request(d: Dict[str, Any]) -> SimpleNamespace:
    """A v1-style request object: snake_case attributes, additional_params as a dict."""
    return SimpleNamespace(flavour_id=d["flavourId"],
                           instantiation_level_id=d.get("instantiationLevelId"),
                           additional_params=d.get("additionalParams"),
                           ext_virtual_links=d.get("extVirtualLinks"))


def instance(**kw: Any) -> SimpleNamespace:
    info = SimpleNamespace(instance_id="stack-1", additional_params=kw.pop("stored", None),
                           vnfc_resource_info=kw.pop("vnfcs", []))
    return SimpleNamespace(id="vnf-1", vnfd_id="vnfd-1", instantiated_vnf_info=info,
                           vim_connection_info=[], **kw)


# --- v1 -----------------------------------------------------------------------------


def test_identity() -> None:
    d = KubernetesMgmtDriver()
    assert d.get_type() == d.get_name() == DRIVER_TYPE == "mgmt-drivers-kubernetes"
    assert d.get_description()


def test_settings_fall_back_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tacker constructs the driver without arguments: tacker-conductor's environment
    # configures it, with the v2 script's VNF_MGMT_* variables.
    monkeypatch.setenv("VNF_MGMT_STATE_DIR", "/var/lib/vnf-mgmt-test")
    monkeypatch.setenv("VNF_MGMT_KNOWN_HOSTS", "/etc/vnf-mgmt/known_hosts")
    monkeypatch.setenv("VNF_MGMT_TRUST_ON_FIRST_USE", "1")
    monkeypatch.setenv("VNF_MGMT_SKIP_PV_REGISTRATION", "yes")
    e = KubernetesMgmtDriver().engine
    assert (e.state_dir, e.known_hosts) == ("/var/lib/vnf-mgmt-test", "/etc/vnf-mgmt/known_hosts")
    assert e.trust_on_first_use is True and e.skip_pv_registration is True
    assert e.inventory is None and e.os_cloud is None
    # Constructor arguments win, including an explicit False.
    e = KubernetesMgmtDriver(state_dir="/srv/state", trust_on_first_use=False,
                             skip_pv_registration=False).engine
    assert e.state_dir == "/srv/state"
    assert e.trust_on_first_use is False and e.skip_pv_registration is False
    assert e.known_hosts == "/etc/vnf-mgmt/known_hosts"


@pytest.mark.parametrize("name", GRANT_HOOKS)
def test_hook_signatures_match_tacker(name: str) -> None:
    params = list(inspect.signature(getattr(KubernetesMgmtDriver, name)).parameters)
    assert params[:3] == ["self", "context", "vnf_instance"]
    assert params[4:6] == ["grant", "grant_request"]
    assert params[-1] == "kwargs"
    assert params[3].endswith("_request")


def test_modify_information_signature() -> None:
    for name in ("modify_information_start", "modify_information_end"):
        params = list(inspect.signature(getattr(KubernetesMgmtDriver, name)).parameters)
        assert params == ["self", "context", "vnf_instance", "modify_vnf_request", "kwargs"]


@pytest.mark.parametrize("name", [
    "instantiate_start",
    "change_external_connectivity_start", "change_external_connectivity_end",
])
def test_no_op_hooks_return_none(name: str) -> None:
    hook = getattr(KubernetesMgmtDriver(), name)
    assert hook(None, instance(), SimpleNamespace(), None, None) is None


def test_modify_information_is_no_op() -> None:
    d = KubernetesMgmtDriver()
    assert d.modify_information_start(None, instance(), None) is None
    assert d.modify_information_end(None, instance(), None, old_vnf_package_path="/x") is None


def test_instantiate_end_validates_then_discovers_through_heat(
        sample_pkg: Path, simple_request_dict: Dict[str, Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # No inventory override: the topology comes from the instance's Heat stack; with no
    # credentials anywhere (no clouds.yaml entry, no OS_*, no accessInfo) discovery fails
    # before anything is contacted.
    for var in ("OS_CLOUD", "OS_AUTH_URL", "OS_CLIENT_CONFIG_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", "/nonexistent")
    req = dict(simple_request_dict)
    req.pop("vimConnectionInfo", None)
    d = KubernetesMgmtDriver()
    with pytest.raises(vnf_mgmt.DiscoveryError) as ei:
        d.instantiate_end(None, instance(), snake_request(req), None, None,
                          vnf={"vnf_package_path": str(sample_pkg)})
    assert ei.value.code.startswith("driver.discovery.")
    assert not isinstance(ei.value, NotImplementedError)


def test_instantiate_end_without_stack_or_inventory(
        sample_pkg: Path, simple_request_dict: Dict[str, Any]) -> None:
    d = KubernetesMgmtDriver()
    with pytest.raises(vnf_mgmt.DiscoveryError) as ei:
        d.instantiate_end(None, {"id": "vnf-1"}, simple_request_dict, None, None,
                          vnf={"vnf_package_path": str(sample_pkg)})
    assert ei.value.code == "driver.discovery.request"
    assert "vnf_mgmt_inventory" in str(ei.value)


def test_instantiate_end_missing_inventory_file(
        tmp_path: Path, sample_pkg: Path, simple_request_dict: Dict[str, Any]) -> None:
    d = KubernetesMgmtDriver(inventory=str(tmp_path / "nope.yaml"),
                             state_dir=str(tmp_path / "state"))
    with pytest.raises(vnf_mgmt.DiscoveryError) as ei:
        d.instantiate_end(None, instance(), snake_request(simple_request_dict), None, None,
                          vnf={"vnf_package_path": str(sample_pkg)})
    assert ei.value.code.startswith("driver.inventory.")
    assert "nope.yaml" in str(ei.value)
    # Nothing journaled (no plan was made); only the request kept for heal.
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == ["requests"]
    saved = json.loads((tmp_path / "state" / "requests" / "vnf-1.json").read_text())
    assert saved["flavourId"] == "simple"


def test_instantiate_end_invalid_params_raise_validation_error(
        sample_pkg: Path, simple_request_dict: Dict[str, Any]) -> None:
    req = dict(simple_request_dict, flavourId="large")
    with pytest.raises(vnf_mgmt.ValidationError) as ei:
        KubernetesMgmtDriver().instantiate_end(None, instance(), snake_request(req), None, None,
                                               vnf={"vnf_package_path": str(sample_pkg)})
    assert "request.flavour.unknown" in ei.value.error_codes
    assert not isinstance(ei.value, NotImplementedError)


def test_instantiate_end_without_install_params(sample_pkg: Path) -> None:
    with pytest.raises(vnf_mgmt.ValidationError) as ei:
        KubernetesMgmtDriver().instantiate_end(
            None, instance(), {"flavourId": "simple", "additionalParams": {}}, None, None,
            vnf={"vnf_package_path": str(sample_pkg)})
    assert ei.value.error_codes == ["request.additional_params.missing"]


def test_instantiate_end_missing_package_is_os_error(
        tmp_path: Path, simple_request_dict: Dict[str, Any]) -> None:
    with pytest.raises(FileNotFoundError):
        KubernetesMgmtDriver().instantiate_end(
            None, instance(), simple_request_dict, None, None,
            vnf={"vnf_package_path": str(tmp_path / "gone")})


def test_instantiate_end_unknown_package_path(simple_request_dict: Dict[str, Any]) -> None:
    with pytest.raises(vnf_mgmt.Error) as ei:
        KubernetesMgmtDriver().instantiate_end(None, instance(), simple_request_dict, None,
                                               None, vnf={})
    assert ei.value.code == "driver.input.unreadable"


def test_heal_unknown_vnfc_is_validation_error() -> None:
    with pytest.raises(vnf_mgmt.ValidationError) as ei:
        KubernetesMgmtDriver().heal_end(None, instance(), {"vnfc_instance_id": ["zz"]}, None,
                                        None)
    assert ei.value.error_codes == ["request.heal.unknown_vnfc"]
    assert ei.value.findings[0].location.pointer == "/vnfcInstanceId/0"


def test_to_plain_keeps_additional_params_keys() -> None:
    req = SimpleNamespace(flavour_id="simple", ext_virtual_links=[
        SimpleNamespace(id="l1", ext_cps=[{"cpd_id": "masterNode_CP1"}])],
        additional_params={"k8s_cluster_installation_param": {"master_node": {"pod_cidr": "x"}}})
    plain = _lcm.to_plain(req)
    assert plain["flavourId"] == "simple"
    assert plain["extVirtualLinks"][0]["extCps"][0]["cpdId"] == "masterNode_CP1"
    assert plain["additionalParams"]["k8s_cluster_installation_param"]["master_node"] == {
        "pod_cidr": "x"}


def test_to_plain_keeps_v2_vim_ids() -> None:
    inst = {"vimConnectionInfo": {"vim_1": {"vim_id": "x", "access_info": {"user_name": "u"}}}}
    plain = _lcm.to_plain(inst)
    assert plain == {"vimConnectionInfo": {"vim_1": {"vimId": "x",
                                                    "accessInfo": {"user_name": "u"}}}}
    vims = _lcm.HookInput("x", vnf_instance=plain).vim_connection_info
    assert vims == [{"vimId": "x", "accessInfo": {"user_name": "u"}, "id": "vim_1"}]


def test_to_plain_oslo_style_objects() -> None:
    class Obj:
        fields = {"flavour_id": None, "unset": None}

        def __init__(self) -> None:
            self.flavour_id = "simple"

        def obj_attr_is_set(self, name: str) -> bool:
            return name == "flavour_id"

    assert _lcm.to_plain(Obj()) == {"flavourId": "simple"}


# --- v2 -----------------------------------------------------------------------------


def conductor_dict(operation: str, request: Dict[str, Any], csar: Path) -> Dict[str, Any]:
    # As tacker/sol_refactored/conductor/vnflcm_driver_v2.py _exec_mgmt_driver_script builds it.
    return {
        "operation": operation,
        "request": request,
        "vnf_instance": {"id": "vnf-1", "vnfdId": "vnfd-1",
                         "instantiationState": "NOT_INSTANTIATED"},
        "grant_request": {"vnfInstanceId": "vnf-1", "operation": "INSTANTIATE"},
        "grant_response": {"id": "grant-1"},
        "tmp_csar_dir": str(csar),
        "user_script_err_handling_data": {},
    }


def run_v2(script_dict: Any, raw: bytes = b"") -> subprocess.CompletedProcess:
    stdin = raw or pickle.dumps(script_dict)
    # cwd outside the source tree: the installed wheel is what runs.
    return subprocess.run([sys.executable, "-m", "vnf_mgmt.tacker_v2"], input=stdin,
                          capture_output=True, timeout=120, cwd="/")


def test_v2_no_op_succeeds(sample_pkg: Path, simple_request_dict: Dict[str, Any]) -> None:
    p = run_v2(conductor_dict("instantiate_start", simple_request_dict, sample_pkg))
    assert p.returncode == 0, p.stderr.decode()
    out = pickle.loads(p.stdout)
    assert out["vnf_instance"]["id"] == "vnf-1"
    assert out["user_script_err_handling_data"] == {}


def test_v2_rollback_succeeds(sample_pkg: Path, simple_request_dict: Dict[str, Any]) -> None:
    p = run_v2(conductor_dict("instantiate_rollback_start", simple_request_dict, sample_pkg))
    assert p.returncode == 0, p.stderr.decode()
    out = pickle.loads(p.stdout)
    assert "instantiate_rollback_start" in out["user_script_err_handling_data"]["vnf_mgmt"]


def test_v2_bad_package_fails(tmp_path: Path, simple_request_dict: Dict[str, Any]) -> None:
    bad = tmp_path / "csar"
    bad.mkdir()
    (bad / "README").write_text("not a package")
    p = run_v2(conductor_dict("instantiate_end", simple_request_dict, bad))
    assert p.returncode == 1
    assert p.stdout == b""
    err = p.stderr.decode()
    assert err.startswith("driver.input.invalid:")
    assert "Traceback" not in err
    assert "error[" in err  # the error findings follow


def test_v2_instantiate_end_without_topology_source_fails_clearly(
        sample_pkg: Path, simple_request_dict: Dict[str, Any]) -> None:
    d = conductor_dict("instantiate_end", simple_request_dict, sample_pkg)
    p = run_v2(d)
    assert p.returncode == 1
    err = p.stderr.decode()
    # The conductor's instance has no stack id: discovery cannot start.
    assert err.startswith("driver.discovery."), err
    assert "Traceback" not in err


def v2_shaped(request: Dict[str, Any]) -> Dict[str, Any]:
    """The request as Tacker v2 (SOL003 v3) has it: maps keyed by identifiers."""
    req = json.loads(json.dumps(request))
    req["vimConnectionInfo"] = {v.pop("id"): v for v in req["vimConnectionInfo"]}
    for vl in req["extVirtualLinks"]:
        for cp in vl["extCps"]:
            cp["cpConfig"] = {f"{cp['cpdId']}_{i}": c for i, c in enumerate(cp["cpConfig"])}
    return req


def test_list_shapes_of_a_v2_request(simple_request_dict: Dict[str, Any]) -> None:
    v2 = v2_shaped(simple_request_dict)
    assert isinstance(v2["vimConnectionInfo"], dict)
    assert _lcm.list_shapes(v2) == simple_request_dict
    assert _lcm.list_shapes(simple_request_dict) == simple_request_dict
    assert _lcm.list_shapes({"vimConnectionInfo": {"v1": None}}) == {
        "vimConnectionInfo": [{"id": "v1"}]}


def test_v2_instantiate_end_accepts_the_v2_request_shape(
        sample_pkg: Path, simple_request_dict: Dict[str, Any]) -> None:
    # Tacker v2 passes vimConnectionInfo and cpConfig as maps: they validate (the failure
    # is the missing topology source, as with the list-shaped request).
    d = conductor_dict("instantiate_end", v2_shaped(simple_request_dict), sample_pkg)
    p = run_v2(d)
    assert p.returncode == 1
    err = p.stderr.decode()
    assert err.startswith("driver.discovery."), err


def test_v2_garbage_stdin_is_usage_error() -> None:
    p = run_v2(None, raw=b"definitely not a pickle")
    assert p.returncode == 2
    assert "pickled dict" in p.stderr.decode()


def test_v2_package_shim_runs(sample_pkg: Path, simple_request_dict: Dict[str, Any]) -> None:
    # Tacker runs `python <Definitions/../Scripts/vnf_mgmt_driver.py>`.
    shim = REPO / "samples/packages/k8s_cluster_with_pv/Scripts/vnf_mgmt_driver.py"
    p = subprocess.run([sys.executable, str(shim)], cwd="/", capture_output=True, timeout=120,
                       input=pickle.dumps(conductor_dict("instantiate_start", {}, sample_pkg)))
    assert p.returncode == 0, p.stderr.decode()
    assert pickle.loads(p.stdout)["vnf_instance"]["id"] == "vnf-1"


def test_v2_main_in_process(sample_pkg: Path) -> None:
    import io

    from vnf_mgmt import tacker_v2

    out, err = io.BytesIO(), io.StringIO()
    d = conductor_dict("modify_information_start", {}, sample_pkg)
    assert tacker_v2.main(io.BytesIO(pickle.dumps(d)), out, err) == 0
    assert pickle.loads(out.getvalue())["vnf_instance"]["id"] == "vnf-1"
    assert err.getvalue() == ""


def _heal_instance(stored: Dict[str, Any]) -> SimpleNamespace:
    vnfcs = [SimpleNamespace(id="c1", vdu_id="workerNode",
                             vnfc_cp_info=[SimpleNamespace(cpd_id="workerNode_CP2")]),
             SimpleNamespace(id="c2", vdu_id="storage_server",
                             vnfc_cp_info=[SimpleNamespace(cpd_id="storage_server_CP")])]
    inst = instance(vnfcs=vnfcs, stored=stored)
    inst.instantiated_vnf_info.flavour_id = "simple"
    return inst


def test_heal_of_the_storage_vnfc_runs_the_engine(
        tmp_path: Path, sample_pkg: Path, simple_request_dict: Dict[str, Any]) -> None:
    # Classified as Tacker does (vnfcCpInfo[].cpdId == storage_server.nic_cp_name), the
    # heal reaches the engine: here its inventory (the override) is missing.
    stored = dict(simple_request_dict["additionalParams"])
    # The request instantiate_end saved for this instance (Tacker gives heal none).
    (tmp_path / "requests").mkdir()
    (tmp_path / "requests" / "vnf-1.json").write_text(json.dumps(simple_request_dict))
    d = KubernetesMgmtDriver(inventory=str(tmp_path / "missing.yaml"),
                             state_dir=str(tmp_path))
    for hook in (d.heal_start, d.heal_end):
        with pytest.raises(vnf_mgmt.DiscoveryError) as ei:
            hook(None, _heal_instance(stored), SimpleNamespace(vnfc_instance_id=["c2"]),
                 None, None, vnf={"vnf_package_path": str(sample_pkg)})
        assert "missing.yaml" in str(ei.value)


def test_heal_of_storage_and_worker_together_is_refused_by_the_engine(
        tmp_path: Path, sample_pkg: Path, simple_request_dict: Dict[str, Any]) -> None:
    stored = dict(simple_request_dict["additionalParams"])
    inv = tmp_path / "inventory.yaml"
    inv.write_text("format_version: 1\nhosts:\n"
                   "  - {name: m1, role: master, ssh: 10.0.0.1}\n"
                   "  - {name: w1, role: worker, ssh: 10.0.0.2, resource_id: srv-c1}\n"
                   "  - name: s1\n    role: storage\n    ssh: 10.0.0.3\n"
                   "    ports: {storage_server_CP: 10.0.0.3}\n"
                   "    volumes: {storage_server_volume: {cinder_id: 0b7e8e4c-3f0f-4c43-9d8e-"
                   "2c0f6f1f0a11}}\n")
    (tmp_path / "requests").mkdir()
    (tmp_path / "requests" / "vnf-1.json").write_text(json.dumps(simple_request_dict))
    d = KubernetesMgmtDriver(inventory=str(inv), state_dir=str(tmp_path))
    inst = _heal_instance(stored)
    inst.instantiated_vnf_info.vnfc_resource_info[0].compute_resource = SimpleNamespace(
        resource_id="srv-c1")
    with pytest.raises(vnf_mgmt.PlanError) as ei:
        d.heal_start(None, inst, SimpleNamespace(vnfc_instance_id=["c1", "c2"]), None, None,
                     vnf={"vnf_package_path": str(sample_pkg)})
    assert ei.value.code == "driver.plan.mixed_targets"


def test_heal_storage_server_rejects_unknown_phase(sample_pkg: Path,
                                                   simple_request: Path) -> None:
    with pytest.raises(ValueError, match="phase"):
        vnf_mgmt.heal_storage_server(sample_pkg, simple_request, phase="both",
                                     vnf_instance_id="v", inventory="/x.yaml")
    # "all" rebuilds the VM through Heat: a static inventory cannot.
    with pytest.raises(ValueError, match="needs stack"):
        vnf_mgmt.heal_storage_server(sample_pkg, simple_request, phase="all",
                                     vnf_instance_id="v", inventory="/x.yaml")
    # The compiled layer refuses it too.
    from vnf_mgmt import _vnf_mgmt
    with pytest.raises(ValueError, match="needs stack"):
        _vnf_mgmt._run(str(sample_pkg), str(simple_request), "v", operation="heal",
                       inventory="/x.yaml")
    with pytest.raises(ValueError, match="unknown operation"):
        _vnf_mgmt._run(str(sample_pkg), str(simple_request), "v", operation="heal_all",
                       inventory="/x.yaml")


def test_instantiate_needs_exactly_one_topology_source(sample_pkg: Path,
                                                       simple_request: Path) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        vnf_mgmt.instantiate(sample_pkg, simple_request, vnf_instance_id="v")
    with pytest.raises(ValueError, match="exactly one"):
        vnf_mgmt.instantiate(sample_pkg, simple_request, vnf_instance_id="v",
                             inventory="/x.yaml", stack="s")


def test_instantiate_end_discovers_with_the_vims_access_info(
        tmp_path: Path, sample_pkg: Path, simple_request_dict: Dict[str, Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Tacker v1 fills vim_connection_info[].access_info from the registered VIM: the
    # engine authenticates with it (here a Keystone that is not listening).
    for var in ("OS_CLOUD", "OS_AUTH_URL", "OS_CLIENT_CONFIG_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", "/nonexistent")
    req = dict(simple_request_dict)
    req.pop("vimConnectionInfo", None)
    access = {"auth_url": "http://127.0.0.1:9/identity/v3", "username": "admin",
              "password": "Vim-Secret-42", "project_name": "admin",
              "user_domain_name": "Default", "project_domain_name": "Default"}
    inst = instance()
    inst.vim_connection_info = [SimpleNamespace(id="vim-1", vim_id="v", vim_type="openstack",
                                                access_info=access)]
    with pytest.raises(vnf_mgmt.DiscoveryError) as ei:
        KubernetesMgmtDriver(state_dir=str(tmp_path)).instantiate_end(
            None, inst, snake_request(req), None, None,
            vnf={"vnf_package_path": str(sample_pkg)})
    assert ei.value.code == "driver.discovery.api"
    assert "127.0.0.1:9" in str(ei.value)
    assert "Vim-Secret-42" not in str(ei.value)
    # The VIM password is never written to disk (the kept request has no accessInfo).
    saved = (tmp_path / "requests" / "vnf-1.json").read_text()
    assert "Vim-Secret-42" not in saved


def test_heal_all_discovers_the_stack_first(
        tmp_path: Path, sample_pkg: Path, simple_request_dict: Dict[str, Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OS_CLOUD", "OS_AUTH_URL", "OS_CLIENT_CONFIG_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", "/nonexistent")
    req = dict(simple_request_dict)
    req.pop("vimConnectionInfo", None)
    with pytest.raises(vnf_mgmt.DiscoveryError) as ei:
        vnf_mgmt.heal_storage_server(sample_pkg, req, phase="all", vnf_instance_id="v",
                                     stack="stack-1", state_dir=tmp_path)
    assert ei.value.code.startswith("driver.discovery.")
    assert list(tmp_path.iterdir()) == []  # nothing journaled: no plan was made
