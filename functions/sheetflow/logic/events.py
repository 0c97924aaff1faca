"""The task event: what a finished task announces on the stack's event bus.

One event per finish: source `sheetflow`, a detail-type per outcome, and a detail documented by
`schemas/task-event.schema.json` beside the template. `event_id` is the same for every
publication of one finish (the task, its outcome and its attempt), so a receiver that sees it
twice knows it is one finish.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sheetflow.logic.task import FINISHED_STATUSES, Task, TaskStatus

EVENT_SOURCE = "sheetflow"
EVENT_SCHEMA_VERSION = 1
DETAIL_TYPES: dict[TaskStatus, str] = {
    TaskStatus.SUCCEEDED: "Task Succeeded",
    TaskStatus.FAILED: "Task Failed",
    TaskStatus.CANCELLED: "Task Cancelled",
}


@dataclass(frozen=True)
class TaskEvent:
    detail_type: str
    detail: dict[str, Any]

    @property
    def event_id(self) -> str:
        return str(self.detail["event_id"])


def finish_event_id(task: Task) -> str:
    return f"{task.task_id}:{task.status.value}:{task.attempts}"


def detail_type_for(status: TaskStatus) -> str:
    return DETAIL_TYPES.get(status, f"Task {status.value.capitalize()}")


def task_event(task: Task, results_bucket: str) -> TaskEvent:
    """The event announcing a finished task; ValueError for a task that has not finished."""
    if task.status not in FINISHED_STATUSES:
        raise ValueError(f"task {task.task_id} is {task.status}, not finished")
    result = None
    if task.status is TaskStatus.SUCCEEDED and task.result_key:
        result = {"bucket": results_bucket, "key": task.result_key}
    detail: dict[str, Any] = {
        "version": EVENT_SCHEMA_VERSION,
        "event_id": finish_event_id(task),
        "task_id": task.task_id,
        "status": task.status.value,
        "attempts": task.attempts,
        "filename": task.filename,
        "source": {"bucket": task.bucket, "key": task.key},
        "created_at": task.created_at,
        "finished_at": task.updated_at,
        "summary": task.summary,
        "result": result,
        "error": task.error.to_dict() if task.error else None,
        # Which notifications the upload asked for (rules route on these; no addresses here).
        "notify": {"email": bool(task.notify), "webhook": bool(task.callback_url)},
        # Extra stages the upload asked for (`outputs=csv`); the export rule matches on them.
        "outputs": list(task.outputs or []),
    }
    return TaskEvent(detail_type=detail_type_for(task.status), detail=detail)
