"""The v1 driver class loaded and driven by OpenStack Tacker's own code.

Runs in the Tacker test virtualenv (``tools/tacker-venv.sh``: ``tacker`` from PyPI, the
vnf_mgmt wheel of this run). A test distribution, built here with its own ``setup.cfg``,
registers the class under the stevedore namespace ``tacker.tacker.mgmt.drivers`` (as an
operator's site package or Tacker's own ``setup.cfg`` would); Tacker's real
``VnfLcmDriver`` loads it through ``tacker.common.driver_manager.DriverManager`` and the
hooks are called exactly as ``VnfLcmDriver`` calls them::

    self._mgmt_manager.invoke(
        self._load_vnf_interface(context, '<hook>', vnf_instance, vnfd_dict),
        '<hook>', context=context, vnf_instance=vnf_instance,
        <op>_request=..., grant=vnf_dict.get('grant'), grant_request=None, **kwargs)

with Tacker's own objects (``VnfInstance``, ``InstantiateVnfRequest``,
``HealVnfRequest``, ``ScaleVnfRequest``) built as Tacker's unit tests build them
(``tacker.tests.unit.vnflcm.fakes``, ``obj_from_primitive`` as the API controller does).

Stubbed, because each needs a running Tacker service and none is our code:
``TackerManager.get_service_plugins`` (the database-backed VNFM service plugin, which
``VnfLcmDriver.__init__`` looks up for other operations) and
``VnfPackageVnfd.get_by_id`` (the database row mapping a VNFD id to its package
directory under ``[vnf_package] vnf_package_csar_path``); Tacker's unit tests stub the
same two.

Without Tacker installed this module fails to import: the run must not skip silently.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import importlib.metadata
import inspect
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple
from unittest import mock

import pytest

TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path.insert(0, str(TESTS))

from conftest import REPO, SAMPLE_PKG  # noqa: E402
from test_lab import KUBECTL, PVC, Lab, cluster_lab, lab  # noqa: E402,F401 (fixtures)

import stevedore  # noqa: E402
import stevedore.named  # noqa: E402
from oslo_config import cfg  # noqa: E402
from tacker import context as tacker_context  # noqa: E402
from tacker import objects  # noqa: E402
from tacker.common import exceptions as tacker_exceptions  # noqa: E402
from tacker.common import utils as tacker_utils  # noqa: E402
from tacker.manager import TackerManager  # noqa: E402
from tacker.sol_refactored import objects as objects_v2  # noqa: E402
from tacker.sol_refactored.common import exceptions as sol_ex  # noqa: E402
from tacker.sol_refactored.common import vnfd_utils  # noqa: E402
from tacker.sol_refactored.conductor import vnflcm_driver_v2  # noqa: E402
from tacker.objects import fields  # noqa: E402
from tacker.vnflcm import utils as vnflcm_utils  # noqa: E402
from tacker.vnflcm import vnflcm_driver  # noqa: E402
from tacker.vnfm.mgmt_drivers.vnflcm_abstract_driver import (  # noqa: E402
    VnflcmMgmtAbstractDriver,
)

objects.register_all()
objects_v2.register_all()

from tacker.tests.unit.vnflcm import fakes  # noqa: E402  (needs the registered objects)

import vnf_mgmt  # noqa: E402
import vnf_mgmt.tacker  # noqa: E402
from vnf_mgmt.tacker import DRIVER_TYPE, KubernetesMgmtDriver  # noqa: E402

NAMESPACE = "tacker.tacker.mgmt.drivers"
SITE_DIST = "vnf-mgmt-tacker-site"
ENTRY_POINT = "vnf_mgmt.tacker:KubernetesMgmtDriver"
PACKAGE_UUID = "5d7b4f1e-8a6c-4c1b-9a55-0c2f6f0e9b31"
VNFD_ID = "b1bb0ce7-ebca-4fa7-95ed-4840d70a1177"
#: Where the v1 package keeps the driver source Tacker hash-checks (package-root relative).
V1_DRIVER_FILE = "Scripts/vnf_mgmt_tacker.py"

SETUP_CFG = f"""[metadata]
name = {SITE_DIST}
version = 1.0.0
description = Site registration of the vnf-mgmt Tacker v1 management driver

[options]
py_modules =

