"""DynamoDB: the task table. Every status change is a conditional write.

Items are keyed by `task_id`; the `status-created_at` index lists tasks by status and age for the
API and the cleanup. Several attribute names (status, bucket, key, size) are DynamoDB reserved
words, so every expression aliases every name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from sheetflow.dal.clients import dynamodb_resource
from sheetflow.dal.errors import dependency_call, error_code
from sheetflow.logic import timeline
from sheetflow.logic.task import (
    REDRIVABLE_ERROR_CODES,
    Task,
    TaskError,
    TaskStatus,
    isoformat,
)

if TYPE_CHECKING:
    from datetime import datetime

    from mypy_boto3_dynamodb.service_resource import Table

STATUS_INDEX = "status-created_at"
_UNFINISHED = [
    TaskStatus.AWAITING_UPLOAD.value,
    TaskStatus.SCHEDULED.value,
    TaskStatus.QUEUED.value,
    TaskStatus.PROCESSING.value,
]


@dataclass(frozen=True)
class TaskPage:
    tasks: list[Task]
    last_key: dict[str, str] | None


class TaskRepository:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    @property
    def _table(self) -> Table:
        return dynamodb_resource().Table(self.table_name)

    # --- reads -------------------------------------------------------------------------------

    def get(self, task_id: str) -> Task | None:
        with dependency_call("GetItem"):
            item = self._table.get_item(Key={"task_id": task_id}, ConsistentRead=True).get("Item")
        return task_from_item(item) if item else None

    def page(
        self,
        status: TaskStatus,
        limit: int,
        start_key: Mapping[str, str] | None = None,
        created_before: str | None = None,
        newest_first: bool = True,
        *,
        owner: str | None = None,
    ) -> TaskPage:
        """One page of the status index; with `owner`, only that client's tasks (a page may then
        hold fewer than `limit` and still have a next key)."""
        condition: Any = Key("status").eq(status.value)
        if created_before is not None:
            condition = condition & Key("created_at").lt(created_before)
        arguments: dict[str, Any] = {
            "IndexName": STATUS_INDEX,
            "KeyConditionExpression": condition,
            "Limit": limit,
            "ScanIndexForward": not newest_first,
        }
        if owner is not None:
            arguments["FilterExpression"] = _owned_by(owner)
        if start_key:
            arguments["ExclusiveStartKey"] = dict(start_key)
        with dependency_call("Query"):
            response = self._table.query(**arguments)
        last = response.get("LastEvaluatedKey")
        return TaskPage(
            tasks=[task_from_item(item) for item in response.get("Items", [])],
            last_key={name: str(value) for name, value in last.items()} if last else None,
        )

    def newest(
        self,
        status: TaskStatus,
        limit: int,
        *,
        before: str | None = None,
        since: str | None = None,
        at: str | None = None,
        owner: str | None = None,
    ) -> list[Task]:
        """Up to `limit` tasks in `status`, newest first: created strictly before `before`, at or
        after `since`, or exactly `at` (each optional), following DynamoDB's pages; with
        `owner`, only that client's."""
        condition: Any = Key("status").eq(status.value)
        if at is not None:
            condition = condition & Key("created_at").eq(at)
        elif before is not None and since is not None:
            # BETWEEN is inclusive; the item at `before` itself is dropped below.
            condition = condition & Key("created_at").between(since, before)
        elif before is not None:
            condition = condition & Key("created_at").lt(before)
        elif since is not None:
            condition = condition & Key("created_at").gte(since)
        found: list[Task] = []
        start_key: dict[str, Any] | None = None
        while len(found) < limit:
            arguments: dict[str, Any] = {
                "IndexName": STATUS_INDEX,
                "KeyConditionExpression": condition,
                "Limit": limit - len(found),
                "ScanIndexForward": False,
            }
            if owner is not None:
                arguments["FilterExpression"] = _owned_by(owner)
            if start_key:
                arguments["ExclusiveStartKey"] = start_key
            with dependency_call("Query"):
                response = self._table.query(**arguments)
            items = response.get("Items", [])
            found.extend(
                task_from_item(item)
                for item in items
                if at is not None or before is None or str(item["created_at"]) < before
            )
            start_key = response.get("LastEvaluatedKey")
            if not start_key:
                break
        return found

    def check_reachable(self) -> None:
        with dependency_call("DescribeTable"):
            self._table.meta.client.describe_table(TableName=self.table_name)

    # --- writes ------------------------------------------------------------------------------

    def create(self, task: Task) -> bool:
        """Insert a new task; False when one with this id exists already."""
        if not task.timeline:
            task = replace(task, timeline=tuple(timeline.initial_events(task)))
        return self._conditional(
            "PutItem",
            lambda: self._table.put_item(
                Item=task_to_item(task), ConditionExpression=Attr("task_id").not_exists()
            ),
        )

    def mark_queued(
        self, task_id: str, size: int | None, now: datetime, *, scheduled: bool = False
    ) -> bool:
        """AWAITING_UPLOAD -> QUEUED (SCHEDULED when it has a timer) once the presigned upload
        has arrived."""
        status = TaskStatus.SCHEDULED if scheduled else TaskStatus.QUEUED
        values: dict[str, Any] = {"status": status.value, "updated_at": isoformat(now)}
        if size is not None:
            values["size"] = size
        return self._update(
            task_id,
            values,
            Attr("status").eq(TaskStatus.AWAITING_UPLOAD.value),
            event=timeline.event(timeline.QUEUED, now),
        )

    def claim(self, task: Task, now: datetime, lease_until: int) -> Task | None:
        """Move the task, as read, to PROCESSING with the next attempt number.

        Fails (None) when anyone changed the task since it was read, when it is PROCESSING under
        a lease still held by another delivery, or when the state machine forbids the claim
        (SUCCEEDED, or FAILED for its file). A redriven FAILED task (RETRIES_EXHAUSTED) is
        claimed on the condition that it still carries that code, and its error is removed.
        """
        if not task.claimable:
            return None
        condition = Attr("status").eq(task.status.value) & Attr("attempts").eq(task.attempts)
        if task.status is TaskStatus.PROCESSING:
            condition = condition & Attr("lease_until").lt(int(now.timestamp()))
        removed: tuple[str, ...] = ()
        if task.status is TaskStatus.FAILED:
            condition = condition & Attr("error.code").is_in(sorted(REDRIVABLE_ERROR_CODES))
            # The redriven attempt finishes again and announces that finish instead.
            removed = ("error", "event_pending", "event_lease")
        values = _claimed_values(task.attempts + 1, now, lease_until)
        started = timeline.event(timeline.CLAIMED, now, attempt=task.attempts + 1)
        if not self._update(task.task_id, values, condition, remove=removed, event=started):
            return None
        return replace(
            task,
            status=TaskStatus.PROCESSING,
            attempts=task.attempts + 1,
            lease_until=lease_until,
            updated_at=isoformat(now),
            started_at=isoformat(now),
            error=None,
        )

    def claim_queued(self, task_id: str, now: datetime, lease_until: int) -> Task | None:
        """QUEUED and never tried -> PROCESSING, attempt 1, without reading the task first: the
        claimed task as stored, or None when it is in any other state (read it, then `claim`)."""
        condition = Attr("status").eq(TaskStatus.QUEUED.value) & Attr("attempts").eq(0)
        arguments = self._update_arguments(
            task_id,
            _claimed_values(1, now, lease_until),
            condition,
            event=timeline.event(timeline.CLAIMED, now, attempt=1),
        )
        with dependency_call("UpdateItem"):
            try:
                response = self._table.update_item(**arguments, ReturnValues="ALL_NEW")
            except ClientError as exc:
                if error_code(exc) == "ConditionalCheckFailedException":
                    return None
                raise
        return task_from_item(response["Attributes"])

    def succeed(
        self,
        task_id: str,
        *,
        attempt: int,
        summary: dict[str, Any],
        result_key: str,
        size: int,
        now: datetime,
        event_lease: int,
    ) -> bool:
        """PROCESSING (this attempt) -> SUCCEEDED, its task event pending; refused when a
        cancel was requested meanwhile (the worker then records CANCELLED instead)."""
        values = {
            "status": TaskStatus.SUCCEEDED.value,
            "summary": summary,
            "result_key": result_key,
            "size": size,
            "lease_until": 0,
            "updated_at": isoformat(now),
            **_event_due(event_lease),
        }
        # A redriven task that succeeds carries no error from its earlier failure.
        condition = self._own_attempt(attempt) & Attr("cancel_requested").not_exists()
        return self._update(
            task_id,
            values,
            condition,
            remove=("error",),
            event=timeline.event(timeline.SUCCEEDED, now, attempt=attempt),
        )

    def fail_attempt(
        self, task_id: str, attempt: int, error: TaskError, now: datetime, event_lease: int
    ) -> bool:
        """PROCESSING (this attempt) -> FAILED, its task event pending."""
        values = {
            "status": TaskStatus.FAILED.value,
            "error": error.to_dict(),
            "lease_until": 0,
            "updated_at": isoformat(now),
            **_event_due(event_lease),
        }
        ended = timeline.event(timeline.FAILED, now, attempt=attempt, code=error.code)
        return self._update(task_id, values, self._own_attempt(attempt), event=ended)

    def fail_unfinished(
        self, task_id: str, error: TaskError, now: datetime, event_lease: int
    ) -> bool:
        """Any unfinished status -> FAILED (the dead-letter path), its task event pending."""
        values = {
            "status": TaskStatus.FAILED.value,
            "error": error.to_dict(),
            "lease_until": 0,
            "updated_at": isoformat(now),
            **_event_due(event_lease),
        }
        ended = timeline.event(timeline.DEAD_LETTERED, now, code=error.code)
        return self._update(task_id, values, Attr("status").is_in(_UNFINISHED), event=ended)

    def release(self, task_id: str, attempt: int, last_error: TaskError, now: datetime) -> bool:
        """Give up this attempt's lease after a transient failure so a redelivery can retry."""
        values = {
            "lease_until": 0,
            "last_error": last_error.to_dict(),
            "updated_at": isoformat(now),
        }
        ended = timeline.event(timeline.RETRY, now, attempt=attempt, code=last_error.code)
        return self._update(task_id, values, self._own_attempt(attempt), event=ended)

    def report_progress(self, task_id: str, attempt: int, progress: dict[str, Any]) -> bool:
        """Record how far this attempt has read; False once the task has left that attempt."""
        return self._update(task_id, {"progress": progress}, self._own_attempt(attempt))

    def mark_requeued(self, task: Task, now: datetime) -> bool:
        """Record that the watchdog re-queues this QUEUED task; False if it did so before (or the
        task moved on). The record comes first, so a task is re-queued at most once."""
        condition = (
            Attr("status").eq(TaskStatus.QUEUED.value)
            & Attr("attempts").eq(task.attempts)
            & Attr("requeued_at").not_exists()
        )
        return self._update(task.task_id, {"requeued_at": isoformat(now)}, condition)

    def fail_awaiting_upload(self, task_id: str, error: TaskError, now: datetime) -> bool:
        """AWAITING_UPLOAD -> FAILED (the presigned URL expired unused)."""
        values = {
            "status": TaskStatus.FAILED.value,
            "error": error.to_dict(),
            "updated_at": isoformat(now),
        }
        return self._update(task_id, values, Attr("status").eq(TaskStatus.AWAITING_UPLOAD.value))

    def renew_lease(self, task_id: str, attempt: int, lease_until: int) -> bool:
        """Push the lease of this attempt forward; False once the task has left that attempt."""
        return self._update(task_id, {"lease_until": lease_until}, self._own_attempt(attempt))

    # --- timers -------------------------------------------------------------------------------

    def scheduled_before(self, moment: str, page_size: int = 100) -> list[Task]:
        """Every SCHEDULED task whose `run_at` is at or before `moment` (the sweep's horizon).

        Reads the SCHEDULED partition of the status index: its size is the number of tasks
        waiting on a timer, not the table's.
        """
        found: list[Task] = []
        arguments: dict[str, Any] = {
            "IndexName": STATUS_INDEX,
            "KeyConditionExpression": Key("status").eq(TaskStatus.SCHEDULED.value),
            "FilterExpression": Attr("run_at").lte(moment),
            "Limit": page_size,
        }
        while True:
            with dependency_call("Query"):
                response = self._table.query(**arguments)
            found.extend(task_from_item(item) for item in response.get("Items", []))
            last = response.get("LastEvaluatedKey")
            if not last:
                return found
            arguments["ExclusiveStartKey"] = last

    def mark_dispatched(self, task: Task, now: datetime, stale_before: str) -> bool:
        """Take the sending of a SCHEDULED task's message: True for exactly one sweep, unless
        the earlier dispatch is older than `stale_before` (its message should have come)."""
        condition = Attr("status").eq(TaskStatus.SCHEDULED.value) & (
            Attr("dispatched_at").not_exists() | Attr("dispatched_at").lt(stale_before)
        )
        return self._update(task.task_id, {"dispatched_at": isoformat(now)}, condition)

    def forget_dispatch(self, task_id: str) -> bool:
        """The message could not be sent after all: let the next sweep try."""
        return self._update(
            task_id, {}, Attr("status").eq(TaskStatus.SCHEDULED.value), remove=("dispatched_at",)
        )

    # --- notifications ------------------------------------------------------------------------

    def claim_notification(self, task_id: str, field: str, event_id: str) -> bool:
        """Record that the notification `field` (email_sent_for, webhook_delivered_for) of this
        event is being sent: True once per event id."""
        condition = Attr(field).not_exists() | Attr(field).ne(event_id)
        return self._update(task_id, {field: event_id}, condition)

    def release_notification(self, task_id: str, field: str, event_id: str) -> bool:
        """The notification could not be sent: let the retry claim it again."""
        return self._update(task_id, {}, Attr(field).eq(event_id), remove=(field,))

    def record_exports(self, task_id: str, event_id: str, exports: list[dict[str, Any]]) -> bool:
        """The CSV files of this finish: recorded once (False when they already were)."""
        condition = Attr("exported_for").not_exists() | Attr("exported_for").ne(event_id)
        return self._update(task_id, {"exports": exports, "exported_for": event_id}, condition)

    def record_webhook_attempt(self, task_id: str, attempt: dict[str, Any]) -> bool:
        """Append one delivery attempt (time, status code or error) to the task."""
        with dependency_call("UpdateItem"):
            try:
                self._table.update_item(
                    Key={"task_id": task_id},
                    UpdateExpression="SET #a = list_append(if_not_exists(#a, :empty), :one)",
                    ConditionExpression=Attr("task_id").exists(),
                    ExpressionAttributeNames={"#a": "webhook_attempts"},
                    ExpressionAttributeValues={":empty": [], ":one": [_to_dynamo(attempt)]},
                )
            except ClientError as exc:
                if error_code(exc) == "ConditionalCheckFailedException":
                    return False
                raise
        return True

    # --- cancel ---------------------------------------------------------------------------------

    def cancel_waiting(self, task: Task, now: datetime, event_lease: int) -> bool:
        """A task not started yet (status as read) -> CANCELLED, its event pending."""
        values = {
            "status": TaskStatus.CANCELLED.value,
            "lease_until": 0,
            "updated_at": isoformat(now),
            **_event_due(event_lease),
        }
        return self._update(task.task_id, values, Attr("status").eq(task.status.value))

    def request_cancel(self, task_id: str, now: datetime) -> bool:
        """Ask the worker of a PROCESSING task to stop; False when it is not PROCESSING."""
        values = {"cancel_requested": True, "updated_at": isoformat(now)}
        return self._update(task_id, values, Attr("status").eq(TaskStatus.PROCESSING.value))

    def cancel_attempt(self, task_id: str, attempt: int, now: datetime, event_lease: int) -> bool:
        """PROCESSING (this attempt) -> CANCELLED: the worker stopped as asked."""
        values = {
            "status": TaskStatus.CANCELLED.value,
            "lease_until": 0,
            "updated_at": isoformat(now),
            **_event_due(event_lease),
        }
        return self._update(task_id, values, self._own_attempt(attempt))

    # --- the task event of a finish ------------------------------------------------------------
    # Every finishing write also sets `event_pending` with a publication lease held by the
    # writer. The writer puts the event on the bus and then clears the flag. A writer that
    # failed to publish leaves the flag: whoever next handles the task (the redelivered message)
    # takes the lapsed lease over with `claim_publication` and publishes. So each finish is
    # announced, and by one publisher at a time.

    def claim_publication(self, task: Task, now: datetime, lease_until: int) -> bool:
        """Take over publishing the pending event of a finished task whose lease has lapsed."""
        condition = (
            Attr("status").eq(task.status.value)
            & Attr("attempts").eq(task.attempts)
            & Attr("event_pending").eq(True)
            & Attr("event_lease").lt(int(now.timestamp()))
        )
        return self._update(task.task_id, {"event_lease": lease_until}, condition)

    def mark_published(self, task: Task) -> bool:
        """The finish of `task` (status and attempt as read) is on the bus: clear the flag."""
        condition = (
            Attr("status").eq(task.status.value)
            & Attr("attempts").eq(task.attempts)
            & Attr("event_pending").eq(True)
        )
        return self._update(task.task_id, {}, condition, remove=("event_pending", "event_lease"))

    def delete_expired(self, task_id: str, created_before: str) -> None:
        """Delete the task if it is still expired; deleting a missing task is not an error."""
        self._conditional(
            "DeleteItem",
            lambda: self._table.delete_item(
                Key={"task_id": task_id},
                ConditionExpression=Attr("task_id").not_exists()
                | Attr("created_at").lt(created_before),
            ),
        )

    # --- helpers -----------------------------------------------------------------------------

    @staticmethod
    def _own_attempt(attempt: int) -> Any:
        return Attr("status").eq(TaskStatus.PROCESSING.value) & Attr("attempts").eq(attempt)

    def _update(
        self,
        task_id: str,
        values: Mapping[str, Any],
        condition: Any,
        remove: tuple[str, ...] = (),
        event: Mapping[str, Any] | None = None,
    ) -> bool:
        arguments = self._update_arguments(task_id, values, condition, remove, event)
        return self._conditional("UpdateItem", lambda: self._table.update_item(**arguments))

    @staticmethod
    def _update_arguments(
        task_id: str,
        values: Mapping[str, Any],
        condition: Any,
        remove: tuple[str, ...] = (),
        event: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        # boto3's condition builder uses #n<i>/:v<i> placeholders: ours must differ.
        names = {f"#set{index}": name for index, name in enumerate(values)}
        assignments = ", ".join(f"{alias} = :set{index}" for index, alias in enumerate(names))
        expression_values = {
            f":set{index}": _to_dynamo(value) for index, value in enumerate(values.values())
        }
        parts = [assignments] if assignments else []
        if event is not None:
            # The change and its timeline entry are one write: they cannot disagree.
            names["#timeline"] = "timeline"
            parts.append("#timeline = list_append(if_not_exists(#timeline, :nothing), :event)")
            expression_values[":nothing"] = []
            expression_values[":event"] = [_to_dynamo(dict(event))]
        expression = f"SET {', '.join(parts)}" if parts else ""
        if remove:
            removed = {f"#rm{index}": name for index, name in enumerate(remove)}
            names.update(removed)
            expression += " REMOVE " + ", ".join(removed)
        arguments: dict[str, Any] = {
            "Key": {"task_id": task_id},
            "UpdateExpression": expression.strip(),
            "ConditionExpression": condition & Attr("task_id").exists(),
            "ExpressionAttributeNames": names,
        }
        if expression_values:
            arguments["ExpressionAttributeValues"] = expression_values
        return arguments

    @staticmethod
    def _conditional(operation: str, call: Any) -> bool:
        """Run a conditional write: True if applied, False if its condition did not hold."""
        with dependency_call(operation):
            try:
                call()
            except ClientError as exc:
                if error_code(exc) == "ConditionalCheckFailedException":
                    return False
                raise
        return True


def _owned_by(owner: str) -> Any:
    """A client's tasks. A filter on the status index: DynamoDB still reads every client's items
    of the page; many clients with many tasks each would want an owner-keyed index instead."""
    return Attr("owner").eq(owner)


def _claimed_values(attempt: int, now: datetime, lease_until: int) -> dict[str, Any]:
    return {
        "status": TaskStatus.PROCESSING.value,
        "attempts": attempt,
        "lease_until": lease_until,
        "updated_at": isoformat(now),
        "started_at": isoformat(now),
    }


def _event_due(event_lease: int) -> dict[str, Any]:
    return {"event_pending": True, "event_lease": event_lease}


def task_to_item(task: Task) -> dict[str, Any]:
    item: dict[str, Any] = {
        "task_id": task.task_id,
        "status": task.status.value,
        "attempts": task.attempts,
        "created_at": task.created_at,
        "updated_at": task.updated_at,
        "expires_at": task.expires_at,
        "bucket": task.bucket,
        "key": task.key,
        "filename": task.filename,
        "lease_until": task.lease_until,
    }
    optional = {
        "size": task.size,
        "error": task.error.to_dict() if task.error else None,
        "last_error": task.last_error.to_dict() if task.last_error else None,
        "summary": task.summary,
        "result_key": task.result_key,
        "event_pending": task.event_pending or None,
        "event_lease": task.event_lease or None,
        "cancel_requested": task.cancel_requested or None,
        "run_at": task.run_at,
        "dispatched_at": task.dispatched_at,
        "started_at": task.started_at,
        "progress": task.progress,
        "notify": task.notify,
        "callback_url": task.callback_url,
        "outputs": task.outputs or None,
        "timeline": list(task.timeline) or None,
        "owner": task.owner,
    }
    item.update({name: value for name, value in optional.items() if value is not None})
    return {name: _to_dynamo(value) for name, value in item.items()}


def task_from_item(item: Mapping[str, Any]) -> Task:
    plain = _from_dynamo(item)
    return Task(
        task_id=plain["task_id"],
        status=TaskStatus(plain["status"]),
        created_at=plain["created_at"],
        updated_at=plain.get("updated_at", plain["created_at"]),
        expires_at=int(plain.get("expires_at", 0)),
        bucket=plain.get("bucket", ""),
        key=plain.get("key", ""),
        filename=plain.get("filename", ""),
        attempts=int(plain.get("attempts", 0)),
        size=plain.get("size"),
        lease_until=int(plain.get("lease_until", 0)),
        error=_error(plain.get("error")),
        last_error=_error(plain.get("last_error")),
        summary=plain.get("summary"),
        result_key=plain.get("result_key"),
        event_pending=bool(plain.get("event_pending", False)),
        event_lease=int(plain.get("event_lease", 0)),
        cancel_requested=bool(plain.get("cancel_requested", False)),
        run_at=plain.get("run_at"),
        dispatched_at=plain.get("dispatched_at"),
        started_at=plain.get("started_at"),
        progress=plain.get("progress"),
        notify=plain.get("notify"),
        callback_url=plain.get("callback_url"),
        email_sent_for=plain.get("email_sent_for"),
        webhook_delivered_for=plain.get("webhook_delivered_for"),
        webhook_attempts=plain.get("webhook_attempts"),
        outputs=plain.get("outputs"),
        exports=plain.get("exports"),
        timeline=tuple(plain.get("timeline") or ()),
        owner=plain.get("owner"),
    )


def _error(value: Any) -> TaskError | None:
    if not isinstance(value, dict):
        return None
    return TaskError(code=str(value.get("code", "")), message=str(value.get("message", "")))


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {name: _to_dynamo(item) for name, item in value.items()}
    if isinstance(value, list):
        return [_to_dynamo(item) for item in value]
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {name: _from_dynamo(item) for name, item in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(item) for item in value]
    return value
