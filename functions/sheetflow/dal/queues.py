"""SQS: task messages, retry visibility, queue depth."""

from __future__ import annotations

from dataclasses import dataclass

from sheetflow.dal.clients import sqs_client
from sheetflow.dal.errors import dependency_call


@dataclass(frozen=True)
class QueueDepth:
    visible: int
    in_flight: int
    delayed: int


def send(queue_url: str, body: str) -> str:
    with dependency_call("SendMessage"):
        response = sqs_client().send_message(QueueUrl=queue_url, MessageBody=body)
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
