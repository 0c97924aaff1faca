"""The task record and its state machine.

QUEUED -> PROCESSING -> SUCCEEDED | FAILED, and AWAITING_UPLOAD -> QUEUED for presigned uploads.
A task not yet processing can be cancelled at once (-> CANCELLED); a PROCESSING task is asked to
stop (`cancel_requested`) and its worker moves it to CANCELLED at the next sheet boundary.
A PROCESSING task whose lease has lapsed (its worker failed transiently or died) may be claimed
again by a redelivery, which increments `attempts`. Storage enforces each transition with a
conditional write on the status and attempt it was read with.

One finished state can be left: FAILED with RETRIES_EXHAUSTED (the dead-letter path) goes back
to PROCESSING when an operator redrives its message. A task FAILED for its file, or SUCCEEDED,
is final.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sheetflow.logic.errors import ErrorCode
from sheetflow.logic.tenancy import OPERATOR_OWNER, is_owner_id

TASK_ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")
# Objects put here (presigned PUTs, any direct upload) reach the queue via the S3 notification.
UPLOAD_PREFIX = "uploads/"
# API uploads are queued by the API's own task message; the notification does not watch this
# prefix, so each API upload is one message, not two.
API_UPLOAD_PREFIX = "received/"
RESULT_PREFIX = "results/"


class TaskStatus(StrEnum):
    AWAITING_UPLOAD = "AWAITING_UPLOAD"
    # Uploaded with a timer: waits for `run_at` (logic/timers.py).
    SCHEDULED = "SCHEDULED"
    QUEUED = "QUEUED"
    PROCESSING = "PROCESSING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


FINISHED_STATUSES = frozenset({TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED})
# Not started yet: a cancel takes effect at once.
WAITING_STATUSES = frozenset({TaskStatus.AWAITING_UPLOAD, TaskStatus.SCHEDULED, TaskStatus.QUEUED})

ALLOWED_TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.AWAITING_UPLOAD: frozenset(
        {TaskStatus.QUEUED, TaskStatus.SCHEDULED, TaskStatus.FAILED, TaskStatus.CANCELLED}
    ),
    TaskStatus.SCHEDULED: frozenset(
        {TaskStatus.PROCESSING, TaskStatus.FAILED, TaskStatus.CANCELLED}
    ),
    TaskStatus.QUEUED: frozenset({TaskStatus.PROCESSING, TaskStatus.FAILED, TaskStatus.CANCELLED}),
    # PROCESSING -> PROCESSING is a retry: attempt n+1 after attempt n released or lapsed.
    # PROCESSING -> CANCELLED is the worker honouring a cancel request.
    TaskStatus.PROCESSING: frozenset(
        {TaskStatus.PROCESSING, TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED}
    ),
    TaskStatus.SUCCEEDED: frozenset(),
    TaskStatus.CANCELLED: frozenset(),
    # FAILED -> PROCESSING is a redrive, and only for the codes in REDRIVABLE_ERROR_CODES.
    TaskStatus.FAILED: frozenset({TaskStatus.PROCESSING}),
}

# Failures that say nothing about the file: the retries ran out on a fault that an operator may
# have fixed since, so a redriven message may try again. File codes (NOT_XLSX, ...) never do.
REDRIVABLE_ERROR_CODES = frozenset({ErrorCode.RETRIES_EXHAUSTED.value})


def can_transition(current: TaskStatus, target: TaskStatus, error_code: str | None = None) -> bool:
    """Whether `current` may become `target`; `error_code` is the task's error, if any.

    Leaving FAILED additionally needs a redrivable error code.
    """
    if target not in ALLOWED_TRANSITIONS[current]:
        return False
    if current is TaskStatus.FAILED:
        return error_code in REDRIVABLE_ERROR_CODES
    return True


def new_task_id() -> str:
    return uuid.uuid4().hex


def is_valid_task_id(value: str) -> bool:
    return bool(TASK_ID_PATTERN.match(value))


def task_id_for_object(bucket: str, key: str, version_marker: str) -> str:
    """The task id of an object that arrived without a task.

    `uploads/<task_id>/...` and `uploads/<owner>/<task_id>/...` keep the id chosen at presign
    time; any other key gets an id derived from bucket, key and the event's sequencer or ETag, so
    duplicate notifications of one upload map to one task while a later overwrite of the same key
    becomes a new task.
    """
    parts = key.split("/")
    if len(parts) >= 3 and f"{parts[0]}/" == UPLOAD_PREFIX:
        if is_valid_task_id(parts[1]):
            return parts[1]
        if len(parts) >= 4 and is_owner_id(parts[1]) and is_valid_task_id(parts[2]):
            return parts[2]
    digest = hashlib.sha256(f"{bucket}\n{key}\n{version_marker}".encode()).hexdigest()
    return digest[:32]


def owner_of_object(key: str) -> str:
    """Whose an object put straight into the bucket is: the client whose prefix it is under
    (`uploads/<owner>/...`), else the operator (logic/tenancy.py)."""
    parts = key.split("/")
    if (
        len(parts) >= 3
        and f"{parts[0]}/" == UPLOAD_PREFIX
        and not is_valid_task_id(parts[1])
        and is_owner_id(parts[1])
    ):
        return parts[1]
    return OPERATOR_OWNER


def upload_key(task_id: str, safe_filename: str, owner: str | None = None) -> str:
    """`uploads/<owner>/<task_id>/<name>`; without an owner (the operator's direct puts, the
    canary) `uploads/<task_id>/<name>`."""
    folder = f"{owner}/" if owner and owner != OPERATOR_OWNER else ""
    return f"{UPLOAD_PREFIX}{folder}{task_id}/{safe_filename}"


def api_upload_key(task_id: str, safe_filename: str, owner: str | None = None) -> str:
    folder = f"{owner}/" if owner and owner != OPERATOR_OWNER else ""
    return f"{API_UPLOAD_PREFIX}{folder}{task_id}/{safe_filename}"


def result_key(task_id: str) -> str:
    return f"{RESULT_PREFIX}{task_id}.json"


def isoformat(moment: datetime) -> str:
    """UTC timestamps as fixed-width ISO strings, so they sort correctly as DynamoDB strings."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(value: str) -> datetime:
    """The inverse of `isoformat`."""
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def task_ttl(retention_hours: int) -> timedelta:
    """DynamoDB TTL a day after the cleanup's retention, so the cleanup (which also deletes the
    task's objects) normally gets there first; TTL is the safety net."""
    return timedelta(hours=retention_hours + 24)


