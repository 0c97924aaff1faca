"""Every file in events/ is accepted by the handler it is written for."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from sheetflow.dal.tasks import TaskRepository
from sheetflow.handlers import (
    api,
    cleanup,
    dead_letter,
    export,
    notifications,
    scheduler,
    worker,
)
from sheetflow.logic.task import TaskStatus, new_task

from .conftest import FakeLambdaContext, Kit, Stack

EXPECTED_EVENTS = {
    "api-cancel-task.json",
    "api-get-task.json",
    "api-health.json",
    "api-list-tasks.json",
    "api-multipart-complete.json",
    "api-multipart-start.json",
    "api-presign.json",
    "api-upload.json",
    # Task events on the bus: validated against their schema in test_task_events.py.
    "bus-task-failed.json",
    "bus-task-succeeded.json",
    "cleanup-scheduled.json",
    "dead-letter-record.json",
    "mailer-task-event.json",
    "export-task-event.json",
    "webhook-task-event.json",
    "scheduler-scheduled.json",
    "worker-mixed-batch.json",
    "worker-s3-multipart-notification.json",
    "worker-s3-notification.json",
    "worker-s3-test-event.json",
    "worker-task-messages.json",
    "watchdog-scheduled.json",
    "canary-scheduled.json",
    "alerts-alarm-notification.json",
}


def test_every_event_file_is_covered(kit: Kit) -> None:
    assert set(kit.event_names()) == EXPECTED_EVENTS


def api_status(name: str, kit: Kit, context: FakeLambdaContext) -> int:
    response: dict[str, Any] = api.handler(kit.event(name), context)
    return int(response["statusCode"])


def test_api_events(stack: Stack, kit: Kit, context: FakeLambdaContext) -> None:
    assert api_status("api-upload.json", kit, context) == 202
    assert api_status("api-presign.json", kit, context) == 201
    assert api_status("api-multipart-start.json", kit, context) == 201
    assert api_status("api-list-tasks.json", kit, context) == 200
    assert api_status("api-health.json", kit, context) == 200
    # The sample id is unknown in a fresh table.
    assert api_status("api-get-task.json", kit, context) == 404
    assert api_status("api-cancel-task.json", kit, context) == 404
    assert api_status("api-multipart-complete.json", kit, context) == 404


def test_a_completed_multipart_upload_notification_runs_its_task(
    stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    sample = kit.sample_task_id
    put_upload(stack, f"uploads/{sample}/Q1 report.xlsx", kit.workbook())
    event = kit.event("worker-s3-multipart-notification.json")
    assert worker.handler(event, context)["batchItemFailures"] == []
    task = TaskRepository(stack.table).get(sample)
    assert task is not None and task.status is TaskStatus.SUCCEEDED and task.attempts == 1


def put_upload(stack: Stack, key: str, data: bytes) -> None:
    boto3.client("s3").put_object(Bucket=stack.bucket, Key=key, Body=data)


def test_worker_events(stack: Stack, kit: Kit, context: FakeLambdaContext) -> None:
    sample = kit.sample_task_id
    put_upload(stack, f"uploads/{sample}/Q1 report.xlsx", kit.workbook())
    # The S3 notification creates and completes the sample task.
    event = kit.event("worker-s3-notification.json")
    assert worker.handler(event, context)["batchItemFailures"] == []
    task = TaskRepository(stack.table).get(sample)
    assert task is not None and task.status is TaskStatus.SUCCEEDED
    # Task messages for tasks that no longer exist are consumed without error.
    event = kit.event("worker-task-messages.json")
    assert worker.handler(event, context)["batchItemFailures"] == []
    # The mixed batch: a finished task, a CSV renamed .xlsx, garbage: nothing to retry.
    bad_id = "9b2d3e6f4a5b4c7d8e9f0a1b2c3d4e5f"
    put_upload(stack, f"uploads/{bad_id}/export.xlsx", kit.hostile("csv"))
    TaskRepository(stack.table).create(
        new_task(
            task_id=bad_id,
            status=TaskStatus.QUEUED,
            bucket=stack.bucket,
            key=f"uploads/{bad_id}/export.xlsx",
            filename="export.xlsx",
            now=datetime.now(UTC),
            ttl=timedelta(hours=1),
        )
    )
    event = kit.event("worker-mixed-batch.json")
    assert worker.handler(event, context)["batchItemFailures"] == []
    bad = TaskRepository(stack.table).get(bad_id)
    assert bad is not None and bad.error is not None and bad.error.code == "NOT_XLSX"
    event = kit.event("worker-s3-test-event.json")
    assert worker.handler(event, context)["batchItemFailures"] == []


def test_dead_letter_event_records_the_failure(
    stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    event = kit.event("dead-letter-record.json")
    assert dead_letter.handler(event, context)["batchItemFailures"] == []
    task = TaskRepository(stack.table).get(kit.sample_task_id)
    assert task is not None and task.error is not None
    assert task.error.code == "RETRIES_EXHAUSTED"
    assert json.loads(event["Records"][0]["body"])["task_id"] == kit.sample_task_id
    # And the message is parked, unchanged, in the failed-tasks queue
    parked = boto3.client("sqs").receive_message(QueueUrl=stack.failed_queue_url)["Messages"]
    assert [message["Body"] for message in parked] == [event["Records"][0]["body"]]


def test_notification_events_for_unknown_tasks_are_consumed(
    stack: Stack, kit: Kit, context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAIL_FROM", "sheetflow@example.com")
    monkeypatch.setenv("WEBHOOK_QUEUE_URL", stack.queue_url)
    monkeypatch.setenv("WEBHOOK_SECRET_ID", "unused-for-an-unknown-task")
    notifications.mailer_dependencies.rebuild()
    notifications.webhook_dependencies.rebuild()
    mailer = notifications.mailer(kit.event("mailer-task-event.json"), context)
    webhooks = notifications.webhooks(kit.event("webhook-task-event.json"), context)
    assert mailer["batchItemFailures"] == [] and webhooks["batchItemFailures"] == []
    assert export.handler(kit.event("export-task-event.json"), context)["batchItemFailures"] == []


def test_scheduler_event(stack: Stack, kit: Kit, context: FakeLambdaContext) -> None:
    report = scheduler.handler(kit.event("scheduler-scheduled.json"), context)
    assert report == {"due": 0, "dispatched": 0, "failed": 0}


def test_cleanup_event(stack: Stack, kit: Kit, context: FakeLambdaContext) -> None:
    report = cleanup.handler(kit.event("cleanup-scheduled.json"), context)
    assert report["complete"] is True and report["tasks_deleted"] == 0
