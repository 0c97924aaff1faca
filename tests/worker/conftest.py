"""Fixtures of the standalone worker tests: LocalStack resources, SDK environment, workbooks,
and worker subprocesses that are always killed at the end of their test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sheetflow.dal.clients import reset_clients
from tests.support.aws import AwsClientFactory
from tests.support.large_workbook import cached_large_workbook
from tests.support.worker import (
    Pipeline,
    StartWorker,
    WorkerProcess,
    create_pipeline,
    delete_pipeline,
)
from tests.support.worker import workbook_bytes as build_workbook

# Rows of a workbook whose processing takes several seconds: the streaming reader handles some
# 110k-190k rows of this workbook a second on the reference machine, so this outlasts a 3 s
# visibility timeout twice over even on a quiet machine (the workbook the large-workbook tests
# use too, generated once).
SLOW_WORKBOOK_ROWS = 1_000_000


@pytest.fixture
def sdk_env(localstack_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The project's own adapters in this process (used to submit tasks) talk to LocalStack."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", localstack_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    reset_clients()
    yield
    reset_clients()


@pytest.fixture
def pipeline(aws: AwsClientFactory, sdk_env: None) -> Iterator[Pipeline]:
    created = create_pipeline(aws)
    yield created
    delete_pipeline(aws, created)


@pytest.fixture(scope="session")
def small_workbook(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return build_workbook(tmp_path_factory.mktemp("books") / "small.xlsx", rows=100)


@pytest.fixture(scope="session")
def slow_workbook() -> bytes:
    # Written straight as OOXML and cached under .local/: openpyxl's writer would take half a
    # minute for this many rows.
    path, _ = cached_large_workbook(SLOW_WORKBOOK_ROWS)
    return path.read_bytes()


def base_worker_env(endpoint: str) -> dict[str, str]:
    # SHEETFLOW_PORT: `sheetflow worker` checks LocalStack's health on the project's port before
    # it reads the stack; without it, it would look at the default port, not this session's.
    keep = ("PATH", "HOME", "LANG", "TMPDIR", "SYSTEMROOT", "SHEETFLOW_PORT")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
            "POWERTOOLS_SERVICE_NAME": "sheetflow",
            "POWERTOOLS_METRICS_NAMESPACE": "SheetflowWorkerTests",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@pytest.fixture
def start_worker(localstack_endpoint: str, tmp_path: Path) -> Iterator[StartWorker]:
    """Starts `python -m sheetflow.worker` with the given environment and arguments."""
    started: list[WorkerProcess] = []

    def start(env: dict[str, str], *args: str, command: list[str] | None = None) -> WorkerProcess:
        full_env = {**base_worker_env(localstack_endpoint), **env}
        log_dir = tmp_path / f"worker-{len(started)}"
        worker = WorkerProcess(full_env, list(args), log_dir, command)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.kill()
