"""Hostile file names and object keys: path traversal, control characters, 1,000-character names.

From the API (the `filename` a client sends) and from the bucket (the key of a direct put), each
ends with a safe stored name under the task's own prefix, a clean display name, and the task in
its expected state after one delivery.
"""

from __future__ import annotations

import copy
import json
import unicodedata
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

import boto3
import pytest

from sheetflow.config import WorkerConfig
from sheetflow.dal.tasks import TaskRepository
from sheetflow.handlers import api
from sheetflow.logic.filenames import (
    MAX_DISPLAY_LENGTH,
    MAX_STORED_LENGTH,
    display_filename,
    stored_filename,
)
from sheetflow.logic.messages import task_message
from sheetflow.logic.task import TaskStatus, new_task_id
from sheetflow.usecases.processing import Outcome, OutcomeKind, process_message

from .conftest import SAMPLE_API_KEY_ID, FakeLambdaContext, Kit, Stack

NOW = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)

HOSTILE_NAMES = {
    "traversal-posix": "../../../../etc/passwd.xlsx",
    "traversal-windows": "..\\..\\Windows\\System32\\config.xlsx",
    "absolute-path": "/var/task/handler.xlsx",
    "dot-dot-only": "..",
    "control-characters": "re\x00port\x07\x1b[31m\r\nQ1.xlsx",
    "bidi-override": "invoice\u202exslx.exe.xlsx",
    "zero-width": "bu\u200bdget\ufeff.xlsx",
    "newline-header-injection": "a.xlsx\r\nX-Amz-Meta-Evil: 1",
    "thousand-characters": "x" * 1000 + ".xlsx",
    "thousand-multibyte": "表" * 1000 + ".xlsx",
    "only-spaces-and-dots": " . . . ",
    "url-encoded-traversal": "%2e%2e%2f%2e%2e%2fsecret.xlsx",
    "lone-surrogate": "bad\udcffname.xlsx",
    "reserved-windows-name": "CON.xlsx",
    "no-extension": "quarterly report",
}


def _is_clean_display(name: str) -> bool:
    return (
        0 < len(name) <= MAX_DISPLAY_LENGTH
        and "/" not in name
        and "\\" not in name
        and not any(unicodedata.category(c) in {"Cc", "Cf", "Cs"} for c in name)
    )


@pytest.mark.parametrize("raw", HOSTILE_NAMES.values(), ids=HOSTILE_NAMES.keys())
def test_names_become_a_safe_key_segment_and_a_clean_display_name(raw: str) -> None:
    stored = stored_filename(raw)
    assert stored.endswith(".xlsx") and len(stored) <= MAX_STORED_LENGTH
    assert stored.isascii() and "/" not in stored and not stored.startswith(".")
    assert all(c.isalnum() or c in "._ -" for c in stored)
    assert _is_clean_display(display_filename(raw))


def test_display_name_keeps_the_users_spelling_and_extension() -> None:
    assert display_filename("C:\\Users\\zoë\\Ventes 2026 ✓.xlsx") == "Ventes 2026 ✓.xlsx"
    long_name = display_filename("y" * 1000 + ".xlsx")
    assert len(long_name) == MAX_DISPLAY_LENGTH and long_name.endswith("~.xlsx")


@pytest.mark.parametrize("raw", HOSTILE_NAMES.values(), ids=HOSTILE_NAMES.keys())
def test_api_upload_with_hostile_filename_stays_under_its_task_prefix(
    stack: Stack, kit: Kit, context: FakeLambdaContext, raw: str
) -> None:
    # Given an API upload whose filename is hostile
    event = copy.deepcopy(kit.event("api-upload.json"))
    event["queryStringParameters"] = {"filename": raw}
    event["multiValueQueryStringParameters"] = {"filename": [raw]}
    # When it is accepted
    response = api.handler(event, context)
    assert response["statusCode"] == 202
    task_id = json.loads(response["body"])["task_id"]
    # Then the object is exactly one safe segment under the task's prefix
    task = TaskRepository(stack.table).get(task_id)
    assert task is not None
    prefix = f"received/{SAMPLE_API_KEY_ID}/{task_id}/"
    assert task.key.startswith(prefix) and task.key[len(prefix) :] == stored_filename(raw)
    assert _is_clean_display(task.filename)
    listed = boto3.client("s3").list_objects_v2(Bucket=stack.bucket)["Contents"]
    assert [item["Key"] for item in listed] == [task.key]
    # And the worker finishes it in one attempt
    outcomes = deliver(stack, task_message(task_id, task.bucket, task.key))
    assert [outcome.kind for outcome in outcomes] == [OutcomeKind.SUCCEEDED]


