# One task runner behind the README's two commands. Each target creates or
# reuses the local virtual environment and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
WORKSPACE ?= demo-workspace

.PHONY: serve demo test lint typecheck unit prerequisites bench install-check lock clean

# Installs are reproducible: the exact versions (and hashes) of requirements-dev.lock,
# then the package itself without resolving anything again (which compiles the inbound
# pass where a C compiler is found).
$(STAMP): pyproject.toml setup.py requirements-dev.lock src/audiencehub/people/inbound_pass.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/audiencehub demo --workspace $(WORKSPACE)

serve: demo
	$(BIN)/audiencehub serve --workspace $(WORKSPACE)

test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# PostgreSQL running, Chromium and Java installed (when missing and this user may)
prerequisites:
	.ci/prerequisites

# the prerequisites may have just installed the C compiler the inbound pass needs
unit: $(STAMP) prerequisites
	$(BIN)/python -c "from audiencehub.people.inbound_pass import pass_available as a; a() or exit(1)" \
		|| $(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/pytest

# The package installs and runs with its runtime dependencies alone (no dev extra).
install-check:
	rm -rf .venv-runtime .runtime-workspace
	$(PYTHON) -m venv .venv-runtime
	.venv-runtime/bin/python -m pip install --quiet --require-hashes -r requirements.lock
	.venv-runtime/bin/python -m pip install --quiet --no-deps .
	.venv-runtime/bin/audiencehub --help > /dev/null
	.venv-runtime/bin/python -c "from audiencehub.people.inbound_pass import pass_available as a; \
		print('the inbound pass is', 'compiled' if a() else 'not compiled: ingest by SQL')"
	.venv-runtime/bin/audiencehub init .runtime-workspace
	.venv-runtime/bin/audiencehub profiles count -w .runtime-workspace
	.venv-runtime/bin/audiencehub id hash --scheme aam --kind email jo@example.com
	rm -rf .venv-runtime .runtime-workspace

# Re-resolve the lock files after changing the dependencies in pyproject.toml
# (tests/test_lock.py fails while they disagree).
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet uv
	.venv-lock/bin/uv pip compile pyproject.toml --python-version 3.11 --generate-hashes --quiet -o requirements.lock
	.venv-lock/bin/uv pip compile pyproject.toml --extra dev --python-version 3.11 --generate-hashes --quiet -o requirements-dev.lock
	rm -rf .venv-lock

# Every benchmark beside its baseline, written up in bench/RESULTS.md:
# make bench (SCALE=small, minutes) or make bench SCALE=full (the targets' sizes, hours)
SCALE ?= small
bench: $(STAMP)
	$(BIN)/python bench/suite.py --scale $(SCALE) --plots docs/img

clean:
	rm -rf $(VENV) $(WORKSPACE) .pytest_cache .mypy_cache .ruff_cache .venv-runtime .runtime-workspace .venv-lock
