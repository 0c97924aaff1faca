"""Message parsing, task ids, backoff."""

from __future__ import annotations

import json

import pytest

from sheetflow.logic.backoff import retry_delay_seconds
from sheetflow.logic.messages import MessageFormatError, parse_message, task_message
from sheetflow.logic.task import TaskStatus, can_transition, is_valid_task_id, task_id_for_object

TASK_ID = "0f8fad5bd9cb469fa16570867728950e"


def notification(key: str, sequencer: str = "0062") -> str:
    record = {
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "b"}, "object": {"key": key, "size": 10, "sequencer": sequencer}},
    }
    return json.dumps({"Records": [record]})


def test_task_message_round_trips() -> None:
    # Given a task message as the upload API sends it
    body = task_message(TASK_ID, "b", f"uploads/{TASK_ID}/a.xlsx")
    # When it is parsed
    (job,) = parse_message(body)
    # Then it names the task and object, and is not marked as a notification
    assert (job.task_id, job.bucket, job.key, job.from_notification) == (
        TASK_ID,
        "b",
        f"uploads/{TASK_ID}/a.xlsx",
        False,
    )


def test_notification_key_is_url_decoded_and_keeps_presigned_task_id() -> None:
    # Given a notification for a presigned upload whose name has a space and a plus sign
    body = notification(f"uploads/{TASK_ID}/Q1+report%2B2.xlsx")
    # When it is parsed
    (job,) = parse_message(body)
    # Then '+' is a space, %2B a plus, and the task id comes from the key
    assert job.key == f"uploads/{TASK_ID}/Q1 report+2.xlsx"
    assert job.task_id == TASK_ID and job.from_notification and job.size == 10


def test_direct_upload_gets_deterministic_task_id() -> None:
    # Given two notifications of one upload and one of a later overwrite
    first = parse_message(notification("incoming/x.xlsx", "A1"))[0]
    duplicate = parse_message(notification("incoming/x.xlsx", "A1"))[0]
    overwrite = parse_message(notification("incoming/x.xlsx", "B2"))[0]
    # Then duplicates share a valid id and the overwrite gets a new one
    assert first.task_id == duplicate.task_id != overwrite.task_id
    assert is_valid_task_id(first.task_id)
    assert task_id_for_object("b", "uploads/not-an-id/x.xlsx", "A1") != "not-an-id"


def test_s3_test_event_carries_no_job() -> None:
    assert parse_message(json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"})) == []


@pytest.mark.parametrize(
    "body",
    ["not json", "[1, 2]", '{"hello": 1}', '{"task_id": "short", "bucket": "b", "key": "k"}'],
)
def test_malformed_bodies_are_rejected(body: str) -> None:
    with pytest.raises(MessageFormatError):
        parse_message(body)


def test_backoff_doubles_and_is_capped() -> None:
    delays = [retry_delay_seconds(count, 30, 900) for count in range(1, 8)]
    assert delays == [30, 60, 120, 240, 480, 900, 900]
    assert retry_delay_seconds(10_000, 30, 100_000) == 43_200


def test_state_machine_forbids_leaving_finished_states() -> None:
    assert can_transition(TaskStatus.QUEUED, TaskStatus.PROCESSING)
    assert can_transition(TaskStatus.PROCESSING, TaskStatus.PROCESSING)
    assert can_transition(TaskStatus.AWAITING_UPLOAD, TaskStatus.QUEUED)
    assert not can_transition(TaskStatus.SUCCEEDED, TaskStatus.PROCESSING)
    assert not can_transition(TaskStatus.FAILED, TaskStatus.QUEUED)
    assert not can_transition(TaskStatus.FAILED, TaskStatus.PROCESSING)


def test_only_retries_exhausted_failures_may_be_redriven() -> None:
    assert can_transition(TaskStatus.FAILED, TaskStatus.PROCESSING, "RETRIES_EXHAUSTED")
    assert not can_transition(TaskStatus.FAILED, TaskStatus.QUEUED, "RETRIES_EXHAUSTED")
    assert not can_transition(TaskStatus.FAILED, TaskStatus.SUCCEEDED, "RETRIES_EXHAUSTED")
    for code in ("NOT_XLSX", "CORRUPT", "SOURCE_MISSING", "DEPENDENCY_UNAVAILABLE", None):
        assert not can_transition(TaskStatus.FAILED, TaskStatus.PROCESSING, code)
    assert not can_transition(TaskStatus.SUCCEEDED, TaskStatus.PROCESSING, "RETRIES_EXHAUSTED")