def worker_config(stack: Stack) -> WorkerConfig:
    return WorkerConfig.from_env(
        {
            "TABLE_NAME": stack.table,
            "BUCKET_NAME": stack.bucket,
            "QUEUE_URL": stack.queue_url,
            "EVENT_BUS_NAME": stack.bus,
            "RETENTION_HOURS": "24",
        }
    )


def deliver(stack: Stack, body: str) -> list[Outcome]:
    """One delivery of a message body to the worker's per-message path."""
    return process_message(
        body, 1, worker_config(stack), TaskRepository(stack.table), lease_seconds=60
    )


DIRECT_KEYS = {
    "traversal": "uploads/../../../etc/passwd.xlsx",
    "control-characters": "uploads/evil\x01\x1b[2J\n.xlsx",
    "thousand-characters": "uploads/" + "k" * 1000 + ".xlsx",
    "nested-and-unicode": "uploads/a/b/c/Résumé ✓.xlsx",
    "bidi-override": "uploads/\u202egnp.xlsx",
}


@pytest.mark.parametrize("key", DIRECT_KEYS.values(), ids=DIRECT_KEYS.keys())
def test_direct_put_with_hostile_key_gets_a_clean_task(stack: Stack, kit: Kit, key: str) -> None:
    # Given a workbook put straight into the bucket under a hostile key
    boto3.client("s3").put_object(Bucket=stack.bucket, Key=key, Body=kit.workbook())
    record: dict[str, Any] = {
        "eventName": "ObjectCreated:Put",
        "s3": {
            "bucket": {"name": stack.bucket},
            "object": {"key": quote_plus(key), "size": 100, "sequencer": "01"},
        },
    }
    # When its notification is delivered once
    outcomes = deliver(stack, json.dumps({"Records": [record]}))
    # Then the task SUCCEEDED with a clean display name and its result under its own id
    assert [outcome.kind for outcome in outcomes] == [OutcomeKind.SUCCEEDED]
    task_id = str(outcomes[0].task_id)
    task = TaskRepository(stack.table).get(task_id)
    assert task is not None and task.status is TaskStatus.SUCCEEDED and task.attempts == 1
    assert task.key == key and _is_clean_display(task.filename)
    keys = {
        item["Key"] for item in boto3.client("s3").list_objects_v2(Bucket=stack.bucket)["Contents"]
    }
    assert keys == {key, f"results/{task_id}.json"}


@pytest.mark.parametrize(
    "key_for",
    [
        lambda own, other: f"received/{other}/book.xlsx",
        lambda own, other: f"received/{own}/../{other}/book.xlsx",
        lambda own, other: f"received/{own}/nested/book.xlsx",
        lambda own, other: f"results/{own}.json",
        lambda own, other: f"uploads/{own}/",
    ],
    ids=["other-task", "dot-dot", "nested", "results-prefix", "no-name"],
)
def test_task_message_naming_a_key_outside_its_prefix_is_not_acted_on(
    stack: Stack, key_for: Any
) -> None:
    own, other = new_task_id(), new_task_id()
    body = task_message(own, stack.bucket, key_for(own, other))
    outcomes = deliver(stack, body)
    assert [outcome.kind for outcome in outcomes] == [OutcomeKind.IGNORED]
