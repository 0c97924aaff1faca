"""The SQS handlers: partial batch responses, retry visibility, the dead-letter path."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from sheetflow.dal import queues
from sheetflow.dal.clients import dynamodb_resource, events_client
from sheetflow.dal.events import put_task_events
from sheetflow.dal.tasks import TaskRepository
from sheetflow.handlers import dead_letter, worker
from sheetflow.logic.messages import PARKED_ATTRIBUTE, task_message
from sheetflow.logic.task import Task, TaskError, TaskStatus, new_task, new_task_id, upload_key
from sheetflow.usecases import finishing
from stackctl.redriving import move_by_hand

from .conftest import FakeLambdaContext, Kit, Stack


def received_records(stack: Stack, bodies: list[str]) -> list[dict[str, Any]]:
    """Send and receive real messages so receipt handles are valid for ChangeMessageVisibility."""
    sqs = boto3.client("sqs")
    for body in bodies:
        sqs.send_message(QueueUrl=stack.queue_url, MessageBody=body)
    return queued_records(stack, bodies)


def queued_records(stack: Stack, bodies: list[str]) -> list[dict[str, Any]]:
    """The task queue's messages with these bodies, as Lambda's trigger hands them over."""
    received = boto3.client("sqs").receive_message(
        QueueUrl=stack.queue_url,
        MaxNumberOfMessages=10,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    )["Messages"]
    by_body = {message["Body"]: message for message in received}
    return [
        {
            "messageId": by_body[body]["MessageId"],
            "receiptHandle": by_body[body]["ReceiptHandle"],
            "body": body,
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {
                name: {"stringValue": value["StringValue"], "dataType": value["DataType"]}
                for name, value in by_body[body].get("MessageAttributes", {}).items()
            },
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
    good = kit.store_task(stack, kit.workbook())
    bad = kit.store_task(stack, kit.hostile("csv"))
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
    task = kit.store_task(stack, kit.workbook())
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
    task = kit.store_task(stack, kit.workbook())
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
        event_lease=0,
    )
    event = {"Records": [dict(kit.event("dead-letter-record.json")["Records"][0])]}
    event["Records"][0]["body"] = json.dumps(
        {"task_id": task.task_id, "bucket": task.bucket, "key": task.key}
    )
    dead_letter.handler(event, context)
    stored = repository.get(task.task_id)
    assert stored is not None and stored.status is TaskStatus.SUCCEEDED


# --- dead letters are recorded, then parked in the failed-tasks queue --------------------------


def parked_bodies(stack: Stack) -> list[str]:
    # A look: visible again at once, so a redrive can still move them.
    messages = boto3.client("sqs").receive_message(
        QueueUrl=stack.failed_queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0
    )
    return [message["Body"] for message in messages.get("Messages", [])]


def dead_letter_event(kit: Kit, bodies: list[str]) -> dict[str, Any]:
    template = kit.event("dead-letter-record.json")["Records"][0]
    return {
        "Records": [
            {**template, "messageId": f"dead-letter-{index}", "body": body}
            for index, body in enumerate(bodies)
        ]
    }


def test_dead_letter_parks_the_original_body_unchanged(
    stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    # Given a dead-lettered task message and an S3 notification (as SQS delivered them)
    task = kit.store_task(stack, kit.workbook())
    task_body = task_message(task.task_id, task.bucket, task.key)
    notification = json.dumps(
        {
            "Records": [
                {
                    "eventName": "ObjectCreated:Put",
                    "s3": {
                        "bucket": {"name": stack.bucket},
                        "object": {"key": "uploads/odd+name%21.xlsx", "size": 5},
                    },
                }
            ]
        },
        indent=1,
    )
    # When the dead-letter function handles them
    response = dead_letter.handler(dead_letter_event(kit, [task_body, notification]), context)
    # Then both are settled, their tasks FAILED, and the bodies forwarded byte for byte
    assert response["batchItemFailures"] == []
    stored = TaskRepository(stack.table).get(task.task_id)
    assert stored is not None and stored.status is TaskStatus.FAILED
    assert sorted(parked_bodies(stack)) == sorted([task_body, notification])


def test_dead_letter_of_a_finished_task_is_parked_and_the_task_kept(
    stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    task = kit.store_task(stack, kit.workbook())
    repository = TaskRepository(stack.table)
    claimed = repository.claim(task, datetime.now(UTC), 0)
    assert claimed is not None
    assert repository.succeed(
        task.task_id,
        attempt=1,
        summary={},
        result_key="r",
        size=1,
        now=datetime.now(UTC),
        event_lease=0,
    )
    body = task_message(task.task_id, task.bucket, task.key)
    assert dead_letter.handler(dead_letter_event(kit, [body]), context)["batchItemFailures"] == []
    assert parked_bodies(stack) == [body]
    stored = repository.get(task.task_id)
    assert stored is not None and stored.status is TaskStatus.SUCCEEDED


def test_failure_to_forward_is_a_batch_item_failure_and_the_retry_parks_it(
    stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    # Given the failed-tasks queue cannot be reached
    task = kit.store_task(stack, kit.workbook())
    body = task_message(task.task_id, task.bucket, task.key)
    sqs = boto3.client("sqs")
    sqs.delete_queue(QueueUrl=stack.failed_queue_url)
    event = dead_letter_event(kit, [body])
    # When the dead letter is handled, Then it is reported for another delivery
    response = dead_letter.handler(event, context)
    assert response["batchItemFailures"] == [{"itemIdentifier": "dead-letter-0"}]
    # And the task is marked already
    stored = TaskRepository(stack.table).get(task.task_id)
    assert stored is not None and stored.status is TaskStatus.FAILED
    assert stored.error is not None and stored.error.code == "RETRIES_EXHAUSTED"
    # When the queue is back and the dead letter comes again, Then it is parked, task unchanged
    assert sqs.create_queue(QueueName="sheetflow-failed")["QueueUrl"] == stack.failed_queue_url
    assert dead_letter.handler(event, context)["batchItemFailures"] == []
    assert parked_bodies(stack) == [body]
    assert TaskRepository(stack.table).get(task.task_id) == stored


def test_failure_to_mark_is_a_batch_item_failure_and_nothing_is_parked(
    stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    task = kit.store_task(stack, kit.workbook())
    boto3.client("dynamodb").delete_table(TableName=stack.table)
    event = dead_letter_event(kit, [task_message(task.task_id, task.bucket, task.key)])
    response = dead_letter.handler(event, context)
    assert response["batchItemFailures"] == [{"itemIdentifier": "dead-letter-0"}]
    assert parked_bodies(stack) == []


def test_persistent_fault_is_parked_then_redrive_reprocesses(
    stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    # Given a task whose three attempts failed transiently (S3 down)
    task = kit.store_task(stack, kit.workbook(rows=4))
    repository = TaskRepository(stack.table)
    current: Task | None = task
    for _ in range(3):
        assert current is not None
        claimed = repository.claim(current, datetime.now(UTC), 0)
        assert claimed is not None
        fault = TaskError("DEPENDENCY_UNAVAILABLE", "S3 down")
        assert repository.release(task.task_id, claimed.attempts, fault, datetime.now(UTC))
        current = repository.get(task.task_id)
    body = task_message(task.task_id, task.bucket, task.key)
    # When its message reaches the dead-letter function (SQS moved it after maxReceiveCount)
    assert dead_letter.handler(dead_letter_event(kit, [body]), context)["batchItemFailures"] == []
    # Then the task is FAILED with RETRIES_EXHAUSTED and the message waits in the parked queue
    failed = repository.get(task.task_id)
    assert failed is not None and failed.status is TaskStatus.FAILED and failed.attempts == 3
    assert failed.error is not None and failed.error.code == "RETRIES_EXHAUSTED"
    parked = parked_bodies(stack)
    assert parked == [body]
    # And a stray copy of the original message (a duplicate delivery) leaves it FAILED
    stray = received_records(stack, [body])
    assert worker.handler({"Records": stray}, context)["batchItemFailures"] == []
    assert repository.get(task.task_id) == failed
    # When the operator moves the parked message back to the task queue (the redrive)
    # (moved by hand: moto has no StartMessageMoveTask; both moves keep message attributes)
    assert move_by_hand(boto3.client("sqs"), stack.failed_queue_url, stack.queue_url) == 1
    redriven = queued_records(stack, parked)
    assert PARKED_ATTRIBUTE in redriven[0]["messageAttributes"]
    response = worker.handler({"Records": redriven}, context)
    # Then the task is processed again and SUCCEEDED as attempt 4, its error cleared
    assert response["batchItemFailures"] == []
    stored = repository.get(task.task_id)
    assert stored is not None and stored.status is TaskStatus.SUCCEEDED
    assert stored.attempts == 4 and stored.error is None
    assert stored.summary is not None and stored.summary["total_rows"] == 5


# --- a batch's finishes are announced together --------------------------------------------------


@pytest.fixture
def worker_calls() -> Iterator[list[str]]:
    """The names of the DynamoDB and EventBridge calls made while the test runs."""
    calls: list[str] = []

    def record(model: Any, **_: Any) -> None:
        calls.append(model.name)

    clients = (dynamodb_resource().meta.client, events_client())
    for client in clients:
        client.meta.events.register("before-call.*.*", record)
    yield calls
    for client in clients:
        client.meta.events.unregister("before-call.*.*", record)


def small_tasks(stack: Stack, kit: Kit, count: int) -> tuple[list[Task], list[str]]:
    """Queued tasks of a small workbook, and their messages carrying its size (as the API's)."""
    data = kit.workbook()
    tasks = [kit.store_task(stack, data) for _ in range(count)]
    return tasks, [task_message(t.task_id, t.bucket, t.key, len(data)) for t in tasks]


def test_a_batch_of_finishes_is_announced_with_one_put(
    stack: Stack, kit: Kit, context: FakeLambdaContext, worker_calls: list[str]
) -> None:
    # Given ten queued small workbooks, delivered as one batch
    tasks, bodies = small_tasks(stack, kit, 10)
    records = received_records(stack, bodies)
    # When the batch is handled
    before = len(worker_calls)
    response = worker.handler({"Records": records}, context)
    calls = worker_calls[before:]
    # Then every task succeeded and every event is on the bus, once
    assert response["batchItemFailures"] == []
    published = kit.published(stack)
    assert sorted(event["detail"]["event_id"] for event in published) == sorted(
        f"{task.task_id}:SUCCEEDED:1" for task in tasks
    )
    repository = TaskRepository(stack.table)
    for task in tasks:
        stored = repository.get(task.task_id)
        assert stored is not None and stored.status is TaskStatus.SUCCEEDED
        assert not stored.event_pending
    # And the ten events took one PutEvents; per task, the claim (with no read before it), the
    # finish and the cleared mark are its only table calls
    assert calls.count("PutEvents") == 1
    assert calls.count("UpdateItem") == 3 * len(tasks)
    assert calls.count("GetItem") == 0


def test_a_batch_keeps_the_messages_whose_events_were_refused(
    stack: Stack, kit: Kit, context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given three small workbooks in one batch, and a bus that refuses the second one's event
    tasks, bodies = small_tasks(stack, kit, 3)
    records = received_records(stack, bodies)
    refused = f"{tasks[1].task_id}:SUCCEEDED:1"

    def refusing_put(bus_name: str, events: list[Any]) -> list[str | None]:
        kept = [event for event in events if event.event_id != refused]
        answers = iter(put_task_events(bus_name, kept))
        return [
            "PutEvents rejected: ThrottlingException"
            if event.event_id == refused
            else next(answers)
            for event in events
        ]

    monkeypatch.setattr(finishing, "put_task_events", refusing_put)
    delays: list[tuple[str, int]] = []
    monkeypatch.setattr(
        queues, "delay_retry", lambda url, receipt, seconds: delays.append((receipt, seconds))
    )
    # When the batch is handled
    response = worker.handler({"Records": records}, context)
    # Then only the second message is kept, until its publication lease has lapsed
    assert response["batchItemFailures"] == [{"itemIdentifier": records[1]["messageId"]}]
    assert [receipt for receipt, _ in delays] == [records[1]["receiptHandle"]]
    assert delays[0][1] > 30 - 5  # the lease is 30 s from the finish
    # And its task is SUCCEEDED with the event still pending; the others are announced
    repository = TaskRepository(stack.table)
    marks = [stored.event_pending for t in tasks if (stored := repository.get(t.task_id))]
    assert marks == [False, True, False]
    assert sorted(event["detail"]["task_id"] for event in kit.published(stack)) == sorted(
        [tasks[0].task_id, tasks[2].task_id]
    )


def test_a_copy_of_a_message_in_the_same_batch_is_a_duplicate(
    stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    # Given one task's message twice in one batch (two deliveries of one S3 notification)
    tasks, bodies = small_tasks(stack, kit, 1)
    sqs = boto3.client("sqs")
    for body in bodies * 2:
        sqs.send_message(QueueUrl=stack.queue_url, MessageBody=body)
    received = sqs.receive_message(
        QueueUrl=stack.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
    )["Messages"]
    records = [
        {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
        }
        for message in received
    ]
    assert len(records) == 2
    # When the batch is handled
    response = worker.handler({"Records": records}, context)
    # Then both messages are settled and the finish is announced once
    assert response["batchItemFailures"] == []
    assert [event["detail"]["event_id"] for event in kit.published(stack)] == [
        f"{tasks[0].task_id}:SUCCEEDED:1"
    ]
