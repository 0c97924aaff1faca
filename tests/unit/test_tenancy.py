"""Tenant isolation: who a request comes from, whose tasks and objects are whose, and that a
client reads, lists and cancels only its own tasks (another's is 404, like one that never
existed). Pure logic, then the API handler on moto."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sheetflow.dal.tasks import TaskRepository
from sheetflow.handlers import api
from sheetflow.logic.errors import RequestRejectedError
from sheetflow.logic.messages import key_in_task_prefix, parse_message
from sheetflow.logic.task import (
    TaskStatus,
    api_upload_key,
    new_task_id,
    owner_of_object,
    task_id_for_object,
    upload_key,
)
from sheetflow.logic.tenancy import OPERATOR_OWNER, Caller, caller_from_key_id

from .conftest import FakeLambdaContext, Kit, Stack

ALICE = "alice00key1"
BOB = "bob0000key2"


# --- pure logic ------------------------------------------------------------------------------


def test_the_key_id_api_gateway_validated_is_the_caller() -> None:
    assert caller_from_key_id(ALICE) == Caller(owner=ALICE)


@pytest.mark.parametrize("key_id", [None, "", "a/b", "operator", "x" * 65])
def test_a_request_without_a_usable_key_id_is_refused(key_id: str | None) -> None:
    with pytest.raises(RequestRejectedError) as raised:
        caller_from_key_id(key_id)
    assert raised.value.code == "API_KEY_REQUIRED"


def test_a_caller_sees_only_its_own_tasks() -> None:
    alice = Caller(owner=ALICE)
    assert alice.may_see(ALICE)
    assert not alice.may_see(BOB)
    # Tasks without an owner (older ones, direct puts outside any prefix) are the operator's
    assert not alice.may_see(None)
    assert not alice.may_see(OPERATOR_OWNER)


def test_a_clients_objects_live_under_its_own_prefix() -> None:
    task_id = new_task_id()
    assert upload_key(task_id, "a.xlsx", ALICE) == f"uploads/{ALICE}/{task_id}/a.xlsx"
    assert api_upload_key(task_id, "a.xlsx", ALICE) == f"received/{ALICE}/{task_id}/a.xlsx"
    # The operator's objects keep the prefix-free layout
    assert upload_key(task_id, "a.xlsx") == f"uploads/{task_id}/a.xlsx"
    assert upload_key(task_id, "a.xlsx", OPERATOR_OWNER) == f"uploads/{task_id}/a.xlsx"


@pytest.mark.parametrize(
    ("key", "owner"),
    [
        (f"uploads/{ALICE}/{'a' * 32}/book.xlsx", ALICE),
        (f"uploads/{ALICE}/nested/book.xlsx", ALICE),
        (f"uploads/{ALICE}/book.xlsx", ALICE),
        (f"uploads/{'a' * 32}/book.xlsx", OPERATOR_OWNER),
        ("uploads/book.xlsx", OPERATOR_OWNER),
        ("uploads/operator/book.xlsx", OPERATOR_OWNER),
        ("uploads/bad-name!/book.xlsx", OPERATOR_OWNER),
    ],
)
def test_a_file_put_straight_into_the_bucket_belongs_to_the_prefix_it_is_under(
    key: str, owner: str
) -> None:
    assert owner_of_object(key) == owner


def test_a_presigned_task_id_is_found_under_a_client_prefix() -> None:
    task_id = new_task_id()
    assert task_id_for_object("b", upload_key(task_id, "a.xlsx", ALICE), "s1") == task_id
    # A name that is not a task id gets an id derived from the object
    derived = task_id_for_object("b", f"uploads/{ALICE}/a.xlsx", "s1")
    assert derived != task_id and len(derived) == 32


def test_a_notification_under_a_client_prefix_creates_the_clients_task() -> None:
    task_id = new_task_id()
    key = upload_key(task_id, "a.xlsx", BOB)
    body = json.dumps(
        {
            "Records": [
                {
                    "eventName": "ObjectCreated:Put",
                    "s3": {"bucket": {"name": "b"}, "object": {"key": key, "sequencer": "1"}},
                }
            ]
        }
    )
    (job,) = parse_message(body)
    assert job.task_id == task_id
    task = job.new_task(TaskStatus.QUEUED, datetime.now(UTC), 24)
    assert task.owner == BOB


def test_a_task_message_may_name_the_owners_folder_but_nothing_else() -> None:
    task_id, other = new_task_id(), new_task_id()
    assert key_in_task_prefix(api_upload_key(task_id, "a.xlsx", ALICE), task_id)
    assert key_in_task_prefix(api_upload_key(task_id, "a.xlsx"), task_id)
    assert not key_in_task_prefix(api_upload_key(other, "a.xlsx", ALICE), task_id)
    assert not key_in_task_prefix(f"received/{ALICE}/x/{task_id}/a.xlsx", task_id)
    assert not key_in_task_prefix(f"received/{ALICE}/{task_id}/..", task_id)


# --- the API on moto -------------------------------------------------------------------------


def call(event: dict[str, Any], context: FakeLambdaContext) -> tuple[int, dict[str, Any]]:
    response = api.handler(event, context)
    return response["statusCode"], json.loads(response["body"])


def route(kit: Kit, method: str, path: str, key_id: str | None) -> dict[str, Any]:
    event = kit.as_client(kit.event("api-get-task.json"), key_id)
    event.update(path=path, resource=path, httpMethod=method, pathParameters=None)
    event["queryStringParameters"] = event["multiValueQueryStringParameters"] = None
    return event


def upload_as(kit: Kit, key_id: str, context: FakeLambdaContext) -> str:
    status, body = call(kit.as_client(kit.event("api-upload.json"), key_id), context)
    assert status == 202, body
    return str(body["task_id"])


def test_each_client_reads_lists_and_cancels_only_its_own_tasks(
    stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    # Given a task of Alice's and one of Bob's
    alices = upload_as(kit, ALICE, context)
    bobs = upload_as(kit, BOB, context)
    # Then each task records its owner and lives under its owner's prefix
    tasks = TaskRepository(stack.table)
    alice_task, bob_task = tasks.get(alices), tasks.get(bobs)
    assert alice_task is not None and alice_task.owner == ALICE
    assert alice_task.key.startswith(f"received/{ALICE}/{alices}/")
    assert bob_task is not None and bob_task.owner == BOB
    # When Alice reads her task and Bob's
    status, _ = call(route(kit, "GET", f"/tasks/{alices}", ALICE), context)
    assert status == 200
    status, body = call(route(kit, "GET", f"/tasks/{bobs}", ALICE), context)
    # Then Bob's is not found, exactly like a task that never existed
    assert (status, body["error"]["code"]) == (404, "TASK_NOT_FOUND")
    unknown = new_task_id()
    _, never = call(route(kit, "GET", f"/tasks/{unknown}", ALICE), context)
    assert body["error"]["message"].replace(bobs, unknown) == never["error"]["message"]
    # And she cannot cancel it either (404), while Bob can (200)
    status, body = call(route(kit, "DELETE", f"/tasks/{bobs}", ALICE), context)
    assert (status, body["error"]["code"]) == (404, "TASK_NOT_FOUND")
    status, _ = call(route(kit, "DELETE", f"/tasks/{bobs}", BOB), context)
    assert status == 200
    # And each listing, in both orders, holds only the caller's own task
    for query in (None, {"order": "newest"}):
        event = route(kit, "GET", "/tasks", ALICE)
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = (
            {name: [value] for name, value in query.items()} if query else None
        )
        status, body = call(event, context)
        assert status == 200
        assert [item["task_id"] for item in body["items"]] == [alices]


def test_an_event_without_a_key_id_is_refused_with_403(
    stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    # Given the task route reached without API Gateway's key check (no apiKeyId)
    status, body = call(route(kit, "GET", "/tasks", None), context)
    # Then the function refuses it rather than answering anonymously
    assert (status, body["error"]["code"]) == (403, "API_KEY_REQUIRED")
    # While /health needs no key
    status, _ = call(kit.event("api-health.json"), context)
    assert status in (200, 503)


def test_a_listing_filtered_by_owner_pages_past_other_clients_tasks(stack: Stack, kit: Kit) -> None:
    # Given many of Bob's tasks and one of Alice's, the oldest
    repository = TaskRepository(stack.table)
    alices = kit.store_task(
        stack, None, owner=ALICE, created=datetime.now(UTC) - timedelta(hours=1)
    )
    for _ in range(7):
        kit.store_task(stack, None, owner=BOB)
    # When Alice's tasks are read a small page at a time from the status index
    found: list[str] = []
    start = None
    while True:
        page = repository.page(TaskStatus.QUEUED, 2, start, owner=ALICE)
        found.extend(task.task_id for task in page.tasks)
        if page.last_key is None:
            break
        start = page.last_key
    # Then only hers comes back, found past the pages of Bob's
    assert found == [alices.task_id]
    newest = repository.newest(TaskStatus.QUEUED, 5, owner=ALICE)
    assert [task.task_id for task in newest] == [alices.task_id]
