"""The dashboard's routes on moto: the page, newest-first listing, the timeline the writes record,
last-hour figures, parked dead letters and their redrive, alarm states, the presign size check."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from sheetflow.dal.clients import sqs_client
from sheetflow.dal.tasks import TaskRepository
from sheetflow.handlers import api
from sheetflow.logic.messages import task_message
from sheetflow.logic.task import TaskError, TaskStatus, new_task

from .conftest import SAMPLE_API_KEY_ID, FakeLambdaContext, Kit, Stack


def respond(event: dict[str, Any], context: FakeLambdaContext) -> dict[str, Any]:
    response: dict[str, Any] = api.handler(event, context)
    return response


def call(event: dict[str, Any], context: FakeLambdaContext) -> tuple[int, dict[str, Any]]:
    response = respond(event, context)
    return response["statusCode"], json.loads(response["body"])


def request(
    kit: Kit,
    path: str,
    method: str = "GET",
    query: dict[str, str] | None = None,
    body: str | None = None,
) -> dict[str, Any]:
    event = kit.as_client(kit.event("api-health.json"), SAMPLE_API_KEY_ID)
    event.update(
        path=path, resource=path, httpMethod=method, queryStringParameters=query, body=body
    )
    event["multiValueQueryStringParameters"] = (
        {name: [value] for name, value in query.items()} if query else None
    )
    event["headers"] = {**(event.get("headers") or {}), "Content-Type": "application/json"}
    return event


def stored(stack: Stack, status: TaskStatus, created: datetime, task_id: str) -> None:
    task = new_task(
        task_id=task_id,
        status=status,
        bucket=stack.bucket,
        key=f"uploads/{task_id}/book.xlsx",
        filename=f"{task_id[:4]}.xlsx",
        now=created,
        ttl=timedelta(days=1),
        owner=SAMPLE_API_KEY_ID,
    )
    TaskRepository(stack.table).create(task)


def test_the_page_is_served_as_html(stack: Stack, kit: Kit, context: FakeLambdaContext) -> None:
    response = respond(request(kit, "/dashboard"), context)
    assert response["statusCode"] == 200
    headers = response.get("multiValueHeaders") or {}
    content_type = headers.get("Content-Type", [response.get("headers", {}).get("Content-Type")])
    assert content_type[0].startswith("text/html")
    assert "<title>sheetflow dashboard</title>" in response["body"]


def test_newest_first_listing_spans_statuses_and_pages_without_repeats(
    stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    # Given tasks in three statuses, two of them created in the same microsecond
    start = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    plan = [
        (TaskStatus.SUCCEEDED, start + timedelta(seconds=1), "a" * 32),
        (TaskStatus.QUEUED, start + timedelta(seconds=3), "b" * 32),
        (TaskStatus.FAILED, start + timedelta(seconds=3), "c" * 32),
        (TaskStatus.QUEUED, start + timedelta(seconds=2), "d" * 32),
        (TaskStatus.FAILED, start + timedelta(seconds=5), "e" * 32),
    ]
    for state, created, task_id in plan:
        stored(stack, state, created, task_id)
    # When listed newest first, two per page
    seen: list[str] = []
    token: str | None = None
    for _ in range(5):
        query = {"order": "newest", "limit": "2", **({"next": token} if token else {})}
        status, body = call(request(kit, "/tasks", query=query), context)
        assert status == 200, body
        seen += [item["task_id"] for item in body["items"]]
        token = body["next"]
        if token is None:
            break
    # Then all come once, by creation time (newest first), ties by id
    assert seen == ["e" * 32, "c" * 32, "b" * 32, "d" * 32, "a" * 32]
    # And a status filter and a bad order are honoured
    _, failed = call(request(kit, "/tasks", query={"order": "newest", "status": "FAILED"}), context)
    assert [item["task_id"] for item in failed["items"]] == ["e" * 32, "c" * 32]
    status, refused = call(request(kit, "/tasks", query={"order": "sideways"}), context)
    assert status == 400 and refused["error"]["code"] == "INVALID_ORDER"


def test_every_status_write_adds_to_the_timeline_shown_by_the_task_route(
    stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    # Given a presigned task whose upload arrives, fails once transiently, then succeeds
    tasks = TaskRepository(stack.table)
    now = datetime.now(UTC)
    stored(stack, TaskStatus.AWAITING_UPLOAD, now, "f" * 32)
    assert tasks.mark_queued("f" * 32, 100, now + timedelta(seconds=1))
    task = tasks.get("f" * 32)
    assert task is not None
    first = tasks.claim(task, now + timedelta(seconds=2), lease_until=0)
    assert first is not None
    assert tasks.release(
        "f" * 32, 1, TaskError("DEPENDENCY_UNAVAILABLE", "down"), now + timedelta(seconds=3)
    )
    again = tasks.get("f" * 32)
    assert again is not None
    assert tasks.claim(again, now + timedelta(seconds=5), lease_until=0) is not None
    assert tasks.succeed(
        "f" * 32,
        attempt=2,
        summary={},
        result_key="results/x.json",
        size=100,
        now=now + timedelta(seconds=6),
        event_lease=0,
    )
    # When the task is read through the API
    status, body = call(request(kit, f"/tasks/{'f' * 32}"), context)
    # Then its timeline and attempts tell the story
    assert status == 200
    assert [entry["event"] for entry in body["timeline"]] == [
        "queued",
        "claimed",
        "retry",
        "claimed",
        "succeeded",
    ]
    assert [(a["n"], a["outcome"]) for a in body["attempt_log"]] == [(1, "retry"), (2, "succeeded")]
    assert body["processing_seconds"] == pytest.approx(4.0, abs=0.01)


def test_a_task_created_claimed_and_dead_lettered_keeps_both_events(
    stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    tasks = TaskRepository(stack.table)
    now = datetime.now(UTC)
    task = new_task(
        task_id="1" * 32,
        status=TaskStatus.PROCESSING,
        bucket=stack.bucket,
        key="drop/book.xlsx",
        filename="book.xlsx",
        now=now,
        ttl=timedelta(days=1),
        owner=SAMPLE_API_KEY_ID,
    )
    assert tasks.create(replace(task, attempts=1))
    assert tasks.fail_unfinished(
        "1" * 32, TaskError("RETRIES_EXHAUSTED", "gave up"), now, event_lease=0
    )
    _, body = call(request(kit, f"/tasks/{'1' * 32}"), context)
    assert [(a["n"], a["outcome"], a["code"]) for a in body["attempt_log"]] == [
        (1, "exhausted", "RETRIES_EXHAUSTED")
    ]


def test_stats_count_finished_tasks_of_the_last_hour(
    stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    now = datetime.now(UTC)
    stored(stack, TaskStatus.SUCCEEDED, now - timedelta(minutes=3), "2" * 32)
    stored(stack, TaskStatus.SUCCEEDED, now - timedelta(minutes=1), "3" * 32)
    stored(stack, TaskStatus.FAILED, now - timedelta(minutes=2), "4" * 32)
    stored(stack, TaskStatus.SUCCEEDED, now - timedelta(hours=3), "5" * 32)  # too old
    stored(stack, TaskStatus.QUEUED, now, "6" * 32)  # unfinished
    status, body = call(request(kit, "/stats"), context)
    assert status == 200
    # CANCELLED is a finished state too: counted, none here
    assert body["totals"] == {"CANCELLED": 0, "FAILED": 1, "SUCCEEDED": 2}
    assert len(body["per_minute"]) == 60
    assert sum(bucket["SUCCEEDED"] for bucket in body["per_minute"]) == 2
    assert body["processing_seconds"]["count"] == 3


def test_parked_dead_letters_are_listed_without_being_consumed_and_redriven_on_confirmation(
    stack: Stack, kit: Kit, context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # moto has no message move task; SQS refusing one is the case where letters move by hand.
    def no_move_task(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "UnsupportedOperation"}}, "StartMessageMoveTask")

    monkeypatch.setattr(sqs_client(), "start_message_move_task", no_move_task)
    # Given a parked dead letter of a FAILED task
    sqs = boto3.client("sqs")
    stored(stack, TaskStatus.FAILED, datetime.now(UTC), "7" * 32)
    body = task_message("7" * 32, stack.bucket, f"uploads/{'7' * 32}/book.xlsx")
    sqs.send_message(QueueUrl=stack.failed_queue_url, MessageBody=body)
    # When the page lists the parked letters, twice
    for _ in range(2):
        status, parked = call(request(kit, "/dead-letters"), context)
        # Then the letter is shown with its task, and stays parked
        assert status == 200
        assert parked["depth"] == 1
        assert [item["task_ids"] for item in parked["items"]] == [["7" * 32]]
        assert parked["items"][0]["task_status"] == "FAILED"
    # And a redrive without the confirmation is refused, in words
    status, refused = call(request(kit, "/dead-letters/redrive", "POST", body="{}"), context)
    assert status == 400 and refused["error"]["code"] == "CONFIRMATION_REQUIRED"
    # And a confirmed redrive moves it to the task queue
    confirmed = request(kit, "/dead-letters/redrive", "POST", body='{"confirm": true}')
    status, moved = call(confirmed, context)
    assert status == 200 and moved["moved"] == 1, moved
    assert moved["method"] == "receive, send and delete"
    assert "UnsupportedOperation" in moved["note"]
    received = sqs.receive_message(QueueUrl=stack.queue_url, WaitTimeSeconds=0)["Messages"]
    assert json.loads(received[0]["Body"])["task_id"] == "7" * 32
    _, after = call(request(kit, "/dead-letters"), context)
    assert after["depth"] == 0 and after["items"] == []


def test_alarm_states_are_those_of_the_named_alarms(
    stack: Stack, kit: Kit, context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    cloudwatch = boto3.client("cloudwatch")
    for name in ("stack-DeadLetterAlarm-1", "someone-elses-alarm"):
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            Namespace="AWS/SQS",
            MetricName="M",
            Statistic="Maximum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=0,
            ComparisonOperator="GreaterThanThreshold",
        )
    cloudwatch.set_alarm_state(
        AlarmName="stack-DeadLetterAlarm-1", StateValue="ALARM", StateReason="one parked"
    )
    monkeypatch.setenv("ALARM_NAMES", "stack-DeadLetterAlarm-1")
    status, body = call(request(kit, "/alarms"), context)
    assert status == 200
    assert [(a["name"], a["state"], a["reason"]) for a in body["alarms"]] == [
        ("stack-DeadLetterAlarm-1", "ALARM", "one parked")
    ]
