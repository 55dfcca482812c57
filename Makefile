# vnf-mgmt — the two commands a newcomer needs:
#   make demo   set everything up and run the main job
#   make test   set everything up and run every test
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
CARGO ?= cargo
VNF_MGMT := target/debug/vnf-mgmt
SAMPLE_PKG := samples/packages/k8s_cluster_with_pv
SAMPLE_REQ := samples/requests/instantiate_simple_pv.json

.PHONY: demo test setup build lint fmt-check clippy shellcheck unit samples-check bench clean python-test

setup:
	@tools/setup.sh

build: setup
	$(CARGO) build --workspace --exclude vnf-mgmt-python --bins

demo: build
	@tools/demo.sh

test: setup lint unit samples-check python-test
	@echo "make test: all checks passed"

lint: fmt-check clippy shellcheck

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

shellcheck:
	git ls-files -z -- '*.sh' | xargs -0 -r shellcheck -x

unit:
	$(CARGO) test --workspace --exclude vnf-mgmt-python --no-fail-fast

# Every sample package must validate; every invalid case is covered by the CLI tests.
samples-check: build
	$(VNF_MGMT) validate $(SAMPLE_PKG)
	for r in samples/requests/*.json; do $(VNF_MGMT) validate $(SAMPLE_PKG) --request "$$r"; done

# The Python module: build the wheel (debug profile), install exactly it into .venv, run
# pytest from outside the source tree so only the installed wheel is importable.
PY_WHEELS := target/python-wheels
# maturin patches the linked library in place (bundling libssl/libcrypto), and that file is
# cargo's own artifact (hard link): it is removed so that a rebuild relinks a clean one.
# Then the Tacker loading tests run in .venv-tacker (Tacker from PyPI, tools/tacker-venv.sh).
python-test: setup
	rm -rf $(PY_WHEELS) "$${CARGO_TARGET_DIR:-target}"/maturin/lib_vnf_mgmt.so "$${CARGO_TARGET_DIR:-target}"/debug/deps/lib_vnf_mgmt.so
	PATH="$(CURDIR)/.venv/bin:$$PATH" .venv/bin/maturin build -m python-bindings/Cargo.toml -o $(PY_WHEELS)
	.venv/bin/pip install -q --disable-pip-version-check --force-reinstall --no-deps $(PY_WHEELS)/vnf_mgmt-*.whl
	cd $(PY_WHEELS) && $(CURDIR)/.venv/bin/python -m pytest -q -p no:cacheprovider -c $(CURDIR)/python-bindings/pyproject.toml $(CURDIR)/python-bindings/tests
	tools/tacker-venv.sh $(PY_WHEELS)/vnf_mgmt-*.whl && cd $(PY_WHEELS) && $(CURDIR)/.venv-tacker/bin/python -m pytest -q -p no:cacheprovider -c $(CURDIR)/python-bindings/tests_tacker/pytest.ini $(CURDIR)/python-bindings/tests_tacker

bench: setup
	@tools/bench.sh

clean:
	$(CARGO) clean
