"""Unit-test fixtures: moto-backed AWS resources, a fake Lambda context, workbook builders."""

from __future__ import annotations

import copy
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import openpyxl
import pytest
from moto import mock_aws

from sheetflow.dal.tasks import TaskRepository
from sheetflow.logic import parsing
from sheetflow.logic.parsing import ParseLimits
from sheetflow.logic.task import (
    Task,
    TaskError,
    TaskStatus,
    new_task,
    new_task_id,
    result_key,
    upload_key,
)
from stackctl import samples
from tests.support.lambda_zip import zip_of

# Set before any handler module creates the Powertools objects at import time.
os.environ["POWERTOOLS_TRACE_DISABLED"] = "true"
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "sheetflow")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "SheetflowTests")

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"
BUCKET = "sheetflow-uploads-123456789012-us-east-1"
TABLE = "sheetflow-tasks"
BUS = "sheetflow-tasks-bus"
SAMPLE_TASK_ID = "0f8fad5bd9cb469fa16570867728950e"
# The API key id in the sample API events (events/api-*.json but api-health.json).
SAMPLE_API_KEY_ID = "k3ysample01"
WORKER_FUNCTION = "sheetflow-worker"
METRICS_NAMESPACE = "SheetflowTests"


@dataclass
class FakeLambdaContext:
    function_name: str = "sheetflow-test"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:sheetflow-test"
    aws_request_id: str = "52fdfc07-2182-154f-163f-5f0f9a621d72"
    remaining_ms: int = 60_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@dataclass(frozen=True)
class Stack:
    """Names of the moto resources, as the template would pass them to the functions."""

    bucket: str
    table: str
    queue_url: str
    dlq_url: str
    failed_queue_url: str
    bus: str
    # Receives every event on the bus (a rule with an SQS target), as a subscriber would.
    events_queue_url: str


def load_event(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS_DIR / name).read_text())
    return loaded


def _rebuild_handlers() -> None:
    """Every handler reads the environment of the current test again, with fresh clients."""
    from sheetflow.handlers import (
        access,
        api,
        canary,
        cleanup,
        dashboard,
        dead_letter,
        export,
        scheduler,
        watchdog,
        worker,
    )

    for module in (
        api,
        worker,
        dead_letter,
        cleanup,
        dashboard,
        scheduler,
        export,
        watchdog,
        canary,
    ):
        module.dependencies.rebuild()
    api.pipeline_dependencies.rebuild()
    access.dependencies.rebuild()
    access.buckets.cache_clear()


