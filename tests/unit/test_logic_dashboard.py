"""Pure computations behind the dashboard: attempts from a timeline, newest-first merging and its
tokens, per-minute buckets and percentiles."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from sheetflow.logic import recent, stats, timeline
from sheetflow.logic.errors import RequestRejectedError
from sheetflow.logic.task import Task, TaskStatus, isoformat, new_task

T0 = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)


def task_at(moment: datetime, task_id: str, status: TaskStatus = TaskStatus.QUEUED) -> Task:
    return new_task(
        task_id=task_id,
        status=status,
        bucket="b",
        key=f"uploads/{task_id}/f.xlsx",
        filename="f.xlsx",
        now=moment,
        ttl=timedelta(days=1),
    )


def test_attempts_read_from_events_with_a_retry_and_a_success() -> None:
    # Given a task claimed twice, the first attempt released after a transient failure
    events = [
        timeline.event(timeline.CLAIMED, T0, attempt=1),
        timeline.event(timeline.RETRY, T0 + timedelta(seconds=1), attempt=1, code="DEP"),
        timeline.event(timeline.CLAIMED, T0 + timedelta(seconds=3), attempt=2),
        timeline.event(timeline.SUCCEEDED, T0 + timedelta(seconds=4), attempt=2),
    ]
    # When its attempts are derived
    found = timeline.attempts(events)
    # Then each attempt has its start, end and outcome
    assert [(a["n"], a["outcome"], a["code"]) for a in found] == [
        (1, "retry", "DEP"),
        (2, "succeeded", None),
    ]
    assert found[1]["started_at"] == isoformat(T0 + timedelta(seconds=3))
    assert found[1]["ended_at"] == isoformat(T0 + timedelta(seconds=4))


def test_a_dead_letter_closes_the_open_attempt_and_an_open_attempt_stays_open() -> None:
    events = [
        timeline.event(timeline.CLAIMED, T0, attempt=3),
        timeline.event(timeline.DEAD_LETTERED, T0 + timedelta(seconds=9), code="RETRIES_EXHAUSTED"),
        timeline.event(timeline.CLAIMED, T0 + timedelta(seconds=20), attempt=4),
    ]
    found = timeline.attempts(events)
    assert [(a["n"], a["outcome"]) for a in found] == [(3, "exhausted"), (4, None)]
    assert found[1]["ended_at"] is None


def test_processing_time_runs_from_the_first_claim_to_the_finish() -> None:
    task = replace(
        task_at(T0, "a" * 32, TaskStatus.SUCCEEDED),
        updated_at=isoformat(T0 + timedelta(seconds=7.5)),
        timeline=(timeline.event(timeline.CLAIMED, T0 + timedelta(seconds=2), attempt=1),),
    )
    assert timeline.processing_seconds(task) == 5.5
    # Without a timeline it counts from creation; an unfinished task has none
    assert timeline.processing_seconds(replace(task, timeline=())) == 7.5
    assert timeline.processing_seconds(replace(task, status=TaskStatus.PROCESSING)) is None


def test_a_task_created_claimed_starts_its_timeline_with_the_claim() -> None:
    claimed = replace(task_at(T0, "b" * 32, TaskStatus.PROCESSING), attempts=1)
    assert timeline.initial_events(claimed) == [
        {"event": "claimed", "at": isoformat(T0), "attempt": 1}
    ]
    assert timeline.initial_events(task_at(T0, "c" * 32)) == []


def test_merge_newest_pages_through_partitions_without_repeats_even_on_equal_times() -> None:
    # Given tasks in two statuses, three of them created in the same microsecond
    same = T0 + timedelta(seconds=5)
    queued = [task_at(same, f"{n:032x}") for n in (1, 2, 3)] + [task_at(T0, f"{9:032x}")]
    failed = [
        task_at(T0 + timedelta(seconds=s), f"{100 + s:032x}", TaskStatus.FAILED) for s in (1, 7)
    ]
    everything = queued + failed

    def partition(tasks: list[Task], after: recent.Position | None) -> list[Task]:
        # what the use case reads: newest first, strictly after the position, limit + 1
        kept = [t for t in tasks if after is None or recent.position_of(t) < after]
        return sorted(kept, key=recent.position_of, reverse=True)[:3]

    # When paged two at a time
    seen: list[str] = []
    after: recent.Position | None = None
    for _ in range(10):
        page, after = recent.merge_newest(
            [partition(queued, after), partition(failed, after)], after, 2
        )
        seen += [task.task_id for task in page]
        if after is None:
            break
    # Then every task comes once, newest first
    expected = sorted(everything, key=recent.position_of, reverse=True)
    assert seen == [task.task_id for task in expected]


def test_a_task_read_in_two_statuses_during_a_change_is_listed_once_as_it_is_now() -> None:
    # Given the same task read as PROCESSING and, a moment later, as FAILED
    before = replace(task_at(T0, "f" * 32, TaskStatus.PROCESSING), updated_at=isoformat(T0))
    after = replace(
        before, status=TaskStatus.FAILED, updated_at=isoformat(T0 + timedelta(seconds=1))
    )
    other = task_at(T0 - timedelta(seconds=1), "e" * 32)
    # When the partitions are merged
    page, position = recent.merge_newest([[before], [after, other]], None, 5)
    # Then it appears once, in its latest status
    assert [(task.task_id, task.status) for task in page] == [
        ("f" * 32, TaskStatus.FAILED),
        ("e" * 32, TaskStatus.QUEUED),
    ]
    assert position is None


def test_position_tokens_round_trip_and_foreign_tokens_are_refused() -> None:
    position = recent.Position(created_at=isoformat(T0), task_id="d" * 32)
    assert recent.decode_position(recent.encode_position(position)) == position
    for bad in ("abc", "n.!!!", "n." + "e30", "n.WzFd"):
        with pytest.raises(RequestRejectedError) as refused:
            recent.decode_position(bad)
        assert refused.value.code == "INVALID_TOKEN"


def test_order_values() -> None:
    assert recent.parse_order(None) == "status"
    assert recent.parse_order("newest") == "newest"
    with pytest.raises(RequestRejectedError) as refused:
        recent.parse_order("oldest")
    assert "'oldest'" in refused.value.message


@pytest.mark.parametrize(
    ("values", "rank", "expected"),
    [
        ([5.0], 50, 5.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.0),
        ([1.0, 2.0, 3.0, 4.0], 90, 4.0),
        ([float(n) for n in range(1, 101)], 99, 99.0),
        ([3.0, 1.0, 2.0], 100, 3.0),
    ],
)
def test_nearest_rank_percentiles(values: list[float], rank: int, expected: float) -> None:
    assert stats.percentile(values, rank) == expected


def test_percentile_of_nothing_is_none_and_a_bad_rank_is_refused() -> None:
    assert stats.percentile([], 50) is None
    with pytest.raises(ValueError, match="percentile rank"):
        stats.percentile([1.0], 0)


def test_per_minute_buckets_count_each_outcome_in_its_minute() -> None:
    now = T0 + timedelta(minutes=2, seconds=30)
    finished = [
        stats.Finished(T0 + timedelta(seconds=10), "SUCCEEDED", 1.0),
        stats.Finished(T0 + timedelta(seconds=59), "FAILED", 2.0),
        stats.Finished(T0 + timedelta(minutes=2, seconds=1), "SUCCEEDED", 3.0),
        stats.Finished(T0 - timedelta(minutes=5), "SUCCEEDED", 9.0),  # before the window
    ]
    buckets = stats.per_minute(finished, now, 3, ["FAILED", "SUCCEEDED"])
    assert buckets == [
        {"minute": isoformat(T0), "FAILED": 1, "SUCCEEDED": 1},
        {"minute": isoformat(T0 + timedelta(minutes=1)), "FAILED": 0, "SUCCEEDED": 0},
        {"minute": isoformat(T0 + timedelta(minutes=2)), "FAILED": 0, "SUCCEEDED": 1},
    ]
    summary = stats.summarize(finished, now, 3, ["FAILED", "SUCCEEDED"])
    assert summary["totals"] == {"FAILED": 1, "SUCCEEDED": 2}
    assert summary["processing_seconds"] == {"count": 3, "p50": 2.0, "p90": 3.0, "p99": 3.0}
