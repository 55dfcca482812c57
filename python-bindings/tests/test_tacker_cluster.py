"""The cluster hooks of the Tacker v1 driver and the v2 script: how Tacker's arguments
become engine operations and targets, and what the instance gets back (the Kubernetes
VIM entry). The engine call itself is replaced by a recorder here (the lab tests run
it for real); everything up to it — validation, the saved request, the topology
source, the target mapping — is the installed code."""

from __future__ import annotations

import json
import logging
import pickle
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, List

import pytest

import vnf_mgmt
from vnf_mgmt import _lcm, _ops, tacker_v2
from vnf_mgmt.tacker import KubernetesMgmtDriver

TOKEN = "eyJhbGciOiJSUzI1NiJ9.cluster-token-sentinel-91c2"
CA = "-----BEGIN CERTIFICATE-----\nMIIBcluster\n-----END CERTIFICATE-----\n"
ENDPOINT = "https://10.10.0.50:6443"


class Recorder:
    """Stands in for ``vnf_mgmt._ops.run``; returns a summary with an exported access
    for instantiate (and heal_end of the entire VNF)."""

    def __init__(self) -> None:
        self.calls: List[Dict[str, Any]] = []

    def __call__(self, operation: str, package: Any, request: Any, *,
                 vnf_instance_id: str, **kw: Any) -> vnf_mgmt.Summary:
        self.calls.append(dict(kw, operation=operation, package=str(package),
                               request=request, vnf_instance_id=vnf_instance_id))
        access = None
        if operation == "instantiate" and kw.get("install_cluster") or \
                operation == "heal_end" and kw.get("targets") == ["entire"]:
            access = vnf_mgmt.ClusterAccess(ENDPOINT, CA, TOKEN,
                                            service_account=f"vnf-mgmt-{vnf_instance_id}")
        return vnf_mgmt.Summary(operation, vnf_instance_id, 5, 1, [], access)

    @property
    def last(self) -> Dict[str, Any]:
        assert self.calls, "the engine was not called"
        return self.calls[-1]


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    r = Recorder()
    monkeypatch.setattr(_ops, "run", r)
    for var in ("VNF_MGMT_INSTALL_CLUSTER", "VNF_MGMT_RUNTIME", "VNF_MGMT_DRAIN_ON_TERMINATE",
                "VNF_MGMT_KUBE_TIMEOUT", "VNF_MGMT_INVENTORY", "VNF_MGMT_CNI",
                "VNF_MGMT_CNI_MANIFEST"):
        monkeypatch.delenv(var, raising=False)
    return r


class SavingInstance(SimpleNamespace):
    """A v1 VnfInstance stand-in that records save() calls with the entries saved."""

    def save(self) -> None:
        self.__dict__.setdefault("saved", []).append(list(self.vim_connection_info))


OPENSTACK_VIM = {"id": "vim-os", "vim_id": "os-1", "vim_type": "openstack",
                 "access_info": {"auth_url": "http://keystone/v3"}}


def v1_instance(vnfcs: Any = (), stored: Any = None) -> SavingInstance:
    info = SimpleNamespace(instance_id="stack-1", flavour_id="simple",
                           additional_params=stored, vnfc_resource_info=list(vnfcs))
    return SavingInstance(id="vnf-1", vnfd_id="vnfd-1", instantiated_vnf_info=info,
                          vim_connection_info=[dict(OPENSTACK_VIM)])


def v1_request(d: Dict[str, Any]) -> SimpleNamespace:
    return SimpleNamespace(flavour_id=d["flavourId"],
                           instantiation_level_id=d.get("instantiationLevelId"),
                           additional_params=d.get("additionalParams"),
                           ext_virtual_links=d.get("extVirtualLinks"))


def vnfc(id: str, vdu: str, cp: str, server: str, stack: str = "") -> SimpleNamespace:
    return SimpleNamespace(id=id, vdu_id=vdu, vnfc_cp_info=[SimpleNamespace(cpd_id=cp)],
                           compute_resource=SimpleNamespace(resource_id=server),
                           metadata={"stack_id": stack} if stack else {})


