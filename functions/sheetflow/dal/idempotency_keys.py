"""Idempotency-Key records, kept as items of the task table under their own key prefix
(logic/idempotency.py). No `status` attribute: they stay out of the status index, so listing
and cleanup never see them; `expires_at` lets the table's TTL remove them, and reads ignore an
expired one (TTL deletion may lag by hours)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.conditions import Attr
from botocore.exceptions import ClientError

from sheetflow.dal.clients import dynamodb_resource
from sheetflow.dal.errors import dependency_call, error_code
from sheetflow.logic.errors import TransientError
from sheetflow.logic.idempotency import KeyRecord, StoredAnswer

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


class IdempotencyKeys:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    @property
    def _table(self) -> Table:
        return dynamodb_resource().Table(self.table_name)

    def claim(
        self, record_key: str, fingerprint: str, now: int, ttl: int, claim_seconds: int
    ) -> KeyRecord | None:
        """Take the key for this request (None) or, when a live record holds it, that record.

        One conditional write: of two concurrent first requests, exactly one claims the key. A
        record counts as absent once expired, or when its request never finished (no answer)
        and its claim lapsed."""
        condition = (
            Attr("task_id").not_exists()
            | Attr("expires_at").lt(now)
            | (Attr("answer").not_exists() & Attr("claimed_until").lt(now))
        )
        # Twice at most: a record deleted between the write and the read (its first request
        # failed) is claimed on the second pass.
        for _ in range(2):
            with dependency_call("PutItem"):
                try:
                    self._table.put_item(
                        Item={
                            "task_id": record_key,
                            "fingerprint": fingerprint,
                            "expires_at": now + ttl,
                            "claimed_until": now + claim_seconds,
                        },
                        ConditionExpression=condition,
                    )
                    return None
                except ClientError as exc:
                    if error_code(exc) != "ConditionalCheckFailedException":
                        raise
            with dependency_call("GetItem"):
                item = self._table.get_item(Key={"task_id": record_key}, ConsistentRead=True).get(
                    "Item"
                )
            if item:
                return _record(item)
        raise TransientError(f"The idempotency record {record_key} kept changing; retry.")

    def answer(self, record_key: str, answer: StoredAnswer) -> None:
        """The first request's answer, replayed to every retry."""
        stored = json.dumps(
            {"status": answer.status, "body": answer.body, "headers": answer.headers}
        )
        with dependency_call("UpdateItem"):
            self._table.update_item(
                Key={"task_id": record_key},
                UpdateExpression="SET answer = :answer",
                ExpressionAttributeValues={":answer": stored},
            )

    def release(self, record_key: str) -> None:
        """The first request failed: a retry may try again."""
        with dependency_call("DeleteItem"):
            self._table.delete_item(Key={"task_id": record_key})


def _record(item: dict[str, Any]) -> KeyRecord:
    answer = None
    if "answer" in item:
        stored = json.loads(str(item["answer"]))
        answer = StoredAnswer(int(stored["status"]), str(stored["body"]), dict(stored["headers"]))
    return KeyRecord(
        fingerprint=str(item["fingerprint"]),
        answer=answer,
        expires_at=int(item["expires_at"]),
        claimed_until=int(item["claimed_until"]),
    )
