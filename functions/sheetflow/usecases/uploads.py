"""Accepting a workbook through the API, directly or by presigned URL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from aws_lambda_powertools import Logger

from sheetflow.config import ApiConfig
from sheetflow.dal import queues, storage
from sheetflow.dal.tasks import TaskRepository
from sheetflow.logic.errors import ErrorCode, TransientError
from sheetflow.logic.messages import task_message
from sheetflow.logic.task import (
    Task,
    TaskError,
    TaskStatus,
    api_upload_key,
    isoformat,
    new_task,
    new_task_id,
    task_ttl,
    upload_key,
)
from sheetflow.logic.timers import message_delay, seconds_until
from sheetflow.logic.uploads import safe_filename
from sheetflow.usecases.finishing import publication_lease, publish_finish

logger = Logger(child=True)


def accept_upload(
    data: bytes,
    requested_name: str | None,
    config: ApiConfig,
    tasks: TaskRepository,
    now: datetime,
    *,
    run_at: datetime | None = None,
    notify: str | None = None,
    callback_url: str | None = None,
) -> Task:
    """Store the workbook and queue its task with one task message.

    The object goes under a prefix the bucket's notification ignores, so the upload is exactly
    one message. If that message cannot be sent, the task is marked FAILED and the error
    (503) tells the client to try again: nothing waits forever in QUEUED.

    With `run_at` the task is SCHEDULED: its message is sent now with the delay when the time
    is within `timers.direct_max_seconds`, otherwise the scheduler's sweep sends it later.
    """
    status = TaskStatus.QUEUED if run_at is None else TaskStatus.SCHEDULED
    task = _upload_task(requested_name, status, api_upload_key, config, now, size=len(data))
    task = replace(task, notify=notify, callback_url=callback_url)
    direct = run_at is None or seconds_until(run_at, now) <= config.timers.direct_max_seconds
    if run_at is not None:
        # A message sent now counts as dispatched: the sweep leaves the task alone.
        task = replace(
            task, run_at=isoformat(run_at), dispatched_at=isoformat(now) if direct else None
        )
    tasks.create(task)
    try:
        storage.put_upload(task.bucket, task.key, data, task.filename)
        if direct:
            delay = 0 if run_at is None else message_delay(run_at, now)
            queues.send(config.queue_url, task_message(task.task_id, task.bucket, task.key), delay)
    except TransientError as exc:
        _abandon(task, config, tasks, now, exc)
        raise
    return task


def _upload_task(
    requested_name: str | None,
    status: TaskStatus,
    key_for: Callable[[str, str], str],
    config: ApiConfig,
    now: datetime,
    *,
    size: int | None = None,
) -> Task:
    """A new task for an upload the API accepts or presigns; `key_for(task_id, safe_name)`."""
    task_id = new_task_id()
    stored_name = safe_filename(requested_name)
    return new_task(
        task_id=task_id,
        status=status,
        bucket=config.bucket_name,
        key=key_for(task_id, stored_name),
        filename=(requested_name or stored_name)[:200],
        now=now,
        ttl=task_ttl(config.retention_hours),
        size=size,
    )


def _abandon(
    task: Task, config: ApiConfig, tasks: TaskRepository, now: datetime, cause: TransientError
) -> None:
    """Mark an upload that could not be stored and queued FAILED, and announce it."""
    error = TaskError(
        ErrorCode.DEPENDENCY_UNAVAILABLE, f"The upload was not stored and queued: {cause}"
    )
    lease = publication_lease(now)
    try:
        if tasks.fail_unfinished(task.task_id, error, now, lease):
            failed = replace(
                task,
                status=TaskStatus.FAILED,
                error=error,
                updated_at=isoformat(now),
                event_pending=True,
                event_lease=lease,
            )
            publish_finish(failed, config.event_bus_name, config.results_bucket, tasks)
    except TransientError:
        # The client gets a 503 either way; a pending event stays marked on the task.
        logger.exception("Could not mark the abandoned task FAILED and announce it")


@dataclass(frozen=True)
class PresignedUpload:
    task: Task
    url: str
    expires_in: int


def presign_upload(
    requested_name: str | None,
    config: ApiConfig,
    tasks: TaskRepository,
    now: datetime,
    *,
    run_at: datetime | None = None,
    notify: str | None = None,
    callback_url: str | None = None,
) -> PresignedUpload:
    """A task AWAITING_UPLOAD and a URL to PUT the workbook to; the S3 notification queues it
    (or, with `run_at`, schedules it: the worker holds it until then)."""
    task = _upload_task(requested_name, TaskStatus.AWAITING_UPLOAD, upload_key, config, now)
    task = replace(task, notify=notify, callback_url=callback_url)
    if run_at is not None:
        task = replace(task, run_at=isoformat(run_at))
    tasks.create(task)
    url = storage.presigned_put_url(task.bucket, task.key, config.presign_expiry_seconds)
    return PresignedUpload(task=task, url=url, expires_in=config.presign_expiry_seconds)
