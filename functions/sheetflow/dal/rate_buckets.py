"""Each API client's token bucket (logic/throttling.py), one item of the task table per key.

Read consistently, then written back only if nobody wrote it meanwhile (a version number in a
condition): two concurrent requests of one client never both spend the same token. No `status`
attribute, so the items stay out of the status index (listing, cleanup); TTL removes a bucket a
couple of days after its client's last request.
"""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from sheetflow.dal.clients import dynamodb_resource
from sheetflow.dal.errors import dependency_call, error_code
from sheetflow.logic.errors import TransientError
from sheetflow.logic.throttling import BucketState

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_dynamodb.service_resource import Table

_PREFIX = "ratelimit#"
_KEEP_SECONDS = 2 * 24 * 3600
# Concurrent requests of one client that lost the race read again (a page makes five at once),
# after a random pause that grows with each loss, so that the losers do not collide again in step.
_TRIES = 10
_PAUSE_STEP_SECONDS = 0.02


class RateBuckets:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    @property
    def _table(self) -> Table:
        return dynamodb_resource().Table(self.table_name)

    def spend(
        self, owner: str, now: float, take: Callable[[BucketState | None], BucketState]
    ) -> BucketState:
        """Applies `take` to the owner's bucket and stores the result atomically; whatever
        `take` raises (a ThrottledError) leaves the bucket as it was."""
        key = f"{_PREFIX}{owner}"
        for attempt in range(_TRIES):
            if attempt:
                # Jitter, not a secret: the standard generator is right here.
                time.sleep(random.uniform(0, _PAUSE_STEP_SECONDS * attempt))  # nosec B311
            with dependency_call("GetItem"):
                item = self._table.get_item(Key={"task_id": key}, ConsistentRead=True).get("Item")
            version = int(str(item["version"])) if item else 0
            state = (
                BucketState(
                    tokens=float(str(item["tokens"])),
                    updated_at=float(str(item["updated_at"])),
                    day=str(item["day"]),
                    used_today=int(str(item["used_today"])),
                )
                if item
                else None
            )
            taken = take(state)
            condition: dict[str, Any] = (
                {
                    "ConditionExpression": "version = :read",
                    "ExpressionAttributeValues": {":read": version},
                }
                if item
                else {"ConditionExpression": "attribute_not_exists(task_id)"}
            )
            try:
                self._table.put_item(
                    Item={
                        "task_id": key,
                        # Strings keep full precision without Decimal context rules.
                        "tokens": repr(taken.tokens),
                        "updated_at": repr(taken.updated_at),
                        "day": taken.day,
                        "used_today": taken.used_today,
                        "version": version + 1,
                        "expires_at": int(now) + _KEEP_SECONDS,
                    },
                    **condition,
                )
            except ClientError as exc:
                if error_code(exc) == "ConditionalCheckFailedException":
                    continue
                raise TransientError(f"PutItem failed: {error_code(exc)}: {exc}") from exc
            except BotoCoreError as exc:
                raise TransientError(f"PutItem failed: {type(exc).__name__}: {exc}") from exc
            return taken
        raise TransientError(f"the rate bucket of {owner} kept changing under concurrent requests")
