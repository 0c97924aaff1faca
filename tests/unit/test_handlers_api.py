"""The REST API handler: happy paths and every 4xx/5xx answer."""

from __future__ import annotations

import base64
import copy
import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from sheetflow.dal.tasks import TaskRepository
from sheetflow.handlers import api
from sheetflow.logic.task import TaskStatus

from .conftest import SAMPLE_API_KEY_ID, FakeLambdaContext, Kit, Stack

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def call(event: dict[str, Any], context: FakeLambdaContext) -> tuple[int, dict[str, Any]]:
    response = api.handler(event, context)
    return response["statusCode"], json.loads(response["body"])


def upload_event(kit: Kit, **changes: Any) -> dict[str, Any]:
    event = copy.deepcopy(kit.event("api-upload.json"))
    event.update(changes)
    return event


def get_event(kit: Kit, path: str, query: dict[str, str] | None = None) -> dict[str, Any]:
    event = kit.as_client(kit.event("api-health.json"), SAMPLE_API_KEY_ID)
    event.update(path=path, resource=path, queryStringParameters=query)
    event["multiValueQueryStringParameters"] = (
        {name: [value] for name, value in query.items()} if query else None
    )
    return event


def test_upload_stores_object_creates_task_and_queues_message(
    stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    # Given the sample upload event
    # When it is handled
    status, body = call(upload_event(kit), context)
    # Then the answer is 202 with a task id and a status URL
    assert status == 202
    assert body["status"] == "QUEUED"
    assert body["status_url"].endswith(f"/Prod/tasks/{body['task_id']}")
    # And the task, the object and the queue message exist
    task = TaskRepository(stack.table).get(body["task_id"])
    assert task is not None
    assert task.key == f"received/{SAMPLE_API_KEY_ID}/{body['task_id']}/sales.xlsx"
    boto3.client("s3").head_object(Bucket=stack.bucket, Key=task.key)
    messages = boto3.client("sqs").receive_message(QueueUrl=stack.queue_url)["Messages"]
    assert json.loads(messages[0]["Body"])["task_id"] == body["task_id"]


def test_upload_whose_message_cannot_be_queued_fails_with_503(
    stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    # Given the queue is gone
    boto3.client("sqs").delete_queue(QueueUrl=stack.queue_url)
    # When a workbook is uploaded
    status, body = call(upload_event(kit), context)
    # Then the client is told to try again, and no task is left waiting in QUEUED
    assert status == 503
    assert body["error"]["code"] == "SERVICE_UNAVAILABLE"
    queued = TaskRepository(stack.table).page(TaskStatus.QUEUED, limit=10)
    failed = TaskRepository(stack.table).page(TaskStatus.FAILED, limit=10)
    assert queued.tasks == []
    assert [task.error.code for task in failed.tasks if task.error] == ["DEPENDENCY_UNAVAILABLE"]


def test_plain_text_body_is_taken_as_is(stack: Stack, kit: Kit, context: FakeLambdaContext) -> None:
    # A UTF-8 body arrives unencoded (isBase64Encoded false): stored, later refused by the worker
    status, body = call(upload_event(kit, body="a,b\n1,2\n", isBase64Encoded=False), context)
    task = TaskRepository(stack.table).get(body["task_id"])
    assert status == 202 and task is not None and task.size == 8


@pytest.mark.parametrize(
    "case",
    [
        ({"body": None}, 400, "MISSING_BODY"),
        ({"body": ""}, 400, "MISSING_BODY"),
        ({"headers": {"Content-Type": "text/csv"}}, 415, "UNSUPPORTED_MEDIA_TYPE"),
        ({"headers": {}}, 415, "UNSUPPORTED_MEDIA_TYPE"),
        ({"body": "***not base64***"}, 400, "INVALID_BASE64"),
        (
            {"body": base64.b64encode(b"x" * (1024 * 1024 + 1)).decode()},
            413,
            "TOO_LARGE",
        ),
    ],
)
def test_upload_rejections(
    stack: Stack, kit: Kit, context: FakeLambdaContext, case: tuple[dict[str, Any], int, str]
) -> None:
    # Given an upload request with one thing wrong
    changes, status, code = case
    # When handled, Then the answer is the matching 4xx JSON error
    answered, body = call(upload_event(kit, **changes), context)
    assert (answered, body["error"]["code"]) == (status, code)
    assert body["error"]["message"]


def test_presign_creates_awaiting_task_and_url(
    stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    status, body = call(kit.event("api-presign.json"), context)
    assert status == 201
    assert body["key"] == f"uploads/{SAMPLE_API_KEY_ID}/{body['task_id']}/Q1 report.xlsx"
    assert body["upload_url"].startswith("https://") and "Signature" in body["upload_url"]
    task = TaskRepository(stack.table).get(body["task_id"])
    assert task is not None and task.status is TaskStatus.AWAITING_UPLOAD


def test_get_task_answers_404_400_and_result_url(
    stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    # Unknown and malformed ids
    status, body = call(kit.event("api-get-task.json"), context)
    assert (status, body["error"]["code"]) == (404, "TASK_NOT_FOUND")
    status, body = call(get_event(kit, "/tasks/NOT-AN-ID"), context)
    assert (status, body["error"]["code"]) == (400, "INVALID_TASK_ID")
    # A succeeded task carries a presigned result URL
    _, created = call(upload_event(kit), context)
    repository = TaskRepository(stack.table)
    task = repository.get(created["task_id"])
    assert task is not None
    claimed = repository.claim(task, datetime.now(UTC), 0)
    assert claimed is not None
    repository.succeed(
        task.task_id,
        attempt=1,
        summary={"total_rows": 4},
        result_key="results/r.json",
        size=1,
        now=datetime.now(UTC),
        event_lease=0,
    )
    status, body = call(get_event(kit, f"/tasks/{task.task_id}"), context)
    assert status == 200 and body["status"] == "SUCCEEDED" and body["attempts"] == 1
    assert "results/r.json" in body["result_url"]


def test_listing_pages_across_statuses(stack: Stack, kit: Kit, context: FakeLambdaContext) -> None:
    # Given three queued uploads and one presigned (AWAITING_UPLOAD) task
    for _ in range(3):
        call(upload_event(kit), context)
    call(kit.event("api-presign.json"), context)
    # When listed two at a time following the tokens
    seen: list[str] = []
    token: str | None = None
    for _ in range(5):
        query = {"limit": "2", **({"next": token} if token else {})}
        status, body = call(get_event(kit, "/tasks", query), context)
        assert status == 200 and len(body["items"]) <= 2
        seen.extend(item["task_id"] for item in body["items"])
        token = body["next"]
        if token is None:
            break
    # Then every task appears exactly once
    assert len(seen) == 4 == len(set(seen))
    # And a status filter narrows the listing
    _, queued = call(get_event(kit, "/tasks", {"status": "queued"}), context)
    assert {item["status"] for item in queued["items"]} == {"QUEUED"}


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"next": "!!!"}, "INVALID_TOKEN"),
        ({"next": base64.urlsafe_b64encode(b'{"s":"NOPE","k":null}').decode()}, "INVALID_TOKEN"),
        ({"limit": "0"}, "INVALID_LIMIT"),
        ({"limit": "many"}, "INVALID_LIMIT"),
        ({"limit": "\uff15"}, "INVALID_LIMIT"),  # a digit, not an ASCII one
        ({"limit": "\u00b2"}, "INVALID_LIMIT"),  # a digit that int() cannot read
        ({"status": "DONE"}, "INVALID_STATUS"),
    ],
)
def test_listing_rejections(
    stack: Stack, kit: Kit, context: FakeLambdaContext, query: dict[str, str], code: str
) -> None:
    status, body = call(get_event(kit, "/tasks", query), context)
    assert (status, body["error"]["code"]) == (400, code)


