"""Triggers the product relies on: SQS event source mappings, S3 notifications, schedules."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from typing import Any

import pytest

from tests.support.aws import AwsClientFactory
from tests.support.lambdas import FunctionFactory, recorded, source_zip
from tests.support.waiting import wait_until

pytestmark = pytest.mark.localstack


def create_queue(
    aws: AwsClientFactory, attributes: dict[str, str] | None = None
) -> tuple[str, str]:
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName=f"q-{uuid.uuid4().hex[:10]}", Attributes=attributes or {})[
        "QueueUrl"
    ]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return url, arn


def map_queue_to_function(aws: AwsClientFactory, queue_arn: str, function: str) -> str:
    lambda_client = aws("lambda")
    mapping = lambda_client.create_event_source_mapping(
        EventSourceArn=queue_arn,
        FunctionName=function,
        BatchSize=10,
        MaximumBatchingWindowInSeconds=1,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )
    uuid_ = mapping["UUID"]
    wait_until(
        lambda: lambda_client.get_event_source_mapping(UUID=uuid_)["State"] == "Enabled",
        timeout=30,
        what="the event source mapping to be enabled",
    )
    return str(uuid_)


def test_sqs_messages_reach_the_function_in_batches(
    aws: AwsClientFactory, create_function: FunctionFactory, record_table: str
) -> None:
    # Given a function subscribed to a queue, with a batching window
    function = create_function(
        code=source_zip("recorder"),
        handler="recorder.handler",
        environment={"RECORD_TABLE": record_table},
    )
    queue_url, queue_arn = create_queue(aws)
    mapping = map_queue_to_function(aws, queue_arn, function)
    # When five messages are sent at once
    aws("sqs").send_message_batch(
        QueueUrl=queue_url,
        Entries=[{"Id": str(i), "MessageBody": f"message-{i}"} for i in range(5)],
    )
    # Then each is delivered exactly once, several of them in one invocation
    records = wait_until(
        lambda: r if len(r := recorded(aws, record_table)) >= 5 else None,
        timeout=30,
        what="five delivered messages",
    )
    assert sorted(r["body"] for r in records) == [f"message-{i}" for i in range(5)]
    assert max(int(r["batch_size"]) for r in records) > 1
    aws("lambda").delete_event_source_mapping(UUID=mapping)


def test_failed_items_alone_are_retried_then_dead_lettered(
    aws: AwsClientFactory, create_function: FunctionFactory, record_table: str
) -> None:
    # Given a queue whose messages go to a dead-letter queue after 3 receives
    _, dlq_arn = create_queue(aws)
    dlq_url = aws("sqs").get_queue_url(QueueName=dlq_arn.rsplit(":", 1)[1])["QueueUrl"]
    queue_url, queue_arn = create_queue(
        aws,
        {
            "VisibilityTimeout": "1",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"}),
        },
    )
    function = create_function(
        code=source_zip("recorder"),
        handler="recorder.handler",
        environment={"RECORD_TABLE": record_table},
    )
    mapping = map_queue_to_function(aws, queue_arn, function)
    # When a batch holds two good messages and one that always fails
    aws("sqs").send_message_batch(
        QueueUrl=queue_url,
        Entries=[
            {"Id": "a", "MessageBody": "good-a"},
            {"Id": "b", "MessageBody": "good-b"},
            {"Id": "c", "MessageBody": "please-fail"},
        ],
    )

    # Then the failing message lands in the dead-letter queue...
    def dead_lettered() -> list[dict[str, Any]] | None:
        messages = aws("sqs").receive_message(QueueUrl=dlq_url, WaitTimeSeconds=1).get("Messages")
        return messages or None

    messages = wait_until(dead_lettered, timeout=60, what="the failing message in the DLQ")
    assert [m["Body"] for m in messages] == ["please-fail"]
    # ...after exactly maxReceiveCount deliveries, while the good ones were delivered once
    deliveries = Counter(r["body"] for r in recorded(aws, record_table))
    assert deliveries == {"good-a": 1, "good-b": 1, "please-fail": 3}
    aws("lambda").delete_event_source_mapping(UUID=mapping)


def test_s3_notifications_respect_prefix_and_suffix(aws: AwsClientFactory) -> None:
    # Given a bucket that notifies a queue of new uploads/*.xlsx objects
    s3, sqs = aws("s3"), aws("sqs")
    bucket = f"uploads-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    queue_url, queue_arn = create_queue(aws)
    sqs.set_queue_attributes(
        QueueUrl=queue_url,
        Attributes={
            "Policy": json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "s3.amazonaws.com"},
                            "Action": "sqs:SendMessage",
                            "Resource": queue_arn,
                            "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{bucket}"}},
                        }
                    ],
                }
            )
        },
    )
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {
                        "Key": {
                            "FilterRules": [
                                {"Name": "prefix", "Value": "uploads/"},
                                {"Name": "suffix", "Value": ".xlsx"},
                            ]
                        }
                    },
                }
            ],
        },
    )
    # When objects are put that do not match, then two that do
    for key in ("uploads/skip.csv", "other/skip.xlsx", "uploads/first.xlsx", "uploads/last.xlsx"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"data")

    # Then only the matching keys are notified (after S3's test event)
    notified: list[str] = []
    test_events = 0

    def drain() -> bool:
        nonlocal test_events
        for message in sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", []):
            body = json.loads(message["Body"])
            if body.get("Event") == "s3:TestEvent":
                test_events += 1
            notified.extend(r["s3"]["object"]["key"] for r in body.get("Records", []))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        # Notifications are not ordered: wait for both matching objects, whatever comes first
        return {"uploads/first.xlsx", "uploads/last.xlsx"} <= set(notified)

    wait_until(drain, timeout=60, what="the notifications of both matching objects")
    assert sorted(notified) == ["uploads/first.xlsx", "uploads/last.xlsx"]
    assert test_events == 1


@pytest.mark.slow
def test_a_schedule_rule_invokes_a_function(
    aws: AwsClientFactory, create_function: FunctionFactory, record_table: str
) -> None:
    # Given a function targeted by an EventBridge rule with a one-minute schedule
    function = create_function(
        code=source_zip("recorder"),
        handler="recorder.handler",
        environment={"RECORD_TABLE": record_table},
    )
    function_arn = aws("lambda").get_function(FunctionName=function)["Configuration"]["FunctionArn"]
    events = aws("events")
    rule = f"every-minute-{uuid.uuid4().hex[:8]}"
    rule_arn = events.put_rule(Name=rule, ScheduleExpression="rate(1 minute)")["RuleArn"]
    aws("lambda").add_permission(
        FunctionName=function,
        StatementId="events",
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
        SourceArn=rule_arn,
    )
    events.put_targets(Rule=rule, Targets=[{"Id": "recorder", "Arn": function_arn}])
    # Then within a little over a minute the function receives a Scheduled Event
    records = wait_until(
        lambda: recorded(aws, record_table), timeout=90, interval=1, what="the scheduled invocation"
    )
    event = json.loads(records[0]["body"])
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert rule_arn in event["resources"]
    events.remove_targets(Rule=rule, Ids=["recorder"])
    events.delete_rule(Name=rule)
