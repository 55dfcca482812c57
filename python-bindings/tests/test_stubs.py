"""The type stub `_vnf_mgmt.pyi` matches the compiled module (names, parameters,
defaults), in the spirit of mypy.stubtest."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import vnf_mgmt
from vnf_mgmt import _vnf_mgmt


def stub_functions() -> dict:
    stub = Path(vnf_mgmt.__file__).parent / "_vnf_mgmt.pyi"
    tree = ast.parse(stub.read_text())
    return {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}


def stub_classes() -> dict:
    stub = Path(vnf_mgmt.__file__).parent / "_vnf_mgmt.pyi"
    tree = ast.parse(stub.read_text())
    return {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}


def test_stub_lists_every_function() -> None:
    compiled = {n for n in dir(_vnf_mgmt)
                if callable(getattr(_vnf_mgmt, n)) and not n.startswith("__")
                and not isinstance(getattr(_vnf_mgmt, n), type)}
    assert set(stub_functions()) == compiled


def test_stub_lists_every_class_and_its_public_members() -> None:
    compiled = {n for n in dir(_vnf_mgmt) if isinstance(getattr(_vnf_mgmt, n), type)}
    classes = stub_classes()
    assert set(classes) == compiled
    for name, node in classes.items():
        declared = {f.name for f in node.body if isinstance(f, ast.FunctionDef)
                    and not f.name.startswith("__")}
        real = {m for m in dir(getattr(_vnf_mgmt, name)) if not m.startswith("__")}
        assert declared == real, name


def test_stub_parameters_and_defaults_match() -> None:
    for name, fn in stub_functions().items():
        sig = inspect.signature(getattr(_vnf_mgmt, name))
        stub_params = [a.arg for a in fn.args.args + fn.args.kwonlyargs]
        assert stub_params == list(sig.parameters), name
        kinds = [p.kind for p in sig.parameters.values()]
        assert kinds.count(inspect.Parameter.KEYWORD_ONLY) == len(fn.args.kwonlyargs), name
        defaults = [ast.literal_eval(d) for d in fn.args.defaults]
        defaults += [ast.literal_eval(d) for d in fn.args.kw_defaults if d is not None]
        real = [p.default for p in sig.parameters.values()
                if p.default is not inspect.Parameter.empty]
        assert defaults == real, name


def test_stub_declares_version() -> None:
    stub = (Path(vnf_mgmt.__file__).parent / "_vnf_mgmt.pyi").read_text()
    assert "__version__: str" in stub
    assert isinstance(_vnf_mgmt.__version__, str)


def test_stub_all_matches_runtime() -> None:
    stub = ast.parse((Path(vnf_mgmt.__file__).parent / "_vnf_mgmt.pyi").read_text())
    declared = next(ast.literal_eval(n.value) for n in stub.body
                    if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "__all__")
    assert declared == list(_vnf_mgmt.__all__)
