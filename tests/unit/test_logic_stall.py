"""The pure rules of stall detection and the canary's verdict."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from sheetflow.logic.canary import CanaryRun, CanaryState, judge
from sheetflow.logic.stall import (
    PipelineSignals,
    QueueCounts,
    StallRules,
    is_expired_upload,
    is_lapsed_processing,
    is_stalled_queued,
    mapping_problem,
    may_requeue,
    oldest_queued_seconds,
    stall_reasons,
)
from sheetflow.logic.task import Task, TaskStatus, isoformat, new_task

NOW = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
RULES = StallRules(threshold_seconds=300, retry_grace_seconds=900, presign_expiry_seconds=900)
EMPTY = QueueCounts(visible=0, in_flight=0, delayed=0)


def task(status: TaskStatus, age_seconds: float, **changes: object) -> Task:
    created = NOW - timedelta(seconds=age_seconds)
    base = new_task(
        task_id="a" * 32,
        status=status,
        bucket="b",
        key="uploads/x/book.xlsx",
        filename="book.xlsx",
        now=created,
        ttl=timedelta(days=1),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_queued_task_stalls_only_past_the_threshold() -> None:
    assert not is_stalled_queued(task(TaskStatus.QUEUED, 299), NOW, RULES)
    assert is_stalled_queued(task(TaskStatus.QUEUED, 301), NOW, RULES)
    # Waiting is counted from when it became QUEUED (a presigned task is created earlier)
    presigned = task(TaskStatus.QUEUED, 5000, updated_at=isoformat(NOW - timedelta(seconds=10)))
    assert not is_stalled_queued(presigned, NOW, RULES)


def test_a_processing_task_lapses_after_its_lease_and_the_longest_retry_delay() -> None:
    held = task(TaskStatus.PROCESSING, 4000, lease_until=int(NOW.timestamp()) + 60)
    assert not is_lapsed_processing(held, NOW, RULES)
    # Released for a retry 1000 s ago: within retry grace (900) + threshold (300)
    released = task(TaskStatus.PROCESSING, 1000, lease_until=0)
    assert not is_lapsed_processing(released, NOW, RULES)
    forgotten = task(TaskStatus.PROCESSING, 1300, lease_until=0)
    assert is_lapsed_processing(forgotten, NOW, RULES)
    assert not is_lapsed_processing(task(TaskStatus.QUEUED, 9999), NOW, RULES)


def test_an_awaiting_upload_expires_after_the_url_and_the_threshold() -> None:
    assert not is_expired_upload(task(TaskStatus.AWAITING_UPLOAD, 1199), NOW, RULES)
    assert is_expired_upload(task(TaskStatus.AWAITING_UPLOAD, 1201), NOW, RULES)
    assert not is_expired_upload(task(TaskStatus.QUEUED, 5000), NOW, RULES)


@pytest.mark.parametrize(
    ("queue", "expected"),
    [
        (EMPTY, True),
        (QueueCounts(visible=1, in_flight=0, delayed=0), False),
        (QueueCounts(visible=0, in_flight=1, delayed=0), False),
        (QueueCounts(visible=0, in_flight=0, delayed=1), False),
    ],
)
def test_a_stalled_task_is_requeued_only_when_no_message_could_still_deliver_it(
    queue: QueueCounts, expected: bool
) -> None:
    assert may_requeue(task(TaskStatus.QUEUED, 400), NOW, RULES, queue) is expected
    assert not may_requeue(task(TaskStatus.QUEUED, 100), NOW, RULES, EMPTY)


def test_the_oldest_queued_wait() -> None:
    tasks = [task(TaskStatus.QUEUED, 10), task(TaskStatus.QUEUED, 70), task(TaskStatus.FAILED, 999)]
    assert oldest_queued_seconds(tasks, NOW) == pytest.approx(70)
    assert oldest_queued_seconds([], NOW) is None


def test_a_trigger_that_does_not_consume_is_a_problem_with_a_fix() -> None:
    assert mapping_problem("w", ["Enabled"]) is None
    assert mapping_problem("w", ["Updating", "Enabled"]) is None
    disabled = mapping_problem("w", ["Disabled"])
    assert disabled is not None and "Disabled" in disabled and "--enabled" in disabled
    missing = mapping_problem("w", [])
    assert missing is not None and "no event source mapping" in missing


def test_stall_reasons_name_each_signal() -> None:
    healthy = PipelineSignals(300, 20.0, None, None)
    assert stall_reasons(healthy) == []
    stalled = PipelineSignals(300, 450.0, "trigger Disabled", "canary missed", ["the canary (x)"])
    reasons = stall_reasons(stalled)
    assert reasons[0] == "trigger Disabled"
    assert "450 s" in reasons[1] and "threshold 300 s" in reasons[1]
    assert reasons[2:] == ["canary missed", "Could not check the canary (x)."]


def test_the_canary_verdict() -> None:
    run = CanaryRun(task_id="c" * 32, started_at=isoformat(NOW - timedelta(seconds=60)))
    assert judge(run, TaskStatus.SUCCEEDED, None, NOW, 120).state is CanaryState.PASSED
    assert judge(run, TaskStatus.PROCESSING, None, NOW, 120).state is CanaryState.PENDING
    assert judge(run, None, None, NOW, 120).state is CanaryState.PENDING
    late = judge(run, None, None, NOW, 30)
    assert late.missed and "no task yet" in late.reason
    failed = judge(run, TaskStatus.FAILED, "CORRUPT: bad", NOW, 120)
    assert failed.missed and "CORRUPT: bad" in failed.reason
