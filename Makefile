# One command per habit. `make help` lists them. CI runs `make test` through .ci/run.
SHELL := /bin/bash
VENV  := .local/venv
PY    := $(VENV)/bin/python

.DEFAULT_GOAL := help
.PHONY: help setup up down purge status test test-unit lint format bench demo view dashboards

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

setup: ## create .local/venv with requirements.txt (skipped when up to date)
	@source infra/common.sh && ensure_venv

up: ## start Kafka, PostgreSQL, Spark jars, Grafana (Docker if available, else native)
	./start_infrastructure.sh

down: ## stop the services, the Compose ones in Docker mode (data kept)
	./stop_infrastructure.sh

purge: ## stop the services and delete their data (Docker mode: the volumes)
	./stop_infrastructure.sh --purge

status: setup ## report each service as up or down (Docker mode: docker compose ps)
	$(PY) -m infra status

test: setup ## run every test (starts the services it needs)
	$(PY) -m pytest

test-unit: setup ## only the tests that need no service
	$(PY) -m pytest -m "not integration"

lint: setup ## ruff check, format check and mypy --strict (see [tool.mypy] in pyproject.toml)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/mypy

format: setup ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix . && $(VENV)/bin/ruff format .

bench: setup ## run the benchmarks (each prints one line of figures)
	$(PY) bench/producer.py && $(PY) bench/processor.py

demo: ## run the whole pipeline and show where to look
	./run_pipeline.sh

view: setup ## live terminal view of the KPIs (no Grafana needed)
	./show_metrics.sh

dashboards: setup ## regenerate config/grafana/dashboards/*.json from config/grafana/generate
	$(PY) config/grafana/generate
