"""Turns a queue message body into the objects to process.

Two shapes reach the worker: the upload API's task message `{"task_id", "bucket", "key"}` and
S3 event notifications (ObjectCreated records, plus the `s3:TestEvent` S3 sends when a
notification is configured, which carries nothing to do).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote_plus

from sheetflow.logic.filenames import display_filename
from sheetflow.logic.task import (
    API_UPLOAD_PREFIX,
    UPLOAD_PREFIX,
    Task,
    TaskStatus,
    is_valid_task_id,
    new_task,
    owner_of_object,
    task_id_for_object,
    task_ttl,
)
from sheetflow.logic.tenancy import is_owner_id

# The message attribute the dead-letter function puts on every message it parks. A message can
# only reach the task queue with it by a redrive out of the failed-tasks queue (SQS's move task
# and the move by hand both keep attributes), so it tells a redrive from a stray copy of the
# original message, which must not run a task whose retries already ran out.
PARKED_ATTRIBUTE = "sheetflow-parked-at"


class MessageFormatError(ValueError):
    """The body is neither a task message nor an S3 notification."""


@dataclass(frozen=True)
class ObjectJob:
    """One uploaded object to process, with the task it belongs to."""

    task_id: str
    bucket: str
    key: str
    size: int | None = None
    # True when the task record may not exist yet (a file put straight into the bucket).
    from_notification: bool = False

    @property
    def filename(self) -> str:
        """The display name of a key that anyone with write access to the bucket chose: no
        directories, no control characters, length-limited."""
        return display_filename(self.key)

    def new_task(self, status: TaskStatus, now: datetime, retention_hours: int) -> Task:
        """The task record of an object that arrived without one."""
        return new_task(
            task_id=self.task_id,
            status=status,
            bucket=self.bucket,
            key=self.key,
            filename=self.filename,
            now=now,
            ttl=task_ttl(retention_hours),
            size=self.size,
            owner=owner_of_object(self.key),
        )


def task_message(task_id: str, bucket: str, key: str, size: int | None = None) -> str:
    """The message of a task whose object is stored. `size`, when known, lets a worker judge
    the file before reading it (see BatchAnnouncer.make_room)."""
    document: dict[str, Any] = {"task_id": task_id, "bucket": bucket, "key": key}
    if size is not None:
        document["size"] = size
    return json.dumps(document)


def parse_message(body: str) -> list[ObjectJob]:
    """The jobs in one message body; an empty list for events that carry nothing to do."""
    try:
        document = json.loads(body)
    except json.JSONDecodeError as exc:
        raise MessageFormatError(f"message body is not JSON: {exc.msg}") from exc
    if not isinstance(document, dict):
        raise MessageFormatError("message body is not a JSON object")
    if document.get("Event") == "s3:TestEvent":
        return []
    if "Records" in document:
        return _jobs_from_notification(document["Records"])
    if "task_id" in document:
        return [_job_from_task_message(document)]
    raise MessageFormatError("message is neither a task message nor an S3 notification")


def _job_from_task_message(document: dict[str, Any]) -> ObjectJob:
    task_id, bucket, key = document.get("task_id"), document.get("bucket"), document.get("key")
    if not (isinstance(task_id, str) and isinstance(bucket, str) and isinstance(key, str)):
        raise MessageFormatError("task message needs string task_id, bucket and key")
    if not is_valid_task_id(task_id):
        raise MessageFormatError(f"task message has a malformed task_id {task_id!r}")
    if not key_in_task_prefix(key, task_id):
        raise MessageFormatError(
            f"task message key {key[:200]!r} is not an object of task {task_id} "
            f"({API_UPLOAD_PREFIX}{task_id}/<name> or {UPLOAD_PREFIX}{task_id}/<name>)"
        )
    size = document.get("size")
    # An unusable size is only a missing hint: the object's own size is checked when read.
    known = size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None
    return ObjectJob(task_id=task_id, bucket=bucket, key=key, size=known)


def key_in_task_prefix(key: str, task_id: str) -> bool:
    """Whether `key` is one object directly under the task's own prefix, `<prefix><task_id>/`
    or, for a client's task, `<prefix><owner>/<task_id>/`.

    The API only ever queues such keys; a task message naming anything else (another task's
    object, a `..` segment, a nested path) did not come from it and is not acted on.
    """
    for prefix in (API_UPLOAD_PREFIX, UPLOAD_PREFIX):
        if not key.startswith(prefix):
            continue
        rest = key[len(prefix) :].split("/")
        if len(rest) == 3 and is_owner_id(rest[0]):
            rest = rest[1:]
        if len(rest) == 2 and rest[0] == task_id:
            return bool(rest[1]) and rest[1] not in {".", ".."}
    return False


def _jobs_from_notification(records: Any) -> list[ObjectJob]:
    if not isinstance(records, list):
        raise MessageFormatError("S3 notification Records is not a list")
    jobs = []
    for record in records:
        if not isinstance(record, dict) or not str(record.get("eventName", "")).startswith(
            "ObjectCreated:"
        ):
            continue
        try:
            bucket = record["s3"]["bucket"]["name"]
            s3_object = record["s3"]["object"]
            # Keys arrive URL-encoded, with spaces as '+'.
            key = unquote_plus(s3_object["key"])
        except (KeyError, TypeError) as exc:
            raise MessageFormatError(f"S3 notification record lacks {exc}") from exc
        marker = str(s3_object.get("sequencer") or s3_object.get("eTag") or "")
        size = s3_object.get("size")
        jobs.append(
            ObjectJob(
                task_id=task_id_for_object(bucket, key, marker),
                bucket=bucket,
                key=key,
                size=size if isinstance(size, int) else None,
                from_notification=True,
            )
        )
    return jobs
