"""Idempotency-Key on POST /uploads and POST /uploads/presign (moto): a retry gets the first
answer and creates nothing; another request with the same key is 422."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from sheetflow.dal.idempotency_keys import IdempotencyKeys
from sheetflow.handlers import api
from sheetflow.logic import idempotency

from .conftest import FakeLambdaContext, Kit, Stack

KEY = "3f1c9a0e-5b7d-4c1e-9f2a-8d6b4e0c7a11"


def with_key(event: dict[str, Any], key: str = KEY, **changes: Any) -> dict[str, Any]:
    event = copy.deepcopy(event)
    event.update(changes)
    event["headers"] = {**event["headers"], "Idempotency-Key": key}
    return event


def handle(event: dict[str, Any], context: FakeLambdaContext) -> dict[str, Any]:
    response: dict[str, Any] = api.handler(event, context)
    return response


def tasks_in(stack: Stack) -> list[dict[str, Any]]:
    items = boto3.resource("dynamodb").Table(stack.table).scan()["Items"]
    return [item for item in items if "status" in item]


def objects_in(stack: Stack) -> list[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket=stack.bucket).get("Contents", [])
    return [item["Key"] for item in listed]


def messages_in(stack: Stack) -> int:
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=stack.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def test_a_retried_upload_gets_the_same_answer_and_creates_nothing(
    stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    # Given an upload sent with an Idempotency-Key
    first = handle(with_key(kit.event("api-upload.json")), context)
    assert first["statusCode"] == 202
    # When the same request is sent again with the same key
    retry = handle(with_key(kit.event("api-upload.json")), context)
    # Then the answer is the first one, marked as a replay
    assert (retry["statusCode"], retry["body"]) == (first["statusCode"], first["body"])
    assert retry["multiValueHeaders"]["Location"] == first["multiValueHeaders"]["Location"]
    assert first["multiValueHeaders"]["Idempotent-Replayed"] == ["false"]
    assert retry["multiValueHeaders"]["Idempotent-Replayed"] == ["true"]
    # And there is one task, one object and one queued message
    assert len(tasks_in(stack)) == 1
    assert len(objects_in(stack)) == 1
    assert messages_in(stack) == 1


def test_a_retried_presign_returns_the_same_task_and_form(
    stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    first = handle(with_key(kit.event("api-presign.json")), context)
    retry = handle(with_key(kit.event("api-presign.json")), context)
    assert first["statusCode"] == 201
    assert json.loads(retry["body"]) == json.loads(first["body"])
    assert len(tasks_in(stack)) == 1


def test_the_same_key_with_another_body_is_422(
    stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    # Given a presign with a key
    handle(with_key(kit.event("api-presign.json")), context)
    # When the key comes back with another file name
    other = with_key(kit.event("api-presign.json"), body=json.dumps({"filename": "other.xlsx"}))
    response = handle(other, context)
    # Then 422 says the key was used for another request, and no task is added
    error = json.loads(response["body"])["error"]
    assert (response["statusCode"], error["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")
    assert "Idempotency-Key" in error["message"]
    assert len(tasks_in(stack)) == 1


def test_the_same_key_on_the_other_route_is_422(
    stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    handle(with_key(kit.event("api-presign.json")), context)
    response = handle(with_key(kit.event("api-upload.json")), context)
    assert response["statusCode"] == 422
    assert len(tasks_in(stack)) == 1


def test_different_keys_make_different_tasks(
    stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    first = json.loads(handle(with_key(kit.event("api-presign.json"), "a-1"), context)["body"])
    second = json.loads(handle(with_key(kit.event("api-presign.json"), "a-2"), context)["body"])
    assert first["task_id"] != second["task_id"]
    assert len(tasks_in(stack)) == 2


@pytest.mark.parametrize("key", ["", "with space", "é", "x" * 256])
def test_a_malformed_key_is_400(
    stack: Stack, kit: Kit, context: FakeLambdaContext, key: str
) -> None:
    response = handle(with_key(kit.event("api-presign.json"), key), context)
    error = json.loads(response["body"])["error"]
    assert (response["statusCode"], error["code"]) == (400, "INVALID_IDEMPOTENCY_KEY")
    assert tasks_in(stack) == []


def test_a_refused_first_request_does_not_hold_the_key(
    stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    # Given a first request refused (415: wrong media type)
    event = kit.event("api-upload.json")
    wrong = with_key(event, headers={**event["headers"], "Content-Type": "text/csv"})
    assert handle(wrong, context)["statusCode"] == 415
    # When the corrected request comes with the same key, Then it is served
    assert handle(with_key(event), context)["statusCode"] == 202
    assert len(tasks_in(stack)) == 1


def test_a_retry_while_the_first_is_served_is_409(
    stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    # Given the key claimed by a first request that has not answered yet (same request)
    event = with_key(kit.event("api-presign.json"))
    fingerprint = idempotency.fingerprint(
        "POST", "/uploads/presign", event["queryStringParameters"], event["headers"], event["body"]
    )
    now = int(datetime.now(UTC).timestamp())
    # (scoped to the event's client, the API key id API Gateway validated)
    client = event["requestContext"]["identity"]["apiKeyId"]
    claimed = IdempotencyKeys(stack.table).claim(
        idempotency.record_key(KEY, client), fingerprint, now, 86400, 60
    )
    assert claimed is None
    # When the retry arrives, Then it is told to come back, and nothing is created
    response = handle(event, context)
    assert json.loads(response["body"])["error"]["code"] == "IDEMPOTENCY_IN_PROGRESS"
    assert response["statusCode"] == 409
    assert tasks_in(stack) == []


def test_only_one_of_two_concurrent_claims_wins(stack: Stack) -> None:
    keys = IdempotencyKeys(stack.table)
    now = int(datetime.now(UTC).timestamp())
    record_key = idempotency.record_key(KEY, None)
    first = keys.claim(record_key, "f", now, 86400, 60)
    second = keys.claim(record_key, "f", now, 86400, 60)
    assert first is None
    assert second is not None and second.answer is None and second.fingerprint == "f"


def test_an_expired_key_is_free_again(stack: Stack) -> None:
    # Given a record 25 hours old (TTL deletion may lag; reads must not trust it)
    keys = IdempotencyKeys(stack.table)
    record_key = idempotency.record_key(KEY, None)
    then = int((datetime.now(UTC) - timedelta(hours=25)).timestamp())
    assert keys.claim(record_key, "old", then, idempotency.TTL_SECONDS, 60) is None
    keys.answer(record_key, idempotency.StoredAnswer(201, "{}", {}))
    # When the key is used now, with another request, Then it is claimed anew
    now = int(datetime.now(UTC).timestamp())
    assert keys.claim(record_key, "new", now, idempotency.TTL_SECONDS, 60) is None


def test_a_lapsed_claim_without_answer_is_free_again(stack: Stack) -> None:
    keys = IdempotencyKeys(stack.table)
    record_key = idempotency.record_key(KEY, None)
    now = int(datetime.now(UTC).timestamp())
    assert keys.claim(record_key, "f", now - 120, idempotency.TTL_SECONDS, 60) is None
    assert keys.claim(record_key, "f", now, idempotency.TTL_SECONDS, 60) is None


def test_keys_are_scoped_to_the_callers_api_key() -> None:
    assert idempotency.record_key("k", "abc") != idempotency.record_key("k", "xyz")
    assert idempotency.record_key("k", None).startswith(idempotency.RECORD_PREFIX)
