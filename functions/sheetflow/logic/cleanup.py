"""Cleanup planning: which tasks are expired, which objects go with them, when to stop."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sheetflow.logic.task import Task, TaskStatus, isoformat, result_key

ALL_STATUSES: tuple[TaskStatus, ...] = tuple(TaskStatus)


def retention_cutoff(now: datetime, retention_hours: int) -> str:
    """Tasks created before this timestamp are expired."""
    return isoformat(now - timedelta(hours=retention_hours))


def objects_of(task: Task, uploads_bucket: str, results_bucket: str) -> list[tuple[str, str]]:
    """The (bucket, key) pairs that belong to a task and are deleted with it.

    Only objects in the stack's own buckets: a task never owns someone else's object.
    """
    owned: list[tuple[str, str]] = []
    if task.bucket == uploads_bucket and task.key:
        owned.append((task.bucket, task.key))
    owned.append((results_bucket, task.result_key or result_key(task.task_id)))
    return owned


def has_time_for_more(remaining_ms: int, safety_margin_ms: int) -> bool:
    """Stop starting new work once less than the margin of the invocation is left."""
    return remaining_ms > safety_margin_ms


@dataclass
class CleanupReport:
    cutoff: str
    tasks_deleted: int = 0
    objects_deleted: int = 0
    pages: int = 0
    complete: bool = True
    failures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "cutoff": self.cutoff,
            "tasks_deleted": self.tasks_deleted,
            "objects_deleted": self.objects_deleted,
            "pages": self.pages,
            "complete": self.complete,
            "failures": self.failures[:20],
        }