def cluster_vnfcs() -> List[SimpleNamespace]:
    return [vnfc("c-m1", "masterNode", "masterNode_CP1", "srv-m1", "member-m1"),
            vnfc("c-w1", "workerNode", "workerNode_CP2", "srv-w1", "member-w1"),
            vnfc("c-w2", "workerNode", "workerNode_CP2", "srv-w2", "member-w2"),
            vnfc("c-s1", "storage_server", "storage_server_CP", "srv-s1")]


def pkg_kwargs(sample_pkg: Path) -> Dict[str, Any]:
    return {"vnf": {"vnf_package_path": str(sample_pkg)}}


# --- instantiate_end ------------------------------------------------------------------


def test_instantiate_end_installs_the_cluster_and_appends_the_vim(
        engine: Recorder, tmp_path: Path, sample_pkg: Path,
        simple_request_dict: Dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="vnf_mgmt")
    inst = v1_instance()
    d = KubernetesMgmtDriver(state_dir=str(tmp_path))
    assert d.instantiate_end(None, inst, v1_request(simple_request_dict), None, None,
                             **pkg_kwargs(sample_pkg)) is None
    call = engine.last
    assert call["operation"] == "instantiate" and call["install_cluster"] is True
    assert call["runtime"] == "kubeadm" and call["stack"] == "stack-1"
    assert call["cni"] is None and call["cni_manifest"] is None
    assert call["vnf_instance_id"] == "vnf-1"
    # The OpenStack VIM stays first (Tacker's hooks use element [0]); the cluster follows.
    vims = inst.vim_connection_info
    assert [v["vim_type"] for v in vims] == ["openstack", "kubernetes"]
    k8s = vims[1]
    assert k8s["access_info"] == {"auth_url": ENDPOINT, "bearer_token": TOKEN,
                                  "ssl_ca_cert": CA}
    assert k8s["interface_info"] == {"endpoint": ENDPOINT, "ssl_ca_cert": CA}
    assert k8s["id"] == k8s["vim_id"]
    # The request's k8s_cluster_installation_param.vim_name (the sample's "kubernetes_vim").
    assert k8s["extra"]["vim_name"] == "kubernetes_vim"
    assert inst.saved == [vims], "save() called once, after the entry was added"
    # The token reaches the instance only: not the logs, not the kept request.
    assert TOKEN not in caplog.text
    assert TOKEN not in (tmp_path / "requests" / "vnf-1.json").read_text()
    # A retried hook (Tacker's error-point retry) replaces its entry, never duplicates it.
    d.instantiate_end(None, inst, v1_request(simple_request_dict), None, None,
                      **pkg_kwargs(sample_pkg))
    assert [v["vim_type"] for v in inst.vim_connection_info] == ["openstack", "kubernetes"]
    assert inst.vim_connection_info[1]["id"] == k8s["id"]


def test_default_vim_name_is_per_instance(
        engine: Recorder, tmp_path: Path, sample_pkg: Path,
        simple_request_dict: Dict[str, Any]) -> None:
    req = json.loads(json.dumps(simple_request_dict))
    del req["additionalParams"]["k8s_cluster_installation_param"]["vim_name"]
    inst = v1_instance()
    KubernetesMgmtDriver(state_dir=str(tmp_path)).instantiate_end(
        None, inst, v1_request(req), None, None, **pkg_kwargs(sample_pkg))
    assert inst.vim_connection_info[-1]["extra"]["vim_name"] == "kubernetes_vim_vnf-1"


def test_instantiate_end_vim_name_and_runtime_from_the_request(
        engine: Recorder, tmp_path: Path, sample_pkg: Path,
        simple_request_dict: Dict[str, Any]) -> None:
    req = json.loads(json.dumps(simple_request_dict))
    req["additionalParams"]["k8s_cluster_installation_param"]["vim_name"] = "edge-k8s"
    req["additionalParams"]["vnf_mgmt_runtime"] = "k3s"
    inst = v1_instance()
    KubernetesMgmtDriver(state_dir=str(tmp_path)).instantiate_end(
        None, inst, v1_request(req), None, None, **pkg_kwargs(sample_pkg))
    assert engine.last["runtime"] == "k3s"
    assert inst.vim_connection_info[-1]["extra"]["vim_name"] == "edge-k8s"
    # Another VNF instance gets another VIM id.
    other = v1_instance()
    other.id = "vnf-2"
    KubernetesMgmtDriver(state_dir=str(tmp_path)).instantiate_end(
        None, other, v1_request(req), None, None, **pkg_kwargs(sample_pkg))
    assert other.vim_connection_info[-1]["id"] != inst.vim_connection_info[-1]["id"]


