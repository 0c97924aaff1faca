"""Each upload path with its own limit: the API body, the presigned POST, presigned multipart."""

from __future__ import annotations

import base64
import copy
import json
import os
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from sheetflow.config import ApiConfig, ConfigError
from sheetflow.dal.tasks import TaskRepository
from sheetflow.handlers import api
from sheetflow.logic.messages import parse_message
from sheetflow.logic.multipart import MAX_PARTS, MIN_PART_BYTES, part_size_for, plan_parts
from sheetflow.logic.task import TaskStatus

from .conftest import SAMPLE_API_KEY_ID, FakeLambdaContext, Kit, Stack

MIB = 1024 * 1024


def call(event: dict[str, Any], context: FakeLambdaContext) -> tuple[int, dict[str, Any]]:
    response = api.handler(event, context)
    return response["statusCode"], json.loads(response["body"])


def post_event(kit: Kit, path: str, document: Any) -> dict[str, Any]:
    event = copy.deepcopy(kit.event("api-presign.json"))
    event.update(path=path, resource=path, body=json.dumps(document))
    return event


@pytest.fixture
def s3_limit(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> int:
    """A 20 MiB S3 upload limit for the API function."""
    monkeypatch.setenv("MAX_UPLOAD_BYTES", str(20 * MIB))
    api.dependencies.rebuild()
    return 20 * MIB


# --- the API body --------------------------------------------------------------------------------


def test_api_body_limit_defaults_to_what_lambda_lets_through_and_cannot_exceed_it(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MAX_API_UPLOAD_BYTES", raising=False)
    # 4 MiB of body is 5.6 MB of base64: under Lambda's 6 MB with room for the event envelope
    assert ApiConfig.from_env(os.environ).max_api_upload_bytes == 4 * MIB
    assert (4 * MIB + 2) // 3 * 4 < 6 * MIB - 600 * 1024
    monkeypatch.setenv("MAX_API_UPLOAD_BYTES", str(5 * MIB))
    with pytest.raises(ConfigError, match="MAX_API_UPLOAD_BYTES"):
        ApiConfig.from_env(os.environ)


def test_api_body_over_its_limit_is_413_naming_the_presigned_routes(
    stack: Stack, kit: Kit, context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an API limit of 512 KiB while S3 uploads may be far larger
    monkeypatch.setenv("MAX_API_UPLOAD_BYTES", str(512 * 1024))
    api.dependencies.rebuild()
    event = copy.deepcopy(kit.event("api-upload.json"))
    event["body"] = base64.b64encode(b"x" * (512 * 1024 + 1)).decode()
    # When a body one byte over it is posted
    status, body = call(event, context)
    # Then the answer is 413 and points at the presigned routes
    assert (status, body["error"]["code"]) == (413, "TOO_LARGE")
    assert "POST /uploads/presign" in body["error"]["message"]
    assert "POST /uploads/multipart" in body["error"]["message"]


# --- presigned POST ------------------------------------------------------------------------------


def test_presign_answers_a_post_whose_policy_caps_the_size(
    s3_limit: int, kit: Kit, context: FakeLambdaContext
) -> None:
    # When a presigned upload is requested
    status, body = call(kit.event("api-presign.json"), context)
    # Then it is a form POST whose signed policy limits the file to 1..MaxUploadBytes
    assert status == 201
    upload = body["upload"]
    assert (upload["method"], upload["file_field"]) == ("POST", "file")
    expected_key = f"uploads/{SAMPLE_API_KEY_ID}/{body['task_id']}/Q1 report.xlsx"
    assert upload["fields"]["key"] == body["key"] == expected_key
    policy = json.loads(base64.b64decode(upload["fields"]["policy"]))
    assert ["content-length-range", 1, s3_limit] in policy["conditions"]
    assert body["max_bytes"] == s3_limit
    # And the first version's PUT URL is still there for older clients
    assert body["method"] == "PUT" and "X-Amz-Signature" in body["upload_url"]


def test_presign_with_a_declared_size_over_the_limit_is_413_and_makes_no_task(
    s3_limit: int, stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    event = post_event(kit, "/uploads/presign", {"filename": "big.xlsx", "size": s3_limit + 1})
    status, body = call(event, context)
    assert (status, body["error"]["code"]) == (413, "TOO_LARGE")
    assert str(s3_limit) in body["error"]["message"]
    assert TaskRepository(stack.table).page(TaskStatus.AWAITING_UPLOAD, limit=10).tasks == []


# --- presigned multipart -------------------------------------------------------------------------


def upload_parts(bucket: str, key: str, upload_id: str, sizes: list[int]) -> list[dict[str, Any]]:
    """What a client does with the part URLs (here straight through the SDK)."""
    s3 = boto3.client("s3")
    parts = []
    for number, size in enumerate(sizes, start=1):
        answer = s3.upload_part(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=b"p" * size
        )
        parts.append({"part_number": number, "etag": answer["ETag"]})
    return parts


def test_multipart_upload_is_planned_uploaded_and_completed(
    s3_limit: int, stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    # Given a 12 MiB file declared to POST /uploads/multipart
    size = 12 * MIB
    status, started = call(
        post_event(kit, "/uploads/multipart", {"filename": "big.xlsx", "size": size}), context
    )
    # Then it gets an 8 MiB part and a 4 MiB part, each with a URL signed for its length
    assert status == 201 and started["status"] == "AWAITING_UPLOAD"
    assert [(p["part_number"], p["size"]) for p in started["parts"]] == [(1, 8 * MIB), (2, 4 * MIB)]
    assert all("content-length" in p["url"] for p in started["parts"])
    assert started["complete_path"] == f"/uploads/{started['task_id']}/complete"
    # When the parts are uploaded and the completion posted
    parts = upload_parts(stack.bucket, started["key"], started["upload_id"], [8 * MIB, 4 * MIB])
    status, completed = call(
        post_event(
            kit, started["complete_path"], {"upload_id": started["upload_id"], "parts": parts}
        ),
        context,
    )
    # Then the object exists whole and the task waits for its notification
    assert status == 202 and completed["task_id"] == started["task_id"]
    head = boto3.client("s3").head_object(Bucket=stack.bucket, Key=started["key"])
    assert head["ContentLength"] == size
    task = TaskRepository(stack.table).get(started["task_id"])
    assert task is not None and task.status is TaskStatus.AWAITING_UPLOAD and task.size == size


def test_multipart_parts_adding_up_to_more_than_the_limit_are_aborted_and_the_task_fails(
    s3_limit: int, stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    # Given a client that declared 1 MiB but uploaded 2 x 11 MiB (over the 20 MiB limit)
    _, started = call(
        post_event(kit, "/uploads/multipart", {"filename": "liar.xlsx", "size": MIB}), context
    )
    parts = upload_parts(stack.bucket, started["key"], started["upload_id"], [11 * MIB, 11 * MIB])
    # When it asks for completion
    status, body = call(
        post_event(
            kit, started["complete_path"], {"upload_id": started["upload_id"], "parts": parts}
        ),
        context,
    )
    # Then 413, no object, the upload aborted and the task FAILED with TOO_LARGE
    assert (status, body["error"]["code"]) == (413, "TOO_LARGE")
    s3 = boto3.client("s3")
    assert s3.list_objects_v2(Bucket=stack.bucket).get("KeyCount") == 0
    assert s3.list_multipart_uploads(Bucket=stack.bucket).get("Uploads", []) == []
    task = TaskRepository(stack.table).get(started["task_id"])
    assert task is not None and task.status is TaskStatus.FAILED
    assert task.error is not None and task.error.code == "TOO_LARGE"


@pytest.mark.parametrize(
    "case",
    [
        ({"filename": "a.xlsx"}, 400, "INVALID_SIZE"),
        ({"filename": "a.xlsx", "size": "12"}, 400, "INVALID_SIZE"),
        ({"filename": "a.xlsx", "size": 0}, 400, "INVALID_SIZE"),
        ({"filename": "a.xlsx", "size": 20 * MIB + 1}, 413, "TOO_LARGE"),
        (["not", "an", "object"], 400, "INVALID_JSON"),
    ],
)
def test_multipart_start_rejections(
    s3_limit: int, kit: Kit, context: FakeLambdaContext, case: tuple[Any, int, str]
) -> None:
    document, status, code = case
    answered, body = call(post_event(kit, "/uploads/multipart", document), context)
    assert (answered, body["error"]["code"]) == (status, code)
    assert body["error"]["message"]


def test_multipart_completion_rejections(
    s3_limit: int, stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    _, started = call(
        post_event(kit, "/uploads/multipart", {"filename": "a.xlsx", "size": 100}), context
    )
    path, upload_id = started["complete_path"], started["upload_id"]
    parts = upload_parts(stack.bucket, started["key"], upload_id, [100])
    cases = [
        (path, {"upload_id": upload_id}, 400, "INVALID_PARTS"),
        (path, {"upload_id": upload_id, "parts": [{"part_number": 1}]}, 400, "INVALID_PARTS"),
        (path, {"upload_id": upload_id, "parts": parts * 2}, 400, "INVALID_PARTS"),
        # an ETag S3 never gave out: S3 refuses the completion
        (
            path,
            {"upload_id": upload_id, "parts": [{"part_number": 1, "etag": '"0000"'}]},
            400,
            "INVALID_PARTS",
        ),
        (
            "/uploads/NOT-AN-ID/complete",
            {"upload_id": upload_id, "parts": parts},
            400,
            "INVALID_TASK_ID",
        ),
        (
            f"/uploads/{'0' * 32}/complete",
            {"upload_id": upload_id, "parts": parts},
            404,
            "TASK_NOT_FOUND",
        ),
    ]
    for where, document, status, code in cases:
        answered, body = call(post_event(kit, where, document), context)
        assert (answered, body["error"]["code"]) == (status, code), (document, body)
    # A task that is no longer waiting for an upload takes no completion
    answered, _ = call(post_event(kit, path, {"upload_id": upload_id, "parts": parts}), context)
    assert answered == 202
    repository = TaskRepository(stack.table)
    task = repository.get(started["task_id"])
    assert task is not None
    repository.mark_queued(task.task_id, 100, datetime.now(UTC))
    answered, body = call(post_event(kit, path, {"upload_id": upload_id, "parts": parts}), context)
    assert (answered, body["error"]["code"]) == (409, "UPLOAD_NOT_EXPECTED")


@pytest.mark.parametrize("total", [1, 5 * MIB, 8 * MIB, 8 * MIB + 1, 100 * MIB, 200 * 1024 * MIB])
def test_part_plans_cover_the_file_within_s3_rules(total: int) -> None:
    size = part_size_for(total)
    plan = plan_parts(total, size)
    assert sum(part.size for part in plan) == total
    assert [part.part_number for part in plan] == list(range(1, len(plan) + 1))
    assert len(plan) <= MAX_PARTS
    assert all(part.size >= MIN_PART_BYTES for part in plan[:-1])


def test_a_completed_multipart_upload_is_an_upload_like_any_other() -> None:
    # Given the notification S3 sends when a multipart upload is completed
    task_id = "0f8fad5bd9cb469fa16570867728950e"
    record = {
        "eventName": "ObjectCreated:CompleteMultipartUpload",
        "s3": {
            "bucket": {"name": "b"},
            "object": {"key": f"uploads/{task_id}/big.xlsx", "size": 52_000_000, "eTag": "x-7"},
        },
    }
    # When it is parsed, Then it is one job for the task named by the key
    (job,) = parse_message(json.dumps({"Records": [record]}))
    assert (job.task_id, job.size, job.from_notification) == (task_id, 52_000_000, True)
