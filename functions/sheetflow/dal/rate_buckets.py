"""Each API client's token bucket (logic/throttling.py), one item of the task table per key.

Read consistently, then written back only if nobody wrote it meanwhile (a version number in a
condition): two concurrent requests of one client never both spend the same token. A client's
next request in the same environment starts from the bucket this environment last wrote, without
reading it: the condition on the version proves it is still the stored one, and a write that
loses (another environment wrote since) reads and tries again. So a request costs one write, not
a read and a write. No `status` attribute, so the items stay out of the status index (listing,
cleanup); TTL removes a bucket a couple of days after its client's last request.
"""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from sheetflow.dal.clients import dynamodb_resource
from sheetflow.dal.errors import dependency_call, error_code
from sheetflow.logic.errors import TransientError
from sheetflow.logic.throttling import BucketState, ThrottledError

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_dynamodb.service_resource import Table

_PREFIX = "ratelimit#"
_KEEP_SECONDS = 2 * 24 * 3600
# Concurrent requests of one client that lost the race read again (a page makes five at once),
# after a random pause that grows with each loss, so that the losers do not collide again in step.
_TRIES = 10
_PAUSE_STEP_SECONDS = 0.02
# Buckets remembered per environment: one per recent client; the oldest is forgotten first.
_REMEMBERED = 1024


class RateBuckets:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name
        # owner -> (version, bucket) as this environment last wrote it
        self._written: dict[str, tuple[int, BucketState]] = {}

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
            remembered = self._written.pop(owner, None)
            version, state = remembered if remembered else self._read(key)
            try:
                taken = take(state)
            except ThrottledError:
                if remembered is None:
                    raise
                # Refused on what this environment wrote last: judge the stored bucket instead.
                version, state = self._read(key)
                taken = take(state)
            if self._write(key, version, taken, now):
                self._remember(owner, version + 1, taken)
                return taken
        raise TransientError(f"the rate bucket of {owner} kept changing under concurrent requests")

    def _read(self, key: str) -> tuple[int, BucketState | None]:
        with dependency_call("GetItem"):
            item = self._table.get_item(Key={"task_id": key}, ConsistentRead=True).get("Item")
        if not item:
            return 0, None
        state = BucketState(
            tokens=float(str(item["tokens"])),
            updated_at=float(str(item["updated_at"])),
            day=str(item["day"]),
            used_today=int(str(item["used_today"])),
        )
        return int(str(item["version"])), state

    def _write(self, key: str, version: int, taken: BucketState, now: float) -> bool:
        """Store `taken` as version + 1 if the stored bucket is still `version` (0: none)."""
        condition: dict[str, Any] = (
            {
                "ConditionExpression": "version = :read",
                "ExpressionAttributeValues": {":read": version},
            }
            if version
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
                return False
            raise TransientError(f"PutItem failed: {error_code(exc)}: {exc}") from exc
        except BotoCoreError as exc:
            raise TransientError(f"PutItem failed: {type(exc).__name__}: {exc}") from exc
        return True

    def _remember(self, owner: str, version: int, taken: BucketState) -> None:
        if len(self._written) >= _REMEMBERED:
            self._written.pop(next(iter(self._written)))
        self._written[owner] = (version, taken)
