# One locked environment (.venv, from pyproject.toml + uv.lock) for the program, handler, tests and demo.
# uv itself is bootstrapped into .tools with the machine's Python, so a fresh machine needs only Python 3.11.
PYTHON ?= python3
UV_VERSION := 0.13.8
UV := .tools/bin/uv
RUN := $(UV) run --locked --no-sync
export UV_PYTHON := $(shell $(PYTHON) -c 'import sys; print(sys.executable)')
export UV_PYTHON_DOWNLOADS := never

.PHONY: help demo serve load test test-hostile test-packaging lint fmt bench backfill mutate clean chromium
.DEFAULT_GOAL := help

help:  ## List the targets (this text)
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## /\1\t/' | awk -F'\t' '{printf "  make %-9s %s\n", $$1, $$2}'

demo: .venv/.synced  ## Run the whole pipeline locally on an embedded AWS emulator (moto)
	$(RUN) python -m local.demo $(ARGS)

serve: .venv/.synced  ## The local pipeline with a live gallery and the upload API at http://127.0.0.1:8080/ (drop images on it)
	$(RUN) python -m local.demo --serve $(ARGS)

load: .venv/.synced  ## Load and fault test of the local pipeline
	$(RUN) python -m local.load $(ARGS)

test: lint chromium  ## Lint, type-check and run every hermetic test (installs Debian's chromium when missing)
	$(RUN) pytest -n 2 --dist worksteal -m "not network and not hostile" $(ARGS)

test-hostile: .venv/.synced  ## Hostile inputs, each in a resource-limited process, two at a time (slow)
	$(RUN) pytest -n 2 -m hostile tests/hostile $(ARGS)

test-packaging: .venv/.synced  ## The real Lambda archives (downloads wheels from PyPI)
	$(RUN) pytest -n 2 -m network tests/infra/test_packaging.py $(ARGS)

lint: .venv/.synced  ## ruff, ruff format --check and mypy --strict
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy

fmt: .venv/.synced  ## Format and fix what ruff can
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

backfill: .venv/.synced  ## Re-process existing uploads: make backfill ARGS="--stack dev [--prefix p/] [--dry-run] [--workflow]"
	$(RUN) python -m tools.backfill $(ARGS)

bench: .venv/.synced  ## Speed, memory and quality of the image engine against libvips
	$(RUN) python -m bench $(ARGS)

# A fresh mutants/ each time: mutmut keeps an earlier verdict while the function is unchanged, even when
# tests were added since. Time and per-module costs: docs/mutation.md (`python -m tools.mutation_report --estimate`).
mutate: .venv/.synced  ## Mutation testing of handler/ and components/policies.py, two workers (not in CI; see docs/mutation.md)
	rm -rf mutants && mkdir -p out
	@start=$$(date +%s); $(RUN) mutmut run --max-children 2 > out/mutmut.log 2>&1 || { tail -20 out/mutmut.log; exit 1; }; \
	echo "mutmut run: $$(( ($$(date +%s) - start + 30) / 60 )) min (log: out/mutmut.log)"
	$(RUN) python -m tools.mutation_report

chromium:  ## Install Debian's chromium (apt-get) for the gallery's browser test, if /usr/bin/chromium is missing
	@sh local/install-chromium.sh

clean:  ## Remove .venv, .tools, out/, build/ and caches
	rm -rf .venv .tools out build mutants .mypy_cache .pytest_cache .ruff_cache

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --all-groups
	@touch $@