def create_table(name: str) -> None:
    boto3.client("dynamodb").create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "task_id", "AttributeType": "S"},
            {"AttributeName": "status", "AttributeType": "S"},
            {"AttributeName": "created_at", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "task_id", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "status-created_at",
                "KeySchema": [
                    {"AttributeName": "status", "KeyType": "HASH"},
                    {"AttributeName": "created_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )


def subscribe_queue_to_bus(bus: str, queue_url: str) -> None:
    events = boto3.client("events")
    events.create_event_bus(Name=bus)
    queue_arn = boto3.client("sqs").get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    events.put_rule(
        Name="all-task-events", EventBusName=bus, EventPattern='{"source": ["sheetflow"]}'
    )
    events.put_targets(
        Rule="all-task-events", EventBusName=bus, Targets=[{"Id": "seen", "Arn": queue_arn}]
    )


def received_events(queue_url: str) -> list[dict[str, Any]]:
    """Every event the subscriber queue holds now, consumed."""
    sqs = boto3.client("sqs")
    found: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        )
        if not messages:
            return found
        for message in messages:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def create_worker_trigger() -> None:
    """The worker function and an enabled queue trigger, which /health checks for.

    The trigger polls a queue of its own: moto's event source mapping consumes what its queue
    holds (and fails to run the function without Docker), so on the task queue it would take the
    tests' messages away at moments of its choosing.
    """
    role = boto3.client("iam").create_role(
        RoleName="worker-role",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    lambda_client = boto3.client("lambda")
    lambda_client.create_function(
        FunctionName=WORKER_FUNCTION,
        Runtime="python3.13",
        Role=role,
        Handler="sheetflow.handlers.worker.handler",
        Code={"ZipFile": zip_of({"placeholder.py": "handler = None\n"})},
    )
    sqs = boto3.client("sqs")
    trigger_queue = sqs.create_queue(QueueName="sheetflow-worker-trigger")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=trigger_queue, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    lambda_client.create_event_source_mapping(
        EventSourceArn=queue_arn, FunctionName=WORKER_FUNCTION, Enabled=True
    )


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """A moto account with the stack's bucket, table and queues, and the functions' env."""
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        create_table(TABLE)
        sqs = boto3.client("sqs")
        failed_queue_url = sqs.create_queue(QueueName="sheetflow-failed")["QueueUrl"]
        dlq_url = sqs.create_queue(QueueName="sheetflow-dlq")["QueueUrl"]
        queue_url = sqs.create_queue(
            QueueName="sheetflow-tasks", Attributes={"VisibilityTimeout": "720"}
        )["QueueUrl"]
        events_queue_url = sqs.create_queue(QueueName="sheetflow-events-seen")["QueueUrl"]
        subscribe_queue_to_bus(BUS, events_queue_url)
        environment = {
            "EVENT_BUS_NAME": BUS,
            "TABLE_NAME": TABLE,
            "BUCKET_NAME": BUCKET,
            "QUEUE_URL": queue_url,
            "DLQ_URL": dlq_url,
            "FAILED_QUEUE_URL": failed_queue_url,
            "MAX_UPLOAD_BYTES": str(1024 * 1024),
            "MAX_API_UPLOAD_BYTES": str(1024 * 1024),
            "RETENTION_HOURS": "24",
            "MAX_RECEIVE_COUNT": "3",
            "PIPELINE_NAME": "sheetflow-unit",
            "WORKER_FUNCTION_NAME": WORKER_FUNCTION,
            "STALL_THRESHOLD_SECONDS": "300",
            "CANARY_ENABLED": "true",
            "CANARY_DEADLINE_SECONDS": "120",
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            # The API's per-key throttle out of the way; tests/unit/test_throttling.py sets its own.
            "API_BURST_LIMIT": "100000",
        }
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("RESULTS_BUCKET", raising=False)
        create_worker_trigger()
        _rebuild_handlers()
        yield Stack(
            bucket=BUCKET,
            table=TABLE,
            queue_url=queue_url,
            dlq_url=dlq_url,
            failed_queue_url=failed_queue_url,
            bus=BUS,
            events_queue_url=events_queue_url,
        )
        _rebuild_handlers()


@pytest.fixture
def context() -> FakeLambdaContext:
    return FakeLambdaContext()


# --- workbooks, good and hostile -------------------------------------------------------------


def workbook_bytes(rows: int = 3) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Data"
    sheet.append(["name", "amount"])
    for index in range(rows):
        sheet.append([f"item {index}", index * 10])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@dataclass(frozen=True)
class Kit:
    """Builders handed to tests as one fixture (test modules do not import conftest)."""

    bucket: str = BUCKET
    sample_task_id: str = SAMPLE_TASK_ID

    @staticmethod
    def workbook(rows: int = 3) -> bytes:
        return workbook_bytes(rows)

    @staticmethod
    def hostile(kind: str) -> bytes:
        return samples.broken_file(kind)

    @staticmethod
    def store_task(
        stack: Stack,
        data: bytes | None,
        *,
        status: TaskStatus = TaskStatus.QUEUED,
        created: datetime | None = None,
        filename: str = "book.xlsx",
        attempts: int = 0,
        error: TaskError | None = None,
        last_error: TaskError | None = None,
        with_result: bool = False,
        owner: str | None = SAMPLE_API_KEY_ID,
    ) -> Task:
        """A task in the table, with its upload (unless `data` is None) and, if asked, a result;
        by default the sample API events' client owns it."""
        task_id = new_task_id()
        task = replace(
            new_task(
                task_id=task_id,
                status=status,
                bucket=stack.bucket,
                key=upload_key(task_id, filename),
                filename=filename,
                now=created or datetime.now(UTC),
                ttl=timedelta(days=30),
                owner=owner,
            ),
            attempts=attempts,
            error=error,
            last_error=last_error,
        )
        s3 = boto3.client("s3")
        if data is not None:
            s3.put_object(Bucket=stack.bucket, Key=task.key, Body=data)
        if with_result:
            s3.put_object(Bucket=stack.bucket, Key=result_key(task_id), Body=b"{}")
        assert TaskRepository(stack.table).create(task)
        return task

    @staticmethod
    def event(name: str) -> dict[str, Any]:
        return load_event(name)

    @staticmethod
    def published(stack: Stack) -> list[dict[str, Any]]:
        """The task events put on the bus since the last call."""
        return received_events(stack.events_queue_url)

    @staticmethod
    def as_client(event: dict[str, Any], api_key_id: str | None) -> dict[str, Any]:
        """The API event as API Gateway passes it for the key `api_key_id` (None: no key)."""
        changed = copy.deepcopy(event)
        identity = changed.setdefault("requestContext", {}).setdefault("identity", {})
        identity.pop("apiKey", None)
        identity.pop("apiKeyId", None)
        if api_key_id is not None:
            identity.update(apiKey=f"value-of-{api_key_id}", apiKeyId=api_key_id)
        return changed

    @staticmethod
    def event_names() -> list[str]:
        return sorted(path.name for path in EVENTS_DIR.glob("*.json"))

    @staticmethod
    def rewrite(source: bytes, replacements: dict[str, bytes]) -> bytes:
        return samples.rewrite_parts(source, replacements)


@pytest.fixture
def kit() -> Kit:
    return Kit()


@pytest.fixture
def openpyxl_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the sheets that the parser handed to openpyxl instead of streaming them."""
    calls: list[str] = []
    original = parsing.openpyxl_sheet_stats

    def spy(worksheet: Any, limits: ParseLimits) -> parsing.SheetStats:
        calls.append(str(worksheet.title))
        return original(worksheet, limits)

    monkeypatch.setattr(parsing, "openpyxl_sheet_stats", spy)
    return calls
