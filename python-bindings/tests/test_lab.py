"""vnf_mgmt.instantiate and the Tacker v1 instantiate_end against real SSH hosts of the
lab (``vnf-lab``: network namespaces with sshd, sudo, a loop-device volume and NFS).

Needs root (like the Rust lab tests); CI runs as root. Most tests do the storage part
only (``skip_pv_registration=True``); one brings up a cluster with the kube-emu
``kubeadm`` shim on a master to register the PVs and check the heal guard."""

from __future__ import annotations

import _thread
import functools
import json
import os
import subprocess
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, Iterator, List

import pytest

import vnf_mgmt
from vnf_mgmt.tacker import KubernetesMgmtDriver

from conftest import REPO, SAMPLE_PKG

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="the lab needs root (network namespaces, loop devices)")

VOL = "0b7e8e4c-3f0f-4c43-9d8e-2c0f6f1f0a11"
PASSWORD = "Sentinel-Pw-7f3a9c"
EXPORTS = ["/volume/nfs/pv1", "/volume/nfs/pv2"]


@functools.lru_cache(maxsize=None)
def cargo_bin(package: str) -> str:
    """The workspace's debug build of ``package``'s binary, brought up to date once per
    session (``cargo build`` is a no-op when nothing changed): a stale kube-emu shim would
    not understand what the current engine scripts ask of kubeadm."""
    target = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
    if not target.is_absolute():
        target = REPO / target
    subprocess.run(["cargo", "build", "-q", "-p", package, "--bin", package], cwd=REPO,
                   check=True)
    return str(target / "debug" / package)


def vnf_lab() -> str:
    """The vnf-lab binary (``VNF_LAB``, else the workspace's debug build)."""
    return os.environ.get("VNF_LAB") or cargo_bin("vnf-lab")


