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
    ) -> TaskPage:
        condition: Any = Key("status").eq(status.value)
        if created_before is not None:
            condition = condition & Key("created_at").lt(created_before)
        arguments: dict[str, Any] = {
            "IndexName": STATUS_INDEX,
            "KeyConditionExpression": condition,
            "Limit": limit,
            "ScanIndexForward": not newest_first,
        }
        if start_key:
            arguments["ExclusiveStartKey"] = dict(start_key)
        with dependency_call("Query"):
            response = self._table.query(**arguments)
        last = response.get("LastEvaluatedKey")
        return TaskPage(
            tasks=[task_from_item(item) for item in response.get("Items", [])],
            last_key={name: str(value) for name, value in last.items()} if last else None,
        )

    def check_reachable(self) -> None:
        with dependency_call("DescribeTable"):
            self._table.meta.client.describe_table(TableName=self.table_name)

    # --- writes ------------------------------------------------------------------------------

    def create(self, task: Task) -> bool:
        """Insert a new task; False when one with this id exists already."""
        return self._conditional(
            "PutItem",
            lambda: self._table.put_item(
                Item=task_to_item(task), ConditionExpression=Attr("task_id").not_exists()
            ),
        )

    def mark_queued(self, task_id: str, size: int | None, now: datetime) -> bool:
        """AWAITING_UPLOAD -> QUEUED once the presigned upload has arrived."""
        values: dict[str, Any] = {"status": TaskStatus.QUEUED.value, "updated_at": isoformat(now)}
        if size is not None:
            values["size"] = size
        return self._update(task_id, values, Attr("status").eq(TaskStatus.AWAITING_UPLOAD.value))

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
            removed = ("error",)
        values = {
            "status": TaskStatus.PROCESSING.value,
            "attempts": task.attempts + 1,
            "lease_until": lease_until,
            "updated_at": isoformat(now),
        }
        if not self._update(task.task_id, values, condition, remove=removed):
            return None
        return replace(
            task,
            status=TaskStatus.PROCESSING,
            attempts=task.attempts + 1,
            lease_until=lease_until,
            updated_at=isoformat(now),
            error=None,
        )

    def succeed(
        self,
        task_id: str,
        *,
        attempt: int,
        summary: dict[str, Any],
        result_key: str,
        size: int,
        now: datetime,
    ) -> bool:
        values = {
            "status": TaskStatus.SUCCEEDED.value,
            "summary": summary,
            "result_key": result_key,
            "size": size,
            "lease_until": 0,
            "updated_at": isoformat(now),
        }
        # A redriven task that succeeds carries no error from its earlier failure.
        return self._update(task_id, values, self._own_attempt(attempt), remove=("error",))

    def fail_attempt(self, task_id: str, attempt: int, error: TaskError, now: datetime) -> bool:
        """PROCESSING (this attempt) -> FAILED."""
        values = {
            "status": TaskStatus.FAILED.value,
            "error": error.to_dict(),
            "lease_until": 0,
            "updated_at": isoformat(now),
        }
        return self._update(task_id, values, self._own_attempt(attempt))

    def fail_unfinished(self, task_id: str, error: TaskError, now: datetime) -> bool:
        """Any unfinished status -> FAILED (the dead-letter path)."""
        values = {
            "status": TaskStatus.FAILED.value,
            "error": error.to_dict(),
            "lease_until": 0,
            "updated_at": isoformat(now),
        }
        return self._update(task_id, values, Attr("status").is_in(_UNFINISHED))

    def release(self, task_id: str, attempt: int, last_error: TaskError, now: datetime) -> bool:
        """Give up this attempt's lease after a transient failure so a redelivery can retry."""
        values = {
            "lease_until": 0,
            "last_error": last_error.to_dict(),
            "updated_at": isoformat(now),
        }
        return self._update(task_id, values, self._own_attempt(attempt))

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
    ) -> bool:
        # boto3's condition builder uses #n<i>/:v<i> placeholders: ours must differ.
        names = {f"#set{index}": name for index, name in enumerate(values)}
        assignments = ", ".join(f"{alias} = :set{index}" for index, alias in enumerate(names))
        expression = f"SET {assignments}"
        if remove:
            removed = {f"#rm{index}": name for index, name in enumerate(remove)}
            names.update(removed)
            expression += " REMOVE " + ", ".join(removed)
        expression_values = {
            f":set{index}": _to_dynamo(value) for index, value in enumerate(values.values())
        }
        return self._conditional(
            "UpdateItem",
            lambda: self._table.update_item(
                Key={"task_id": task_id},
                UpdateExpression=expression,
                ConditionExpression=condition & Attr("task_id").exists(),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=expression_values,
            ),
        )

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
