# Two commands: `make run` (set up, migrate, start web + worker + scheduler) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test lint bench-import bench-sync bench-pages bench-concurrency clean-venv image-test

run: $(VENV)/.installed-embedded
	$(BIN)/python -m abacus.devserver

test: $(VENV)/.installed-embedded-dev
	@sh scripts/ensure-chromium.sh
	$(BIN)/python -m ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-embedded-dev
	$(BIN)/python -m ruff check .
	$(BIN)/lint-imports

bench-import: $(VENV)/.installed-embedded-dev
	$(BIN)/python bench/import_bench.py $(BENCH_ARGS)

bench-sync: $(VENV)/.installed-embedded-dev
	$(BIN)/python bench/sync_bench.py $(BENCH_ARGS)

bench-pages: $(VENV)/.installed-embedded-dev
	$(BIN)/python bench/pages_bench.py $(BENCH_ARGS)

# Needs the database `make bench-pages BENCH_ARGS=--keep` seeded, and gunicorn installed.
bench-concurrency: $(VENV)/.installed-embedded-dev
	$(BIN)/python bench/concurrency_bench.py $(BENCH_ARGS)

# Build the container image and smoke-test it (migrate, web, /healthz, /readyz) against this
# machine's PostgreSQL and Redis; needs root, no .venv. See docs/deployment.md.
image-test:
	bash scripts/image-test.sh

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else \
	  "abacus needs Python 3.11 or newer (found %s); set PYTHON=python3.11" % sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Reinstall when pyproject.toml changes; one stamp per set of extras. The build backend's
# "Editable installation" notice (setuptools warns about the flat layout on every editable
# install) is silenced for that one module only; pip's own messages still show.
QUIET_BUILD := PYTHONWARNINGS=ignore::UserWarning:setuptools.command.editable_wheel
$(VENV)/.installed-embedded: pyproject.toml | $(BIN)/python
	$(QUIET_BUILD) $(BIN)/python -m pip install -q -e '.[embedded]'
	@touch $@

$(VENV)/.installed-embedded-dev: pyproject.toml | $(BIN)/python
	$(QUIET_BUILD) $(BIN)/python -m pip install -q -e '.[embedded,dev]'
	@touch $@

clean-venv:
	rm -rf $(VENV)
