"""Moving messages from the dead-letter queue back to the task queue.

SQS's own StartMessageMoveTask is used when it works; otherwise the messages are moved by hand
(receive, send, delete), which is what LocalStack needs if it lacks the API or the task fails.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

MOVE_TASK_TIMEOUT_SECONDS = 30.0
SETTLED = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
NATIVE = "SQS StartMessageMoveTask"
BY_HAND = "receive, send and delete"


@dataclass(frozen=True)
class RedriveResult:
    moved: int
    method: str
    note: str = ""


def queue_arn(sqs: Any, queue_url: str) -> str:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    return str(attributes["Attributes"]["QueueArn"])


def redrive(sqs: Any, dlq_url: str, destination_url: str) -> RedriveResult:
    source_arn = queue_arn(sqs, dlq_url)
    # The destination is always named: LocalStack's move task fails (AttributeError) when left
    # to find the source queue itself, as AWS would.
    destination_arn = queue_arn(sqs, destination_url)
    try:
        moved = _move_with_task(sqs, source_arn, destination_arn)
    except MoveTaskUnavailableError as unavailable:
        moved = move_by_hand(sqs, dlq_url, destination_url)
        return RedriveResult(moved, BY_HAND, f"StartMessageMoveTask unavailable: {unavailable}")
    return RedriveResult(moved, NATIVE)


class MoveTaskUnavailableError(Exception):
    pass


def _move_with_task(sqs: Any, source_arn: str, destination_arn: str) -> int:
    started_after_ms = int(time.time() * 1000) - 1000
    try:
        sqs.start_message_move_task(SourceArn=source_arn, DestinationArn=destination_arn)
    except ClientError as error:
        raise MoveTaskUnavailableError(error.response["Error"].get("Code", str(error))) from error
    deadline = time.monotonic() + MOVE_TASK_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        latest = _latest_task(sqs, source_arn, started_after_ms)
        if latest is not None and latest["Status"] in SETTLED:
            if latest["Status"] != "COMPLETED":
                reason = latest.get("FailureReason", latest["Status"])
                raise MoveTaskUnavailableError(f"the move task ended {latest['Status']}: {reason}")
            return int(latest.get("ApproximateNumberOfMessagesMoved", 0))
        time.sleep(0.2)
    raise MoveTaskUnavailableError(f"the move task did not finish in {MOVE_TASK_TIMEOUT_SECONDS} s")


def _latest_task(sqs: Any, source_arn: str, started_after_ms: int) -> dict[str, Any] | None:
    results = sqs.list_message_move_tasks(SourceArn=source_arn, MaxResults=10).get("Results", [])
    ours = [task for task in results if int(task.get("StartedTimestamp", 0)) >= started_after_ms]
    return max(ours, key=lambda task: int(task["StartedTimestamp"]), default=None)


def move_by_hand(sqs: Any, source_url: str, destination_url: str) -> int:
    """Receive a batch, send it on, delete it from the source; until the source is empty."""
    moved = 0
    while True:
        messages = sqs.receive_message(
            QueueUrl=source_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            VisibilityTimeout=60,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return moved
        entries = [
            {
                "Id": str(index),
                "MessageBody": message["Body"],
                **(
                    {"MessageAttributes": message["MessageAttributes"]}
                    if message.get("MessageAttributes")
                    else {}
                ),
            }
            for index, message in enumerate(messages)
        ]
        sent = sqs.send_message_batch(QueueUrl=destination_url, Entries=entries)
        delivered = {entry["Id"] for entry in sent.get("Successful", [])}
        if not delivered:
            return moved
        # Only what reached the destination leaves the source: nothing is lost on a failure.
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