[options.entry_points]
{NAMESPACE} =
    {DRIVER_TYPE} = {ENTRY_POINT}
"""
PYPROJECT = """[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"
"""


def pip(*args: str) -> None:
    p = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr


@pytest.fixture(scope="module")
def site_distribution(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The test distribution: only an entry point, built and installed into this venv."""
    src = tmp_path_factory.mktemp("site-dist")
    (src / "setup.cfg").write_text(SETUP_CFG)
    (src / "pyproject.toml").write_text(PYPROJECT)
    pip("install", "-q", "--no-deps", "--no-index", "--no-build-isolation", str(src))
    importlib.invalidate_caches()
    try:
        yield SITE_DIST
    finally:
        pip("uninstall", "-q", "-y", SITE_DIST)


@pytest.fixture(scope="module")
def tacker_conf() -> Iterator[cfg.ConfigOpts]:
    """Tacker's configuration as ``tacker.conf`` would set it for this driver."""
    cfg.CONF([], project="tacker", default_config_files=[])
    cfg.CONF.set_override("vnflcm_mgmt_driver", ["vnflcm_noop", DRIVER_TYPE], "tacker")
    yield cfg.CONF
    cfg.CONF.clear_override("vnflcm_mgmt_driver", "tacker")


def make_lcm_driver() -> vnflcm_driver.VnfLcmDriver:
    """Tacker's ``VnfLcmDriver`` as tacker-conductor builds it (drivers loaded once)."""
    with mock.patch.object(TackerManager, "get_service_plugins",
                           return_value={"VNFM": mock.Mock()}):
        return vnflcm_driver.VnfLcmDriver()


def installed_driver_source() -> Path:
    return Path(inspect.getfile(KubernetesMgmtDriver))


def v1_package(csar_root: Path) -> Path:
    """The sample package as a v1 package under ``vnf_package_csar_path/<package uuid>``:
    the ``mgmt-drivers-kubernetes`` artifact is the installed driver source (Tacker v1
    resolves ``file`` against the package root and compares its SHA-256 with the
    installed class's file); the v2 script stays where it is."""
    pkg = csar_root / PACKAGE_UUID
    shutil.copytree(SAMPLE_PKG, pkg, symlinks=True)
    shutil.copyfile(installed_driver_source(), pkg / V1_DRIVER_FILE)
    for df in (pkg / "Definitions").glob("sample_kubernetes_df_*.yaml"):
        text = df.read_text()
        assert "file: ../Scripts/vnf_mgmt_driver.py" in text, df
        df.write_text(text.replace("file: ../Scripts/vnf_mgmt_driver.py",
                                   f"file: {V1_DRIVER_FILE}"))
    return pkg


class Tacker:
    """A VnfLcmDriver with its package store: calls hooks the way VnfLcmDriver does."""

    def __init__(self, csar_root: Path) -> None:
        self.context = tacker_context.get_admin_context()
        self.csar_root = csar_root
        self.package = v1_package(csar_root)
        self.lcm = make_lcm_driver()

    def vnfd_dict(self, flavour_id: str) -> Dict[str, Any]:
        return vnflcm_utils._get_vnfd_dict(self.context, VNFD_ID, flavour_id)

    def invoke(self, hook: str, vnf_instance: Any, **kwargs: Any) -> Any:
        vnfd = self.vnfd_dict(vnf_instance.instantiated_vnf_info.flavour_id)
        driver = self.lcm._load_vnf_interface(self.context, hook, vnf_instance, vnfd)
        return self.lcm._mgmt_manager.invoke(driver, hook, context=self.context,
                                             vnf_instance=vnf_instance, **kwargs)


@pytest.fixture
def tacker(site_distribution: str, tacker_conf: cfg.ConfigOpts, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[Tacker]:
    csar_root = tmp_path / "vnfpackages"
    csar_root.mkdir()
    cfg.CONF.set_override("vnf_package_csar_path", str(csar_root), "vnf_package")
    package_vnfd = fakes.return_vnf_package_vnfd(package_uuid=PACKAGE_UUID, vnfd_id=VNFD_ID)
    with mock.patch.object(objects.VnfPackageVnfd, "get_by_id",
                           return_value=package_vnfd):
        yield Tacker(csar_root)
    cfg.CONF.clear_override("vnf_package_csar_path", "vnf_package")


def instantiate_request(body: Dict[str, Any]) -> Any:
    """An InstantiateVnfRequest as Tacker's v1 API controller builds it from the body."""
    req_body = tacker_utils.convert_camelcase_to_snakecase(copy.deepcopy(body))
    return objects.InstantiateVnfRequest.obj_from_primitive(
        req_body, context=tacker_context.get_admin_context())


VNFC_IDS = {"masterNode": "0c5e1b4a-54d6-4a43-8d1f-2a8a7e1f9c01",
            "workerNode": "0c5e1b4a-54d6-4a43-8d1f-2a8a7e1f9c02",
            "storage_server": "0c5e1b4a-54d6-4a43-8d1f-2a8a7e1f9c03"}
CPDS = {"masterNode": "masterNode_CP1", "workerNode": "workerNode_CP2",
        "storage_server": "storage_server_CP"}


def vnf_instance(request: Any) -> Any:
    """An INSTANTIATED VnfInstance (Tacker's unit-test fake) with what VnfLcmDriver has
    filled in before instantiate_end: VIM connection, flavour, stack id, additional
    params and one VNFC per VDU (the CP ids Tacker records from the stack)."""
    inst = fakes.return_vnf_instance(fields.VnfInstanceState.INSTANTIATED)
    inst.vnfd_id = VNFD_ID
    inst.vim_connection_info = request.vim_connection_info
    info = inst.instantiated_vnf_info
    info.flavour_id = request.flavour_id
    info.instance_id = "7ac8c1c0-1b2a-4d44-9d5f-7d1f1a0c5e9e"
    info.additional_params = request.additional_params
    info.vnfc_resource_info = [
        objects.VnfcResourceInfo(
            id=vnfc_id, vdu_id=vdu,
            compute_resource=objects.ResourceHandle(
                vim_connection_id=request.vim_connection_info[0].id,
                resource_id=str(uuid.uuid5(uuid.NAMESPACE_URL, vdu)),
                vim_level_resource_type="OS::Nova::Server"),
            vnfc_cp_info=[objects.VnfcCpInfo(id=str(uuid.uuid5(uuid.NAMESPACE_URL, CPDS[vdu])),
                                             cpd_id=CPDS[vdu])])
        for vdu, vnfc_id in VNFC_IDS.items()]
    return inst


def vnf_dict() -> Dict[str, Any]:
    """The ``vnf`` dict VnfLcmDriver passes (deep-copied) as ``kwargs['vnf']``."""
    return copy.deepcopy(fakes.vnf_dict())


def sample_body() -> Dict[str, Any]:
    return json.loads((REPO / "samples/requests/instantiate_simple_pv.json").read_text())


# --- loading ------------------------------------------------------------------------


def test_site_distribution_and_wheel_register_the_class(site_distribution: str) -> None:
    site = importlib.metadata.distribution(site_distribution)
    eps = [(ep.group, ep.name, ep.value) for ep in site.entry_points]
    assert eps == [(NAMESPACE, DRIVER_TYPE, ENTRY_POINT)]
    # The wheel's own entry point is kept: the same (name, value), so stevedore
    # deduplicates it and Tacker sees one driver of that type.
    wheel = importlib.metadata.distribution("vnf-mgmt")
    assert (NAMESPACE, DRIVER_TYPE, ENTRY_POINT) in [
        (ep.group, ep.name, ep.value) for ep in wheel.entry_points]
    mgr = stevedore.named.NamedExtensionManager(NAMESPACE, [DRIVER_TYPE],
                                                invoke_on_load=True)
    assert [(e.name, e.entry_point.value) for e in mgr] == [(DRIVER_TYPE, ENTRY_POINT)]
    assert isinstance(mgr[DRIVER_TYPE].obj, KubernetesMgmtDriver)


def test_vnflcm_driver_loads_the_class_and_hashes_its_source(
        site_distribution: str, tacker_conf: cfg.ConfigOpts) -> None:
    lcm = make_lcm_driver()
    assert DRIVER_TYPE in lcm._mgmt_manager and "vnflcm_noop" in lcm._mgmt_manager
    driver = lcm._mgmt_manager[DRIVER_TYPE]
    assert type(driver) is KubernetesMgmtDriver
    assert driver.get_type() == driver.get_name() == DRIVER_TYPE
    # _init_mgmt_driver_hash: SHA-256 of the installed class's source file, read as text.
    src = installed_driver_source()
    assert src.parent.parent.name == "site-packages", src
    expected = hashlib.sha256(src.read_text().encode("utf-8")).hexdigest()
    assert lcm._mgmt_driver_hash[DRIVER_TYPE] == expected


CONDUCTOR_START = f"""
from unittest import mock
from oslo_config import cfg
from tacker import objects
objects.register_all()
from tacker.manager import TackerManager
from tacker.vnflcm import vnflcm_driver
cfg.CONF([], project="tacker", default_config_files=[])
cfg.CONF.set_override("vnflcm_mgmt_driver", ["vnflcm_noop", "{DRIVER_TYPE}"], "tacker")
with mock.patch.object(TackerManager, "get_service_plugins", return_value={{"VNFM": None}}):
    lcm = vnflcm_driver.VnfLcmDriver()
print(type(lcm._mgmt_manager["{DRIVER_TYPE}"]).__module__)
"""


def conductor_start() -> subprocess.CompletedProcess:
    """VnfLcmDriver built in a new process, as at tacker-conductor start (stevedore reads
    the installed entry points once per process)."""
    return subprocess.run([sys.executable, "-W", "ignore", "-c", CONDUCTOR_START],
                          capture_output=True, text=True, timeout=120)


def test_a_second_target_under_the_name_stops_tacker(
        site_distribution: str, tmp_path: Path) -> None:
    # With the test distribution and the wheel (an identical pair) Tacker starts.
    p = conductor_start()
    assert p.returncode == 0 and p.stdout.split() == ["vnf_mgmt.tacker"], p.stderr
    # A copy registered under the same name with another target gives two drivers of
    # one type: VnfLcmDriver cannot be built. (Tacker means SystemExit; its message
    # formatting indexes by the builtin `type` and raises KeyError first.)
    src = tmp_path / "copy-dist"
    src.mkdir()
    (src / "site_mgmt_copy.py").write_text(
        "from vnf_mgmt.tacker import KubernetesMgmtDriver  # noqa: F401\n")
    (src / "setup.cfg").write_text(
        SETUP_CFG.replace(SITE_DIST, "vnf-mgmt-tacker-copy")
        .replace("py_modules =", "py_modules = site_mgmt_copy")
        .replace(ENTRY_POINT, "site_mgmt_copy:KubernetesMgmtDriver"))
    (src / "pyproject.toml").write_text(PYPROJECT)
    pip("install", "-q", "--no-deps", "--no-index", "--no-build-isolation", str(src))
    try:
        p = conductor_start()
    finally:
        pip("uninstall", "-q", "-y", "vnf-mgmt-tacker-copy")
    assert p.returncode != 0, p.stdout
    assert "KeyError" in p.stderr or "already registered" in p.stderr, p.stderr


def test_class_implements_tackers_abstract_driver() -> None:
    assert issubclass(KubernetesMgmtDriver, VnflcmMgmtAbstractDriver)
    assert KubernetesMgmtDriver.__abstractmethods__ == frozenset()
    abstract = sorted(VnflcmMgmtAbstractDriver.__abstractmethods__)
    # get_type/get_name/get_description and the 12 hooks: every method is abstract.
    assert len(abstract) == 15, abstract
    assert set(abstract) == {n for n, v in vars(VnflcmMgmtAbstractDriver).items()
                             if callable(v) and not n.startswith("_")}
    for name in abstract:
        ours = inspect.signature(getattr(KubernetesMgmtDriver, name))
        theirs = inspect.signature(getattr(VnflcmMgmtAbstractDriver, name))
        shape = [(p.name, p.kind, p.default) for p in theirs.parameters.values()]
        assert [(p.name, p.kind, p.default) for p in ours.parameters.values()] == shape, name


def test_vnfd_interfaces_resolve_to_the_driver(tacker: Tacker) -> None:
    inst = vnf_instance(instantiate_request(sample_body()))
    vnfd = tacker.vnfd_dict("simple")
    for hook in ("instantiate_start", "instantiate_end", "heal_start", "heal_end",
                 "scale_start", "scale_end", "terminate_start", "terminate_end"):
        assert tacker.lcm._load_vnf_interface(tacker.context, hook, inst, vnfd) == DRIVER_TYPE
    # Operations the VNFD does not map fall back to Tacker's no-op driver.
    assert tacker.lcm._load_vnf_interface(tacker.context, "modify_information_start", inst,
                                          vnfd) == "vnflcm_noop"
    # A package whose driver file differs from the installed class is refused by Tacker.
    (tacker.package / V1_DRIVER_FILE).write_text("# another driver\n")
    with pytest.raises(tacker_exceptions.MgmtDriverHashMatchFailure):
        tacker.lcm._load_vnf_interface(tacker.context, "instantiate_end", inst, vnfd)


def test_no_op_hooks_with_tacker_objects(tacker: Tacker,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    req = instantiate_request(sample_body())
    inst = vnf_instance(req)
    assert tacker.invoke("instantiate_start", inst, instantiate_vnf_request=req,
                         grant=None, grant_request=None) is None
    # Without the cluster install there is no exported access to revoke.
    monkeypatch.setenv("VNF_MGMT_INSTALL_CLUSTER", "0")
    tacker.lcm = make_lcm_driver()
    assert tacker.invoke("terminate_start", inst,
                         terminate_vnf_request=objects.TerminateVnfRequest(
                             termination_type=fields.VnfInstanceTerminationType.GRACEFUL),
                         grant=None, grant_request=None, vnf=vnf_dict()) is None


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The engine call replaced by a recorder (see tests/test_tacker_cluster.py)."""
    from test_tacker_cluster import Recorder

    from vnf_mgmt import _ops

    r = Recorder()
    monkeypatch.setattr(_ops, "run", r)
    for var in ("VNF_MGMT_INSTALL_CLUSTER", "VNF_MGMT_RUNTIME", "VNF_MGMT_INVENTORY"):
        monkeypatch.delenv(var, raising=False)
    return r


def test_scale_hooks_with_tacker_objects(tacker: Tacker, engine: Any) -> None:
    inst = vnf_instance(instantiate_request(sample_body()))
    # Tacker v1 records each VNFC's nested (ASG member) stack in metadata.stack_id.
    member = "a0c2d4e6-0000-4000-8000-000000000002"
    worker = next(v for v in inst.instantiated_vnf_info.vnfc_resource_info
                  if v.vdu_id == "workerNode")
    worker.metadata = {"stack_id": member}
    # scale_start runs for SCALE_IN with the members Heat chose for removal: their servers.
    scale_in = fakes.scale_request("SCALE_IN", "worker_instance", 1, False)
    assert tacker.invoke("scale_start", inst, scale_vnf_request=scale_in, grant=None,
                         grant_request=None, scale_name_list=["worker_instance-2"],
                         scale_out_id_list=[member], vnf=vnf_dict()) is None
    assert engine.last["operation"] == "scale_start"
    assert engine.last["targets"] == [worker.compute_resource.resource_id]
    assert engine.last["stack"] == inst.instantiated_vnf_info.instance_id
    # scale_end after a SCALE_OUT joins the new members on the re-discovered stack.
    scale_out = fakes.scale_request("SCALE_OUT", "worker_instance", 2, False)
    assert tacker.invoke("scale_end", inst, scale_vnf_request=scale_out, grant=None,
                         grant_request=None,
                         scale_out_id_list=["a0c2d4e6-0000-4000-8000-000000000003"],
                         vnf=vnf_dict()) is None
    assert engine.last["operation"] == "scale_end" and engine.last["targets"] is None
    # Nothing to do before a scale-out.
    n = len(engine.calls)
    assert tacker.invoke("scale_start", inst, scale_vnf_request=scale_out, grant=None,
                         grant_request=None, scale_name_list=[], scale_out_id_list=[],
                         vnf=vnf_dict()) is None
    assert len(engine.calls) == n


def test_cluster_vim_is_a_tacker_vim_connection_info(
        tacker: Tacker, engine: Any, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VNF_MGMT_STATE_DIR", str(tmp_path / "state"))
    tacker.lcm = make_lcm_driver()
    req = instantiate_request(sample_body())
    inst = vnf_instance(req)
    openstack = [v.id for v in inst.vim_connection_info]
    inst.obj_reset_changes()
    with mock.patch.object(objects.VnfInstance, "save", autospec=True) as save:
        assert tacker.invoke("instantiate_end", inst, instantiate_vnf_request=req,
                             grant=None, grant_request=None, vnf=vnf_dict()) is None
        assert engine.last["install_cluster"] is True
        assert save.call_count == 1
        assert "vim_connection_info" in inst.obj_what_changed()
        vims = inst.vim_connection_info
        assert [v.id for v in vims[:-1]] == openstack, "Tacker's hooks use element [0]"
        k8s = vims[-1]
        assert isinstance(k8s, objects.VimConnectionInfo)
        assert k8s.vim_type == "kubernetes" and k8s.vim_id == k8s.id
        assert k8s.access_info["auth_url"] == k8s.interface_info["endpoint"]
        assert set(k8s.access_info) == {"auth_url", "bearer_token", "ssl_ca_cert"}
        assert k8s.extra["managed_by"] == "vnf-mgmt"
        # What Tacker persists (VnfInstance.save serialises each entry with to_dict).
        assert k8s.to_dict()["vim_type"] == "kubernetes"
        # terminate_end (Tacker passes no vnf kwarg) removes it again.
        assert tacker.invoke("terminate_end", inst,
                             terminate_vnf_request=objects.TerminateVnfRequest(
                                 termination_type=fields.VnfInstanceTerminationType.GRACEFUL),
                             grant=None, grant_request=None) is None
        assert [v.id for v in inst.vim_connection_info] == openstack
        assert save.call_count == 2


def test_heal_of_an_unknown_vnfc_is_a_validation_error(tacker: Tacker) -> None:
    inst = vnf_instance(instantiate_request(sample_body()))
    heal = objects.HealVnfRequest(context=tacker.context, vnfc_instance_id=[
        "ffffffff-0000-4000-8000-000000000000"], cause="test")
    with pytest.raises(vnf_mgmt.ValidationError) as ei:
        tacker.invoke("heal_start", inst, heal_vnf_request=heal, grant=None,
                      grant_request=None)
    assert ei.value.error_codes == ["request.heal.unknown_vnfc"]


def test_instantiate_end_invalid_request_is_validation_error(tacker: Tacker) -> None:
    body = sample_body()
    body["flavourId"] = "large"
    req = instantiate_request(body)
    inst = vnf_instance(req)
    inst.instantiated_vnf_info.flavour_id = "simple"  # the VNFD lookup needs a real one
    with pytest.raises(vnf_mgmt.ValidationError) as ei:
        tacker.invoke("instantiate_end", inst, instantiate_vnf_request=req, grant=None,
                      grant_request=None, vnf=vnf_dict())
    assert "request.flavour.unknown" in ei.value.error_codes


# --- against the lab ----------------------------------------------------------------

needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="the lab needs root (network namespaces, loop devices)")


def pvs(lab: Lab) -> List[str]:
    out = lab.exec("m1", *KUBECTL, "get", "pv", "-o", "name").stdout
    return sorted(line.split("/", 1)[1] for line in out.split() if "/" in line)


def pv_nfs(lab: Lab, name: str) -> Tuple[str, str]:
    pv = json.loads(lab.exec("m1", *KUBECTL, "get", "pv", name, "-o", "json").stdout)
    return pv["spec"]["nfs"]["server"], pv["spec"]["nfs"]["path"]


def sha256_on(lab: Lab, host: str, path: str) -> str:
    return lab.exec(host, "sha256sum", path).stdout.split()[0]


@needs_root
def test_lab_instantiate_end_and_storage_heal_with_tacker_objects(
        tacker: Tacker, cluster_lab: Lab, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    lab = cluster_lab
    # tacker-conductor's environment configures the driver (Tacker gives it no arguments):
    # the lab's host keys and a journal directory.
    monkeypatch.setenv("VNF_MGMT_KNOWN_HOSTS", lab.info["known_hosts"])
    monkeypatch.setenv("VNF_MGMT_STATE_DIR", str(tmp_path / "state"))
    # The lab's cluster is pre-initialised: this test is about the storage server.
    monkeypatch.setenv("VNF_MGMT_INSTALL_CLUSTER", "0")
    tacker.lcm = make_lcm_driver()  # the driver singleton, built at conductor start
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps(lab.inventory()))
    body = lab.request()
    body["additionalParams"]["vnf_mgmt_inventory"] = str(inventory)
    req = instantiate_request(body)
    inst = vnf_instance(req)

    # instantiate_end: storage server, NFS exports and the PVs on the cluster.
    assert tacker.invoke("instantiate_end", inst, instantiate_vnf_request=req, grant=None,
                         grant_request=None, vnf=vnf_dict()) is None
    assert pvs(lab) == ["nfs-pv1", "nfs-pv2"]
    assert pv_nfs(lab, "nfs-pv1") == (lab.ip["s1"], "/volume/nfs/pv1")
    exports = lab.exports()
    assert "/volume/nfs/pv1" in exports and "/volume/nfs/pv2" in exports, exports
    lab.exec("s1", "sh", "-c", "head -c 65536 /dev/urandom > /volume/nfs/pv1/data.bin")
    data_sum = sha256_on(lab, "s1", "/volume/nfs/pv1/data.bin")

    heal = objects.HealVnfRequest(
        context=tacker.context,
        **tacker_utils.convert_camelcase_to_snakecase(
            {"vnfcInstanceId": [VNFC_IDS["storage_server"]], "cause": "storage VM lost"}))

    # A claim binds nfs-pv1: heal_start is refused, nothing is deleted.
    lab.exec("m1", "sh", "-c", f"printf '%s' '{PVC}' | {' '.join(KUBECTL)} create "
             "--validate=false -f -")
    with pytest.raises(vnf_mgmt.PersistentVolumeInUse) as ei:
        tacker.invoke("heal_start", inst, heal_vnf_request=heal, grant=None,
                      grant_request=None)
    assert ei.value.code == "driver.kube.pv_in_use"
    assert ei.value.volumes == ["nfs-pv1"]
    assert ei.value.claims == ["default/data"]
    assert pvs(lab) == ["nfs-pv1", "nfs-pv2"]

    # The claim goes away: heal_start deletes our PVs; (Tacker rebuilds the VM here);
    # heal_end sets the storage server up again and registers the PVs; the data is kept.
    lab.exec("m1", *KUBECTL, "delete", "pvc", "data", "-n", "default")
    assert tacker.invoke("heal_start", inst, heal_vnf_request=heal, grant=None,
                         grant_request=None) is None
    assert pvs(lab) == []
    assert tacker.invoke("heal_end", inst, heal_vnf_request=heal, grant=None,
                         grant_request=None, vnf=vnf_dict()) is None
    assert pvs(lab) == ["nfs-pv1", "nfs-pv2"]
    assert pv_nfs(lab, "nfs-pv2") == (lab.ip["s1"], "/volume/nfs/pv2")
    assert sha256_on(lab, "s1", "/volume/nfs/pv1/data.bin") == data_sum
    exports = lab.exports()
    assert "/volume/nfs/pv1" in exports and "/volume/nfs/pv2" in exports, exports


# --- v2: the script run by Tacker's own v2 conductor code ----------------------------


def v2_request(body: Dict[str, Any]) -> Any:
    """A v2 InstantiateVnfRequest (SOL003 v3: maps keyed by identifiers)."""
    body = copy.deepcopy(body)
    body["vimConnectionInfo"] = {v.pop("id"): v for v in body["vimConnectionInfo"]}
    for vl in body.get("extVirtualLinks", []):
        for cp in vl["extCps"]:
            cp["cpConfig"] = {f"{cp['cpdId']}_{i}": c for i, c in enumerate(cp["cpConfig"])}
    return objects_v2.InstantiateVnfRequest.from_dict(body)


def v2_run(operation: str, req: Any, data: Dict[str, Any]) -> Any:
    """``VnfLcmDriverV2._exec_mgmt_driver_script`` on the sample (a v2 package, as is):
    Tacker finds the script through the VNFD, copies the package, runs
    ``sys.executable <script>`` with the pickled dict and reads the pickled answer."""
    vnfd = vnfd_utils.Vnfd(VNFD_ID)
    vnfd.init_from_csar_dir(str(SAMPLE_PKG))
    inst = objects_v2.VnfInstanceV2(id="d5d5c5ac-0000-4000-8000-000000000001",
                                    vnfdId=VNFD_ID, instantiationState="NOT_INSTANTIATED")
    vnflcm_driver_v2.VnfLcmDriverV2()._exec_mgmt_driver_script(
        operation, req.flavourId, req, inst, None, None, vnfd, data)
    return inst


def test_v2_script_through_tackers_conductor() -> None:
    vnfd = vnfd_utils.Vnfd(VNFD_ID)
    vnfd.init_from_csar_dir(str(SAMPLE_PKG))
    assert vnfd.get_interface_script("simple", "instantiate_end") == \
        "../Scripts/vnf_mgmt_driver.py"
    req = v2_request(sample_body())
    data: Dict[str, Any] = {}
    # A no-op hook: the answer (the instance, unchanged) is read back into Tacker's object.
    inst = v2_run("instantiate_start", req, data)
    assert inst.id == "d5d5c5ac-0000-4000-8000-000000000001" and data == {}
    # No topology source: Tacker's MgmtDriverExecutionFailed carries our concise stderr.
    with pytest.raises(sol_ex.MgmtDriverExecutionFailed) as ei:
        v2_run("instantiate_end", req, data)
    assert "driver.discovery.request" in str(ei.value.detail)
    assert "Traceback" not in str(ei.value.detail)


@needs_root
def test_lab_v2_instantiate_end_through_tackers_conductor(
        lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # tacker-conductor's environment reaches the script (Tacker runs it as a subprocess).
    monkeypatch.setenv("VNF_MGMT_KNOWN_HOSTS", lab.info["known_hosts"])
    monkeypatch.setenv("VNF_MGMT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("VNF_MGMT_SKIP_PV_REGISTRATION", "1")
    monkeypatch.setenv("VNF_MGMT_INSTALL_CLUSTER", "0")
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps(lab.inventory()))
    body = lab.request()
    body["additionalParams"]["vnf_mgmt_inventory"] = str(inventory)
    data: Dict[str, Any] = {}
    v2_run("instantiate_end", v2_request(body), data)
    summary = data["vnf_mgmt"]["instantiate_end"]
    assert summary["operation"] == "instantiate" and summary["executed"] > 0, summary
    exports = lab.exports()
    assert "/volume/nfs/pv1" in exports and "/volume/nfs/pv2" in exports, exports


def test_v2_instance_with_the_cluster_vim_reads_back_into_tacker() -> None:
    # What the v2 script returns after instantiate_end, read back as the conductor does
    # (VnfInstanceV2.from_dict), then used as Tacker v2 uses VIMs.
    from tacker.sol_refactored.common import vnf_instance_utils as inst_utils
    from vnf_mgmt import tacker_v2

    inst = objects_v2.VnfInstanceV2(
        id="d5d5c5ac-0000-4000-8000-000000000002", vnfdId=VNFD_ID,
        instantiationState="INSTANTIATED",
        vimConnectionInfo={"vim1": objects_v2.VimConnectionInfo(
            vimId="os-1", vimType="ETSINFV.OPENSTACK_KEYSTONE.V_3",
            accessInfo={"region": "RegionOne"})})
    access = vnf_mgmt.ClusterAccess("https://10.10.0.50:6443", "-----BEGIN CERTIFICATE-----\n"
                                    "MIIB\n-----END CERTIFICATE-----\n", "tok-3f9a")
    out = tacker_v2.with_vim(inst.to_dict(), "4293a29b-41d2-55d1-8cf4-9debf3188c94",
                             "kubernetes_vim", access)
    back = objects_v2.VnfInstanceV2.from_dict(out)
    # Tacker selects the first entry for its own operations: still the OpenStack VIM.
    assert inst_utils.select_vim_info(back.vimConnectionInfo).vimId == "os-1"
    k8s = back.vimConnectionInfo["4293a29b-41d2-55d1-8cf4-9debf3188c94"]
    # The fields Tacker v2's Kubernetes infra driver reads (kubernetes_utils.AuthContextManager).
    assert k8s.vimType == "ETSINFV.KUBERNETES.V_1"
    assert k8s.interfaceInfo["endpoint"] == "https://10.10.0.50:6443"
    assert "BEGIN CERTIFICATE" in k8s.interfaceInfo["ssl_ca_cert"]
    assert k8s.accessInfo["bearer_token"] == "tok-3f9a"
    # Removed again (terminate_end), the OpenStack entry stays.
    gone = objects_v2.VnfInstanceV2.from_dict(
        tacker_v2.without_vim(back.to_dict(), "4293a29b-41d2-55d1-8cf4-9debf3188c94"))
    assert list(gone.vimConnectionInfo) == ["vim1"]
