"""Accepting a workbook through the API, directly or by presigned URL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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
    new_task,
    new_task_id,
    task_ttl,
    upload_key,
)
from sheetflow.logic.uploads import safe_filename

logger = Logger(child=True)


def accept_upload(
    data: bytes, requested_name: str | None, config: ApiConfig, tasks: TaskRepository, now: datetime
) -> Task:
    """Store the workbook and queue its task with one task message.

    The object goes under a prefix the bucket's notification ignores, so the upload is exactly
    one message. If that message cannot be sent, the task is marked FAILED and the error
    (503) tells the client to try again: nothing waits forever in QUEUED.
    """
    task = _upload_task(
        requested_name, TaskStatus.QUEUED, api_upload_key, config, now, size=len(data)
    )
    tasks.create(task)
    try:
        storage.put_upload(task.bucket, task.key, data, task.filename)
        queues.send(config.queue_url, task_message(task.task_id, task.bucket, task.key))
    except TransientError as exc:
        _abandon(task, tasks, now, exc)
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


def _abandon(task: Task, tasks: TaskRepository, now: datetime, cause: TransientError) -> None:
    try:
        tasks.fail_unfinished(
            task.task_id,
            TaskError(
                ErrorCode.DEPENDENCY_UNAVAILABLE, f"The upload was not stored and queued: {cause}"
            ),
            now,
        )
    except TransientError:
        logger.exception("Could not mark the abandoned task FAILED")


@dataclass(frozen=True)
class PresignedUpload:
    task: Task
    url: str
    expires_in: int


def presign_upload(
    requested_name: str | None, config: ApiConfig, tasks: TaskRepository, now: datetime
) -> PresignedUpload:
    """A task AWAITING_UPLOAD and a URL to PUT the workbook to; the S3 notification queues it."""
    task = _upload_task(requested_name, TaskStatus.AWAITING_UPLOAD, upload_key, config, now)
    tasks.create(task)
    url = storage.presigned_put_url(task.bucket, task.key, config.presign_expiry_seconds)
    return PresignedUpload(task=task, url=url, expires_in=config.presign_expiry_seconds)