def test_instantiate_end_rejects_an_unknown_runtime(
        engine: Recorder, tmp_path: Path, sample_pkg: Path,
        simple_request_dict: Dict[str, Any]) -> None:
    req = json.loads(json.dumps(simple_request_dict))
    req["additionalParams"]["vnf_mgmt_runtime"] = "microk8s"
    with pytest.raises(vnf_mgmt.ValidationError) as ei:
        KubernetesMgmtDriver(state_dir=str(tmp_path)).instantiate_end(
            None, v1_instance(), v1_request(req), None, None, **pkg_kwargs(sample_pkg))
    assert ei.value.error_codes == ["request.additional_params.runtime"]
    assert ei.value.findings[0].location.pointer == "/additionalParams/vnf_mgmt_runtime"
    assert engine.calls == []


def test_install_cluster_off_appends_nothing(
        engine: Recorder, tmp_path: Path, sample_pkg: Path,
        simple_request_dict: Dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VNF_MGMT_INSTALL_CLUSTER", "0")
    inst = v1_instance()
    d = KubernetesMgmtDriver(state_dir=str(tmp_path))
    d.instantiate_end(None, inst, v1_request(simple_request_dict), None, None,
                      **pkg_kwargs(sample_pkg))
    assert engine.last["install_cluster"] is False
    assert inst.vim_connection_info == [OPENSTACK_VIM]
    assert "saved" not in inst.__dict__
    # terminate_start has no access to revoke then.
    assert d.terminate_start(None, inst, SimpleNamespace(), None, None) is None
    assert len(engine.calls) == 1
    # Node heals are refused: the cluster is not vnf-mgmt's.
    inst = v1_instance(cluster_vnfcs(), simple_request_dict["additionalParams"])
    with pytest.raises(vnf_mgmt.Error) as ei:
        d.heal_start(None, inst, SimpleNamespace(vnfc_instance_id=["c-w1"]), None, None,
                     **pkg_kwargs(sample_pkg))
    assert ei.value.code == "driver.input.invalid" and "VNF_MGMT_INSTALL_CLUSTER" in str(ei.value)


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VNF_MGMT_RUNTIME", "k3s")
    monkeypatch.setenv("VNF_MGMT_INSTALL_CLUSTER", "false")
    monkeypatch.setenv("VNF_MGMT_DRAIN_ON_TERMINATE", "1")
    monkeypatch.setenv("VNF_MGMT_KUBE_TIMEOUT", "30")
    monkeypatch.setenv("VNF_MGMT_CNI", "flannel")
    monkeypatch.setenv("VNF_MGMT_CNI_MANIFEST", "https://mirror.example/flannel.yaml")
    e = KubernetesMgmtDriver().engine
    assert (e.runtime, e.install_cluster, e.drain_on_terminate, e.kube_timeout) == \
        ("k3s", False, True, 30)
    assert (e.cni, e.cni_manifest) == ("flannel", "https://mirror.example/flannel.yaml")
    e = KubernetesMgmtDriver(runtime="kubeadm", install_cluster=True,
                             drain_on_terminate=False, kube_timeout=7).engine
    assert (e.runtime, e.install_cluster, e.drain_on_terminate, e.kube_timeout) == \
        ("kubeadm", True, False, 7)
    for var, bad in (("VNF_MGMT_RUNTIME", "microk8s"), ("VNF_MGMT_INSTALL_CLUSTER", "maybe"),
                     ("VNF_MGMT_KUBE_TIMEOUT", "soon"), ("VNF_MGMT_CNI", "weave")):
        monkeypatch.setenv(var, bad)
        with pytest.raises(ValueError, match=var):
            KubernetesMgmtDriver()
        monkeypatch.delenv(var)
    with pytest.raises(ValueError, match="runtime"):
        KubernetesMgmtDriver(runtime="microk8s")


def test_v2_script_reports_a_bad_setting(sample_pkg: Path, simple_request_dict: Dict[str, Any],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys

    monkeypatch.setenv("VNF_MGMT_RUNTIME", "microk8s")
    d = v2_dict("instantiate_end", simple_request_dict, v2_instance({}), sample_pkg)
    p = subprocess.run([sys.executable, "-m", "vnf_mgmt.tacker_v2"], input=pickle.dumps(d),
                       capture_output=True, timeout=120, cwd="/")
    assert p.returncode == 1
    assert p.stdout == b""
    err = p.stderr.decode()
    assert err.startswith("driver.input.invalid: VNF_MGMT_RUNTIME='microk8s'"), err
    assert "Traceback" not in err


# --- scale ------------------------------------------------------------------------------


def scale_req(kind: str, steps: int = 1) -> SimpleNamespace:
    return SimpleNamespace(type=kind, aspect_id="worker_instance", number_of_steps=steps,
                           additional_params={})


def test_scale_in_maps_the_removed_members_to_their_servers(
        engine: Recorder, sample_pkg: Path, simple_request_dict: Dict[str, Any]) -> None:
    inst = v1_instance(cluster_vnfcs(), simple_request_dict["additionalParams"])
    d = KubernetesMgmtDriver(kube_timeout=9)
    # As Tacker 16 calls it: member resource names and the members' nested stack ids.
    d.scale_start(None, inst, scale_req("SCALE_IN", 2), None, None,
                  scale_name_list=["abc123", "def456"],
                  scale_out_id_list=["member-w2", "member-w1"], **pkg_kwargs(sample_pkg))
    call = engine.last
    assert call["operation"] == "scale_start"
    assert call["targets"] == ["srv-w2", "srv-w1"]
    assert call["kube_timeout"] == 9 and call["stack"] == "stack-1"
    # A member whose VNFC is unknown: the names go too (the engine resolves node names).
    d.scale_start(None, inst, scale_req("SCALE_IN"), None, None,
                  scale_name_list=["worker3"], scale_out_id_list=["member-new"],
                  **pkg_kwargs(sample_pkg))
    assert engine.last["targets"] == ["worker3"]
    # Nothing to do before a scale-out.
    n = len(engine.calls)
    assert d.scale_start(None, inst, scale_req("SCALE_OUT"), None, None,
                         scale_name_list=[], scale_out_id_list=[],
                         **pkg_kwargs(sample_pkg)) is None
    assert len(engine.calls) == n
    assert inst.vim_connection_info == [OPENSTACK_VIM]


def test_scale_in_without_victims_is_a_validation_error(
        engine: Recorder, sample_pkg: Path, simple_request_dict: Dict[str, Any]) -> None:
    inst = v1_instance(cluster_vnfcs(), simple_request_dict["additionalParams"])
    with pytest.raises(vnf_mgmt.ValidationError) as ei:
        KubernetesMgmtDriver().scale_start(None, inst, scale_req("SCALE_IN"), None, None,
                                           scale_name_list=[], scale_out_id_list=[],
                                           **pkg_kwargs(sample_pkg))
    assert ei.value.error_codes == ["request.scale.no_targets"]
    assert engine.calls == []


def test_scale_end_joins_new_workers_on_the_rediscovered_stack(
        engine: Recorder, sample_pkg: Path, simple_request_dict: Dict[str, Any]) -> None:
    inst = v1_instance(cluster_vnfcs(), simple_request_dict["additionalParams"])
    d = KubernetesMgmtDriver()
    d.scale_end(None, inst, scale_req("SCALE_OUT", 2), None, None,
                scale_out_id_list=["member-w3", "member-w4"], **pkg_kwargs(sample_pkg))
    call = engine.last
    assert call["operation"] == "scale_end" and call["targets"] is None
    assert call["stack"] == "stack-1", "the topology is discovered again after Heat's change"
    # After a scale-in the survivors' /etc/hosts blocks are rewritten the same way.
    d.scale_end(None, inst, scale_req("SCALE_IN"), None, None, **pkg_kwargs(sample_pkg))
    assert engine.last["operation"] == "scale_end" and len(engine.calls) == 2


# --- heal -------------------------------------------------------------------------------


def test_heal_maps_vnfc_ids_to_targets(
        engine: Recorder, sample_pkg: Path, simple_request_dict: Dict[str, Any]) -> None:
    inst = v1_instance(cluster_vnfcs(), simple_request_dict["additionalParams"])
    d = KubernetesMgmtDriver()
    d.heal_start(None, inst, SimpleNamespace(vnfc_instance_id=["c-w1", "c-m1"]), None, None,
                 **pkg_kwargs(sample_pkg))
    assert (engine.last["operation"], engine.last["targets"]) == \
        ("heal_start", ["srv-w1", "srv-m1"])
    d.heal_end(None, inst, SimpleNamespace(vnfc_instance_id=["c-w1"]), None, None,
               **pkg_kwargs(sample_pkg))
    assert (engine.last["operation"], engine.last["targets"]) == ("heal_end", ["srv-w1"])
    # The storage server is classified as Tacker does (cpd_id == storage_server.nic_cp_name).
    d.heal_start(None, inst, SimpleNamespace(vnfc_instance_id=["c-s1"]), None, None,
                 **pkg_kwargs(sample_pkg))
    assert engine.last["targets"] == ["storage_server"]
    assert inst.vim_connection_info == [OPENSTACK_VIM]


def test_heal_of_a_vnfc_without_a_server_is_a_validation_error(
        engine: Recorder, sample_pkg: Path, simple_request_dict: Dict[str, Any]) -> None:
    vnfcs = cluster_vnfcs()
    vnfcs[1].compute_resource = None
    inst = v1_instance(vnfcs, simple_request_dict["additionalParams"])
    with pytest.raises(vnf_mgmt.ValidationError) as ei:
        KubernetesMgmtDriver().heal_start(None, inst,
                                          SimpleNamespace(vnfc_instance_id=["c-m1", "c-w1"]),
                                          None, None, **pkg_kwargs(sample_pkg))
    assert ei.value.error_codes == ["request.heal.no_resource_id"]
    assert ei.value.findings[0].location.pointer == "/vnfcInstanceId/1"
    assert engine.calls == []


def test_entire_heal_replaces_the_vim_entry(
        engine: Recorder, tmp_path: Path, sample_pkg: Path,
        simple_request_dict: Dict[str, Any]) -> None:
    d = KubernetesMgmtDriver(state_dir=str(tmp_path))
    inst = v1_instance(cluster_vnfcs(), simple_request_dict["additionalParams"])
    d.instantiate_end(None, inst, v1_request(simple_request_dict), None, None,
                      **pkg_kwargs(sample_pkg))
    k8s_id = inst.vim_connection_info[-1]["id"]
    saves = len(inst.saved)
    # No vnfc ids: the whole VNF is rebuilt; its access goes at start, comes back at end.
    d.heal_start(None, inst, SimpleNamespace(vnfc_instance_id=[]), None, None,
                 **pkg_kwargs(sample_pkg))
    assert engine.last["targets"] == ["entire"]
    assert inst.vim_connection_info == [OPENSTACK_VIM]
    assert len(inst.saved) == saves + 1
    d.heal_end(None, inst, SimpleNamespace(), None, None, **pkg_kwargs(sample_pkg))
    assert (engine.last["operation"], engine.last["targets"]) == ("heal_end", ["entire"])
    assert [v["id"] for v in inst.vim_connection_info] == ["vim-os", k8s_id]
    # The heal ran with the request instantiate_end kept (Tacker passes heal none).
    assert engine.last["request"]["flavourId"] == simple_request_dict["flavourId"]


def test_later_hooks_never_hand_the_cluster_token_to_the_engine(
        engine: Recorder, tmp_path: Path, sample_pkg: Path,
        simple_request_dict: Dict[str, Any]) -> None:
    d = KubernetesMgmtDriver(state_dir=str(tmp_path))
    inst = v1_instance(cluster_vnfcs(), simple_request_dict["additionalParams"])
    d.instantiate_end(None, inst, v1_request(simple_request_dict), None, None,
                      **pkg_kwargs(sample_pkg))
    # Without the saved request the engine's request is rebuilt from the instance, whose
    # vim_connection_info now holds the cluster's entry (with the token).
    (tmp_path / "requests" / "vnf-1.json").unlink()
    inst.vim_connection_info[0] = dict(OPENSTACK_VIM, access_info={
        "auth_url": "http://keystone/v3", "username": "u", "password": "p"})
    d.heal_start(None, inst, SimpleNamespace(vnfc_instance_id=["c-w1"]), None, None,
                 **pkg_kwargs(sample_pkg))
    call = engine.last
    assert TOKEN not in json.dumps(call["request"])
    assert [v["vimType"] for v in call["request"]["vimConnectionInfo"]] == ["openstack"]
    # Heat discovery authenticates with the OpenStack VIM, never the Kubernetes one.
    assert call["access_info"]["username"] == "u"


# --- terminate --------------------------------------------------------------------------


def test_terminate_revokes_then_removes_the_vim(
        engine: Recorder, tmp_path: Path, sample_pkg: Path,
        simple_request_dict: Dict[str, Any]) -> None:
    d = KubernetesMgmtDriver(state_dir=str(tmp_path), drain_on_terminate=True)
    inst = v1_instance(cluster_vnfcs(), simple_request_dict["additionalParams"])
    d.instantiate_end(None, inst, v1_request(simple_request_dict), None, None,
                      **pkg_kwargs(sample_pkg))
    assert len(inst.vim_connection_info) == 2
    d.terminate_start(None, inst, SimpleNamespace(termination_type="FORCEFUL"), None, None,
                      **pkg_kwargs(sample_pkg))
    assert engine.last["operation"] == "terminate_start" and engine.last["drain"] is True
    assert len(inst.vim_connection_info) == 2, "the VIM stays until the VMs are gone"
    saves = len(inst.saved)
    # terminate_end gets no `vnf` kwarg from Tacker and runs nothing on the hosts.
    n = len(engine.calls)
    d.terminate_end(None, inst, SimpleNamespace(), None, None)
    assert len(engine.calls) == n
    assert inst.vim_connection_info == [OPENSTACK_VIM]
    assert len(inst.saved) == saves + 1
    # Again (Tacker's retry): nothing left to remove, nothing saved.
    d.terminate_end(None, inst, SimpleNamespace(), None, None)
    assert len(inst.saved) == saves + 1


# --- v2 ---------------------------------------------------------------------------------


def v2_instance(_stored: Dict[str, Any]) -> Dict[str, Any]:
    # Tacker v2 keeps no additionalParams on the instance: heal reads them from the
    # request instantiate_end saved.
    return {
        "id": "vnf-v2", "vnfdId": "vnfd-1",
        "vimConnectionInfo": {"vim1": {"vimId": "os-1",
                                       "vimType": "ETSINFV.OPENSTACK_KEYSTONE.V_3",
                                       "accessInfo": {"region": "RegionOne"}}},
        "instantiatedVnfInfo": {
            "flavourId": "simple", "metadata": {"stack_id": "stack-v2"},
            "vnfcResourceInfo": [
                {"id": "r-w1", "vduId": "workerNode",
                 "computeResource": {"resourceId": "srv-w1"},
                 "vnfcCpInfo": [{"id": "cp", "cpdId": "workerNode_CP2"}]},
                {"id": "r-s1", "vduId": "storage_server",
                 "computeResource": {"resourceId": "srv-s1"},
                 "vnfcCpInfo": [{"id": "cp", "cpdId": "storage_server_CP"}]}],
            "vnfcInfo": [{"id": "workerNode-srv-w1", "vduId": "workerNode",
                          "vnfcResourceInfoId": "r-w1", "vnfcState": "STARTED"}],
        },
    }


def v2_dict(op: str, request: Dict[str, Any], inst: Dict[str, Any], pkg: Path,
            grant_request: Any = None) -> Dict[str, Any]:
    return {"operation": op, "request": request, "vnf_instance": inst,
            "grant_request": grant_request or {}, "grant_response": {},
            "tmp_csar_dir": str(pkg), "user_script_err_handling_data": {}}


def test_v2_instantiate_end_adds_the_kubernetes_vim(
        engine: Recorder, tmp_path: Path, sample_pkg: Path,
        simple_request_dict: Dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VNF_MGMT_STATE_DIR", str(tmp_path))
    inst = v2_instance(simple_request_dict["additionalParams"])
    out = tacker_v2.handle(v2_dict("instantiate_end", simple_request_dict, inst, sample_pkg))
    assert engine.last["install_cluster"] is True and engine.last["stack"] == "stack-v2"
    vims = out["vnf_instance"]["vimConnectionInfo"]
    assert list(vims)[0] == "vim1", "the OpenStack VIM stays first (Tacker selects it)"
    (vid, k8s), = [(k, v) for k, v in vims.items() if k != "vim1"]
    assert k8s == {"vimId": vid, "vimType": "ETSINFV.KUBERNETES.V_1",
                   "interfaceInfo": {"endpoint": ENDPOINT, "ssl_ca_cert": CA},
                   "accessInfo": {"bearer_token": TOKEN},
                   "extra": {"vim_name": "kubernetes_vim", "managed_by": "vnf-mgmt"}}
    # The summary kept in user_script_err_handling_data holds no secret, and pickles.
    summary = out["user_script_err_handling_data"]["vnf_mgmt"]["instantiate_end"]
    assert summary["kubernetes_vim"] == {"vim_name": "kubernetes_vim", "vim_id": vid,
                                         "endpoint": ENDPOINT}
    assert TOKEN not in repr(out["user_script_err_handling_data"])
    pickle.dumps(out)
    # terminate_end drops it again.
    out2 = tacker_v2.handle(v2_dict("terminate_end", {}, out["vnf_instance"], sample_pkg))
    assert list(out2["vnf_instance"]["vimConnectionInfo"]) == ["vim1"]


def test_v2_scale_in_takes_the_servers_from_the_grant_request(
        engine: Recorder, tmp_path: Path, sample_pkg: Path,
        simple_request_dict: Dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VNF_MGMT_STATE_DIR", str(tmp_path))
    inst = v2_instance(simple_request_dict["additionalParams"])
    grant_req = {"operation": "SCALE", "removeResources": [
        {"id": "x1", "type": "COMPUTE", "resourceTemplateId": "workerNode",
         "resource": {"resourceId": "srv-w1", "vimLevelResourceType": "OS::Nova::Server"}},
        {"id": "x2", "type": "LINKPORT", "resource": {"resourceId": "port-1"}}]}
    req = {"type": "SCALE_IN", "aspectId": "worker_instance", "numberOfSteps": 1}
    tacker_v2.handle(v2_dict("scale_start", req, inst, sample_pkg, grant_req))
    assert (engine.last["operation"], engine.last["targets"]) == ("scale_start", ["srv-w1"])


def test_v2_heal_through_vnfc_info(
        engine: Recorder, tmp_path: Path, sample_pkg: Path,
        simple_request_dict: Dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    # SOL003 v3: vnfcInstanceId names vnfcInfo entries, which point at vnfcResourceInfo.
    monkeypatch.setenv("VNF_MGMT_STATE_DIR", str(tmp_path))
    (tmp_path / "requests").mkdir()
    saved = json.loads(json.dumps(simple_request_dict))
    saved["additionalParams"]["vnf_mgmt_inventory"] = "/srv/inventory.yaml"
    (tmp_path / "requests" / "vnf-v2.json").write_text(json.dumps(saved))
    inst = v2_instance(simple_request_dict["additionalParams"])
    tacker_v2.handle(v2_dict("heal_start", {"vnfcInstanceId": ["workerNode-srv-w1"]}, inst,
                             sample_pkg))
    assert (engine.last["operation"], engine.last["targets"]) == ("heal_start", ["srv-w1"])
    # The inventory override of the saved request holds for the later hooks too.
    assert engine.last["inventory"] == "/srv/inventory.yaml"
    assert engine.last.get("stack") is None
    tacker_v2.handle(v2_dict("heal_end", {"vnfcInstanceId": ["r-s1"]}, inst, sample_pkg))
    assert (engine.last["operation"], engine.last["targets"]) == ("heal_end",
                                                                  ["storage_server"])


def test_hook_result_of_a_no_op(engine: Recorder) -> None:
    r = _lcm.run_hook(_lcm.HookInput(operation="instantiate_start"))
    assert (r.summary, r.access, r.remove_vim) == (None, None, False)
    assert engine.calls == []
