# greekstream — `make demo` and `make test` do all the set-up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
TOOLS := .cache/tools

PORT ?= 8000
# test workers (pytest-xdist): one per core; each runs whole test files, with its own broker
TEST_WORKERS ?= auto

.PHONY: help venv demo serve dashboard-png test test-unit lint bench tools schemas clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/; s/$$(PORT)/$(PORT)/g'

$(STAMP): pyproject.toml
	@echo "==> creating $(VENV) and installing greekstream with its test, bench and embedded (chDB) extras"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip 2>&1 | grep -v "is ignored" || true
	@$(BIN)/python -m pip install --quiet --progress-bar off -e '.[test,bench,embedded]'
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

venv: $(STAMP)  ## create the virtualenv and install everything

demo: $(STAMP)  ## replay the bundled sample through the engine into embedded ClickHouse and print a summary
	@$(BIN)/greekstream demo

serve: $(STAMP)  ## serve the demo's store on http://127.0.0.1:$(PORT)/ with a fresh token (after make demo)
	@$(BIN)/greekstream serve --dsn chdb://$(CURDIR)/demo-out/chdb --host 127.0.0.1 --port $(PORT) \
		--new-token demo-out/token

dashboard-png: $(STAMP)  ## regenerate docs/img/dashboard.png (headless Chromium over the demo store)
	@$(BIN)/python scripts/dashboard_png.py

tools: $(STAMP)  ## fetch the offline deployment tools used by the tests (helm, docker-compose)
	@if [ -f scripts/install_tools.py ]; then $(BIN)/python scripts/install_tools.py --dest $(TOOLS); fi

test: $(STAMP) tools  ## run the whole suite, a worker per core (TEST_WORKERS=1 for one process)
	@# on CI, Chromium for the page tests first (several test files use it, in parallel)
	@if [ "$${CI:-}" = "true" ]; then bash scripts/install_chromium.sh >/dev/null; fi
	@PATH="$(CURDIR)/$(TOOLS)/bin:$$PATH" $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder tests

test-unit: $(STAMP)  ## only the fast, pure unit tests
	@$(BIN)/python -m pytest -q tests/unit

lint: $(STAMP)  ## ruff and mypy
	@$(BIN)/ruff check services tests bench
	@$(BIN)/mypy

schemas: $(STAMP)  ## regenerate schemas/*.json from the pydantic models
	@$(BIN)/python -m greekstream.tools.schemas_gen --write

bench: $(STAMP)  ## speed figures against named peers, in one run, and the goal table (ARGS=--quick)
	@$(BIN)/python bench/run_all.py $(ARGS)

clean:  ## remove the virtualenv and caches
	rm -rf $(VENV) .cache .pytest_cache .hypothesis
