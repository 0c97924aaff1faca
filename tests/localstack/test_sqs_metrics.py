"""The queue-age metric the extension's SQS provider adds to LocalStack's SQS metrics."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.aws import AwsClientFactory
from tests.support.waiting import wait_until

pytestmark = pytest.mark.localstack


def newest_datapoint(cloudwatch: Any, queue: str, metric: str) -> dict[str, Any] | None:
    now = datetime.now(UTC)
    points = cloudwatch.get_metric_statistics(
        Namespace="AWS/SQS",
        MetricName=metric,
        Dimensions=[{"Name": "QueueName", "Value": queue}],
        StartTime=now - timedelta(minutes=5),
        EndTime=now + timedelta(minutes=1),
        Period=10,
        Statistics=["Maximum"],
    )["Datapoints"]
    return max(points, key=lambda point: point["Timestamp"]) if points else None


def test_the_age_of_the_oldest_message_reaches_cloudwatch_and_resets_when_drained(
    aws: AwsClientFactory,
) -> None:
    sqs, cloudwatch = aws("sqs"), aws("cloudwatch")
    name = f"age-{uuid.uuid4().hex[:10]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    try:
        # Given a message nobody consumes
        sqs.send_message(QueueUrl=url, MessageBody="waiting")

        # Then the published age grows past ten seconds (the report interval is 10 s)
        aged = wait_until(
            lambda: (
                (point := newest_datapoint(cloudwatch, name, "ApproximateAgeOfOldestMessage"))
                and point["Maximum"] >= 10
                and point
            ),
            timeout=60,
            interval=2,
            what="ApproximateAgeOfOldestMessage >= 10 s",
        )
        assert aged["Unit"] == "Seconds"
        # And LocalStack's own depth metric is still published beside it
        depth = newest_datapoint(cloudwatch, name, "ApproximateNumberOfMessagesVisible")
        assert depth is not None and depth["Maximum"] == 1

        # When the message is consumed
        message = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"][0]
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        published_after = datetime.now(UTC)

        # Then the next reports say the queue has no old message
        wait_until(
            lambda: (
                (point := newest_datapoint(cloudwatch, name, "ApproximateAgeOfOldestMessage"))
                and point["Timestamp"] > published_after
                and point["Maximum"] == 0
            ),
            timeout=60,
            interval=2,
            what="ApproximateAgeOfOldestMessage back to 0",
        )
    finally:
        sqs.delete_queue(QueueUrl=url)
