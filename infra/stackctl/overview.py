"""The deployed stack at a glance: tasks by status, queue and dead-letter queue depths."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sheetflow.dal.tasks import STATUS_INDEX
from sheetflow.logic.task import TaskStatus
from stackctl import aws, stack
from stackctl.stack import StackOutputs

# In the order a task moves through them (the enum's declaration order).
TASK_STATUSES = tuple(TaskStatus)


@dataclass(frozen=True)
class QueueDepth:
    name: str
    waiting: int
    in_flight: int
    delayed: int


def task_counts(outputs: StackOutputs) -> dict[str, int]:
    """Counts per status from the table's status index (a COUNT query per status, no scan)."""
    dynamodb = aws.client("dynamodb")
    return {status: _count(dynamodb, outputs["TableName"], status) for status in TASK_STATUSES}


def _count(dynamodb: Any, table: str, status: str) -> int:
    total = 0
    request: dict[str, Any] = {
        "TableName": table,
        "IndexName": STATUS_INDEX,
        "KeyConditionExpression": "#status = :status",
        "ExpressionAttributeNames": {"#status": "status"},  # a reserved word
        "ExpressionAttributeValues": {":status": {"S": status}},
        "Select": "COUNT",
    }
    while True:
        page = dynamodb.query(**request)
        total += int(page.get("Count", 0))
        if "LastEvaluatedKey" not in page:
            return total
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def queue_depth(queue_url: str) -> QueueDepth:
    attributes = aws.client("sqs").get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return QueueDepth(
        name=queue_url.rstrip("/").rsplit("/", 1)[-1],
        waiting=int(attributes.get("ApproximateNumberOfMessages", 0)),
        in_flight=int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
        delayed=int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
    )


def overview_lines(outputs: StackOutputs) -> list[str]:
    counts = task_counts(outputs)
    width = max(len(status) for status in TASK_STATUSES)
    lines = [f"Stack {stack.stack_name()}: deployed; API {outputs.api_base_url}", "Tasks:"]
    lines += [f"  {status:<{width}}  {counts[status]:>6,}" for status in TASK_STATUSES]
    lines.append(f"  {'total':<{width}}  {sum(counts.values()):>6,}")
    lines.append("Queues:")
    queues = (("queue", "QueueUrl"), ("DLQ", "DlqUrl"), ("failed", "FailedQueueUrl"))
    for label, url_output in queues:
        depth = queue_depth(outputs[url_output])
        lines.append(
            f"  {label:<6}  {depth.waiting} waiting, {depth.in_flight} in flight, "
            f"{depth.delayed} delayed  ({depth.name})"
        )
    return lines
