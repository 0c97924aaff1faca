"""SQS: the parked dead letters (FailedTasksQueue): a look without consuming, and the redrive.

The redrive uses SQS's StartMessageMoveTask, naming the destination (LocalStack's move task
needs it named); when the move task is refused or does not settle, messages are moved by hand
(receive, send, delete), deleting only what reached the destination.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from sheetflow.dal.clients import sqs_client
from sheetflow.dal.errors import dependency_call, error_code

PEEK_LIMIT = 10
_SETTLED = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
NATIVE = "StartMessageMoveTask"
BY_HAND = "receive, send and delete"


@dataclass(frozen=True)
class ParkedLetter:
    message_id: str
    body: str
    sent_at_ms: int
    receive_count: int


@dataclass(frozen=True)
class MoveResult:
    moved: int
    method: str
    note: str = ""


def peek(queue_url: str, limit: int = PEEK_LIMIT) -> list[ParkedLetter]:
    """Up to `limit` parked messages, left where they are.

    VisibilityTimeout=0 makes each received message visible again at once, so nothing is taken
    from the queue (the queue has no redrive policy, so the extra receives move nothing).
    """
    with dependency_call("ReceiveMessage"):
        messages = (
            sqs_client()
            .receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=min(limit, 10),
                VisibilityTimeout=0,
                WaitTimeSeconds=0,
                MessageSystemAttributeNames=["SentTimestamp", "ApproximateReceiveCount"],
            )
            .get("Messages", [])
        )
    letters: dict[str, ParkedLetter] = {}
    for message in messages:
        attributes = message.get("Attributes", {})
        letters[message["MessageId"]] = ParkedLetter(
            message_id=message["MessageId"],
            body=message.get("Body", ""),
            sent_at_ms=int(attributes.get("SentTimestamp", 0)),
            receive_count=int(attributes.get("ApproximateReceiveCount", 0)),
        )
    return list(letters.values())


def queue_arn(queue_url: str) -> str:
    with dependency_call("GetQueueAttributes"):
        attributes = sqs_client().get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]
    return str(attributes["QueueArn"])


def move_all(source_url: str, destination_url: str, wait_seconds: float) -> MoveResult:
    """Move every message from source to destination; waits up to `wait_seconds` for SQS's move
    task before moving by hand."""
    source_arn, destination_arn = queue_arn(source_url), queue_arn(destination_url)
    try:
        moved = _move_with_task(source_arn, destination_arn, wait_seconds)
    except _MoveTaskUnavailableError as unavailable:
        moved = _move_by_hand(source_url, destination_url)
        return MoveResult(moved, BY_HAND, f"{NATIVE} unavailable: {unavailable}")
    return MoveResult(moved, NATIVE)


class _MoveTaskUnavailableError(Exception):
    pass


def _move_with_task(source_arn: str, destination_arn: str, wait_seconds: float) -> int:
    sqs = sqs_client()
    started_after_ms = int(time.time() * 1000) - 1000
    try:
        sqs.start_message_move_task(SourceArn=source_arn, DestinationArn=destination_arn)
    except ClientError as exc:
        raise _MoveTaskUnavailableError(error_code(exc) or str(exc)) from exc
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        with dependency_call("ListMessageMoveTasks"):
            results = sqs.list_message_move_tasks(SourceArn=source_arn, MaxResults=10)["Results"]
        ours = [
            task for task in results if int(task.get("StartedTimestamp", 0)) >= started_after_ms
        ]
        latest: Any = max(ours, key=lambda task: int(task.get("StartedTimestamp", 0)), default=None)
        if latest is not None and latest.get("Status") in _SETTLED:
            if latest["Status"] != "COMPLETED":
                reason = latest.get("FailureReason", latest["Status"])
                raise _MoveTaskUnavailableError(f"the move task ended {latest['Status']}: {reason}")
            return int(latest.get("ApproximateNumberOfMessagesMoved", 0))
        time.sleep(0.2)
    raise _MoveTaskUnavailableError(f"the move task did not finish within {wait_seconds:.0f} s")


def _move_by_hand(source_url: str, destination_url: str) -> int:
    sqs = sqs_client()
    moved = 0
    while True:
        with dependency_call("ReceiveMessage"):
            messages = sqs.receive_message(
                QueueUrl=source_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=0,
                VisibilityTimeout=60,
                MessageAttributeNames=["All"],
            ).get("Messages", [])
        if not messages:
            return moved
        entries: list[Any] = [
            {"Id": str(index), "MessageBody": message["Body"]}
            | (
                {"MessageAttributes": message["MessageAttributes"]}
                if message.get("MessageAttributes")
                else {}
            )
            for index, message in enumerate(messages)
        ]
        with dependency_call("SendMessageBatch"):
            sent = sqs.send_message_batch(QueueUrl=destination_url, Entries=entries)
        delivered = {entry["Id"] for entry in sent.get("Successful", [])}
        if not delivered:
            return moved
        with dependency_call("DeleteMessageBatch"):
            sqs.delete_message_batch(
                QueueUrl=source_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                    for index, message in enumerate(messages)
                    if str(index) in delivered
                ],
            )
        moved += len(delivered)
        if len(delivered) < len(messages):
            return moved
