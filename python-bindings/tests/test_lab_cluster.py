"""The cluster lifecycle through the Tacker v1 driver on lab hosts: instantiate_end
installs a kubeadm cluster (the kube-emu shim: real etcd, the API emulator) with the
storage server and PVs and appends the Kubernetes VIM; the exported token works from
this machine; a scale-in is refused while a PodDisruptionBudget forbids the eviction and
completes once it is gone; a worker is healed (drained and deleted, then joined again);
terminate revokes the access and removes the VIM entry.

Needs root (like the Rust lab tests); CI runs as root."""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, Iterator, List

import pytest

import vnf_mgmt
from vnf_mgmt.tacker import KubernetesMgmtDriver

from conftest import REPO, SAMPLE_PKG
from test_lab import KUBECTL, PASSWORD, VOL, Lab, kube_shims, lab_up, vnf_lab

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="the lab needs root (network namespaces, loop devices)")

INSTANCE = "vnf-py-cluster"
WORKLOAD = """apiVersion: v1
kind: Pod
metadata: {name: guarded, namespace: default, labels: {app: guarded}}
spec: {nodeName: w2, containers: [{name: c, image: busybox}]}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: guarded-pdb, namespace: default}
spec: {minAvailable: 1, selector: {matchLabels: {app: guarded}}}
"""


@pytest.fixture
def bare_lab(tmp_path: Path) -> Iterator[Lab]:
    """s1 (with a volume), m1, w1, w2 with the kubeadm/k3s shims; no cluster yet."""
    shims = kube_shims(tmp_path)
    yield from lab_up(tmp_path, {"password": PASSWORD, "shim_dirs": [str(shims)], "hosts": [
        {"name": "s1", "volumes": [{"id": VOL, "size": "64M"}]}, {"name": "m1"},
        {"name": "w1"}, {"name": "w2"}]})


class Instance(SimpleNamespace):
    """Tacker's VnfInstance as the driver sees it; save() records the VIM entries."""

    def save(self) -> None:
        self.__dict__.setdefault("saved", []).append(list(self.vim_connection_info))


def inventory(lab: Lab) -> Dict[str, Any]:
    """The lab's hosts as the static inventory (server ids as Tacker's VNFCs name them)."""
    ip = lab.ip
    return {"format_version": 1, "hosts": [h for h in [
        {"name": "s1", "role": "storage", "ssh": ip["s1"], "resource_id": "srv-s1",
         "ports": {"storage_server_CP": ip["s1"]},
         "volumes": {"storage_server_volume": {"cinder_id": VOL, "device": "/dev/vdb"}}},
        {"name": "m1", "role": "master", "ssh": ip.get("m1"), "resource_id": "srv-m1"},
        {"name": "w1", "role": "worker", "ssh": ip.get("w1"), "resource_id": "srv-w1"},
        {"name": "w2", "role": "worker", "ssh": ip.get("w2"), "resource_id": "srv-w2"},
    ] if h["ssh"]]}


def vnfc(id: str, vdu: str, cp: str, server: str, stack: str) -> SimpleNamespace:
    return SimpleNamespace(id=id, vdu_id=vdu, vnfc_cp_info=[SimpleNamespace(cpd_id=cp)],
                           compute_resource=SimpleNamespace(resource_id=server),
                           metadata={"stack_id": stack})


def nodes(lab: Lab) -> List[str]:
    out = lab.exec("m1", *KUBECTL, "get", "nodes", "-o", "name").stdout
    return sorted(line.split("/", 1)[1] for line in out.split())


def host_logs(lab: Lab) -> str:
    """The last lines of the kubeadm/k3s logs of every cluster host (what an operator
    would look at when an install step fails)."""
    out = []
    for h in ("m1", "w1", "w2"):
        p = lab.exec(h, "sh", "-c", "tail -n 15 /var/log/vnf-mgmt-k3s.log "
                     "/var/log/kube-emu/*.log /var/log/vnf-mgmt-kubeadm-*.log 2>/dev/null",
                     check=False)
        out.append(f"--- logs on {h}\n{p.stdout}")
    return "\n".join(out)


def kubectl_with(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), "--request-timeout",
                           "5s", *args], capture_output=True, text=True, timeout=60)


