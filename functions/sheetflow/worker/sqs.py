"""SQS calls of the polling loop: receive, delete, and change the visibility of held messages.

The Lambda never needs these (its event source mapping receives and deletes); they live with the
worker and go through the same clients and error translation as `sheetflow.dal`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sheetflow.dal.clients import sqs_client
from sheetflow.dal.errors import dependency_call

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import ChangeMessageVisibilityBatchRequestEntryTypeDef

# SQS takes at most ten entries per batch call.
_BATCH_LIMIT = 10


@dataclass(frozen=True)
class ReceivedMessage:
    message_id: str
    receipt_handle: str
    body: str
    receive_count: int


def receive(
    queue_url: str, max_messages: int, wait_seconds: int, visibility_seconds: int
) -> list[ReceivedMessage]:
    """One long poll; the messages come back invisible for `visibility_seconds`."""
    with dependency_call("ReceiveMessage"):
        response = sqs_client().receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=max_messages,
            WaitTimeSeconds=wait_seconds,
            VisibilityTimeout=visibility_seconds,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        )
    return [
        ReceivedMessage(
            message_id=message["MessageId"],
            receipt_handle=message["ReceiptHandle"],
            body=message.get("Body", ""),
            receive_count=int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1")),
        )
        for message in response.get("Messages", [])
    ]


def delete(queue_url: str, message: ReceivedMessage) -> None:
    with dependency_call("DeleteMessage"):
        sqs_client().delete_message(QueueUrl=queue_url, ReceiptHandle=message.receipt_handle)


def set_visibility(queue_url: str, messages: Sequence[ReceivedMessage], seconds: int) -> list[str]:
    """Make held messages invisible for `seconds` from now (0 hands them back to the queue).

    Returns the ids SQS refused, typically messages deleted or already visible again meanwhile.
    """
    refused: list[str] = []
    for start in range(0, len(messages), _BATCH_LIMIT):
        chunk = messages[start : start + _BATCH_LIMIT]
        entries: list[ChangeMessageVisibilityBatchRequestEntryTypeDef] = [
            {
                "Id": str(index),
                "ReceiptHandle": message.receipt_handle,
                "VisibilityTimeout": seconds,
            }
            for index, message in enumerate(chunk)
        ]
        with dependency_call("ChangeMessageVisibilityBatch"):
            response = sqs_client().change_message_visibility_batch(
                QueueUrl=queue_url, Entries=entries
            )
        failures = response.get("Failed", [])
        refused.extend(chunk[int(failure["Id"])].message_id for failure in failures)
    return refused
