"""The hourly cleanup: expiry, pagination, time budget, idempotence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest

from sheetflow.dal.tasks import TaskRepository
from sheetflow.handlers import cleanup
from sheetflow.logic.task import Task, TaskStatus

from .conftest import FakeLambdaContext, Kit, Stack


def stored_task(
    stack: Stack, kit: Kit, age: timedelta, status: TaskStatus = TaskStatus.SUCCEEDED
) -> Task:
    """A task created `age` ago, with its upload and its result."""
    created = datetime.now(UTC) - age
    return kit.store_task(stack, b"x", status=status, created=created, with_result=True)


def keys(stack: Stack) -> set[str]:
    listing = boto3.client("s3").list_objects_v2(Bucket=stack.bucket)
    return {item["Key"] for item in listing.get("Contents", [])}


def test_expired_tasks_go_with_their_objects_and_fresh_ones_stay(
    stack: Stack, kit: Kit, context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given five expired tasks in two statuses and one fresh task, and a page size of 2
    monkeypatch.setenv("CLEANUP_PAGE_SIZE", "2")
    cleanup.dependencies.rebuild()
    expired = [stored_task(stack, kit, timedelta(hours=30)) for _ in range(3)]
    expired += [stored_task(stack, kit, timedelta(hours=48), TaskStatus.FAILED) for _ in range(2)]
    fresh = stored_task(stack, kit, timedelta(hours=1))
    # When the cleanup runs
    report = cleanup.handler(cleanup_event(), context)
    # Then every expired task and object is gone, over several pages, and the fresh one stays
    repository = TaskRepository(stack.table)
    assert report["tasks_deleted"] == 5 and report["objects_deleted"] == 10
    assert report["complete"] is True and report["pages"] >= 3
    assert all(repository.get(task.task_id) is None for task in expired)
    assert repository.get(fresh.task_id) is not None
    assert keys(stack) == {fresh.key, f"results/{fresh.task_id}.json"}
    # And running again is a harmless no-op
    again = cleanup.handler(cleanup_event(), context)
    assert again["tasks_deleted"] == 0 and again["complete"] is True


def test_cleanup_stops_before_its_time_runs_out(stack: Stack, kit: Kit) -> None:
    # Given expired tasks and an invocation with less time left than the safety margin
    tasks = [stored_task(stack, kit, timedelta(hours=30)) for _ in range(2)]
    short_on_time = FakeLambdaContext(remaining_ms=5_000)
    # When the cleanup runs
    report = cleanup.handler(cleanup_event(), short_on_time)
    # Then it stops cleanly, reports itself incomplete, and touches nothing
    assert report["complete"] is False and report["tasks_deleted"] == 0
    assert all(TaskRepository(stack.table).get(task.task_id) for task in tasks)


def cleanup_event() -> dict[str, object]:
    return {"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}
