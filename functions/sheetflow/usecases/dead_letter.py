"""Messages that kept failing: their tasks become FAILED with RETRIES_EXHAUSTED, and the messages
are parked in the failed-tasks queue, where the alarm sees them and an operator can redrive them.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sheetflow.config import DeadLetterConfig
from sheetflow.dal import queues
from sheetflow.dal.tasks import TaskRepository
from sheetflow.logic.errors import ErrorCode, TransientError
from sheetflow.logic.messages import PARKED_ATTRIBUTE, MessageFormatError, parse_message
from sheetflow.logic.task import Task, TaskError, TaskStatus, isoformat
from sheetflow.usecases.finishing import publication_lease, publish_finish, publish_pending


def exhausted_error(attempts: int, last_error: TaskError | None) -> TaskError:
    message = f"retries exhausted after {attempts} attempts"
    if last_error is not None:
        message += f"; last error: {last_error.code}: {last_error.message}"
    return TaskError(ErrorCode.RETRIES_EXHAUSTED, message)


def fail_dead_letter(
    body: str, config: DeadLetterConfig, tasks: TaskRepository, now: datetime
) -> list[str]:
    """Mark each task of a dead-lettered message FAILED; returns the ids newly marked.

    Finished tasks stay as they are (a late duplicate may reach the DLQ after success, and a
    retried dead letter finds its task marked already), except that a finish whose task event
    is still pending is published. Raises TransientError when the table or the event bus cannot
    be reached.
    """
    try:
        jobs = parse_message(body)
    except MessageFormatError:
        return []
    marked = []
    for job in jobs:
        task = tasks.get(job.task_id)
        if task is None:
            # Never got as far as a task record: record the failure so the upload is visible.
            placeholder = job.new_task(TaskStatus.FAILED, now, config.retention_hours)
            error = exhausted_error(config.max_receive_count, None)
            lease = publication_lease(now)
            placeholder = replace(placeholder, event_pending=True, event_lease=lease)
            if tasks.create(_with_error(placeholder, error)):
                marked.append(job.task_id)
                publish_finish(
                    _with_error(placeholder, error),
                    config.event_bus_name,
                    config.results_bucket,
                    tasks,
                )
            continue
        if task.finished:
            _announce_pending(task, config, tasks, now)
            continue
        attempts = task.attempts or config.max_receive_count
        error, lease = exhausted_error(attempts, task.last_error), publication_lease(now)
        if tasks.fail_unfinished(task.task_id, error, now, lease):
            marked.append(task.task_id)
            failed = replace(
                task,
                status=TaskStatus.FAILED,
                error=error,
                lease_until=0,
                updated_at=isoformat(now),
                event_pending=True,
                event_lease=lease,
            )
            publish_finish(failed, config.event_bus_name, config.results_bucket, tasks)
    return marked


def _announce_pending(
    task: Task, config: DeadLetterConfig, tasks: TaskRepository, now: datetime
) -> None:
    """A finished task whose event an earlier try could not publish: publish it now, or have
    the dead letter retried while another publisher holds it (it may fail too)."""
    if not task.event_pending:
        return
    if not publish_pending(task, config.event_bus_name, config.results_bucket, tasks, now):
        raise TransientError(f"the event of task {task.task_id} is being published elsewhere")


def park_dead_letter(body: str, config: DeadLetterConfig, now: datetime) -> str:
    """Forward the dead letter's body, unchanged, to the failed-tasks queue, marked with
    PARKED_ATTRIBUTE so that its redrive may run the task again; returns its new id.

    Every dead letter is parked, whatever its tasks' state: what reached the DLQ deserves an
    operator's look, and redriving a message whose task is finished does nothing. Raises
    TransientError when the queue cannot be reached (the dead letter is then retried).
    """
    return queues.send(config.failed_queue_url, body, attributes={PARKED_ATTRIBUTE: isoformat(now)})


def _with_error(task: Task, error: TaskError) -> Task:
    return replace(task, error=error)
