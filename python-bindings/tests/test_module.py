"""The installed module: version, layout, validate/generate_hot/plan, error mapping,
GIL release and the logging bridge."""

from __future__ import annotations

import base64
import json
import logging
import pickle
import re
import threading
import time
from pathlib import Path
from typing import List

import pytest

import vnf_mgmt
from vnf_mgmt import _vnf_mgmt, exceptions

from conftest import REPO, invalid_cases


def test_installed_wheel_not_source_tree() -> None:
    # The tests must exercise the built wheel, not python-bindings/python.
    assert "site-packages" in Path(vnf_mgmt.__file__).parts
    assert vnf_mgmt.__version__ == _vnf_mgmt.__version__
    assert vnf_mgmt.__version__.count(".") == 2


def test_typed_package_files_ship() -> None:
    root = Path(vnf_mgmt.__file__).parent
    assert (root / "py.typed").exists()
    assert (root / "_vnf_mgmt.pyi").exists()


def test_all_names_exist() -> None:
    for name in vnf_mgmt.__all__:
        assert hasattr(vnf_mgmt, name), name


def test_validate_good_sample_is_ok(sample_pkg: Path, simple_request: Path) -> None:
    report = vnf_mgmt.validate(sample_pkg, simple_request)
    assert report.ok, str(report)
    assert bool(report)
    d = report.to_dict()
    assert d["ok"] is True
    assert isinstance(d["findings"], list)
    json.dumps(d)  # JSON-able


def test_validate_package_only(sample_pkg: Path) -> None:
    assert vnf_mgmt.validate(str(sample_pkg)).ok


def test_skipping_digests_is_noted(sample_pkg: Path) -> None:
    report = vnf_mgmt.validate(sample_pkg, verify_digests=False)
    assert any("digest" in n for n in report.notes)


@pytest.mark.parametrize("name,package,request_path,code", invalid_cases(),
                         ids=[c[0] for c in invalid_cases()])
def test_validate_invalid_samples(name: str, package: Path, request_path: Path,
                                  code: str) -> None:
    report = vnf_mgmt.validate(package, request_path)
    assert not report.ok, f"{name}: expected an error"
    assert code in report.codes(), f"{name}: {report}"
    finding = next(f for f in report.findings if f.code == code)
    assert finding.severity in ("error", "warning", "info")
    assert finding.message
    assert finding.to_dict()["code"] == code


def test_finding_locations_name_the_file() -> None:
    case = REPO / "samples" / "invalid" / "req-json-syntax"
    report = vnf_mgmt.validate(REPO / "samples/packages/k8s_cluster_with_pv",
                               case / "request.json")
    f = next(f for f in report.findings if f.code == "request.json.syntax")
    assert f.location.file is not None and f.location.file.endswith("request.json")
    assert f.location.line is not None and f.location.line >= 1
    assert "request.json" in str(f)


def test_missing_package_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as ei:
        vnf_mgmt.validate(tmp_path / "nope")
    assert "nope" in str(ei.value.filename)
    assert not isinstance(ei.value, vnf_mgmt.Error)


