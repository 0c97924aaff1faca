# The index of everything a developer does. `make demo` and `make test` are the two commands a
# newcomer needs; each installs what it uses on first run (into .local/, nothing system-wide).
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      := .local/venvs/dev/bin
PYTHON    := $(VENV)/python
CLI       := $(VENV)/sheetflow
SECURITY  := .local/venvs/security/bin

.PHONY: help install up down status deploy dev demo dashboard test test-lanes test-unit test-browser screenshot \
	lint docs bench bench-worker bench-reader bench-large chaos worker clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

install: ## create the virtualenvs under .local/venvs (idempotent, fast when nothing changed)
	@infra/bootstrap.sh

up: install ## start LocalStack on 127.0.0.1:4566 in the background (reuses a healthy one)
	@$(CLI) up

down: install ## stop LocalStack and every Lambda environment it started
	@$(CLI) down

status: install ## LocalStack's state; with the stack deployed, tasks and queue depths
	@$(CLI) status

deploy: up ## build and deploy to LocalStack (samconfig.toml's `local`; PARAMS="Name=Value ...")
	@$(CLI) deploy $(if $(PARAMS),--parameter-overrides $(PARAMS))

dev: up ## hot reload: the stack's functions run functions/ from the working tree until Ctrl-C
	@$(CLI) dev

demo: deploy ## the whole flow: sample uploads through the API and S3, results printed
	@$(CLI) demo

dashboard: install ## print the dashboard's URL (opens it when a display is present)
	@$(CLI) dashboard

worker: install ## run the standalone worker against the deployed stack's queue
	@$(CLI) worker

lint: install ## ruff, mypy, import contracts, cfn-lint, sam validate --lint, checkov, bandit
	@$(VENV)/ruff check .
	@$(VENV)/ruff format --check .
	@$(VENV)/mypy
	@$(VENV)/lint-imports --no-cache --no-logo
	@$(VENV)/cfn-lint template.yaml
	@AWS_DEFAULT_REGION=us-east-1 SAM_CLI_TELEMETRY=0 .local/venvs/sam/bin/sam validate --lint \
		--template template.yaml
	@$(SECURITY)/checkov --quiet --compact --skip-download --framework cloudformation \
		--file template.yaml
	@$(SECURITY)/bandit --quiet --recursive functions infra

test: lint ## everything: lint, unit tests (moto), LocalStack integration and end-to-end tests
	@$(VENV)/pytest

test-lanes: lint ## the same tests in five parallel lanes, each with its own LocalStack (tests/lanes.py)
	@$(PYTHON) -m tests.lanes

test-unit: install ## every test that needs no LocalStack (all not marked `localstack`)
	@$(VENV)/pytest -m "not localstack"

docs: install ## regenerate the docs' parameter tables and CLI reference from template.yaml and the CLI
	@$(PYTHON) -m stackctl.docs_sync

test-browser: install ## the dashboard's browser tests (Chromium; screenshots in .local/artifacts/screenshots)
	@$(VENV)/pytest tests/browser

screenshot: install ## regenerate docs/images/dashboard.png: the demo's tasks as a browser test sees them
	@SHEETFLOW_README_SCREENSHOT=docs/images/dashboard.png $(VENV)/pytest tests/browser \
		-k "the_demo_tasks_are_shown"

bench: deploy ## benchmarks of the local AWS, the pipeline and the reader: figures printed and kept in .local/bench/report.md (+ .json)
	@$(PYTHON) -m benchmarks.platform
	@$(PYTHON) -m benchmarks.pipeline
	@$(PYTHON) -m benchmarks.reader

bench-worker: deploy ## the standalone worker against python-rq on the same workload
	@$(PYTHON) -m benchmarks.worker_vs_rq

bench-reader: install ## the workbook reader against openpyxl and python-calamine: rows/s, peak MB
	@$(PYTHON) -m benchmarks.reader

bench-large: install ## validation and parse speed on a large workbook (sets PARSE_BYTES_PER_SECOND)
	@$(PYTHON) -m benchmarks.large_workbooks

chaos: up ## N uploads (default 1000) under kills, duplicates and AWS faults; invariants checked (RESTART=1: LocalStack too)
	@$(PYTHON) -m benchmarks.chaos --uploads $(or $(N),1000) $(if $(filter 1,$(RESTART)),--restart)

clean: down ## remove LocalStack state and build output (keeps the virtualenvs)
	@rm -rf .local/localstack .local/instances .aws-sam
