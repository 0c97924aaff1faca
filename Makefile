# The index of everything a developer does. `make demo` and `make test` are the two commands a
# newcomer needs; each installs what it uses on first run (into .local/, nothing system-wide).
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      := .local/venvs/dev/bin
PYTHON    := $(VENV)/python
CLI       := $(VENV)/sheetflow

.PHONY: help install up down status deploy demo test test-unit lint bench bench-worker worker clean

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

demo: deploy ## the whole flow: sample uploads through the API and S3, results printed
	@$(CLI) demo

worker: install ## run the standalone worker against the deployed stack's queue
	@$(CLI) worker

lint: install ## ruff, mypy, cfn-lint, sam validate --lint
	@$(VENV)/ruff check .
	@$(VENV)/ruff format --check .
	@$(VENV)/mypy
	@$(VENV)/cfn-lint template.yaml
	@AWS_DEFAULT_REGION=us-east-1 SAM_CLI_TELEMETRY=0 .local/venvs/sam/bin/sam validate --lint \
		--template template.yaml

test: lint ## everything: lint, unit tests (moto), LocalStack integration and end-to-end tests
	@$(VENV)/pytest

test-unit: install ## unit tests only (no LocalStack)
	@$(VENV)/pytest tests/unit

bench: deploy ## benchmarks of the local AWS and of the pipeline: figures printed, nothing asserted
	@$(PYTHON) -m benchmarks.platform
	@$(PYTHON) -m benchmarks.pipeline

bench-worker: deploy ## the standalone worker against python-rq on the same workload
	@$(PYTHON) -m benchmarks.worker_vs_rq

clean: down ## remove LocalStack state and build output (keeps the virtualenvs)
	@rm -rf .local/localstack .aws-sam
