# One entry point for newcomers and CI. Every target installs what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PREFECT_HOME := $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_LOGGING_LEVEL ?= WARNING
export GX_ANALYTICS_ENABLED := False
export DO_NOT_TRACK := 1

DEMO_DB ?= warehouse/aftersales.ducklake
DEMO_INBOX ?= data/sample/inbox
DEMO_DATE ?= 2026-11-27

SCALE ?= small

.PHONY: install demo test test-fast lint fmt bench bench-cluster serve sample clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/aftersales run --inbox $(DEMO_INBOX) --db $(DEMO_DB) --batch-date $(DEMO_DATE)

TEST_WORKERS ?= 2

test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python -m aftersales.bench --scale $(SCALE)

# Issue 14: one nightly batch on the smallest real cluster (Prefect server, external Dask
# scheduler, 4 one-thread workers on loopback); `make bench SCALE=default` runs it too.
bench-cluster: $(STAMP)
	$(BIN)/python -c "from pathlib import Path; from aftersales.bench.scales import ensure_inbox; ensure_inbox('default', Path('bench'))"
	$(BIN)/python -m aftersales.bench.dask_cluster --inbox bench/inbox-default/inbox --workers 4 --shards 8 --out bench/work/dask-cluster.json

serve: $(STAMP)
	$(BIN)/aftersales serve

sample: $(STAMP)
	$(BIN)/aftersales generate --out $(DEMO_INBOX) --shops 6 --api-shops 1 --orders 400 --seed 7 --batch-date $(DEMO_DATE) --report data/sample/generation_report.json

clean:
	rm -rf warehouse .prefect .aftersales reports .pytest_cache
