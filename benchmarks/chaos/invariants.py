"""The chaos run's verdict, from what can be seen outside the stack: the task table, the task
events on the bus, the queues. Pure: observations in, figures and broken invariants out.

At-least-once is allowed (a file processed again after its worker was killed); a task finished
twice is not, nor a task lost, stuck, or ended in the wrong state.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from benchmarks.chaos.workload import Upload

TERMINAL_EVENTS = ("succeeded", "failed", "dead-lettered")
FINISHED = ("SUCCEEDED", "FAILED")
EXHAUSTED = "RETRIES_EXHAUSTED"


@dataclass
class Observations:
    uploads: list[Upload]
    # Every task of the run found in the table (its filename carries the run's prefix).
    tasks: dict[str, dict[str, Any]]
    # Task events received from the bus, as delivered (detail-type, detail.task_id).
    events: list[dict[str, Any]]
    max_receive_count: int
    duplicated: Counter[str] = field(default_factory=Counter)
    queue_depths: dict[str, int] = field(default_factory=dict)
    # Wall-clock time (epoch seconds) by which every task must have ended.
    deadline: float = float("inf")


@dataclass
class Verdict:
    figures: dict[str, Any]
    violations: list[str]


def _seconds(at: str) -> float:
    return datetime.strptime(at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


def percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _terminal_events(task: dict[str, Any]) -> list[dict[str, Any]]:
    return [entry for entry in task.get("timeline") or [] if entry.get("event") in TERMINAL_EVENTS]


def judge(seen: Observations) -> Verdict:  # noqa: PLR0915 - one flat list of checks
    violations: list[str] = []

    def broken(message: str) -> None:
        violations.append(message)

    accepted = [upload for upload in seen.uploads if upload.accepted]
    refused = [upload for upload in seen.uploads if not upload.accepted]
    for upload in refused:
        if upload.payload.expected.status == "SUCCEEDED":
            broken(f"good upload {upload.filename} via {upload.route} refused: {upload.refused}")
    accepted_ids = Counter(str(upload.task_id) for upload in accepted)
    for task_id, count in accepted_ids.items():
        if count > 1:
            broken(f"task id {task_id} answered for {count} uploads")
    strays = sorted(set(seen.tasks) - set(accepted_ids))
    for task_id in strays:
        broken(f"task {task_id} ({seen.tasks[task_id].get('filename')}) matches no accepted upload")

    # A finish is announced by its event_id (<task>:<status>:<attempts>): the same id again is
    # a repeated delivery (documented at-least-once, receivers de-duplicate on it); another id
    # is another finish.
    finishes_by_task: dict[str, set[str]] = {}
    deliveries = Counter[str]()
    for event in seen.events:
        task_id = str(event["detail"].get("task_id"))
        finishes_by_task.setdefault(task_id, set()).add(str(event["detail"].get("event_id")))
        deliveries[task_id] += 1
    lost = stuck = double = succeeded = failed = late = 0
    re_run = hostile_retried = repeats = 0
    to_terminal: list[float] = []
    for upload in accepted:
        task_id, expected = str(upload.task_id), upload.payload.expected
        what = f"{upload.filename} ({expected.kind}, via {upload.route}, task {task_id})"
        task = seen.tasks.get(task_id)
        if task is None:
            lost += 1
            broken(f"lost: {what} has no task")
            continue
        status = task.get("status")
        error = task.get("error") or {}
        if status not in FINISHED:
            stuck += 1
            broken(f"stuck: {what} is {status} (attempts {task.get('attempts')})")
            continue
        terminal = _terminal_events(task)
        announced = len(finishes_by_task.get(task_id, ()))
        repeats += max(0, deliveries[task_id] - announced)
        if len(terminal) > 1 or announced > 1:
            double += 1
            broken(
                f"finished twice: {what}: {len(terminal)} finishes in its timeline, "
                f"task events {sorted(finishes_by_task.get(task_id, ()))}"
            )
        elif announced == 0:
            broken(f"unannounced: {what} is {status} but no task event arrived")
        if terminal:
            seconds = _seconds(str(terminal[-1]["at"])) - upload.submitted_at
            to_terminal.append(seconds)
            if _seconds(str(terminal[-1]["at"])) > seen.deadline:
                late += 1
                broken(f"late: {what} ended after the run's deadline ({seconds:.0f} s)")
        attempts = int(task.get("attempts") or 0)
        # Every copy of the message may use up to MaxReceiveCount deliveries; the watchdog's
        # re-queue of a presumed lost message is one more copy.
        copies = 1 + seen.duplicated.get(task_id, 0) + (1 if task.get("requeued_at") else 0)
        if attempts > seen.max_receive_count * copies:
            broken(
                f"too many attempts: {what}: {attempts} (MaxReceiveCount {seen.max_receive_count})"
            )
        if attempts > 1:
            re_run += 1
        outcomes = [entry.get("event") for entry in task.get("timeline") or []]
        if status == "FAILED" and error.get("code") == EXHAUSTED:
            if "failed" in outcomes:
                broken(f"dead-lettered after a file error: {what}")
            continue
        if expected.status == "SUCCEEDED":
            summary = task.get("summary") or {}
            if status != "SUCCEEDED":
                broken(f"good file failed: {what}: {error.get('code')} {error.get('message')}")
            elif (summary.get("total_rows"), summary.get("total_errors")) != (
                expected.total_rows,
                expected.total_errors,
            ):
                broken(
                    f"wrong statistics: {what}: rows {summary.get('total_rows')} errors "
                    f"{summary.get('total_errors')}, expected {expected.total_rows} / "
                    f"{expected.total_errors}"
                )
            else:
                succeeded += 1
        else:
            if status != "FAILED" or error.get("code") != expected.code:
                broken(f"hostile file not refused right: {what}: {status} {error.get('code')}")
            else:
                failed += 1
            # One verdict on the file: after the attempt that failed it, none ran again.
            verdicts = [n for n, event in enumerate(outcomes) if event == "failed"]
            if len(verdicts) != 1 or "claimed" in outcomes[verdicts[0] :]:
                broken(f"hostile file judged more than once: {what}: {outcomes}")
            if attempts > 1:
                hostile_retried += 1
    in_flight = sum(seen.queue_depths.values())
    if in_flight:
        broken(f"left in flight: {seen.queue_depths}")
    by_status = Counter(
        "DEAD_LETTERED"
        if task.get("status") == "FAILED" and (task.get("error") or {}).get("code") == EXHAUSTED
        else str(task.get("status"))
        for task_id, task in seen.tasks.items()
        if task_id in accepted_ids
    )
    ended = by_status["SUCCEEDED"] + by_status["FAILED"] + by_status["DEAD_LETTERED"]
    if ended != len(accepted) or len(seen.tasks) != len(accepted):
        broken(
            f"counts do not reconcile: accepted {len(accepted)}, tasks {len(seen.tasks)}, "
            f"succeeded {by_status['SUCCEEDED']} + failed {by_status['FAILED']} + "
            f"dead-lettered {by_status['DEAD_LETTERED']} = {ended}"
        )
    figures = {
        "uploads": len(seen.uploads),
        "accepted": len(accepted),
        "refused_at_upload": len(refused),
        "succeeded": by_status["SUCCEEDED"],
        "failed": by_status["FAILED"],
        "dead_lettered": by_status["DEAD_LETTERED"],
        "good_right": succeeded,
        "hostile_right": failed,
        "lost": lost,
        "stuck": stuck,
        "double_finished": double,
        "event_repeats_same_event_id": repeats,
        "late": late,
        "tasks_run_more_than_once": re_run,
        "hostile_attempted_again_before_verdict": hostile_retried,
        "in_flight_at_end": in_flight,
        "p50_seconds_to_terminal": round(percentile(to_terminal, 0.5), 2),
        "p95_seconds_to_terminal": round(percentile(to_terminal, 0.95), 2),
        "max_seconds_to_terminal": round(max(to_terminal, default=0.0), 2),
    }
    return Verdict(figures, violations)
