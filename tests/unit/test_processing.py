"""process_message against moto: success, permanent failures, duplicates, races, retries."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from sheetflow.config import WorkerConfig
from sheetflow.dal.clients import s3_client
from sheetflow.dal.tasks import TaskRepository
from sheetflow.logic.errors import ErrorCode
from sheetflow.logic.messages import task_message
from sheetflow.logic.task import Task, TaskError, TaskStatus
from sheetflow.usecases.processing import Outcome, OutcomeKind, RetryLaterError, process_message
from stackctl import samples

from .conftest import Kit, Stack

NOW = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


def config(stack: Stack, results_bucket: str | None = None) -> WorkerConfig:
    return WorkerConfig.from_env(
        {
            "TABLE_NAME": stack.table,
            "BUCKET_NAME": stack.bucket,
            "RESULTS_BUCKET": results_bucket or stack.bucket,
            "QUEUE_URL": stack.queue_url,
            "RETENTION_HOURS": "24",
            "EVENT_BUS_NAME": stack.bus,
        }
    )


def process(
    body: str, stack: Stack, receive_count: int = 1, redriven: bool = False, **kwargs: str
) -> list[Outcome]:
    return process_message(
        body,
        receive_count,
        config(stack, **kwargs),
        TaskRepository(stack.table),
        lease_seconds=60,
        redriven=redriven,
        now=lambda: NOW,
    )


def run(
    stack: Stack, task: Task, receive_count: int = 1, redriven: bool = False, **kwargs: str
) -> list[OutcomeKind]:
    body = task_message(task.task_id, task.bucket, task.key)
    outcomes = process(body, stack, receive_count, redriven, **kwargs)
    return [outcome.kind for outcome in outcomes]


def test_good_workbook_succeeds_with_result_and_summary(stack: Stack, kit: Kit) -> None:
    # Given a queued task for a good workbook
    task = kit.store_task(stack, kit.workbook(rows=5), created=NOW)
    # When its message is processed
    kinds = run(stack, task)
    # Then the task SUCCEEDED with a bounded summary and the full result is in S3
    stored = TaskRepository(stack.table).get(task.task_id)
    assert kinds == [OutcomeKind.SUCCEEDED]
    assert stored is not None and stored.status is TaskStatus.SUCCEEDED and stored.attempts == 1
    assert stored.summary is not None and stored.summary["total_rows"] == 6
    assert stored.summary["sheets"] == [{"name": "Data", "rows": 6}]
    body = boto3.client("s3").get_object(Bucket=stack.bucket, Key=f"results/{task.task_id}.json")
    result = json.loads(body["Body"].read())
    assert result["sheets"][0]["header"] == ["name", "amount"]


@pytest.mark.parametrize(("kind", "code"), samples.BROKEN_KINDS.items())
def test_bad_files_fail_permanently_without_retry(
    stack: Stack, kit: Kit, kind: str, code: ErrorCode
) -> None:
    # Given a queued task whose upload is hostile
    task = kit.store_task(stack, kit.hostile(kind), created=NOW)
    # When processed, Then it returns normally (message consumed) and the task FAILED with code
    assert run(stack, task) == [OutcomeKind.FAILED]
    stored = TaskRepository(stack.table).get(task.task_id)
    assert stored is not None and stored.status is TaskStatus.FAILED
    assert stored.error is not None and stored.error.code == code


def test_missing_source_object_is_permanent(stack: Stack, kit: Kit) -> None:
    task = kit.store_task(stack, kit.workbook(), created=NOW)
    boto3.client("s3").delete_object(Bucket=stack.bucket, Key=task.key)
    assert run(stack, task) == [OutcomeKind.FAILED]
    stored = TaskRepository(stack.table).get(task.task_id)
    assert stored is not None and stored.error is not None
    assert stored.error.code == ErrorCode.SOURCE_MISSING


def test_duplicate_delivery_of_finished_task_is_skipped(stack: Stack, kit: Kit) -> None:
    # Given a task already processed once
    task = kit.store_task(stack, kit.workbook(), created=NOW)
    assert run(stack, task) == [OutcomeKind.SUCCEEDED]
    # When the same message arrives again
    kinds = run(stack, task, receive_count=2)
    # Then it is skipped and the task is not reprocessed
    stored = TaskRepository(stack.table).get(task.task_id)
    assert kinds == [OutcomeKind.SKIPPED]
    assert stored is not None and stored.attempts == 1


def test_concurrent_claims_one_wins(stack: Stack, kit: Kit) -> None:
    # Given two deliveries that both read the task while QUEUED
    task = kit.store_task(stack, kit.workbook(), created=NOW)
    repository = TaskRepository(stack.table)
    lease = int(NOW.timestamp()) + 60
    # When both try the conditional transition to PROCESSING
    first = repository.claim(task, NOW, lease)
    second = repository.claim(task, NOW, lease)
    # Then exactly one succeeds
    assert first is not None and first.attempts == 1
    assert second is None


def test_delivery_during_active_lease_is_skipped(stack: Stack, kit: Kit) -> None:
    task = kit.store_task(stack, kit.workbook(), created=NOW)
    assert TaskRepository(stack.table).claim(task, NOW, int(NOW.timestamp()) + 60)
    assert run(stack, task) == [OutcomeKind.SKIPPED]


def test_transient_failure_releases_task_and_retry_succeeds(stack: Stack, kit: Kit) -> None:
    # Given results go to a bucket that does not exist yet
    task = kit.store_task(stack, kit.workbook(), created=NOW)
    # When the message is processed, Then it asks to be retried with backoff
    with pytest.raises(RetryLaterError) as retry:
        run(stack, task, receive_count=2, results_bucket="results-not-created-yet")
    assert retry.value.delay_seconds == 60
    stored = TaskRepository(stack.table).get(task.task_id)
    assert stored is not None and stored.status is TaskStatus.PROCESSING
    assert stored.lease_until == 0 and stored.last_error is not None
    assert "NoSuchBucket" in stored.last_error.message
    # When the bucket appears and the message is redelivered
    boto3.client("s3").create_bucket(Bucket="results-not-created-yet")
    kinds = run(stack, task, receive_count=3, results_bucket="results-not-created-yet")
    # Then the second attempt succeeds
    stored = TaskRepository(stack.table).get(task.task_id)
    assert kinds == [OutcomeKind.SUCCEEDED]
    assert stored is not None and stored.status is TaskStatus.SUCCEEDED and stored.attempts == 2


def test_direct_s3_upload_creates_its_task(stack: Stack, kit: Kit) -> None:
    # Given a file put straight into the bucket, outside the uploads/<id>/ layout
    boto3.client("s3").put_object(
        Bucket=stack.bucket, Key="uploads/q1 plan.xlsx", Body=kit.workbook()
    )
    record = {
        "eventName": "ObjectCreated:Put",
        "s3": {
            "bucket": {"name": stack.bucket},
            "object": {"key": "uploads/q1+plan.xlsx", "size": 100, "sequencer": "00AB"},
        },
    }
    body = json.dumps({"Records": [record]})
    repository = TaskRepository(stack.table)
    # When its notification is processed twice
    first = process(body, stack)
    second = process(body, stack)
    # Then one task was created and processed once
    assert [outcome.kind for outcome in first] == [OutcomeKind.SUCCEEDED]
    assert [outcome.kind for outcome in second] == [OutcomeKind.SKIPPED]
    stored = repository.get(str(first[0].task_id))
    assert stored is not None and stored.key == "uploads/q1 plan.xlsx"
    assert stored.filename == "q1 plan.xlsx"
    # created already claimed: one attempt, finished, lease given back
    assert (stored.status, stored.attempts, stored.lease_until) == (TaskStatus.SUCCEEDED, 1, 0)


def test_a_file_put_into_the_bucket_is_read_with_one_request(stack: Stack, kit: Kit) -> None:
    # Given a file put straight into the bucket, and the worker's S3 requests recorded
    boto3.client("s3").put_object(Bucket=stack.bucket, Key="uploads/q2.xlsx", Body=kit.workbook())
    requests: list[str] = []
    events = s3_client().meta.events

    def record_request(model: Any, **_: Any) -> None:
        requests.append(model.name)

    events.register("before-call.s3.*", record_request)
    record = {
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": stack.bucket}, "object": {"key": "uploads/q2.xlsx", "size": 1}},
    }
    try:
        # When its notification is processed
        outcomes = process(json.dumps({"Records": [record]}), stack)
    finally:
        events.unregister("before-call.s3.*", record_request)
    # Then one GET gave its metadata (no timer), its size and its bytes; the result was stored
    assert [outcome.kind for outcome in outcomes] == [OutcomeKind.SUCCEEDED]
    assert requests == ["GetObject", "PutObject"]


def test_presigned_upload_moves_from_awaiting_upload(stack: Stack, kit: Kit) -> None:
    task = kit.store_task(stack, kit.workbook(), status=TaskStatus.AWAITING_UPLOAD, created=NOW)
    record = {
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": stack.bucket}, "object": {"key": task.key, "size": 1}},
    }
    outcomes = process(json.dumps({"Records": [record]}), stack)
    assert [outcome.task_id for outcome in outcomes] == [task.task_id]
    assert outcomes[0].kind is OutcomeKind.SUCCEEDED


def test_test_event_and_garbage_are_ignored(stack: Stack) -> None:
    for body in ('{"Event": "s3:TestEvent"}', "garbage"):
        outcomes = process(body, stack)
        assert [outcome.kind for outcome in outcomes] == [OutcomeKind.IGNORED]


# --- redrive: FAILED with RETRIES_EXHAUSTED may be claimed again, nothing else finished may ------


def failed_task(stack: Stack, kit: Kit, data: bytes, code: str, attempts: int = 3) -> Task:
    """A task FAILED with `code` after `attempts` attempts, its upload still in place."""
    return kit.store_task(
        stack,
        data,
        status=TaskStatus.FAILED,
        created=NOW,
        attempts=attempts,
        error=TaskError(code, f"{code} for the test"),
        last_error=TaskError("DEPENDENCY_UNAVAILABLE", "S3 down"),
    )


def test_redriven_retries_exhausted_task_succeeds(stack: Stack, kit: Kit) -> None:
    # Given a task whose retries ran out, and its parked message moved back to the task queue
    task = failed_task(stack, kit, kit.workbook(rows=2), ErrorCode.RETRIES_EXHAUSTED, attempts=3)
    # When the message is processed
    kinds = run(stack, task, redriven=True)
    # Then the task is processed as attempt 4, SUCCEEDED, with its error cleared
    stored = TaskRepository(stack.table).get(task.task_id)
    assert kinds == [OutcomeKind.SUCCEEDED]
    assert stored is not None and stored.status is TaskStatus.SUCCEEDED
    assert stored.attempts == 4 and stored.error is None
    assert stored.summary is not None and stored.summary["total_rows"] == 3
    # And a further copy of the message is a duplicate: SUCCEEDED is final
    assert run(stack, task, redriven=True) == [OutcomeKind.SKIPPED]


def test_a_stray_copy_of_a_dead_lettered_message_does_not_finish_its_task_again(
    stack: Stack, kit: Kit
) -> None:
    # Given a task whose retries ran out (FAILED, its finish announced)
    task = failed_task(stack, kit, kit.workbook(rows=2), ErrorCode.RETRIES_EXHAUSTED, attempts=3)
    # When a copy of its message that never went through the failed-tasks queue arrives
    # (a duplicate delivery, a second S3 notification)
    kinds = run(stack, task, receive_count=1, redriven=False)
    # Then it is skipped and the task keeps its one finish
    assert kinds == [OutcomeKind.SKIPPED]
    assert TaskRepository(stack.table).get(task.task_id) == task


def test_redriven_task_whose_file_is_bad_fails_for_good(stack: Stack, kit: Kit) -> None:
    task = failed_task(stack, kit, kit.hostile("csv"), ErrorCode.RETRIES_EXHAUSTED)
    assert run(stack, task, redriven=True) == [OutcomeKind.FAILED]
    stored = TaskRepository(stack.table).get(task.task_id)
    assert stored is not None and stored.error is not None and stored.error.code == "NOT_XLSX"
    # Now it failed for its file: another redrive does not touch it
    assert run(stack, task, redriven=True) == [OutcomeKind.SKIPPED]


@pytest.mark.parametrize("code", [ErrorCode.NOT_XLSX, ErrorCode.CORRUPT, ErrorCode.SOURCE_MISSING])
def test_permanently_failed_task_is_never_redone(stack: Stack, kit: Kit, code: ErrorCode) -> None:
    # Given a task FAILED for its file (even though a good workbook sits at its key now)
    task = failed_task(stack, kit, kit.workbook(), code)
    # When its message arrives again, even redriven, Then it is skipped and the task is unchanged
    assert run(stack, task, redriven=True) == [OutcomeKind.SKIPPED]
    stored = TaskRepository(stack.table).get(task.task_id)
    assert stored == task
    # And the repository refuses the claim outright
    assert TaskRepository(stack.table).claim(task, NOW, int(NOW.timestamp()) + 60) is None


def test_succeeded_task_cannot_be_claimed(stack: Stack, kit: Kit) -> None:
    task = kit.store_task(stack, kit.workbook(), created=NOW)
    assert run(stack, task) == [OutcomeKind.SUCCEEDED]
    stored = TaskRepository(stack.table).get(task.task_id)
    assert stored is not None
    assert TaskRepository(stack.table).claim(stored, NOW, int(NOW.timestamp()) + 60) is None


def test_concurrent_claims_of_a_redriven_task_one_wins(stack: Stack, kit: Kit) -> None:
    # Given two deliveries of the redriven message that both read the task as FAILED
    task = failed_task(stack, kit, kit.workbook(), ErrorCode.RETRIES_EXHAUSTED, attempts=3)
    repository = TaskRepository(stack.table)
    lease = int(NOW.timestamp()) + 60
    # When both try the conditional transition to PROCESSING
    first = repository.claim(task, NOW, lease)
    second = repository.claim(task, NOW, lease)
    # Then exactly one succeeds, as attempt 4, and the stored error is gone
    assert first is not None and first.attempts == 4 and first.error is None
    assert second is None
    stored = repository.get(task.task_id)
    assert stored is not None and stored.status is TaskStatus.PROCESSING and stored.error is None


def test_redrive_claim_is_conditional_on_the_stored_error_code(stack: Stack, kit: Kit) -> None:
    # Given a task FAILED for its file, read by someone who believes it ran out of retries
    stored = failed_task(stack, kit, kit.workbook(), ErrorCode.NOT_XLSX)
    stale = replace(stored, error=TaskError(ErrorCode.RETRIES_EXHAUSTED, "stale read"))
    # When that reader claims it, Then the conditional write refuses
    repository = TaskRepository(stack.table)
    assert repository.claim(stale, NOW, int(NOW.timestamp()) + 60) is None
    assert repository.get(stored.task_id) == stored


def test_every_claim_is_reported_so_its_lease_can_be_renewed(stack: Stack, kit: Kit) -> None:
    # Given a queued task, and a file put straight into the bucket (its task created claimed)
    queued = kit.store_task(stack, kit.workbook(), created=NOW)
    boto3.client("s3").put_object(
        Bucket=stack.bucket, Key="uploads/direct.xlsx", Body=kit.workbook()
    )
    notification = {
        "Records": [
            {
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": stack.bucket},
                    "object": {"key": "uploads/direct.xlsx", "size": 100, "sequencer": "01"},
                },
            }
        ]
    }
    claims: list[tuple[str, int]] = []
    # When both messages are processed by a caller that watches claims
    for body in (task_message(queued.task_id, queued.bucket, queued.key), json.dumps(notification)):
        outcomes = process_message(
            body,
            1,
            config(stack),
            TaskRepository(stack.table),
            lease_seconds=60,
            on_claim=lambda task: claims.append((task.task_id, task.attempts)),
            now=lambda: NOW,
        )
        assert [outcome.kind for outcome in outcomes] == [OutcomeKind.SUCCEEDED]
    # Then each claim was reported with its attempt, whichever way the task was claimed
    assert claims[0] == (queued.task_id, 1)
    assert len(claims) == 2 and claims[1][1] == 1 and claims[1][0] != queued.task_id
