"""What the standalone worker tests (and its benchmark) drive: resources of their own on
LocalStack, task submission through the upload use case, and the worker as a real subprocess whose
JSON log is read back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import openpyxl

from sheetflow.config import ApiConfig
from sheetflow.dal.tasks import TaskRepository
from sheetflow.logic.task import Task
from sheetflow.logic.tenancy import OPERATOR_OWNER
from sheetflow.usecases.uploads import accept_upload
from stackctl.template_file import load_template
from tests.support.aws import AwsClientFactory

ROOT = Path(__file__).resolve().parents[2]
# The table's layout comes from the template itself, so tests and stack cannot drift apart.
_TABLE_PROPERTIES = ("BillingMode", "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes")


def template_table_properties() -> dict[str, Any]:
    properties = load_template()["Resources"]["TasksTable"]["Properties"]
    return {name: properties[name] for name in _TABLE_PROPERTIES}


@dataclass(frozen=True)
class Pipeline:
    """A queue, a task table and a bucket of the test's own."""

    queue_url: str
    table: str
    bucket: str
    bus: str

    def api_config(self) -> ApiConfig:
        """The upload API's configuration (the dead-letter queues are not used by uploads)."""
        unused_queue = f"{self.queue_url}-unused"
        return ApiConfig.from_env(
            {
                **self.worker_env(),
                "DLQ_URL": unused_queue,
                "FAILED_QUEUE_URL": unused_queue,
                "RETENTION_HOURS": "24",
            }
        )

    def worker_env(self) -> dict[str, str]:
        return {
            "QUEUE_URL": self.queue_url,
            "TABLE_NAME": self.table,
            "BUCKET_NAME": self.bucket,
            "EVENT_BUS_NAME": self.bus,
        }

    def tasks(self) -> TaskRepository:
        return TaskRepository(self.table)


def create_pipeline(aws: AwsClientFactory) -> Pipeline:
    suffix = uuid.uuid4().hex[:10]
    queue_url = aws("sqs").create_queue(
        QueueName=f"worker-tasks-{suffix}", Attributes={"VisibilityTimeout": "30"}
    )["QueueUrl"]
    table = f"worker-tasks-{suffix}"
    aws("dynamodb").create_table(TableName=table, **template_table_properties())
    bucket = f"worker-uploads-{suffix}"
    aws("s3").create_bucket(Bucket=bucket)
    bus = f"worker-events-{suffix}"
    aws("events").create_event_bus(Name=bus)
    return Pipeline(queue_url=queue_url, table=table, bucket=bucket, bus=bus)


def delete_pipeline(aws: AwsClientFactory, pipeline: Pipeline) -> None:
    aws("sqs").delete_queue(QueueUrl=pipeline.queue_url)
    aws("events").delete_event_bus(Name=pipeline.bus)
    aws("dynamodb").delete_table(TableName=pipeline.table)
    s3 = aws("s3")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=pipeline.bucket):
        for item in page.get("Contents", []):
            s3.delete_object(Bucket=pipeline.bucket, Key=item["Key"])
    s3.delete_bucket(Bucket=pipeline.bucket)


def submit(config: ApiConfig, workbook: bytes, count: int, name: str = "book.xlsx") -> list[Task]:
    """Tasks as the upload API creates them: record QUEUED, object stored, task message sent."""
    tasks = TaskRepository(config.table_name)
    return [
        accept_upload(workbook, name, config, tasks, datetime.now(UTC), owner=OPERATOR_OWNER)
        for _ in range(count)
    ]


def workbook_bytes(path: Path, rows: int) -> bytes:
    """A one-sheet workbook of `rows` rows of mixed cells (about 0.1 ms of parsing per row)."""
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("data")
    sheet.append(["id", "amount", "label", "flag", "bucket", "note", "double"])
    for row in range(rows):
        sheet.append([row, row * 1.5, f"item {row}", row % 2 == 0, row % 7, "x", row * 2])
    book.save(path)
    return path.read_bytes()


# The fields that identify the worker's log lines the tests wait for.
OUTCOME_FIELDS = ("outcome", "task_id", "receive_count")
STARTED_FIELDS = ("queue_url", "concurrency")  # the supervisor, once every consumer is started
STOPPING_FIELDS = ("grace_seconds",)  # the first stop signal: finishing the messages in hand


class WorkerProcess:
    """`python -m sheetflow.worker` (or `command`) with its own environment; stdout and stderr go
    to files."""

    def __init__(
        self,
        env: dict[str, str],
        args: list[str],
        log_dir: Path,
        command: list[str] | None = None,
    ) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        self.stdout_path = log_dir / "stdout.log"
        self.stderr_path = log_dir / "stderr.log"
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.process = subprocess.Popen(
                [*(command or [sys.executable, "-m", "sheetflow.worker"]), *args],
                env=env,
                stdout=out,
                stderr=err,
                cwd=ROOT,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def signal(self, signum: signal.Signals) -> None:
        os.kill(self.process.pid, signum)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout=timeout)

    def running(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.running():
            self.process.kill()
            self.process.wait(timeout=10)

    def log(self) -> list[dict[str, Any]]:
        records = []
        for line in self.stdout_path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                records.append(record)
        return records

    # Log lines are recognised by their JSON fields, never by their wording.

    def records_with(self, *fields: str) -> list[dict[str, Any]]:
        return [record for record in self.log() if all(field in record for field in fields)]

    def outcomes(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The worker's one line per message handled (SUCCEEDED, FAILED, SKIPPED, ...)."""
        return [
            record
            for record in self.records_with(*OUTCOME_FIELDS)
            if kind is None or record["outcome"] == kind
        ]

    def started(self) -> bool:
        return bool(self.records_with(*STARTED_FIELDS))

    def stopping(self) -> bool:
        return bool(self.records_with(*STOPPING_FIELDS))

    def stderr(self) -> str:
        return self.stderr_path.read_text()


# The `start_worker` fixture: environment overrides and arguments in, a running worker out.
StartWorker = Callable[..., WorkerProcess]