class Lab:
    def __init__(self, info: Dict[str, Any], tmp: Path) -> None:
        self.info = info
        self.id = str(info["id"])
        self.tmp = tmp
        self.ip = {h["name"]: h["ip"] for h in info["hosts"]}

    def exec(self, host: str, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([vnf_lab(), "exec", "--lab", self.id, host, *cmd],
                              capture_output=True, text=True, check=check, timeout=60)

    def inventory(self) -> Dict[str, Any]:
        ip = self.ip
        master = [{"name": "m1", "role": "master", "ssh": ip["m1"],
                   "ports": {"masterNode_CP1": ip["m1"]}}] if "m1" in ip else []
        return {"format_version": 1, "hosts": master + [
            {"name": "s1", "role": "storage", "ssh": ip["s1"],
             "ports": {"storage_server_CP": ip["s1"]},
             "volumes": {"storage_server_volume": {"cinder_id": VOL, "device": "/dev/vdb"}}},
            {"name": "w1", "role": "worker", "ssh": ip["w1"],
             "ports": {"workerNode_CP2": ip["w1"]}},
        ]}

    def request(self, password: str = PASSWORD) -> Dict[str, Any]:
        req = json.loads((REPO / "samples/requests/instantiate_simple_pv.json").read_text())
        p = req["additionalParams"]["k8s_cluster_installation_param"]
        for k in ("master_node", "worker_node", "storage_server"):
            p[k]["password"] = password
        p.pop("proxy", None)
        for e in p["storage_server"]["nfs_server_setup_params"]:
            e["export_to"] = self.info["subnet"]
        return req

    def exports(self) -> str:
        return self.exec("s1", "exportfs", "-v").stdout


def lab_up(tmp_path: Path, spec: Dict[str, Any]) -> Iterator[Lab]:
    path = tmp_path / "lab.json"
    path.write_text(json.dumps(spec))
    p = subprocess.run([vnf_lab(), "up", "--spec", str(path)], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    lab = Lab(json.loads(p.stdout), tmp_path)
    try:
        yield lab
    finally:
        subprocess.run([vnf_lab(), "down", "--lab", lab.id], capture_output=True, timeout=120)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    yield from lab_up(tmp_path, {"password": PASSWORD, "hosts": [
        {"name": "s1", "volumes": [{"id": VOL, "size": "64M"}]}, {"name": "w1"}]})


def kube_shims(tmp_path: Path) -> Path:
    """A directory with the kube-emu binary as ``kubeadm`` and ``k3s`` (the lab puts it
    first in every host's PATH)."""
    shims = tmp_path / "shims"
    shims.mkdir()
    (shims / "kube-emu").symlink_to(cargo_bin("kube-emu"))
    for name in ("kubeadm", "k3s"):
        (shims / name).symlink_to("kube-emu")
    return shims


@pytest.fixture
def cluster_lab(tmp_path: Path) -> Iterator[Lab]:
    """s1, w1 and master m1 with a kubeadm-initialised cluster (the kube-emu shim)."""
    shims = kube_shims(tmp_path)
    for lab in lab_up(tmp_path, {"password": PASSWORD, "shim_dirs": [str(shims)], "hosts": [
            {"name": "s1", "volumes": [{"id": VOL, "size": "64M"}]}, {"name": "w1"},
            {"name": "m1"}]}):
        lab.exec("m1", "kubeadm", "init", "--control-plane-endpoint", f"{lab.ip['m1']}:6443",
                 "--pod-network-cidr", "10.244.0.0/16", "--upload-certs")
        yield lab


def run(lab: Lab, **kw: Any) -> vnf_mgmt.Summary:
    args: Dict[str, Any] = dict(vnf_instance_id="vnf-py-1", inventory=lab.inventory(),
                                known_hosts=lab.info["known_hosts"],
                                state_dir=lab.tmp / "state", skip_pv_registration=True,
                                connect_timeout=5)
    args.update(kw)
    request = args.pop("request", None) or lab.request()
    return vnf_mgmt.instantiate(SAMPLE_PKG, request, **args)


def test_instantiate_serves_the_exports_and_resumes(lab: Lab) -> None:
    events: List[Dict[str, Any]] = []
    s = run(lab, events=events.append)
    assert s.operation == "instantiate" and s.executed > 0 and s.skipped == 0
    out = lab.exports()
    for d in EXPORTS:
        assert d in out, out
    assert lab.info["subnet"] in out
    assert any(e.get("phase") == "connect" and e.get("outcome") == "ok" for e in events)
    assert {e["vnf_instance_id"] for e in events} == {"vnf-py-1"}
    # A re-run of the completed operation succeeds and keeps the exports.
    again = run(lab)
    assert again.operation == "instantiate"
    assert all(d in lab.exports() for d in EXPORTS)


def test_wrong_password_is_authentication_error_and_changes_nothing(lab: Lab) -> None:
    calls: List[Dict[str, Any]] = []

    def failing_callback(event: Dict[str, Any]) -> None:
        calls.append(event)
        raise RuntimeError("a broken events callback never fails the operation")

    with pytest.raises(vnf_mgmt.AuthenticationError) as ei:
        run(lab, request=lab.request("not-the-password"), attempts=1,
            events=failing_callback)
    assert calls and calls[0]["phase"] == "connect"
    assert ei.value.code == "driver.ssh.auth_failed"
    assert ei.value.host in ("s1", "w1")
    assert "not-the-password" not in str(ei.value)
    assert lab.exports().strip() == ""
    assert lab.exec("s1", "test", "-d", "/volume/nfs", check=False).returncode != 0


def test_tacker_v1_instantiate_end_with_inventory_override(lab: Lab, tmp_path: Path) -> None:
    inv = tmp_path / "inventory.json"
    inv.write_text(json.dumps(lab.inventory()))
    req = lab.request()
    req["additionalParams"]["vnf_mgmt_inventory"] = str(inv)
    request = SimpleNamespace(flavour_id=req["flavourId"],
                              instantiation_level_id=req.get("instantiationLevelId"),
                              additional_params=req["additionalParams"],
                              ext_virtual_links=req["extVirtualLinks"])
    vnf_instance = SimpleNamespace(
        id="vnf-tacker-1", vnfd_id="vnfd-1", vim_connection_info=[],
        instantiated_vnf_info=SimpleNamespace(instance_id="stack-not-used"))
    events: List[Dict[str, Any]] = []
    d = KubernetesMgmtDriver(known_hosts=lab.info["known_hosts"],
                             state_dir=str(tmp_path / "state"), events=events.append,
                             skip_pv_registration=True, install_cluster=False)
    assert d.instantiate_end(None, vnf_instance, request, None, None,
                             vnf={"vnf_package_path": str(SAMPLE_PKG)}) is None
    out = lab.exports()
    for e in EXPORTS:
        assert e in out, out
    assert {e["vnf_instance_id"] for e in events} == {"vnf-tacker-1"}
    # The request is kept for heal (Tacker gives the heal hooks none).
    saved = json.loads((tmp_path / "state/requests/vnf-tacker-1.json").read_text())
    assert saved["additionalParams"]["vnf_mgmt_inventory"] == str(inv)


def test_keyboard_interrupt_cancels_after_the_running_step_and_a_rerun_resumes(
        lab: Lab) -> None:
    # mkfs.ext4 on the storage host waits for a go file (it announces that it started).
    shim = "/opt/vnf-lab/bin/mkfs.ext4"
    lab.exec("s1", "sh", "-c", "printf '%s\\n' '#!/bin/sh' 'touch /run/mkfs-started' "
             "'while [ ! -e /run/mkfs-go ]; do sleep 0.1; done' "
             f"'exec /sbin/mkfs.ext4 \"$@\"' > {shim} && chmod 755 {shim}")
    stop = threading.Event()

    def interrupt_while_mkfs_runs() -> None:
        while not stop.is_set():
            if lab.exec("s1", "test", "-e", "/run/mkfs-started", check=False).returncode == 0:
                _thread.interrupt_main()  # as Ctrl-C: KeyboardInterrupt in the main thread
                time.sleep(0.5)
                lab.exec("s1", "touch", "/run/mkfs-go")  # let the running step finish
                return
            time.sleep(0.1)

    t = threading.Thread(target=interrupt_while_mkfs_runs, daemon=True)
    t.start()
    events: List[Dict[str, Any]] = []
    try:
        with pytest.raises(KeyboardInterrupt):
            run(lab, events=events.append)
    finally:
        stop.set()
        t.join()
    # The running step finished (the engine waited for it); no later step started.
    volume = "s1/volume/storage_server_volume"
    assert any(e.get("step") == volume and e.get("phase") == "end"
               and e.get("outcome") == "ok" for e in events), events
    started = [e.get("step") for e in events if e.get("phase") == "start"]
    assert "s1/nfs-exports" not in started, started
    assert lab.exports().strip() == ""
    # A re-run resumes: the volume step is skipped (not formatted again), the rest runs.
    s = run(lab, events=events.append)
    assert s.skipped > 0 and s.executed > 0
    assert any(e.get("step") == volume and e.get("phase") == "skip" for e in events)
    out = lab.exports()
    for d in EXPORTS:
        assert d in out, out


def test_tacker_v2_script_instantiate_end_with_pinned_keys(lab: Lab, tmp_path: Path) -> None:
    import pickle
    import sys

    # The v2 script takes its engine settings from VNF_MGMT_* variables; host keys pinned
    # in the inventory (as OpenStack discovery pins them from the console log), journal
    # under $XDG_STATE_HOME.
    inv = lab.inventory()
    keys = {h["name"]: h["host_keys"] for h in lab.info["hosts"]}
    for h in inv["hosts"]:
        h["host_keys"] = [keys[h["name"]]["ed25519"], keys[h["name"]]["ecdsa"]]
    (tmp_path / "inventory.json").write_text(json.dumps(inv))
    req = lab.request()
    req["additionalParams"]["vnf_mgmt_inventory"] = str(tmp_path / "inventory.json")
    script = {"operation": "instantiate_end", "request": req,
              "vnf_instance": {"id": "vnf-v2-1", "vnfdId": "vnfd-1"},
              "grant_request": {}, "grant_response": {}, "tmp_csar_dir": str(SAMPLE_PKG),
              "user_script_err_handling_data": {}}
    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / "xdg"),
               VNF_MGMT_SKIP_PV_REGISTRATION="1", VNF_MGMT_INSTALL_CLUSTER="0")
    p = subprocess.run([sys.executable, "-m", "vnf_mgmt.tacker_v2"],
                       input=pickle.dumps(script), capture_output=True, timeout=120,
                       cwd="/", env=env)
    assert p.returncode == 0, p.stderr.decode()
    out = pickle.loads(p.stdout)
    summary = out["user_script_err_handling_data"]["vnf_mgmt"]["instantiate_end"]
    assert summary["operation"] == "instantiate" and summary["executed"] > 0
    exports = lab.exports()
    for d in EXPORTS:
        assert d in exports, exports
    assert (tmp_path / "xdg/vnf-mgmt/requests/vnf-v2-1.json").exists()


