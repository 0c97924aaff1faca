"""SQS: task messages, retry visibility, queue depth, and the polling worker's receive, delete
and visibility calls (the Lambda's event source mapping makes those for it)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
)

from sheetflow.dal.clients import sqs_client
from sheetflow.dal.errors import dependency_call, error_code
from sheetflow.logic.messages import PARKED_ATTRIBUTE

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import (
        ChangeMessageVisibilityBatchRequestEntryTypeDef,
        DeleteMessageBatchRequestEntryTypeDef,
    )

# SQS takes at most ten entries per batch call.
_BATCH_LIMIT = 10


@dataclass(frozen=True)
class QueueDepth:
    visible: int
    in_flight: int
    delayed: int


def send(
    queue_url: str, body: str, delay_seconds: int = 0, attributes: dict[str, str] | None = None
) -> str:
    """Send one message, invisible for `delay_seconds` (0 to 900) after it is sent, with string
    message `attributes`."""
    with dependency_call("SendMessage"):
        response = sqs_client().send_message(
            QueueUrl=queue_url,
            MessageBody=body,
            DelaySeconds=delay_seconds,
            MessageAttributes={
                name: {"DataType": "String", "StringValue": value}
                for name, value in (attributes or {}).items()
            },
        )
    return response["MessageId"]


def delay_retry(queue_url: str, receipt_handle: str, seconds: int) -> None:
    """Keep a failed message invisible for `seconds` before its next delivery."""
    with dependency_call("ChangeMessageVisibility"):
        sqs_client().change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
        )


def depth(queue_url: str) -> QueueDepth:
    with dependency_call("GetQueueAttributes"):
        attributes = sqs_client().get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
    return QueueDepth(
        visible=int(attributes.get("ApproximateNumberOfMessages", 0)),
        in_flight=int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
        delayed=int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
    )


@dataclass(frozen=True)
class ReceivedMessage:
    message_id: str
    receipt_handle: str
    body: str
    receive_count: int
    # Whether it came back from the failed-tasks queue (PARKED_ATTRIBUTE): a redrive.
    redriven: bool = False


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
            MessageAttributeNames=[PARKED_ATTRIBUTE],
        )
    return [
        ReceivedMessage(
            message_id=message["MessageId"],
            receipt_handle=message["ReceiptHandle"],
            body=message.get("Body", ""),
            receive_count=int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1")),
            redriven=PARKED_ATTRIBUTE in message.get("MessageAttributes", {}),
        )
        for message in response.get("Messages", [])
    ]


def delete(queue_url: str, messages: Sequence[ReceivedMessage]) -> list[str]:
    """Delete processed messages; the ids SQS refused (a receipt handle that expired because the
    message was delivered again meanwhile)."""

    def delete_chunk(chunk: Sequence[ReceivedMessage]) -> Mapping[str, Any]:
        entries: list[DeleteMessageBatchRequestEntryTypeDef] = [
            {"Id": str(index), "ReceiptHandle": message.receipt_handle}
            for index, message in enumerate(chunk)
        ]
        return sqs_client().delete_message_batch(QueueUrl=queue_url, Entries=entries)

    return _in_batches(messages, "DeleteMessageBatch", delete_chunk)


def set_visibility(queue_url: str, messages: Sequence[ReceivedMessage], seconds: int) -> list[str]:
    """Make held messages invisible for `seconds` from now (0 hands them back to the queue).

    Returns the ids SQS refused, typically messages deleted or already visible again meanwhile.
    """

    def change_chunk(chunk: Sequence[ReceivedMessage]) -> Mapping[str, Any]:
        entries: list[ChangeMessageVisibilityBatchRequestEntryTypeDef] = [
            {
                "Id": str(index),
                "ReceiptHandle": message.receipt_handle,
                "VisibilityTimeout": seconds,
            }
            for index, message in enumerate(chunk)
        ]
        return sqs_client().change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)

    return _in_batches(messages, "ChangeMessageVisibilityBatch", change_chunk)


def _in_batches(
    messages: Sequence[ReceivedMessage],
    operation: str,
    call: Callable[[Sequence[ReceivedMessage]], Mapping[str, Any]],
) -> list[str]:
    """Run a batch call over the messages, at most _BATCH_LIMIT per call, each entry's Id its
    index in the call; the ids of the messages SQS refused."""
    refused: list[str] = []
    for start in range(0, len(messages), _BATCH_LIMIT):
        chunk = messages[start : start + _BATCH_LIMIT]
        with dependency_call(operation):
            response = call(chunk)
        refused.extend(
            chunk[int(failure["Id"])].message_id for failure in response.get("Failed", [])
        )
    return refused


_MISSING_QUEUE_CODES = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})


class QueueUnusableError(RuntimeError):
    """The queue cannot be used at all; the message says why and what to do."""


def check_usable(queue_url: str) -> None:
    """Is the endpoint reachable and does the queue exist? QueueUnusableError says why not and
    what to do."""
    try:
        sqs_client().get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    except EndpointConnectionError as exc:
        where = os.environ.get("AWS_ENDPOINT_URL") or "the AWS endpoint"
        raise QueueUnusableError(
            f"cannot reach {where} ({exc}); check AWS_ENDPOINT_URL and that the service is up"
        ) from None
    except NoCredentialsError:
        raise QueueUnusableError(
            "no AWS credentials found; set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a role"
        ) from None
    except ClientError as exc:
        if error_code(exc) in _MISSING_QUEUE_CODES:
            raise QueueUnusableError(
                f"queue {queue_url} does not exist; set QUEUE_URL to the stack's QueueUrl output"
            ) from None
        raise QueueUnusableError(
            f"cannot use queue {queue_url}: {error_code(exc)}: {exc}"
        ) from None
    except BotoCoreError as exc:
        raise QueueUnusableError(f"cannot use queue {queue_url}: {exc}") from None
