"""Messages that kept failing: their tasks become FAILED with RETRIES_EXHAUSTED, and the messages
are parked in the failed-tasks queue, where the alarm sees them and an operator can redrive them.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sheetflow.config import DeadLetterConfig
from sheetflow.dal import queues
from sheetflow.dal.tasks import TaskRepository
from sheetflow.logic.errors import ErrorCode
from sheetflow.logic.messages import MessageFormatError, parse_message
from sheetflow.logic.task import Task, TaskError, TaskStatus


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
    retried dead letter finds its task marked already). Raises TransientError when the table
    cannot be reached.
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
            if tasks.create(_with_error(placeholder, error)):
                marked.append(job.task_id)
            continue
        if task.finished:
            continue
        attempts = task.attempts or config.max_receive_count
        if tasks.fail_unfinished(task.task_id, exhausted_error(attempts, task.last_error), now):
            marked.append(task.task_id)
    return marked


def park_dead_letter(body: str, config: DeadLetterConfig) -> str:
    """Forward the dead letter's body, unchanged, to the failed-tasks queue; returns its new id.

    Every dead letter is parked, whatever its tasks' state: what reached the DLQ deserves an
    operator's look, and redriving a message whose task is finished does nothing. Raises
    TransientError when the queue cannot be reached (the dead letter is then retried).
    """
    return queues.send(config.failed_queue_url, body)


def _with_error(task: Task, error: TaskError) -> Task:
    return replace(task, error=error)