KUBECTL = ["kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf"]
PVC = """apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: default}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: ""
  volumeName: nfs-pv1
  resources: {requests: {storage: 1Gi}}
"""


def test_pvs_registered_and_heal_start_refused_while_a_claim_binds_one(
        cluster_lab: Lab) -> None:
    lab = cluster_lab
    s = run(lab, skip_pv_registration=False)
    assert s.executed > 0
    pvs = lab.exec("m1", *KUBECTL, "get", "pv", "-o", "name").stdout
    assert "nfs-pv1" in pvs and "nfs-pv2" in pvs, pvs
    lab.exec("m1", "sh", "-c", f"printf '%s' '{PVC}' | {' '.join(KUBECTL)} create "
             "--validate=false -f -")
    with pytest.raises(vnf_mgmt.PersistentVolumeInUse) as ei:
        vnf_mgmt.heal_storage_server(SAMPLE_PKG, lab.request(), phase="start",
                                     vnf_instance_id="vnf-py-1", inventory=lab.inventory(),
                                     known_hosts=lab.info["known_hosts"],
                                     state_dir=lab.tmp / "state", connect_timeout=5)
    assert ei.value.code == "driver.kube.pv_in_use"
    assert ei.value.volumes == ["nfs-pv1"]
    assert ei.value.claims == ["default/data"]
    # Nothing deleted.
    pvs = lab.exec("m1", *KUBECTL, "get", "pv", "-o", "name").stdout
    assert "nfs-pv1" in pvs and "nfs-pv2" in pvs, pvs