def test_tacker_v1_cluster_install_scale_in_with_a_pdb_and_terminate(
        bare_lab: Lab, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    lab = bare_lab
    caplog.set_level(logging.DEBUG, logger="vnf_mgmt")
    inv = tmp_path / "inventory.json"
    inv.write_text(json.dumps(inventory(lab)))
    req = lab.request()
    req["additionalParams"]["vnf_mgmt_inventory"] = str(inv)
    request = SimpleNamespace(flavour_id=req["flavourId"],
                              instantiation_level_id=req.get("instantiationLevelId"),
                              additional_params=req["additionalParams"],
                              ext_virtual_links=req["extVirtualLinks"])
    openstack_vim = {"id": "vim-os", "vim_id": "os-1", "vim_type": "openstack",
                     "access_info": {"auth_url": "http://keystone.invalid/v3"}}
    vnfcs = [vnfc("c-m1", "masterNode", "masterNode_CP1", "srv-m1", "member-m1"),
             vnfc("c-w1", "workerNode", "workerNode_CP2", "srv-w1", "member-w1"),
             vnfc("c-w2", "workerNode", "workerNode_CP2", "srv-w2", "member-w2"),
             SimpleNamespace(id="c-s1", vdu_id="storage_server",
                             vnfc_cp_info=[SimpleNamespace(cpd_id="storage_server_CP")],
                             compute_resource=SimpleNamespace(resource_id="srv-s1"))]
    inst = Instance(id=INSTANCE, vnfd_id="vnfd-1", vim_connection_info=[openstack_vim],
                    instantiated_vnf_info=SimpleNamespace(
                        instance_id="stack-not-used", flavour_id="simple",
                        additional_params=req["additionalParams"],
                        vnfc_resource_info=vnfcs))
    events: List[Dict[str, Any]] = []
    # Calico's pinned manifest is not reachable offline: the stand-in the Rust lab uses,
    # put on the master (the lab hosts do not see every path of this machine).
    calico = (REPO / "tests/kube-emu/fixtures/calico-lab.yaml").read_bytes()
    subprocess.run([vnf_lab(), "exec", "--lab", lab.id, "m1", "sh", "-c",
                    "mkdir -p /var/lib/vnf-lab-fixtures && "
                    "cat >/var/lib/vnf-lab-fixtures/calico-lab.yaml"],
                   input=calico, check=True, timeout=60)
    settings = dict(known_hosts=lab.info["known_hosts"], state_dir=str(tmp_path / "state"),
                    events=events.append,
                    cni_manifest="file:///var/lib/vnf-lab-fixtures/calico-lab.yaml")
    pkg = {"vnf": {"vnf_package_path": str(SAMPLE_PKG)}}

    # instantiate_end: the cluster (kubeadm by default), storage server, PVs, the VIM.
    t0 = time.monotonic()
    d = KubernetesMgmtDriver(kube_timeout=60, **settings)
    try:
        assert d.instantiate_end(None, inst, request, None, None, **pkg) is None
    except vnf_mgmt.ExecutionError as e:
        pytest.fail(f"{e}\n{host_logs(lab)}")
    install_s = time.monotonic() - t0
    assert nodes(lab) == ["m1", "w1", "w2"]
    pvs = lab.exec("m1", *KUBECTL, "get", "pv", "-o", "name").stdout
    assert "nfs-pv1" in pvs and "nfs-pv2" in pvs, pvs
    assert [v["vim_type"] if isinstance(v, dict) else v.vim_type
            for v in inst.vim_connection_info] == ["openstack", "kubernetes"]
    assert inst.saved == [inst.vim_connection_info]
    k8s = inst.vim_connection_info[1]
    access = k8s["access_info"]
    assert access["auth_url"].startswith("https://") and ":6443" in access["auth_url"]
    assert "BEGIN CERTIFICATE" in access["ssl_ca_cert"]
    token = access["bearer_token"]
    assert token
    # What Tacker stores works: a kubeconfig from it reaches the API from this machine.
    kc = tmp_path / "kubeconfig"
    kc.write_text(vnf_mgmt.ClusterAccess(access["auth_url"], access["ssl_ca_cert"], token)
                  .kubeconfig(INSTANCE))
    kc.chmod(0o600)
    assert shutil.which("kubectl"), "kubectl is needed on this machine (as for the Rust lab)"
    deadline = time.monotonic() + 30
    while True:
        p = kubectl_with(kc, "get", "nodes", "-o", "name")
        if p.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert p.returncode == 0, p.stderr
    assert sorted(p.stdout.split()) == ["node/m1", "node/w1", "node/w2"]
    # The token is in no log record and no event.
    assert token not in caplog.text
    assert token not in json.dumps(events)
    b64 = base64.b64encode(token.encode()).decode()
    assert b64 not in caplog.text

    # A pod on w2 under a budget that allows no disruption: the scale-in that removes w2
    # (Tacker: the member's nested stack id → its VNFC → server srv-w2) is refused.
    lab.exec("m1", "sh", "-c", f"printf '%s' '{WORKLOAD}' | {' '.join(KUBECTL)} apply "
             "--validate=false -f -")
    scale_in = SimpleNamespace(type="SCALE_IN", aspect_id="worker_instance",
                               number_of_steps=1, additional_params={})
    quick = KubernetesMgmtDriver(kube_timeout=6, **settings)
    with pytest.raises(vnf_mgmt.ExecutionError) as ei:
        quick.scale_start(None, inst, scale_in, None, None, scale_name_list=["abc123"],
                          scale_out_id_list=["member-w2"], **pkg)
    assert ei.value.code.startswith("driver.kube."), ei.value.code
    why = f"{ei.value} {getattr(ei.value, 'output_tail', '')}"
    assert "guarded" in why, why
    assert nodes(lab) == ["m1", "w1", "w2"]
    # The budget relaxed: the drain completes and the Node goes; w1 is untouched.
    lab.exec("m1", *KUBECTL, "delete", "pdb", "guarded-pdb", "-n", "default")
    assert quick.scale_start(None, inst, scale_in, None, None, scale_name_list=["abc123"],
                             scale_out_id_list=["member-w2"], **pkg) is None
    assert nodes(lab) == ["m1", "w1"]
    pods = lab.exec("m1", *KUBECTL, "get", "pods", "-A", "-o", "name").stdout
    assert "guarded" not in pods, pods
    # Heat removes the member: w2 leaves the stack (the inventory) and the instance.
    remaining = inventory(lab)
    remaining["hosts"] = [h for h in remaining["hosts"] if h["name"] != "w2"]
    inv.write_text(json.dumps(remaining))
    inst.instantiated_vnf_info.vnfc_resource_info = [v for v in vnfcs if v.id != "c-w2"]

    # Heal of worker w1 (Tacker: vnfc_instance_id → its server srv-w1): drained and its
    # Node deleted at start; at end (here the VM is kept, as when Heat rebuilds it in
    # place) its kubeadm state is reset and it joins again as a new Node.
    uid = lab.exec("m1", *KUBECTL, "get", "node", "w1", "-o",
                   "jsonpath={.metadata.uid}").stdout
    heal = SimpleNamespace(vnfc_instance_id=["c-w1"], cause="worker lost")
    # (Tacker passes heal_start no `vnf`; the driver then asks Tacker for the package
    # path, which needs Tacker: here the path is given.)
    assert d.heal_start(None, inst, heal, None, None, **pkg) is None
    assert nodes(lab) == ["m1"]
    assert d.heal_end(None, inst, heal, None, None, **pkg) is None
    assert nodes(lab) == ["m1", "w1"]
    assert lab.exec("m1", *KUBECTL, "get", "node", "w1", "-o",
                    "jsonpath={.metadata.uid}").stdout != uid
    assert [v["vim_type"] for v in inst.vim_connection_info] == ["openstack", "kubernetes"]

    # terminate_start revokes the access; terminate_end removes the VIM entry.
    assert d.terminate_start(None, inst, SimpleNamespace(termination_type="FORCEFUL"),
                             None, None, **pkg) is None
    sas = lab.exec("m1", *KUBECTL, "get", "serviceaccounts", "-n", "kube-system", "-o",
                   "name").stdout
    assert f"vnf-mgmt-{INSTANCE}" not in sas, sas
    assert d.terminate_end(None, inst, SimpleNamespace(), None, None) is None
    assert inst.vim_connection_info == [openstack_vim]
    print(f"instantiate_end with the kubeadm cluster install: {install_s:.1f} s")


def test_tacker_v2_script_installs_a_k3s_cluster_and_returns_the_vim(
        tmp_path: Path) -> None:
    import pickle
    import sys

    shims = kube_shims(tmp_path)
    for lab in lab_up(tmp_path, {"password": PASSWORD, "shim_dirs": [str(shims)], "hosts": [
            {"name": "s1", "volumes": [{"id": VOL, "size": "64M"}]}, {"name": "m1"},
            {"name": "w1"}]}):
        (tmp_path / "inventory.json").write_text(json.dumps(inventory(lab)))
        req = lab.request()
        req["additionalParams"]["vnf_mgmt_inventory"] = str(tmp_path / "inventory.json")
        req["additionalParams"]["vnf_mgmt_runtime"] = "k3s"
        # SOL003 v3 (Tacker v2) shapes: vimConnectionInfo keyed by id.
        req["vimConnectionInfo"] = {v.pop("id"): v for v in req["vimConnectionInfo"]}
        instance = {"id": "vnf-v2-k3s", "vnfdId": "vnfd-1",
                    "vimConnectionInfo": {"vim1": {
                        "vimId": "os-1", "vimType": "ETSINFV.OPENSTACK_KEYSTONE.V_3"}}}
        env = dict(os.environ, VNF_MGMT_KNOWN_HOSTS=lab.info["known_hosts"],
                   VNF_MGMT_STATE_DIR=str(tmp_path / "state"), VNF_MGMT_KUBE_TIMEOUT="60")

        def hook(op: str, request: Dict[str, Any], inst: Dict[str, Any]) -> Dict[str, Any]:
            d = {"operation": op, "request": request, "vnf_instance": inst,
                 "grant_request": {}, "grant_response": {}, "tmp_csar_dir": str(SAMPLE_PKG),
                 "user_script_err_handling_data": {}}
            p = subprocess.run([sys.executable, "-m", "vnf_mgmt.tacker_v2"],
                               input=pickle.dumps(d), capture_output=True, timeout=300,
                               cwd="/", env=env)
            assert p.returncode == 0, p.stderr.decode() + host_logs(lab)
            out: Dict[str, Any] = pickle.loads(p.stdout)
            return out

        out = hook("instantiate_end", req, instance)
        k3s_kubectl = ["kubectl", "--kubeconfig", "/etc/rancher/k3s/k3s.yaml"]
        names = lab.exec("m1", *k3s_kubectl, "get", "nodes", "-o", "name").stdout.split()
        assert sorted(names) == ["node/m1", "node/w1"]
        vims = out["vnf_instance"]["vimConnectionInfo"]
        assert list(vims)[0] == "vim1"
        (vid, k8s), = [(k, v) for k, v in vims.items() if k != "vim1"]
        assert k8s["vimType"] == "ETSINFV.KUBERNETES.V_1"
        token = k8s["accessInfo"]["bearer_token"]
        summary = out["user_script_err_handling_data"]["vnf_mgmt"]["instantiate_end"]
        assert summary["kubernetes_vim"]["vim_id"] == vid
        assert token not in json.dumps(summary)
        # The returned VIM works from this machine.
        kc = tmp_path / "kubeconfig"
        kc.write_text(vnf_mgmt.ClusterAccess(k8s["interfaceInfo"]["endpoint"],
                                             k8s["interfaceInfo"]["ssl_ca_cert"], token)
                      .kubeconfig("vnf-v2-k3s"))
        kc.chmod(0o600)
        deadline = time.monotonic() + 30
        while True:
            p = kubectl_with(kc, "get", "nodes", "-o", "name")
            if p.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert p.returncode == 0, p.stderr
        # terminate_start (the runtime comes from the saved request) revokes the access;
        # terminate_end drops the VIM from the returned instance.
        hook("terminate_start", {"terminationType": "FORCEFUL"}, out["vnf_instance"])
        sas = lab.exec("m1", *k3s_kubectl, "get", "serviceaccounts", "-n", "kube-system",
                       "-o", "name").stdout
        assert "vnf-mgmt-vnf-v2-k3s" not in sas, sas
        end = hook("terminate_end", {"terminationType": "FORCEFUL"}, out["vnf_instance"])
        assert list(end["vnf_instance"]["vimConnectionInfo"]) == ["vim1"]
