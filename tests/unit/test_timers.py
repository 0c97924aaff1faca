"""Timers: parsing, the direct (delayed message) route, the sweep route, and the worker's
handling of a scheduled task's message."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from sheetflow.config import SchedulerConfig, WorkerConfig
from sheetflow.dal.tasks import TaskRepository
from sheetflow.handlers import api
from sheetflow.logic.errors import RequestRejectedError
from sheetflow.logic.messages import task_message
from sheetflow.logic.task import Task, TaskStatus, isoformat
from sheetflow.logic.timers import TimerLimits, message_delay, requested_run_at
from sheetflow.usecases import processing
from sheetflow.usecases.processing import OutcomeKind, process_message
from sheetflow.usecases.scheduling import sweep

from .conftest import FakeLambdaContext, Kit, Stack

NOW = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
LIMITS = TimerLimits(retention_hours=168)


def env(stack: Stack, **extra: str) -> dict[str, str]:
    return {
        "TABLE_NAME": stack.table,
        "BUCKET_NAME": stack.bucket,
        "QUEUE_URL": stack.queue_url,
        "EVENT_BUS_NAME": stack.bus,
        **extra,
    }


def deliver(stack: Stack, task: Task, at: datetime, body: str | None = None) -> list[Any]:
    outcomes = process_message(
        body or task_message(task.task_id, task.bucket, task.key),
        1,
        WorkerConfig.from_env(env(stack)),
        TaskRepository(stack.table),
        lease_seconds=60,
        now=lambda: at,
    )
    return [outcome.kind for outcome in outcomes]


def queued_messages(stack: Stack) -> dict[str, int]:
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=stack.queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed"],
    )["Attributes"]
    return {
        "visible": int(attributes["ApproximateNumberOfMessages"]),
        "delayed": int(attributes["ApproximateNumberOfMessagesDelayed"]),
    }


def scheduled_task(stack: Stack, kit: Kit, run_at: datetime) -> Task:
    """A SCHEDULED task (its upload stored) whose timer has no message yet."""
    task = kit.store_task(stack, kit.workbook(), status=TaskStatus.SCHEDULED, created=NOW)
    scheduled = replace(task, run_at=isoformat(run_at))
    # Stored again with its run_at (the kit knows no timers).
    TaskRepository(stack.table).delete_expired(task.task_id, "9999")
    assert TaskRepository(stack.table).create(scheduled)
    return scheduled


# --- parsing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("run_at", "delay", "expected"),
    [
        (None, "10", NOW + timedelta(seconds=10)),
        ("2026-01-05T10:30:00Z", None, NOW + timedelta(minutes=30)),
        ("2026-01-05T10:30:00.250+00:00", None, NOW + timedelta(minutes=30, milliseconds=250)),
        ("2026-01-08T09:00:00z", None, NOW + timedelta(days=2, hours=23)),
        (None, None, None),
    ],
)
def test_a_timer_is_a_delay_or_a_utc_time(
    run_at: str | None, delay: str | None, expected: datetime | None
) -> None:
    assert requested_run_at(run_at, delay, NOW, LIMITS) == expected


@pytest.mark.parametrize(
    ("run_at", "delay", "reason"),
    [
        ("2026-01-05T09:59:59Z", None, "in the past"),
        ("2026-01-05 10:30", None, "not an ISO 8601 UTC time"),
        ("2026-01-05T10:30:00+02:00", None, "not an ISO 8601 UTC time"),
        ("2026-02-30T10:30:00Z", None, "not a valid date"),
        (None, "0", "at least 1"),
        (None, "ten", "whole number"),
        ("2026-01-05T10:30:00Z", "10", "not both"),
        ("2026-01-12T09:30:00Z", None, "later than the latest allowed"),
    ],
)
def test_bad_timers_are_refused_with_the_reason(
    run_at: str | None, delay: str | None, reason: str
) -> None:
    with pytest.raises(RequestRejectedError, match=reason) as refused:
        requested_run_at(run_at, delay, NOW, LIMITS)
    assert refused.value.code == "INVALID_SCHEDULE"


def test_a_message_delay_never_arrives_late_and_stays_within_sqs() -> None:
    assert message_delay(NOW + timedelta(seconds=9.7), NOW) == 9
    assert message_delay(NOW + timedelta(hours=1), NOW) == 900
    assert message_delay(NOW - timedelta(seconds=3), NOW) == 0


# --- the API -------------------------------------------------------------------------------


def upload(kit: Kit, context: FakeLambdaContext, **query: str) -> tuple[int, dict[str, Any]]:
    event = copy.deepcopy(kit.event("api-upload.json"))
    event["queryStringParameters"] = {**(event["queryStringParameters"] or {}), **query}
    event["multiValueQueryStringParameters"] = {
        name: [value] for name, value in event["queryStringParameters"].items()
    }
    response = api.handler(event, context)
    return response["statusCode"], json.loads(response["body"])


def test_an_upload_with_a_short_timer_is_scheduled_with_a_delayed_message(
    stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    status, body = upload(kit, context, delay_seconds="30")
    assert (status, body["status"]) == (202, "SCHEDULED")
    task = TaskRepository(stack.table).get(body["task_id"])
    assert task is not None and task.run_at == body["run_at"] and task.dispatched_at
    assert queued_messages(stack) == {"visible": 0, "delayed": 1}


def test_an_upload_with_a_bad_timer_is_a_400(
    stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    status, body = upload(kit, context, run_at="yesterday")
    assert status == 400 and body["error"]["code"] == "INVALID_SCHEDULE"
    assert "yesterday" in body["error"]["message"]
    assert queued_messages(stack) == {"visible": 0, "delayed": 0}


def test_a_presigned_timer_is_kept_until_the_upload_arrives(
    stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    event = copy.deepcopy(kit.event("api-presign.json"))
    event["body"] = json.dumps({"filename": "later.xlsx", "delay_seconds": 3600})
    body = json.loads(api.handler(event, context)["body"])
    assert body["status"] == "AWAITING_UPLOAD" and body["run_at"]
    task = TaskRepository(stack.table).get(body["task_id"])
    assert task is not None
    # When the file arrives (its notification), the task waits for its time
    boto3.client("s3").put_object(Bucket=stack.bucket, Key=task.key, Body=kit.workbook())
    assert deliver(stack, task, datetime.now(UTC)) == [OutcomeKind.SKIPPED]
    stored = TaskRepository(stack.table).get(task.task_id)
    assert stored is not None and stored.status is TaskStatus.SCHEDULED


# --- the worker ----------------------------------------------------------------------------


def test_a_message_that_comes_early_is_delayed_again(stack: Stack, kit: Kit) -> None:
    task = scheduled_task(stack, kit, NOW + timedelta(seconds=120))
    assert deliver(stack, task, NOW) == [OutcomeKind.SKIPPED]
    assert queued_messages(stack) == {"visible": 0, "delayed": 1}
    stored = TaskRepository(stack.table).get(task.task_id)
    assert stored is not None and stored.status is TaskStatus.SCHEDULED


def test_a_message_within_the_early_margin_waits_then_runs(
    stack: Stack, kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    waited: list[float] = []
    monkeypatch.setattr(processing, "_pause", waited.append)
    task = scheduled_task(stack, kit, NOW + timedelta(seconds=1.5))
    assert deliver(stack, task, NOW) == [OutcomeKind.SUCCEEDED]
    assert waited == [1.5]


def test_a_due_task_runs_and_records_when_it_started(stack: Stack, kit: Kit) -> None:
    task = scheduled_task(stack, kit, NOW)
    assert deliver(stack, task, NOW + timedelta(seconds=0.4)) == [OutcomeKind.SUCCEEDED]
    stored = TaskRepository(stack.table).get(task.task_id)
    assert stored is not None and stored.status is TaskStatus.SUCCEEDED
    assert stored.started_at == isoformat(NOW + timedelta(seconds=0.4))


def test_a_direct_put_with_timer_metadata_is_scheduled(stack: Stack, kit: Kit) -> None:
    # Given a file put straight into the bucket with x-amz-meta-delay-seconds
    task_id = "1b4e28ba2fa1411d9a6e0b2c5d8f7a31"
    key = f"uploads/{task_id}/timed.xlsx"
    boto3.client("s3").put_object(
        Bucket=stack.bucket, Key=key, Body=kit.workbook(), Metadata={"delay-seconds": "60"}
    )
    body = kit.event("worker-s3-notification.json")["Records"][0]["body"].replace(
        "uploads/0f8fad5bd9cb469fa16570867728950e/Q1+report.xlsx", key
    )
    placeholder = Task(task_id, TaskStatus.QUEUED, "", "", 0, stack.bucket, key, "timed.xlsx")
    # When its notification is processed, Then the task is SCHEDULED a minute ahead
    assert deliver(stack, placeholder, NOW, body) == [OutcomeKind.SKIPPED]
    stored = TaskRepository(stack.table).get(task_id)
    assert stored is not None and stored.status is TaskStatus.SCHEDULED
    assert stored.run_at == isoformat(NOW + timedelta(seconds=60))
    assert queued_messages(stack)["delayed"] == 1


def test_a_direct_put_with_a_bad_timer_fails_with_the_reason(stack: Stack, kit: Kit) -> None:
    task_id = "2c5f39cb3ab2422e8b7f1c3d6e9a8b42"
    key = f"uploads/{task_id}/bad timer.xlsx"
    boto3.client("s3").put_object(
        Bucket=stack.bucket, Key=key, Body=kit.workbook(), Metadata={"run-at": "soon"}
    )
    document = json.loads(kit.event("worker-s3-notification.json")["Records"][0]["body"])
    document["Records"][0]["s3"]["object"]["key"] = key
    placeholder = Task(task_id, TaskStatus.QUEUED, "", "", 0, stack.bucket, key, "bad.xlsx")
    assert deliver(stack, placeholder, NOW, json.dumps(document)) == [OutcomeKind.FAILED]
    stored = TaskRepository(stack.table).get(task_id)
    assert stored is not None and stored.status is TaskStatus.FAILED
    assert stored.error is not None and stored.error.code == "INVALID_SCHEDULE"
    assert [event["detail-type"] for event in kit.published(stack)] == ["Task Failed"]


# --- the sweep -----------------------------------------------------------------------------


def test_the_sweep_sends_a_long_timer_once_when_it_comes_within_the_horizon(
    stack: Stack, kit: Kit
) -> None:
    # Given a task three hours ahead (no message yet)
    task = scheduled_task(stack, kit, NOW + timedelta(hours=3))
    config = SchedulerConfig.from_env(env(stack, SCHEDULER_HORIZON_SECONDS="600"))
    repository = TaskRepository(stack.table)
    # When the sweep runs well before, Then nothing is sent
    assert sweep(config, repository, NOW).dispatched == 0
    # When it runs five minutes before, Then one delayed message is sent, once
    five_before = NOW + timedelta(hours=3, minutes=-5)
    assert sweep(config, repository, five_before).dispatched == 1
    assert sweep(config, repository, five_before + timedelta(minutes=1)).dispatched == 0
    assert queued_messages(stack) == {"visible": 0, "delayed": 1}
    stored = repository.get(task.task_id)
    assert stored is not None and stored.dispatched_at == isoformat(five_before)


def test_a_scheduled_task_is_cancelled_at_once(
    stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    task = scheduled_task(stack, kit, NOW + timedelta(hours=1))
    event = copy.deepcopy(kit.event("api-cancel-task.json"))
    event.update(path=f"/tasks/{task.task_id}", pathParameters={"id": task.task_id})
    response = api.handler(event, context)
    assert response["statusCode"] == 200
    assert deliver(stack, task, NOW + timedelta(hours=1)) == [OutcomeKind.SKIPPED]
    stored = TaskRepository(stack.table).get(task.task_id)
    assert stored is not None and stored.status is TaskStatus.CANCELLED