@dataclass(frozen=True)
class TaskError:
    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class Task:
    task_id: str
    status: TaskStatus
    created_at: str
    updated_at: str
    expires_at: int
    bucket: str
    key: str
    filename: str
    attempts: int = 0
    size: int | None = None
    lease_until: int = 0
    error: TaskError | None = None
    last_error: TaskError | None = None
    summary: dict[str, Any] | None = None
    result_key: str | None = None
    # Set by the write that finishes the task until its task event is on the bus; while set,
    # `event_lease` (epoch seconds) says until when one publisher owns the publication.
    event_pending: bool = False
    event_lease: int = 0
    # A cancel arrived while PROCESSING: the worker stops at the next sheet boundary.
    cancel_requested: bool = False
    # A timer: when the task is to start (isoformat); when the sweep sent its message.
    run_at: str | None = None
    dispatched_at: str | None = None
    # When the current attempt was claimed.
    started_at: str | None = None
    # While PROCESSING: rows read so far, rows declared by the workbook, percent (None when the
    # workbook declares no size), when it was reported.
    progress: dict[str, Any] | None = None
    # Notifications asked for at upload: an e-mail address, a callback URL; and what was done:
    # the event id last mailed / delivered, every webhook attempt (time, status code, error).
    notify: str | None = None
    callback_url: str | None = None
    email_sent_for: str | None = None
    webhook_delivered_for: str | None = None
    webhook_attempts: list[dict[str, Any]] | None = None
    # Extra stages asked for at upload (`outputs=csv`) and what they produced.
    outputs: list[str] | None = None
    exports: list[dict[str, Any]] | None = None
    # What happened to it, oldest first (see logic/timeline.py); appended to by every write.
    timeline: tuple[dict[str, Any], ...] = ()
    # The client (API key id) whose task it is; "operator" or None (older tasks): the operator's.
    owner: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def redrivable(self) -> bool:
        """FAILED only because its retries ran out: a redriven message may claim it again."""
        return self.status is TaskStatus.FAILED and self.can_become(TaskStatus.PROCESSING)

    @property
    def claimable(self) -> bool:
        """Whether a delivery may try to claim it (leases aside): unfinished, or redrivable."""
        return self.can_become(TaskStatus.PROCESSING)

    def can_become(self, status: TaskStatus) -> bool:
        return can_transition(self.status, status, self.error.code if self.error else None)

    def lease_active(self, now_epoch: int) -> bool:
        return self.status is TaskStatus.PROCESSING and self.lease_until > now_epoch


def new_task(
    *,
    task_id: str,
    status: TaskStatus,
    bucket: str,
    key: str,
    filename: str,
    now: datetime,
    ttl: timedelta,
    size: int | None = None,
    owner: str | None = None,
) -> Task:
    stamp = isoformat(now)
    return Task(
        task_id=task_id,
        status=status,
        created_at=stamp,
        updated_at=stamp,
        expires_at=int((now + ttl).timestamp()),
        bucket=bucket,
        key=key,
        filename=filename,
        size=size,
        owner=owner,
    )


def filename_from_key(key: str) -> str:
    return key.rsplit("/", 1)[-1] or key
