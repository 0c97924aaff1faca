"""Reading tasks for the API: one task, a page of tasks, and their public representation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sheetflow.config import ApiConfig
from sheetflow.dal import storage
from sheetflow.dal.tasks import TaskRepository
from sheetflow.logic import timeline
from sheetflow.logic.listing import PageCursor, encode_token, next_status
from sheetflow.logic.task import Task, TaskStatus
from sheetflow.logic.tenancy import Caller


def task_view(task: Task, result_url: str | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "task_id": task.task_id,
        "status": task.status.value,
        "attempts": task.attempts,
        "created_at": task.created_at,
        "updated_at": task.updated_at,
        "expires_at": task.expires_at,
        "filename": task.filename,
        "size": task.size,
        "source": {"bucket": task.bucket, "key": task.key},
        "error": task.error.to_dict() if task.error else None,
        "last_error": task.last_error.to_dict() if task.last_error else None,
        "summary": task.summary,
        "result_key": task.result_key,
        # A finished task's event is on the bus (docs/pipeline.md, "Task events").
        "event_published": task.finished and not task.event_pending,
        "cancel_requested": task.cancel_requested,
        "run_at": task.run_at,
        # When the timer's message was sent (at upload, or later by the sweep).
        "dispatched_at": task.dispatched_at,
        "started_at": task.started_at,
        # While PROCESSING: rows_read, declared_rows, percent (null without a declared size).
        "progress": task.progress,
        "notify": task.notify,
        "callback_url": task.callback_url,
        # Every webhook delivery attempt: at, delivery_id, status (null: no answer), error.
        "webhook_attempts": task.webhook_attempts or [],
        "outputs": task.outputs or [],
        # The CSV files of `outputs=csv`: sheet, key (beside the result), rows.
        "exports": task.exports or [],
        "timeline": list(task.timeline),
        "attempt_log": timeline.attempts(task.timeline),
        "processing_seconds": timeline.processing_seconds(task),
    }
    if result_url is not None:
        view["result_url"] = result_url
    return view


def get_task(
    task_id: str, config: ApiConfig, tasks: TaskRepository, caller: Caller
) -> dict[str, Any] | None:
    """The task's view, or None when it does not exist or is another client's (the same answer:
    a client learns nothing about others' task ids)."""
    task = tasks.get(task_id)
    if task is None or not caller.may_see(task.owner):
        return None
    result_url = None
    if task.status is TaskStatus.SUCCEEDED and task.result_key:
        result_url = storage.presigned_get_url(
            config.results_bucket, task.result_key, config.result_url_expiry_seconds
        )
    return task_view(task, result_url)


@dataclass(frozen=True)
class TaskListing:
    items: list[dict[str, Any]]
    next_token: str | None


def list_tasks(
    cursor: PageCursor,
    status_filter: TaskStatus | None,
    limit: int,
    tasks: TaskRepository,
    caller: Caller,
) -> TaskListing:
    """Fill one page of the caller's tasks, moving on to the next status when one runs out (no
    table scan)."""
    items: list[dict[str, Any]] = []
    current: PageCursor | None = cursor
    while current is not None and len(items) < limit:
        page = tasks.page(current.status, limit - len(items), current.start_key, owner=caller.owner)
        items.extend(task_view(task) for task in page.tasks)
        if page.last_key is not None:
            current = PageCursor(status=current.status, start_key=page.last_key)
        else:
            following = next_status(current.status, status_filter)
            current = PageCursor(status=following) if following else None
    return TaskListing(items=items, next_token=encode_token(current) if current else None)
