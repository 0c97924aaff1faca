"""A subscriber for tests: a rule on an event bus with an SQS queue as its target."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.support.waiting import wait_until


@dataclass
class BusTap:
    """Everything matching `pattern` on the bus lands in a queue of the test's own."""

    sqs: Any
    queue_url: str
    seen: list[dict[str, Any]] = field(default_factory=list)

    def drain(self) -> list[dict[str, Any]]:
        """Receive what has arrived so far (kept in `seen`)."""
        while True:
            messages = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not messages:
                return self.seen
            for message in messages:
                self.seen.append(json.loads(message["Body"]))
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )

    def wait_for(self, count: int, timeout: float, what: str) -> list[dict[str, Any]]:
        return wait_until(
            lambda: self.drain() if len(self.drain()) >= count else None,
            timeout=timeout,
            interval=0.2,
            what=what,
        )


@contextmanager
def tapped(aws: Any, bus_name: str, pattern: dict[str, Any]) -> Iterator[BusTap]:
    events, sqs = aws("events"), aws("sqs")
    suffix = uuid.uuid4().hex[:10]
    queue_url = sqs.create_queue(QueueName=f"bus-tap-{suffix}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    rule = f"bus-tap-{suffix}"
    events.put_rule(Name=rule, EventBusName=bus_name, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=rule, EventBusName=bus_name, Targets=[{"Id": "tap", "Arn": queue_arn}])
    try:
        yield BusTap(sqs=sqs, queue_url=queue_url)
    finally:
        events.remove_targets(Rule=rule, EventBusName=bus_name, Ids=["tap"])
        events.delete_rule(Name=rule, EventBusName=bus_name)
        sqs.delete_queue(QueueUrl=queue_url)
