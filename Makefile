# One locked environment (.venv, from pyproject.toml + uv.lock) for the program, handler, tests and demo.
# uv itself is bootstrapped into .tools with the machine's Python, so a fresh machine needs only Python 3.11.
PYTHON ?= python3
UV_VERSION := 0.13.8
UV := .tools/bin/uv
RUN := $(UV) run --locked --no-sync
export UV_PYTHON := $(shell $(PYTHON) -c 'import sys; print(sys.executable)')
export UV_PYTHON_DOWNLOADS := never

.PHONY: demo serve load test test-hostile test-packaging lint fmt bench backfill clean

demo: .venv/.synced  ## Run the whole pipeline locally on an embedded AWS emulator (moto)
	$(RUN) python -m local.demo $(ARGS)

serve: .venv/.synced  ## Keep the local emulator and event pump running for your own uploads
	$(RUN) python -m local.demo --serve $(ARGS)

load: .venv/.synced  ## Load and fault test of the local pipeline
	$(RUN) python -m local.load $(ARGS)

test: lint  ## Lint, type-check and run every hermetic test (no network)
	$(RUN) pytest -n 2 -m "not network and not hostile" $(ARGS)

test-hostile: .venv/.synced  ## Hostile inputs, each in a resource-limited process, two at a time (slow)
	$(RUN) pytest -n 2 -m hostile tests/hostile $(ARGS)

test-packaging: .venv/.synced  ## The real Lambda archives (downloads wheels from PyPI)
	$(RUN) pytest -n 2 -m network tests/infra/test_packaging.py $(ARGS)

lint: .venv/.synced
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy

fmt: .venv/.synced
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

backfill: .venv/.synced  ## Re-process existing uploads: make backfill ARGS="--stack dev [--prefix p/] [--dry-run]"
	$(RUN) python -m tools.backfill $(ARGS)

bench: .venv/.synced  ## Speed, memory and quality of the image engine against libvips
	$(RUN) python -m bench $(ARGS)

clean:
	rm -rf .venv .tools out build .mypy_cache .pytest_cache .ruff_cache

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --all-groups
	@touch $@
