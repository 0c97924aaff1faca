"""Cancel: at once before processing, at a sheet boundary while processing, 409 when finished."""

from __future__ import annotations

import copy
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from sheetflow.config import WorkerConfig
from sheetflow.dal import storage
from sheetflow.dal.tasks import TaskRepository
from sheetflow.handlers import api
from sheetflow.logic.errors import StopRequestedError
from sheetflow.logic.messages import task_message
from sheetflow.logic.parsing import ParseLimits, parse_workbook
from sheetflow.logic.task import Task, TaskStatus
from sheetflow.usecases.processing import Outcome, OutcomeKind, process_message

from .conftest import FakeLambdaContext, Kit, Stack


def delete(kit: Kit, task_id: str, context: FakeLambdaContext) -> tuple[int, dict[str, Any]]:
    event = copy.deepcopy(kit.event("api-cancel-task.json"))
    event.update(path=f"/tasks/{task_id}", pathParameters={"id": task_id})
    response = api.handler(event, context)
    return response["statusCode"], json.loads(response["body"])


def process(stack: Stack, task: Task) -> list[Outcome]:
    config = WorkerConfig.from_env(
        {
            "TABLE_NAME": stack.table,
            "BUCKET_NAME": stack.bucket,
            "QUEUE_URL": stack.queue_url,
            "EVENT_BUS_NAME": stack.bus,
        }
    )
    body = task_message(task.task_id, task.bucket, task.key)
    return process_message(body, 1, config, TaskRepository(stack.table), lease_seconds=60)


def three_sheets() -> bytes:
    book = openpyxl.Workbook()
    for index, sheet in enumerate([book.active, book.create_sheet(), book.create_sheet()]):
        assert sheet is not None
        sheet.title = f"S{index}"
        sheet.append(["a", index])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("status", [TaskStatus.QUEUED, TaskStatus.AWAITING_UPLOAD])
def test_a_task_not_started_is_cancelled_at_once_and_never_processed(
    stack: Stack, kit: Kit, context: FakeLambdaContext, status: TaskStatus
) -> None:
    # Given a task that has not started
    task = kit.store_task(stack, kit.workbook(), status=status)
    # When it is cancelled
    code, body = delete(kit, task.task_id, context)
    # Then it is CANCELLED at once, announced once
    assert (code, body["status"]) == (200, "CANCELLED")
    assert [event["detail-type"] for event in kit.published(stack)] == ["Task Cancelled"]
    # And its message (or the upload's notification) is consumed without processing
    assert [outcome.kind for outcome in process(stack, task)] == [OutcomeKind.SKIPPED]
    stored = TaskRepository(stack.table).get(task.task_id)
    assert stored is not None and stored.status is TaskStatus.CANCELLED and stored.attempts == 0
    assert kit.published(stack) == []


def test_a_processing_task_is_asked_and_stops_at_a_sheet_boundary(
    stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    # Given a task whose worker is PROCESSING it (its lease lapsed, so a redelivery runs on)
    task = kit.store_task(stack, three_sheets())
    repository = TaskRepository(stack.table)
    assert repository.claim(task, datetime.now(UTC), lease_until=0) is not None
    # When it is cancelled, Then the API answers 202 with the request recorded
    code, body = delete(kit, task.task_id, context)
    assert (code, body["status"], body["cancel_requested"]) == (202, "PROCESSING", True)
    assert kit.published(stack) == []
    # And the worker stops before the first sheet, finishing CANCELLED without a result
    outcomes = process(stack, task)
    assert [outcome.kind for outcome in outcomes] == [OutcomeKind.CANCELLED]
    assert "before sheet 'S0'" in outcomes[0].detail
    stored = repository.get(task.task_id)
    assert stored is not None and stored.status is TaskStatus.CANCELLED
    assert stored.result_key is None
    assert [event["detail-type"] for event in kit.published(stack)] == ["Task Cancelled"]


def test_a_cancel_after_the_last_sheet_wins_over_the_success(
    stack: Stack, kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a cancel that arrives while the result is being stored
    task = kit.store_task(stack, kit.workbook())
    repository = TaskRepository(stack.table)
    real_put = storage.put_json

    def put_then_cancel(bucket: str, key: str, document: dict[str, Any]) -> None:
        real_put(bucket, key, document)
        assert repository.request_cancel(task.task_id, datetime.now(UTC))

    monkeypatch.setattr(storage, "put_json", put_then_cancel)
    # When processed, Then the success write is refused and the task ends CANCELLED
    assert [outcome.kind for outcome in process(stack, task)] == [OutcomeKind.CANCELLED]
    stored = repository.get(task.task_id)
    assert stored is not None and stored.status is TaskStatus.CANCELLED


@pytest.mark.parametrize("status", [TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED])
def test_a_finished_task_answers_409_with_its_state(
    stack: Stack, kit: Kit, context: FakeLambdaContext, status: TaskStatus
) -> None:
    task = kit.store_task(stack, None, status=status)
    code, body = delete(kit, task.task_id, context)
    assert code == 409
    assert body["error"]["code"] == "TASK_FINISHED" and body["error"]["status"] == status.value


def test_unknown_and_malformed_ids(stack: Stack, kit: Kit, context: FakeLambdaContext) -> None:
    assert delete(kit, "a" * 32, context)[0] == 404
    assert delete(kit, "not-an-id", context)[1]["error"]["code"] == "INVALID_TASK_ID"


def test_the_parser_asks_before_each_sheet(tmp_path: Path) -> None:
    path = tmp_path / "three.xlsx"
    path.write_bytes(three_sheets())
    asked: list[int] = []

    def stop_at_third() -> bool:
        asked.append(1)
        return len(asked) == 3

    with pytest.raises(StopRequestedError, match="S2"):
        parse_workbook(path, ParseLimits(), stop_at_third)
    assert len(asked) == 3
    assert len(parse_workbook(path, ParseLimits()).sheets) == 3


def test_listing_by_cancelled_status(stack: Stack, kit: Kit, context: FakeLambdaContext) -> None:
    task = kit.store_task(stack, None, status=TaskStatus.CANCELLED)
    event = copy.deepcopy(kit.event("api-list-tasks.json"))
    event["queryStringParameters"] = {"status": "cancelled"}
    event["multiValueQueryStringParameters"] = {"status": ["cancelled"]}
    response = api.handler(event, context)
    items = json.loads(response["body"])["items"]
    assert [item["task_id"] for item in items] == [task.task_id]