def test_missing_request_is_file_not_found(sample_pkg: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        vnf_mgmt.validate(sample_pkg, tmp_path / "missing.json")


def test_broken_csar_is_a_finding_not_an_exception(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csar"
    bad.write_bytes(b"this is not a zip archive")
    report = vnf_mgmt.validate(bad)
    assert not report.ok
    assert "package.layout.bad_zip" in report.codes()


def test_error_str_has_code_once(sample_pkg: Path, simple_request: Path,
                                 tmp_path: Path) -> None:
    inv = tmp_path / "empty.yaml"
    inv.write_text("")
    with pytest.raises(vnf_mgmt.DiscoveryError) as ei:
        vnf_mgmt.plan("instantiate", sample_pkg, simple_request, inv, "vnf-1")
    text = str(ei.value)
    assert text.startswith(ei.value.code + ":")
    assert text.count(ei.value.code) == 1
    assert "empty.yaml" in text


def test_generate_hot(sample_pkg: Path, simple_request: Path, tmp_path: Path) -> None:
    bundle = vnf_mgmt.generate_hot(sample_pkg, simple_request)
    assert "heat_template_version" in bundle.top
    assert bundle.files, "the sample scales masters and workers through nested templates"
    for name, text in bundle.files.items():
        assert name.endswith(".yaml")
        assert "heat_template_version" in text
    assert "nfv" in bundle.parameters
    top = bundle.write(tmp_path / "out")
    assert top.read_text() == bundle.top
    for name in bundle.files:
        assert (tmp_path / "out" / name).exists()
    assert json.loads((tmp_path / "out" / "parameters.json").read_text()) == bundle.parameters
    assert set(bundle.to_dict()) == {"top", "files", "parameters"}


def test_generate_hot_unknown_level_has_code(sample_pkg: Path, simple_request: Path) -> None:
    with pytest.raises(vnf_mgmt.HotGenerationError) as ei:
        vnf_mgmt.generate_hot(sample_pkg, simple_request, level="no_such_level")
    assert ei.value.code.startswith("hot.")
    assert "no_such_level" in str(ei.value)


def test_generate_hot_invalid_request_raises_validation_error(sample_pkg: Path) -> None:
    req = REPO / "samples/invalid/req-unknown-flavour/request.json"
    with pytest.raises(vnf_mgmt.ValidationError) as ei:
        vnf_mgmt.generate_hot(sample_pkg, req)
    err = ei.value
    assert err.code == "driver.input.invalid"
    assert "request.flavour.unknown" in err.error_codes
    assert isinstance(err, ValueError)
    assert not err.report.ok
    assert any(f.code == "request.flavour.unknown" for f in err.findings)


INVENTORY = """\
format_version: 1
hosts:
  - name: m1
    role: master
    ssh: 10.0.0.1
    ports: {masterNode_CP1: 10.0.0.1}
  - name: s1
    role: storage
    ssh: 10.0.0.3
    ports: {storage_server_CP: 10.10.0.3}
    volumes:
      storage_server_volume: {cinder_id: 0b7e8e4c-3f0f-4c43-9d8e-2c0f6f1f0a11}
  - name: w1
    role: worker
    ssh: 10.0.0.2
"""


def test_plan_instantiate(sample_pkg: Path, simple_request: Path, tmp_path: Path) -> None:
    inv = tmp_path / "inventory.yaml"
    inv.write_text(INVENTORY)
    p = vnf_mgmt.plan("instantiate", sample_pkg, simple_request, inv, "vnf-1")
    assert p.operation == "instantiate"
    assert p.steps, p.text
    assert {h["name"] for h in p.hosts} >= {"s1"}
    # No secret values in the plan: the sample's password is referenced by name only.
    assert '"ubuntu"' not in json.dumps([h.get("credential") for h in p.hosts])
    again = vnf_mgmt.plan("instantiate", sample_pkg, simple_request, inv, "vnf-1")
    assert again.to_dict() == p.to_dict(), "plans are deterministic"


def test_plan_bad_inventory_is_discovery_error(sample_pkg: Path, simple_request: Path,
                                               tmp_path: Path) -> None:
    inv = tmp_path / "inventory.yaml"
    inv.write_text("format_version: 1\nhosts:\n  - name: a\n    role: chief\n    ssh: x\n")
    with pytest.raises(vnf_mgmt.DiscoveryError) as ei:
        vnf_mgmt.plan("instantiate", sample_pkg, simple_request, inv, "vnf-1")
    assert ei.value.code.startswith("driver.inventory.")


def test_plan_bad_instance_id_is_plan_error(sample_pkg: Path, simple_request: Path,
                                            tmp_path: Path) -> None:
    inv = tmp_path / "inventory.yaml"
    inv.write_text(INVENTORY)
    with pytest.raises(vnf_mgmt.PlanError) as ei:
        vnf_mgmt.plan("instantiate", sample_pkg, simple_request, inv, "../etc")
    assert ei.value.code == "driver.plan.bad_instance_id"


INVENTORY_2W = INVENTORY + """\
  - name: w2
    role: worker
    ssh: 10.0.0.4
    resource_id: 5d1b0f4e-2f33-4c8e-9a52-0c7f2e0b7a10
"""


def step_ids(p: vnf_mgmt.Plan) -> List[str]:
    return [str(s.get("id")) for s in p.steps]


def test_plan_every_cluster_operation(sample_pkg: Path, simple_request: Path,
                                      tmp_path: Path) -> None:
    inv = tmp_path / "inventory.yaml"
    inv.write_text(INVENTORY_2W)
    plain = vnf_mgmt.plan("instantiate", sample_pkg, simple_request, inv, "vnf-1")
    cluster = vnf_mgmt.plan("instantiate", sample_pkg, simple_request, inv, "vnf-1",
                            install_cluster=True)
    assert len(cluster.steps) > len(plain.steps), cluster.text
    assert "kubeadm" in cluster.text and "kubeadm" not in plain.text
    k3s = vnf_mgmt.plan("instantiate", sample_pkg, simple_request, inv, "vnf-1",
                        install_cluster=True, runtime="k3s")
    assert "k3s" in k3s.text and k3s.to_dict() != cluster.to_dict()
    flannel = vnf_mgmt.plan("instantiate", sample_pkg, simple_request, inv, "vnf-1",
                            install_cluster=True, cni="flannel",
                            cni_manifest="https://mirror.example/flannel.yaml")
    assert "mirror.example" in json.dumps(flannel.to_dict()), flannel.text
    with pytest.raises(ValueError, match="unknown cni"):
        vnf_mgmt.plan("instantiate", sample_pkg, simple_request, inv, "vnf-1",
                      install_cluster=True, cni="weave")
    # Scale-in by topology name and by server id plan the same drain of w2.
    by_name = vnf_mgmt.plan("scale_start", sample_pkg, simple_request, inv, "vnf-1",
                            targets=["w2"])
    by_id = vnf_mgmt.plan("scale_start", sample_pkg, simple_request, inv, "vnf-1",
                          targets="5d1b0f4e-2f33-4c8e-9a52-0c7f2e0b7a10")
    assert by_name.operation == "scale_start"
    assert step_ids(by_name) == step_ids(by_id) and step_ids(by_name), by_name.text
    assert "drain Nodes w2 " in by_name.text and "w1" not in by_name.text, by_name.text
    heal = vnf_mgmt.plan("heal_start", sample_pkg, simple_request, inv, "vnf-1",
                         targets=["w1"])
    assert heal.operation == "heal_start" and "Nodes w1 " in heal.text, heal.text
    assert "w2" not in heal.text, heal.text
    end = vnf_mgmt.plan("heal_end", sample_pkg, simple_request, inv, "vnf-1",
                        targets=["w1"])
    assert end.operation == "heal_end" and end.steps
    out = vnf_mgmt.plan("scale_end", sample_pkg, simple_request, inv, "vnf-1")
    assert out.operation == "scale_end" and out.steps
    term = vnf_mgmt.plan("terminate_start", sample_pkg, simple_request, inv, "vnf-1")
    drained = vnf_mgmt.plan("terminate_start", sample_pkg, simple_request, inv, "vnf-1",
                            drain=True)
    assert term.operation == "terminate_start"
    assert len(drained.steps) > len(term.steps), drained.text


def test_plan_refuses_bad_targets(sample_pkg: Path, simple_request: Path,
                                  tmp_path: Path) -> None:
    inv = tmp_path / "inventory.yaml"
    inv.write_text(INVENTORY_2W)
    with pytest.raises(vnf_mgmt.PlanError) as ei:
        vnf_mgmt.plan("heal_start", sample_pkg, simple_request, inv, "vnf-1",
                      targets=["w9"])
    assert ei.value.code == "driver.plan.unknown_target"
    assert "w9" in str(ei.value)
    with pytest.raises(vnf_mgmt.PlanError) as ei:
        vnf_mgmt.plan("heal_start", sample_pkg, simple_request, inv, "vnf-1",
                      targets=["m1"])
    assert ei.value.code == "driver.plan.single_master_heal"
    with pytest.raises(vnf_mgmt.PlanError) as ei:
        vnf_mgmt.plan("scale_start", sample_pkg, simple_request, inv, "vnf-1",
                      targets=["m1"])
    assert ei.value.code == "driver.plan.scale_in_not_worker"


def test_plan_unknown_operation_or_runtime_is_value_error(
        sample_pkg: Path, simple_request: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown operation \"heal\""):
        vnf_mgmt.plan("heal", sample_pkg, simple_request, tmp_path / "inv.yaml", "vnf-1")
    with pytest.raises(ValueError, match="unknown runtime"):
        vnf_mgmt.plan("instantiate", sample_pkg, simple_request, tmp_path / "inv.yaml",
                      "vnf-1", runtime="microk8s")


def test_run_checks_arguments_before_contacting_anything(
        sample_pkg: Path, simple_request: Path, tmp_path: Path) -> None:
    inv = tmp_path / "inventory.yaml"
    inv.write_text(INVENTORY_2W)
    with pytest.raises(ValueError, match="operation must be one of"):
        vnf_mgmt.run("reboot", sample_pkg, simple_request, vnf_instance_id="v",
                     inventory=inv)
    with pytest.raises(ValueError, match="runtime"):
        vnf_mgmt.instantiate(sample_pkg, simple_request, vnf_instance_id="v", inventory=inv,
                             install_cluster=True, runtime="microk8s")
    with pytest.raises(ValueError, match="at least one"):
        vnf_mgmt.heal(sample_pkg, simple_request, targets=[], phase="start",
                      vnf_instance_id="v", inventory=inv)
    with pytest.raises(ValueError, match="remove= is for phase 'start'"):
        vnf_mgmt.scale(sample_pkg, simple_request, phase="end", remove=["w2"],
                       vnf_instance_id="v", inventory=inv)
    # heal "all" rebuilds through Heat: storage server only, and it needs a stack.
    with pytest.raises(ValueError, match="rebuilds only the storage server"):
        vnf_mgmt.heal(sample_pkg, simple_request, targets=["w1"], phase="all",
                      vnf_instance_id="v", stack="s")
    # A planning error (unknown target) surfaces before any host is contacted.
    with pytest.raises(vnf_mgmt.PlanError) as ei:
        vnf_mgmt.heal(sample_pkg, simple_request, targets="w9", phase="start",
                      vnf_instance_id="v", inventory=inv, state_dir=tmp_path / "state")
    assert ei.value.code == "driver.plan.unknown_target"


CA = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.sentinel-token-6d1f"


def test_cluster_access_never_prints_its_token() -> None:
    a = vnf_mgmt.ClusterAccess("https://10.0.0.1:6443", CA, TOKEN,
                               service_account="vnf-mgmt-vnf-1")
    for text in (repr(a), str(a), repr(a.bearer_token), str(a.bearer_token),
                 f"{a.bearer_token}", repr(vnf_mgmt.Summary("instantiate", "v", 1, 0, [], a))):
        assert TOKEN not in text, text
    assert "***" in repr(a) and "https://10.0.0.1:6443" in repr(a)
    assert a.bearer_token.reveal() == TOKEN
    assert a.bearer_token == vnf_mgmt.Secret(TOKEN) and a.bearer_token != vnf_mgmt.Secret("x")
    with pytest.raises(TypeError):
        pickle.dumps(a.bearer_token)
    with pytest.raises(TypeError):
        pickle.dumps(a)
    with pytest.raises(TypeError):
        hash(a.bearer_token)  # a hash of the value would leak it
    vim = a.vim_connection_info("vim-1")
    assert vim["vim_type"] == "kubernetes" and vim["id"] == "vim-1"
    assert vim["access_info"] == {"auth_url": "https://10.0.0.1:6443", "bearer_token": TOKEN,
                                  "ssl_ca_cert": CA}
    kc = a.kubeconfig("vnf-1")
    assert "server: \"https://10.0.0.1:6443\"" in kc and TOKEN in kc
    assert base64.b64encode(CA.encode()).decode() in kc
    # A Secret is accepted as the token too.
    b = vnf_mgmt.ClusterAccess("https://h:6443", CA, vnf_mgmt.Secret(TOKEN))
    assert b.bearer_token.reveal() == TOKEN and b.namespace == "kube-system"


def test_write_kubeconfig_is_private(tmp_path: Path) -> None:
    a = vnf_mgmt.ClusterAccess("https://10.0.0.1:6443", CA, TOKEN)
    path = tmp_path / "kubeconfig"
    a.write_kubeconfig(path, "c1")
    assert path.stat().st_mode & 0o777 == 0o600
    assert TOKEN in path.read_text()
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(OSError):
        a.write_kubeconfig(link)
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.parametrize("code,cls", [
    ("driver.input.invalid", exceptions.ValidationError),
    ("driver.ssh.auth_failed", exceptions.AuthenticationError),
    ("driver.ssh.host_key_mismatch", exceptions.HostKeyMismatch),
    ("driver.ssh.host_key_unknown", exceptions.HostKeyMismatch),
    ("driver.step.timeout", exceptions.Timeout),
    ("driver.kube.timeout", exceptions.Timeout),
    ("driver.step.failed", exceptions.RemoteCommandError),
    ("driver.kube.pv_in_use", exceptions.PersistentVolumeInUse),
    ("driver.exec.cancelled", exceptions.Cancelled),
    ("driver.inventory.syntax", exceptions.DiscoveryError),
    ("driver.plan.no_master", exceptions.PlanError),
    ("hot.flavour.unknown", exceptions.HotGenerationError),
    ("driver.ssh.connect", exceptions.ExecutionError),
    ("driver.journal.io", exceptions.ExecutionError),
])
def test_code_to_class(code: str, cls: type) -> None:
    name = _vnf_mgmt._class_for_code(code)
    assert getattr(exceptions, name) is cls
    assert issubclass(cls, vnf_mgmt.Error)


def test_every_engine_code_maps_to_a_class() -> None:
    codes = [c for c, _ in vnf_mgmt.all_codes()]
    assert len(codes) == len(set(codes))
    for code in codes:
        assert hasattr(exceptions, _vnf_mgmt._class_for_code(code)), code
    assert "driver.ssh.auth_failed" in codes
    assert "package.manifest.digest_mismatch" in codes


def test_validation_error_str_is_bounded() -> None:
    findings = [vnf_mgmt.Finding(f"x.code{i}", "error", f"m{i}") for i in range(25)]
    e = vnf_mgmt.ValidationError("bad", report=vnf_mgmt.Report(findings))
    text = str(e)
    assert text.splitlines()[0] == "driver.input.invalid: bad"
    assert "x.code19" in text and "x.code20" not in text
    assert text.endswith("and 5 more error(s)")
    assert len(e.findings) == 25


def test_execution_error_attributes() -> None:
    e = exceptions.RemoteCommandError("boom", code="driver.step.failed", host="s1",
                                      step="storage-01", exit_status=3,
                                      output_tail=["a", "b"])
    assert (e.host, e.step, e.exit_status, e.output_tail) == ("s1", "storage-01", 3, ["a", "b"])
    assert str(e).startswith("driver.step.failed: ")
    pv = exceptions.PersistentVolumeInUse("in use", volumes=["pv1"], claims=["ns/c1"])
    assert pv.code == "driver.kube.pv_in_use" and pv.volumes == ["pv1"] and pv.claims == ["ns/c1"]
    assert issubclass(exceptions.Timeout, TimeoutError)


def test_concurrent_validate_threads(sample_pkg: Path, simple_request: Path) -> None:
    # Both threads finish with correct results while the GIL is released in Rust.
    results: list = []
    errors: list = []

    def work() -> None:
        try:
            for _ in range(3):
                results.append(vnf_mgmt.validate(sample_pkg, simple_request).ok)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert results == [True] * 6


def test_gil_released_during_validate(sample_pkg: Path, simple_request: Path) -> None:
    # While the main thread is inside one long Rust call, a Python thread keeps running:
    # it records times in the middle of the call, which is impossible if the GIL is held.
    stamps: list = []
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            stamps.append(time.monotonic())
            time.sleep(0.001)

    t = threading.Thread(target=spin)
    t.start()
    try:
        t0 = time.monotonic()
        _vnf_mgmt._validate_timing(str(sample_pkg), str(simple_request), 20, True)
        t1 = time.monotonic()
    finally:
        stop.set()
        t.join()
    lo, hi = t0 + (t1 - t0) * 0.25, t0 + (t1 - t0) * 0.75
    assert any(lo < s < hi for s in stamps), "no Python progress during the Rust call"


def test_log_records_reach_vnf_mgmt_logger(caplog: pytest.LogCaptureFixture,
                                           sample_pkg: Path) -> None:
    caplog.set_level(logging.DEBUG, logger="vnf_mgmt")
    _vnf_mgmt._emit_log("warning", "test::bridge", "hello from rust")
    rec = [r for r in caplog.records if r.getMessage() == "hello from rust"]
    assert rec and rec[0].name == "vnf_mgmt.test.bridge"
    assert rec[0].levelno == logging.WARNING
    vnf_mgmt.validate(sample_pkg)
    assert any(r.name == "vnf_mgmt.api" and "validated" in r.getMessage()
               for r in caplog.records)


def test_log_level_is_respected(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="vnf_mgmt")
    _vnf_mgmt._emit_log("debug", "test::bridge", "quiet please")
    assert not any(r.getMessage() == "quiet please" for r in caplog.records)


def test_dependency_debug_records_are_filtered_in_rust(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    _vnf_mgmt._emit_log("debug", "hyper::proto", "noisy dependency")
    _vnf_mgmt._emit_log("debug", "mgmt_driver::exec", "ours")
    _vnf_mgmt._emit_log("info", "hyper::proto", "dependency info")
    messages = {r.getMessage(): r.name for r in caplog.records}
    assert "noisy dependency" not in messages
    assert messages.get("ours") == "vnf_mgmt.mgmt_driver.exec"
    assert messages.get("dependency info") == "vnf_mgmt.hyper.proto"


def test_emit_log_rejects_unknown_level() -> None:
    with pytest.raises(ValueError):
        _vnf_mgmt._emit_log("loud", "x", "y")


CODE_LITERALS = [
    re.compile(r'(?:code=|default_code = |_invalid\()"([a-z_]+(?:\.[a-z_]+)+)"'),
    re.compile(r'f?"([a-z_]+(?:\.[a-z_]+)+): '),  # v2 script stderr lines "<code>: …"
]


def test_python_only_codes_are_documented() -> None:
    # Every code literal in the installed package is in the engine's catalogue or in the
    # README's "Python layer" table.
    literals = set()
    for path in Path(vnf_mgmt.__file__).parent.glob("*.py"):
        text = path.read_text()
        for pat in CODE_LITERALS:
            literals.update(pat.findall(text))
    assert {"driver.operation.not_implemented", "request.heal.unknown_vnfc",
            "request.additional_params.missing", "driver.internal"} <= literals, literals
    catalogue = {code for code, _ in vnf_mgmt.all_codes()}
    readme = (REPO / "python-bindings" / "README.md").read_text()
    section = readme.split("### Python layer", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`([a-z_]+(?:\.[a-z_]+)+)`", section))
    assert sorted(literals - catalogue - documented) == []
    # The table lists only codes the engine does not catalogue.
    table = section.split("Also raised by the Python layer", 1)[0]
    first_cells = [row.split("|")[1] for row in table.splitlines() if row.startswith("| `")]
    in_table = {c for cell in first_cells for c in re.findall(r"`([a-z_.]+)`", cell)}
    assert {"driver.error", "request.vnf_instance.id"} <= in_table, in_table
    assert in_table and not in_table & catalogue, in_table & catalogue
