"""Accepting a workbook through the API, directly or by presigned URL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from aws_lambda_powertools import Logger

from sheetflow.config import ApiConfig
from sheetflow.dal import queues, storage
from sheetflow.dal.tasks import TaskRepository
from sheetflow.logic.errors import ErrorCode, RequestRejectedError, TransientError
from sheetflow.logic.filenames import display_filename
from sheetflow.logic.messages import task_message
from sheetflow.logic.multipart import (
    CompletedPart,
    check_s3_upload_size,
    part_size_for,
    plan_parts,
)
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
from sheetflow.logic.tenancy import Caller
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
    owner: str,
    run_at: datetime | None = None,
    notify: str | None = None,
    callback_url: str | None = None,
    outputs: list[str] | None = None,
) -> Task:
    """Store the workbook, under `received/<owner>/`, and queue its task with one task message.

    The object goes under a prefix the bucket's notification ignores, so the upload is exactly
    one message. If that message cannot be sent, the task is marked FAILED and the error
    (503) tells the client to try again: nothing waits forever in QUEUED.

    With `run_at` the task is SCHEDULED: its message is sent now with the delay when the time
    is within `timers.direct_max_seconds`, otherwise the scheduler's sweep sends it later.
    """
    status = TaskStatus.QUEUED if run_at is None else TaskStatus.SCHEDULED
    task = _upload_task(
        requested_name, status, api_upload_key, config, now, owner=owner, size=len(data)
    )
    task = replace(task, notify=notify, callback_url=callback_url, outputs=outputs or None)
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
            message = task_message(task.task_id, task.bucket, task.key, task.size)
            queues.send(config.queue_url, message, delay)
    except TransientError as exc:
        _abandon(task, config, tasks, now, exc)
        raise
    return task


def _upload_task(
    requested_name: str | None,
    status: TaskStatus,
    key_for: Callable[[str, str, str], str],
    config: ApiConfig,
    now: datetime,
    *,
    owner: str,
    size: int | None = None,
) -> Task:
    """A new task of `owner` for an upload the API accepts or presigns; its object key is
    `key_for(task_id, safe_name, owner)`."""
    task_id = new_task_id()
    stored_name = safe_filename(requested_name)
    return new_task(
        task_id=task_id,
        status=status,
        bucket=config.bucket_name,
        key=key_for(task_id, stored_name, owner),
        filename=display_filename(requested_name) if requested_name else stored_name,
        now=now,
        ttl=task_ttl(config.retention_hours),
        size=size,
        owner=owner,
    )


def _abandon(
    task: Task, config: ApiConfig, tasks: TaskRepository, now: datetime, cause: TransientError
) -> None:
    """Mark an upload that could not be stored and queued FAILED, and announce it."""
    error = TaskError(
        ErrorCode.DEPENDENCY_UNAVAILABLE, f"The upload was not stored and queued: {cause}"
    )
    try:
        _fail(task, error, config, tasks, now)
    except TransientError:
        # The client gets a 503 either way; a pending event stays marked on the task.
        logger.exception("Could not mark the abandoned task FAILED and announce it")


def _fail(
    task: Task, error: TaskError, config: ApiConfig, tasks: TaskRepository, now: datetime
) -> None:
    """An unfinished task -> FAILED with `error`, announced (docs/pipeline.md, Task events)."""
    lease = publication_lease(now)
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


@dataclass(frozen=True)
class PresignedUpload:
    task: Task
    post: storage.PresignedPost
    # Kept for clients of the first API version; S3 does not check its size (the worker does).
    put_url: str
    expires_in: int


def presign_upload(
    requested_name: str | None,
    declared_size: int | None,
    config: ApiConfig,
    tasks: TaskRepository,
    now: datetime,
    *,
    owner: str,
    run_at: datetime | None = None,
    notify: str | None = None,
    callback_url: str | None = None,
    outputs: list[str] | None = None,
) -> PresignedUpload:
    """A task AWAITING_UPLOAD and a presigned POST whose policy caps the size at S3; the bucket
    notification queues the task once the object exists (or, with `run_at`, schedules it: the
    worker holds it until then)."""
    if declared_size is not None:
        check_s3_upload_size(declared_size, config.max_upload_bytes)
    task = _upload_task(
        requested_name, TaskStatus.AWAITING_UPLOAD, upload_key, config, now, owner=owner
    )
    task = replace(task, notify=notify, callback_url=callback_url, outputs=outputs or None)
    if run_at is not None:
        task = replace(task, run_at=isoformat(run_at))
    tasks.create(task)
    expiry = config.presign_expiry_seconds
    return PresignedUpload(
        task=task,
        post=storage.presigned_post(task.bucket, task.key, config.max_upload_bytes, expiry),
        put_url=storage.presigned_put_url(task.bucket, task.key, expiry),
        expires_in=expiry,
    )


@dataclass(frozen=True)
class PartUrl:
    part_number: int
    size: int
    url: str


@dataclass(frozen=True)
class MultipartUpload:
    task: Task
    upload_id: str
    part_size: int
    parts: list[PartUrl]
    expires_in: int


def start_multipart_upload(
    requested_name: str | None,
    size: int,
    config: ApiConfig,
    tasks: TaskRepository,
    now: datetime,
    *,
    owner: str,
) -> MultipartUpload:
    """A task AWAITING_UPLOAD, an S3 multipart upload for its key and one presigned URL per part.

    `size` was checked against MaxUploadBytes by the caller; each part URL is signed for its exact
    length, and completion checks what S3 really holds.
    """
    task = _upload_task(
        requested_name, TaskStatus.AWAITING_UPLOAD, upload_key, config, now, owner=owner, size=size
    )
    tasks.create(task)
    upload_id = storage.create_multipart_upload(task.bucket, task.key, task.filename)
    part_size = part_size_for(size)
    expiry = config.presign_expiry_seconds
    parts = [
        PartUrl(
            plan.part_number,
            plan.size,
            storage.presigned_part_url(
                task.bucket,
                task.key,
                upload_id,
                plan.part_number,
                size=plan.size,
                expires_in=expiry,
            ),
        )
        for plan in plan_parts(size, part_size)
    ]
    return MultipartUpload(task, upload_id, part_size, parts, expiry)


def complete_multipart_upload(
    task_id: str,
    upload_id: str,
    parts: list[CompletedPart],
    *,
    config: ApiConfig,
    tasks: TaskRepository,
    now: datetime,
    caller: Caller,
) -> Task:
    """Assemble the uploaded parts into the object, unless they add up to more than the limit.

    The size is checked here, on what S3 holds, because nothing else stops a client from
    uploading bigger parts than it declared (S3 checks part signatures on AWS only). An upload
    over the limit is aborted and its task FAILED with TOO_LARGE.
    """
    task = tasks.get(task_id)
    # Another client's task is not found, exactly like one that never existed.
    if task is None or not caller.may_see(task.owner):
        raise RequestRejectedError(
            "TASK_NOT_FOUND", f"No task {task_id}: it never existed or expired."
        )
    if task.status is not TaskStatus.AWAITING_UPLOAD:
        raise RequestRejectedError(
            "UPLOAD_NOT_EXPECTED",
            f"Task {task_id} is {task.status}, not waiting for an upload: nothing to complete.",
        )
    try:
        received = storage.uploaded_bytes(task.bucket, task.key, upload_id)
    except storage.MultipartRejectedError as exc:
        raise _parts_refused(exc) from exc
    if received > config.max_upload_bytes:
        storage.abort_multipart_upload(task.bucket, task.key, upload_id)
        rejection = RequestRejectedError(
            ErrorCode.TOO_LARGE,
            f"The uploaded parts hold {received} bytes; uploads through S3 take at most "
            f"{config.max_upload_bytes} bytes (MaxUploadBytes). The upload was aborted.",
        )
        _fail(task, TaskError(ErrorCode.TOO_LARGE, rejection.message), config, tasks, now)
        raise rejection
    try:
        storage.complete_multipart_upload(
            task.bucket, task.key, upload_id, [(part.part_number, part.etag) for part in parts]
        )
    except storage.MultipartRejectedError as exc:
        raise _parts_refused(exc) from exc
    return task


def _parts_refused(exc: storage.MultipartRejectedError) -> RequestRejectedError:
    return RequestRejectedError(
        "INVALID_PARTS",
        f"S3 refused to complete the upload ({exc.code}: {exc.message}). Upload every part to "
        "its URL with the upload_id it came with, then send each part's ETag response header "
        "with its part_number.",
    )
