"""The chaos run's checker: each invariant it states breaks on the observation that violates it,
and a clean run (re-runs after kills included) passes."""

from __future__ import annotations

from collections import Counter
from typing import Any

from benchmarks.chaos.invariants import Observations, judge
from benchmarks.chaos.workload import Expected, Payload, Upload

SUBMITTED = 1_800_000_000.0  # 2027-01-15T08:00:00Z
GOOD = Payload(b"", Expected("SUCCEEDED", total_rows=21, total_errors=2))
HOSTILE = Payload(b"", Expected("FAILED", code="ZIP_BOMB", kind="zip-bomb"))


def at(seconds: float) -> str:
    whole = int(SUBMITTED + seconds)
    return f"2027-01-15T08:{(whole // 60) % 60:02d}:{whole % 60:02d}.000000Z"


def upload(number: int, payload: Payload = GOOD) -> Upload:
    return Upload(
        number, "api", f"run-{number}.xlsx", payload, task_id=f"t{number}", submitted_at=SUBMITTED
    )


def succeeded(number: int, attempts: int = 1, **changes: Any) -> dict[str, Any]:
    timeline = [{"event": "claimed", "at": at(1), "attempt": n} for n in range(1, attempts + 1)]
    timeline.append({"event": "succeeded", "at": at(5), "attempt": attempts})
    task = {
        "task_id": f"t{number}",
        "filename": f"run-{number}.xlsx",
        "status": "SUCCEEDED",
        "attempts": attempts,
        "summary": {"total_rows": 21, "total_errors": 2},
        "timeline": timeline,
    }
    return task | changes


def failed(number: int, code: str = "ZIP_BOMB", **changes: Any) -> dict[str, Any]:
    task = {
        "task_id": f"t{number}",
        "filename": f"run-{number}.xlsx",
        "status": "FAILED",
        "attempts": 1,
        "error": {"code": code, "message": "..."},
        "timeline": [
            {"event": "claimed", "at": at(1), "attempt": 1},
            {"event": "failed", "at": at(2), "attempt": 1, "code": code},
        ],
    }
    return task | changes


def event(number: int, status: str = "SUCCEEDED", attempts: int = 1) -> dict[str, Any]:
    return {"detail": {"task_id": f"t{number}", "event_id": f"t{number}:{status}:{attempts}"}}


def observe(
    uploads: list[Upload], tasks: list[dict[str, Any]], events: list[dict[str, Any]], **more: Any
) -> Observations:
    return Observations(
        uploads=uploads,
        tasks={task["task_id"]: task for task in tasks},
        events=events,
        max_receive_count=3,
        **more,
    )


def test_a_clean_run_with_a_re_run_after_a_kill_and_a_repeated_event_holds() -> None:
    # Given one good file run twice (its first worker killed) and one hostile file, each
    # announced, the good one's event delivered twice with the same event_id
    seen = observe(
        [upload(0), upload(1, HOSTILE)],
        [succeeded(0, attempts=2), failed(1)],
        [event(0, attempts=2), event(0, attempts=2), event(1, "FAILED")],
        queue_depths={"TasksQueue": 0},
    )
    verdict = judge(seen)
    assert verdict.violations == []
    assert verdict.figures["tasks_run_more_than_once"] == 1
    assert verdict.figures["event_repeats_same_event_id"] == 1
    assert (verdict.figures["succeeded"], verdict.figures["failed"]) == (1, 1)
    assert verdict.figures["max_seconds_to_terminal"] == 5


def broken(seen: Observations) -> list[str]:
    return judge(seen).violations


def test_a_lost_task_breaks_the_counts() -> None:
    violations = broken(observe([upload(0), upload(1)], [succeeded(0)], [event(0)]))
    assert any(message.startswith("lost: run-1.xlsx") for message in violations)
    assert any(message.startswith("counts do not reconcile") for message in violations)


def test_a_stuck_task_is_reported() -> None:
    violations = broken(observe([upload(0)], [succeeded(0, status="PROCESSING")], []))
    assert any(message.startswith("stuck: run-0.xlsx") for message in violations)


def test_two_finishes_are_a_double_finish() -> None:
    # Two terminal events in the timeline, or two different event ids, each break it
    twice = succeeded(0)
    twice["timeline"] = [*twice["timeline"], {"event": "succeeded", "at": at(9), "attempt": 2}]
    by_timeline = judge(observe([upload(0)], [twice], [event(0)]))
    by_events = judge(observe([upload(0)], [succeeded(0)], [event(0), event(0, attempts=2)]))
    for verdict in (by_timeline, by_events):
        assert verdict.figures["double_finished"] == 1
        assert any(message.startswith("finished twice") for message in verdict.violations)


def test_wrong_statistics_and_wrong_codes_are_caught() -> None:
    seen = observe(
        [upload(0), upload(1, HOSTILE)],
        [succeeded(0, summary={"total_rows": 20, "total_errors": 2}), failed(1, code="CORRUPT")],
        [event(0), event(1, "FAILED")],
    )
    violations = broken(seen)
    assert any(message.startswith("wrong statistics: run-0.xlsx") for message in violations)
    assert any(message.startswith("hostile file not refused right") for message in violations)


def test_a_hostile_file_judged_then_run_again_is_caught() -> None:
    again = failed(0)
    again["timeline"] = [*again["timeline"], {"event": "claimed", "at": at(3), "attempt": 2}]
    violations = broken(observe([upload(0, HOSTILE)], [again], [event(0, "FAILED")]))
    assert any(message.startswith("hostile file judged more than once") for message in violations)


def test_too_many_attempts_unless_copies_were_sent() -> None:
    many = succeeded(0, attempts=4)
    alone = broken(observe([upload(0)], [many], [event(0, attempts=4)]))
    assert any(message.startswith("too many attempts") for message in alone)
    copied = broken(
        observe([upload(0)], [many], [event(0, attempts=4)], duplicated=Counter({"t0": 1}))
    )
    assert copied == []


def test_late_unannounced_stray_and_in_flight_are_each_caught() -> None:
    late = succeeded(0)
    late["timeline"][-1]["at"] = at(400)
    stray = succeeded(7)
    violations = broken(
        observe(
            [upload(0), upload(1)],
            [late, succeeded(1), stray],
            [event(0)],
            queue_depths={"TasksQueue": 2},
            deadline=SUBMITTED + 300,
        )
    )
    prefixes = ("late: run-0", "unannounced: run-1", "task t7", "left in flight")
    for prefix in prefixes:
        assert any(message.startswith(prefix) for message in violations), prefix


def test_dead_letters_reconcile_but_not_after_a_file_error() -> None:
    exhausted = failed(0, code="RETRIES_EXHAUSTED")
    exhausted["timeline"] = [{"event": "dead-lettered", "at": at(4)}]
    verdict = judge(observe([upload(0)], [exhausted], [event(0, "FAILED", 0)]))
    assert verdict.violations == []
    assert verdict.figures["dead_lettered"] == 1
    judged = failed(0, code="RETRIES_EXHAUSTED")
    judged["timeline"].append({"event": "dead-lettered", "at": at(4)})
    assert any(
        message.startswith("dead-lettered after a file error")
        for message in broken(observe([upload(0)], [judged], [event(0, "FAILED", 0)]))
    )
