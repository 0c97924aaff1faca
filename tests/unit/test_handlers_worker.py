"""The SQS handlers: partial batch responses, retry visibility, the dead-letter path."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from sheetflow.dal import queues
from sheetflow.dal.tasks import TaskRepository
from sheetflow.handlers import dead_letter, worker
from sheetflow.logic.messages import task_message
from sheetflow.logic.task import Task, TaskError, TaskStatus, new_task, new_task_id, upload_key

from .conftest import FakeLambdaContext, Kit, Stack


def make_task(stack: Stack, data: bytes | None, status: TaskStatus = TaskStatus.QUEUED) -> Task:
    task_id = new_task_id()
    task = new_task(
        task_id=task_id,
        status=status,
        bucket=stack.bucket,
        key=upload_key(task_id, "book.xlsx"),
        filename="book.xlsx",
        now=datetime.now(UTC),
        ttl=timedelta(hours=48),
    )
    if data is not None:
        boto3.client("s3").put_object(Bucket=stack.bucket, Key=task.key, Body=data)
    assert TaskRepository(stack.table).create(task)
    return task


def received_records(stack: Stack, bodies: list[str]) -> list[dict[str, Any]]:
    """Send and receive real messages so receipt handles are valid for ChangeMessageVisibility."""
    sqs = boto3.client("sqs")
    for body in bodies:
        sqs.send_message(QueueUrl=stack.queue_url, MessageBody=body)
    received = sqs.receive_message(
        QueueUrl=stack.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
    )["Messages"]
    by_body = {message["Body"]: message for message in received}
    return [
        {
            "messageId": by_body[body]["MessageId"],
            "receiptHandle": by_body[body]["ReceiptHandle"],
            "body": body,
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:sheetflow-tasks",
            "awsRegion": "us-east-1",
        }
        for body in bodies
    ]


def test_partial_batch_reports_only_the_transient_failure(
    stack: Stack, kit: Kit, context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a good task, a bad file, and a task whose source bucket is unreachable
    good = make_task(stack, kit.workbook())
    bad = make_task(stack, kit.hostile("csv"))
    unreachable_id = new_task_id()
    unreachable = new_task(
        task_id=unreachable_id,
        status=TaskStatus.QUEUED,
        bucket="bucket-that-does-not-exist",
        key=upload_key(unreachable_id, "x.xlsx"),
        filename="x.xlsx",
        now=datetime.now(UTC),
        ttl=timedelta(hours=1),
    )
    assert TaskRepository(stack.table).create(unreachable)
    bodies = [task_message(t.task_id, t.bucket, t.key) for t in (good, bad, unreachable)]
    records = received_records(stack, bodies)
    delays: list[tuple[str, int]] = []
    real_delay = queues.delay_retry

    def recording_delay(queue_url: str, receipt_handle: str, seconds: int) -> None:
        delays.append((receipt_handle, seconds))
        real_delay(queue_url, receipt_handle, seconds)

    monkeypatch.setattr(queues, "delay_retry", recording_delay)
    # When the batch is handled
    response = worker.handler({"Records": records}, context)
    # Then only the transient failure is reported, and the others are settled
    assert response["batchItemFailures"] == [{"itemIdentifier": records[2]["messageId"]}]
    repository = TaskRepository(stack.table)
    assert (stored_good := repository.get(good.task_id)) and stored_good.status == "SUCCEEDED"
    assert (stored_bad := repository.get(bad.task_id)) and stored_bad.status == "FAILED"
    # And the failed message's visibility was set to the first backoff delay
    assert delays == [(records[2]["receiptHandle"], 30)]


def test_s3_test_event_is_consumed(stack: Stack, kit: Kit, context: FakeLambdaContext) -> None:
    response = worker.handler(kit.event("worker-s3-test-event.json"), context)
    assert response["batchItemFailures"] == []


def test_dead_letter_marks_task_failed_with_last_error(
    stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    # Given a task that failed transiently three times
    task = make_task(stack, kit.workbook())
    repository = TaskRepository(stack.table)
    claimed = repository.claim(task, datetime.now(UTC), 0)
    assert claimed is not None
    assert repository.release(
        task.task_id,
        claimed.attempts,
        TaskError("DEPENDENCY_UNAVAILABLE", "S3 down"),
        datetime.now(UTC),
    )
    event = {"Records": [dict(kit.event("dead-letter-record.json")["Records"][0])]}
    event["Records"][0]["body"] = task_message(task.task_id, task.bucket, task.key)
    # When its message reaches the dead-letter function
    response = dead_letter.handler(event, context)
    # Then the task is FAILED with RETRIES_EXHAUSTED naming the attempts and the last error
    stored = repository.get(task.task_id)
    assert response["batchItemFailures"] == []
    assert stored is not None and stored.status is TaskStatus.FAILED and stored.error is not None
    assert stored.error.code == "RETRIES_EXHAUSTED"
    assert stored.error.message == (
        "retries exhausted after 1 attempts; last error: DEPENDENCY_UNAVAILABLE: S3 down"
    )


def test_dead_letter_leaves_finished_tasks_alone(
    stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    task = make_task(stack, kit.workbook())
    repository = TaskRepository(stack.table)
    claimed = repository.claim(task, datetime.now(UTC), 0)
    assert claimed is not None
    assert repository.succeed(
        task.task_id,
        attempt=1,
        summary={},
        result_key="results/x.json",
        size=1,
        now=datetime.now(UTC),
    )
    event = {"Records": [dict(kit.event("dead-letter-record.json")["Records"][0])]}
    event["Records"][0]["body"] = json.dumps(
        {"task_id": task.task_id, "bucket": task.bucket, "key": task.key}
    )
    dead_letter.handler(event, context)
    stored = repository.get(task.task_id)
    assert stored is not None and stored.status is TaskStatus.SUCCEEDED
