# One task runner behind the README's two commands. Each target creates or
# reuses the local virtual environment and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
WORKSPACE ?= demo-workspace

.PHONY: serve demo test lint typecheck unit bench install-check clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
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

unit: $(STAMP)
	$(BIN)/pytest

# The package installs and runs with its runtime dependencies alone (no dev extra).
install-check:
	rm -rf .venv-runtime .runtime-workspace
	$(PYTHON) -m venv .venv-runtime
	.venv-runtime/bin/python -m pip install --quiet .
	.venv-runtime/bin/audiencehub --help > /dev/null
	.venv-runtime/bin/audiencehub init .runtime-workspace
	.venv-runtime/bin/audiencehub profiles count -w .runtime-workspace
	.venv-runtime/bin/audiencehub id hash --scheme aam --kind email jo@example.com
	rm -rf .venv-runtime .runtime-workspace

bench: $(STAMP)
	$(BIN)/python bench/profile_import.py

clean:
	rm -rf $(VENV) $(WORKSPACE) .pytest_cache .mypy_cache .ruff_cache .venv-runtime .runtime-workspace