def test_health_reports_depths_and_503_when_a_dependency_is_down(
    stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    boto3.client("sqs").send_message(QueueUrl=stack.dlq_url, MessageBody="{}")
    for _ in range(2):
        boto3.client("sqs").send_message(QueueUrl=stack.failed_queue_url, MessageBody="{}")
    status, body = call(kit.event("api-health.json"), context)
    assert status == 200 and body["checks"]["dlq"]["depth"] == 1
    assert body["checks"]["failed"] == {"ok": True, "depth": 2, "in_flight": 0, "delayed": 0}
    assert body["checks"]["queue"]["depth"] == 0
    boto3.client("sqs").delete_queue(QueueUrl=stack.queue_url)
    status, body = call(kit.event("api-health.json"), context)
    assert status == 503 and body["status"] == "degraded"
    assert body["checks"]["queue"]["ok"] is False and body["checks"]["table"]["ok"] is True
    boto3.client("sqs").delete_queue(QueueUrl=stack.failed_queue_url)
    status, body = call(kit.event("api-health.json"), context)
    assert status == 503 and body["checks"]["failed"]["ok"] is False


def test_unknown_route_is_json_404(stack: Stack, kit: Kit, context: FakeLambdaContext) -> None:
    status, body = call(get_event(kit, "/nowhere"), context)
    assert (status, body["error"]["code"]) == (404, "ROUTE_NOT_FOUND")
