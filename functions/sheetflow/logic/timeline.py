"""A task's history: the events its status changes record, and the attempts read from them.

Every conditional write that changes a task appends one event to the task's `timeline` list
(created and claimed at once for a file put straight into the bucket). The dashboard shows the
events and the attempts derived here: when each started, when and how it ended.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sheetflow.logic.task import Task, TaskStatus, isoformat

QUEUED = "queued"  # a presigned upload arrived
CLAIMED = "claimed"  # attempt n started
RETRY = "retry"  # attempt n failed transiently; a redelivery will try again
SUCCEEDED = "succeeded"
FAILED = "failed"  # attempt n failed for its file
DEAD_LETTERED = "dead-lettered"  # retries exhausted (no attempt number: it may be unknown)

# What an attempt's end event says about it.
_OUTCOMES = {RETRY: "retry", SUCCEEDED: "succeeded", FAILED: "failed", DEAD_LETTERED: "exhausted"}


def parse_iso(value: str) -> datetime:
    """The inverse of `isoformat`: a stored timestamp as an aware UTC datetime."""
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def event(
    kind: str, at: datetime, attempt: int | None = None, code: str | None = None
) -> dict[str, Any]:
    entry: dict[str, Any] = {"event": kind, "at": isoformat(at)}
    if attempt is not None:
        entry["attempt"] = attempt
    if code is not None:
        entry["code"] = code
    return entry


def initial_events(task: Task) -> list[dict[str, Any]]:
    """The events of a task created already claimed (a file put straight into the bucket)."""
    if task.status is TaskStatus.PROCESSING and task.attempts >= 1:
        return [event(CLAIMED, parse_iso(task.created_at), attempt=task.attempts)]
    return []


def attempts(events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One entry per attempt: {n, started_at, ended_at, outcome, code}; an open attempt has
    ended_at and outcome None. An end event closes the attempt it names, or the latest open one."""
    found: list[dict[str, Any]] = []
    for entry in sorted(events, key=lambda item: str(item.get("at", ""))):
        kind = entry.get("event")
        if kind == CLAIMED:
            found.append(
                {
                    "n": entry.get("attempt", len(found) + 1),
                    "started_at": entry.get("at"),
                    "ended_at": None,
                    "outcome": None,
                    "code": None,
                }
            )
        elif kind in _OUTCOMES:
            target = _open_attempt(found, entry.get("attempt"))
            if target is not None:
                target.update(
                    ended_at=entry.get("at"), outcome=_OUTCOMES[kind], code=entry.get("code")
                )
    return found


def _open_attempt(found: list[dict[str, Any]], number: Any) -> dict[str, Any] | None:
    open_ones = [item for item in found if item["ended_at"] is None]
    matching = [item for item in open_ones if number is None or item["n"] == number]
    return matching[-1] if matching else None


def processing_seconds(task: Task) -> float | None:
    """Seconds from the first claim (or creation, without a timeline) to the finish; None while
    unfinished."""
    if not task.finished:
        return None
    started = str(
        next(
            (entry["at"] for entry in task.timeline if entry.get("event") == CLAIMED),
            task.created_at,
        )
    )
    return max(0.0, (parse_iso(task.updated_at) - parse_iso(started)).total_seconds())
