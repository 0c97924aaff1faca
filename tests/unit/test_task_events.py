"""Task events: one per finish, valid against the schema, published again only when it failed."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from sheetflow.config import WorkerConfig
from sheetflow.dal.clients import events_client
from sheetflow.dal.events import put_task_events
from sheetflow.dal.tasks import TaskRepository
from sheetflow.handlers import dead_letter
from sheetflow.logic.events import TaskEvent, task_event
from sheetflow.logic.messages import task_message
from sheetflow.logic.task import Task, TaskError, TaskStatus
from sheetflow.usecases.finishing import MAX_HOLD_SECONDS, SMALL_FILE_BYTES, BatchAnnouncer
from sheetflow.usecases.processing import OutcomeKind, RetryLaterError, process_message

from .conftest import FakeLambdaContext, Kit, Stack, received_events

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "task-event.schema.json"
NOW = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
BUS_SAMPLES = ["bus-task-succeeded.json", "bus-task-failed.json"]


def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
    return loaded


def config(stack: Stack, bus: str | None = None) -> WorkerConfig:
    return WorkerConfig.from_env(
        {
            "TABLE_NAME": stack.table,
            "BUCKET_NAME": stack.bucket,
            "QUEUE_URL": stack.queue_url,
            "EVENT_BUS_NAME": bus or stack.bus,
        }
    )


def deliver(stack: Stack, task: Task, *, bus: str | None = None, at: datetime = NOW) -> Any:
    return process_message(
        task_message(task.task_id, task.bucket, task.key),
        1,
        config(stack, bus),
        TaskRepository(stack.table),
        lease_seconds=60,
        now=lambda: at,
    )


def as_bus_event(detail_type: str, detail: dict[str, Any]) -> dict[str, Any]:
    return {"source": "sheetflow", "detail-type": detail_type, "detail": detail}


@pytest.mark.parametrize("name", BUS_SAMPLES)
def test_sample_events_match_the_schema(kit: Kit, name: str) -> None:
    jsonschema.validate(kit.event(name), schema())


def test_the_schema_rejects_an_event_without_its_error() -> None:
    # Given a failed-task event whose error is missing, When validated, Then it is refused
    bad = as_bus_event(
        "Task Failed",
        {**json.loads((SCHEMA_PATH.parents[1] / "events" / BUS_SAMPLES[1]).read_text())["detail"]},
    )
    bad["detail"]["error"] = None
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema())


def test_a_success_puts_one_event_that_matches_the_schema(stack: Stack, kit: Kit) -> None:
    # Given a queued good workbook
    task = kit.store_task(stack, kit.workbook(rows=4), created=NOW)
    # When processed
    assert [outcome.kind for outcome in deliver(stack, task)] == [OutcomeKind.SUCCEEDED]
    # Then one "Task Succeeded" event is on the bus, valid, pointing at the result
    events = kit.published(stack)
    assert [event["detail-type"] for event in events] == ["Task Succeeded"]
    jsonschema.validate(events[0], schema())
    detail = events[0]["detail"]
    assert detail["task_id"] == task.task_id and detail["event_id"] == f"{task.task_id}:SUCCEEDED:1"
    assert detail["result"] == {"bucket": stack.bucket, "key": f"results/{task.task_id}.json"}
    assert detail["summary"]["total_rows"] == 5
    stored = TaskRepository(stack.table).get(task.task_id)
    assert stored is not None and stored.event_pending is False
    # And a duplicate delivery announces nothing more
    assert [outcome.kind for outcome in deliver(stack, task)] == [OutcomeKind.SKIPPED]
    assert kit.published(stack) == []


def test_a_bad_file_puts_one_failed_event_with_its_error(stack: Stack, kit: Kit) -> None:
    task = kit.store_task(stack, kit.hostile("csv"), created=NOW)
    assert [outcome.kind for outcome in deliver(stack, task)] == [OutcomeKind.FAILED]
    events = kit.published(stack)
    assert [event["detail-type"] for event in events] == ["Task Failed"]
    jsonschema.validate(events[0], schema())
    assert events[0]["detail"]["error"]["code"] == "NOT_XLSX"


def test_a_failed_publication_is_retried_by_the_redelivery_once(stack: Stack, kit: Kit) -> None:
    # Given a bus that cannot be reached when the task finishes
    task = kit.store_task(stack, kit.workbook(), created=NOW)
    with pytest.raises(RetryLaterError) as retry:
        deliver(stack, task, bus="no-such-bus")
    # Then the task is SUCCEEDED with its event pending, and the message is kept until the
    # publication lease has lapsed
    stored = TaskRepository(stack.table).get(task.task_id)
    assert stored is not None and stored.status is TaskStatus.SUCCEEDED and stored.event_pending
    assert NOW + timedelta(seconds=retry.value.delay_seconds) > datetime.fromtimestamp(
        stored.event_lease, UTC
    )
    assert kit.published(stack) == []
    # When redelivered while the lease is still held, it waits again without publishing
    with pytest.raises(RetryLaterError):
        deliver(stack, task, at=NOW + timedelta(seconds=5))
    assert kit.published(stack) == []
    # When redelivered after the lease lapsed, with the bus reachable
    later = NOW + timedelta(seconds=retry.value.delay_seconds)
    outcomes = deliver(stack, task, at=later)
    # Then the event is published once, the task is not processed again
    assert [outcome.kind for outcome in outcomes] == [OutcomeKind.SKIPPED]
    events = kit.published(stack)
    assert [event["detail"]["event_id"] for event in events] == [f"{task.task_id}:SUCCEEDED:1"]
    stored = TaskRepository(stack.table).get(task.task_id)
    assert stored is not None and stored.attempts == 1 and not stored.event_pending
    # And a further redelivery publishes nothing
    deliver(stack, task, at=later + timedelta(minutes=5))
    assert kit.published(stack) == []


def test_the_dead_letter_path_announces_retries_exhausted(
    stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    task = kit.store_task(stack, kit.workbook(), attempts=3, status=TaskStatus.PROCESSING)
    event = kit.event("dead-letter-record.json")
    event["Records"][0]["body"] = task_message(task.task_id, task.bucket, task.key)
    assert dead_letter.handler(event, context)["batchItemFailures"] == []
    events = kit.published(stack)
    assert [event["detail-type"] for event in events] == ["Task Failed"]
    assert events[0]["detail"]["error"]["code"] == "RETRIES_EXHAUSTED"
    jsonschema.validate(events[0], schema())


def test_only_finished_tasks_have_an_event() -> None:
    task = Task(
        task_id="0" * 32,
        status=TaskStatus.PROCESSING,
        created_at="x",
        updated_at="x",
        expires_at=0,
        bucket="b",
        key="k",
        filename="f",
    )
    with pytest.raises(ValueError, match="not finished"):
        task_event(task, "b")
    failed = replace(task, status=TaskStatus.FAILED, error=TaskError("CORRUPT", "bad"))
    assert task_event(failed, "b").detail_type == "Task Failed"


# --- announcing a batch's finishes together ----------------------------------------------------


def test_events_go_out_in_as_few_calls_as_the_limits_allow(stack: Stack) -> None:
    # Given the PutEvents calls recorded, entry counts and sizes
    sizes: list[tuple[int, int]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        entries = params["Entries"]
        sizes.append((len(entries), sum(len(entry["Detail"]) for entry in entries)))

    client = events_client()
    client.meta.events.register("provide-client-params.events.PutEvents", record)
    try:
        # When 23 small events are put, then three of 100 KB each
        small = [TaskEvent("Task Succeeded", {"event_id": f"s{index}"}) for index in range(23)]
        assert put_task_events(stack.bus, small) == [None] * 23
        large = [
            TaskEvent("Task Succeeded", {"event_id": f"l{index}", "pad": "x" * 100_000})
            for index in range(3)
        ]
        assert put_task_events(stack.bus, large) == [None] * 3
    finally:
        client.meta.events.unregister("provide-client-params.events.PutEvents", record)
    # Then ten per call, and never more than 256 KiB in one call
    assert [count for count, _ in sizes] == [10, 10, 3, 2, 1]
    assert all(size <= 256 * 1024 for _, size in sizes)
    delivered = {event["detail"]["event_id"] for event in received_events(stack.events_queue_url)}
    assert delivered == {event.event_id for event in small + large}


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def deliver_held(
    stack: Stack, task: Task, announcer: BatchAnnouncer, size: int | None
) -> list[OutcomeKind]:
    outcomes = process_message(
        task_message(task.task_id, task.bucket, task.key, size),
        1,
        config(stack),
        TaskRepository(stack.table),
        lease_seconds=60,
        announcer=announcer,
        message_id=task.task_id,
    )
    return [outcome.kind for outcome in outcomes]


def test_a_finish_waits_only_while_small_files_are_processed(stack: Stack, kit: Kit) -> None:
    clock = FakeClock()
    announcer = BatchAnnouncer(stack.bus, stack.bucket, TaskRepository(stack.table), clock=clock)
    data = kit.workbook()
    books = [kit.store_task(stack, data) for _ in range(5)]
    # Given a finish held for the batch
    assert deliver_held(stack, books[0], announcer, len(data)) == [OutcomeKind.SUCCEEDED]
    assert kit.published(stack) == [] and announcer.waiting_on(books[0].task_id)
    # When the next file is small, the finish still waits
    assert deliver_held(stack, books[1], announcer, len(data)) == [OutcomeKind.SUCCEEDED]
    assert kit.published(stack) == []
    # When the first has waited MAX_HOLD_SECONDS, both are published before the next file
    clock.now += MAX_HOLD_SECONDS
    deliver_held(stack, books[2], announcer, len(data))
    assert len(kit.published(stack)) == 2 and not announcer.waiting_on(books[0].task_id)
    # When the next file's size is not known, or it is not small, what is held goes first
    deliver_held(stack, books[3], announcer, None)
    assert [event["detail"]["task_id"] for event in kit.published(stack)] == [books[2].task_id]
    deliver_held(stack, books[4], announcer, SMALL_FILE_BYTES + 1)
    assert [event["detail"]["task_id"] for event in kit.published(stack)] == [books[3].task_id]
    # And the batch's end publishes the rest, with nothing left unannounced
    announcer.publish()
    assert [event["detail"]["task_id"] for event in kit.published(stack)] == [books[4].task_id]
    assert announcer.take_unannounced() == {}
