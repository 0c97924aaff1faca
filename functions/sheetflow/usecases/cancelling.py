"""Cancelling a task: at once when it has not started, at the next sheet boundary when it has.

A task AWAITING_UPLOAD or QUEUED becomes CANCELLED by one conditional write (on the status it
was read with) and is announced like any finish; its message, when it comes, is consumed without
processing. A PROCESSING task gets `cancel_requested`; its worker looks between sheets and
finishes it CANCELLED (or, if it had already finished, its success write is refused and it
records CANCELLED instead). A finished task cannot be cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from aws_lambda_powertools import Logger

from sheetflow.config import ApiConfig
from sheetflow.dal.tasks import TaskRepository
from sheetflow.logic.errors import RequestRejectedError, TransientError
from sheetflow.logic.task import WAITING_STATUSES, Task, TaskStatus, isoformat
from sheetflow.logic.tenancy import Caller
from sheetflow.usecases.finishing import publication_lease, publish_finish

logger = Logger(child=True)

# Each try reads the task and writes on the status it read; another writer may move it between
# the two (the worker claiming it, the upload arriving): read again, a few times at most.
_TRIES = 5


@dataclass(frozen=True)
class CancelResult:
    task: Task
    # True: CANCELLED now; False: PROCESSING, asked to stop.
    immediate: bool


def cancel_task(
    task_id: str, config: ApiConfig, tasks: TaskRepository, now: datetime, caller: Caller
) -> CancelResult:
    for _ in range(_TRIES):
        task = tasks.get(task_id)
        # Another client's task is not found, exactly like one that never existed.
        if task is None or not caller.may_see(task.owner):
            raise RequestRejectedError(
                "TASK_NOT_FOUND", f"No task {task_id}: it never existed or expired."
            )
        if task.finished:
            raise RequestRejectedError(
                "TASK_FINISHED",
                f"Task {task_id} is {task.status.value} already; only a task that has not "
                "finished can be cancelled.",
                status=task.status.value,
            )
        if task.status in WAITING_STATUSES:
            lease = publication_lease(now)
            if tasks.cancel_waiting(task, now, lease):
                cancelled = replace(
                    task,
                    status=TaskStatus.CANCELLED,
                    lease_until=0,
                    updated_at=isoformat(now),
                    event_pending=True,
                    event_lease=lease,
                )
                _announce(cancelled, config, tasks)
                return CancelResult(cancelled, immediate=True)
        elif tasks.request_cancel(task_id, now):
            return CancelResult(
                replace(task, cancel_requested=True, updated_at=isoformat(now)), immediate=False
            )
    raise TransientError(f"task {task_id} kept changing while it was being cancelled")


def _announce(task: Task, config: ApiConfig, tasks: TaskRepository) -> None:
    try:
        publish_finish(task, config.event_bus_name, config.results_bucket, tasks)
    except TransientError as exc:
        # The cancel stands; the task keeps its event pending (docs/pipeline.md, "Task events").
        logger.warning("Task event of a cancel not published", extra={"reason": exc.message})
