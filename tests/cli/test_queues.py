"""Commands that move messages between queues: checked with the queues' consumers paused, so
each message stays where the command put it."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from stackctl import aws, samples
from stackctl.redriving import move_by_hand
from stackctl.stack import StackOutputs
from tests.support.aws import AwsClientFactory
from tests.support.cli import CliRunner
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.localstack, pytest.mark.usefixtures("paused_queue_consumers")]

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"


def test_a_worker_sample_sent_to_its_trigger_lands_on_the_queue(
    run_cli: CliRunner, on_cli_stack: StackOutputs
) -> None:
    # Given the worker's trigger is paused, so the messages stay on the queue
    sqs = aws.client("sqs")
    # When the two task messages of the sample are sent to the worker's trigger
    result = run_cli("send", str(EVENTS_DIR / "worker-task-messages.json"), "--to", "trigger")
    # Then the queue holds exactly those bodies
    assert result.code == 0
    assert "2 message(s) sent to" in result.out
    bodies = _drain(sqs, on_cli_stack["QueueUrl"], expected=2)
    assert {json.loads(body)["task_id"] for body in bodies} == {
        "0f8fad5bd9cb469fa16570867728950e",
        "7c9e6679742540de944be07fc1f90ae7",
    }


def test_redrive_moves_a_dead_letter_back_to_the_queue(
    run_cli: CliRunner, on_cli_stack: StackOutputs
) -> None:
    # Given one message parked in FailedTasksQueue (the task queue's consumer paused)
    sqs = aws.client("sqs")
    _empty(sqs, on_cli_stack["FailedQueueUrl"])
    body = json.dumps({"redrive_probe": uuid.uuid4().hex})
    sqs.send_message(QueueUrl=on_cli_stack["FailedQueueUrl"], MessageBody=body)
    wait_until(
        lambda: _visible(sqs, on_cli_stack["FailedQueueUrl"]) == 1,
        timeout=10,
        what="the parked dead letter",
    )
    # When it is redriven
    result = run_cli("redrive")
    # Then the command reports the move and the message is on the task queue
    assert result.code == 0, result.err
    assert re.search(
        r"Moved 1 message\(s\) from \S+FailedTasksQueue\S* to \S+TasksQueue", result.out
    )
    assert _drain(sqs, on_cli_stack["QueueUrl"], expected=1) == [body]
    assert _visible(sqs, on_cli_stack["FailedQueueUrl"]) == 0


def test_waiting_gives_up_at_the_timeout_with_its_own_exit_code(
    run_cli: CliRunner, on_cli_stack: StackOutputs, tmp_path: Path
) -> None:
    # Given the worker is paused, so an upload stays QUEUED
    path = tmp_path / "stuck.xlsx"
    path.write_bytes(samples.orders_workbook(5))
    # When the upload is waited for with a short timeout
    result = run_cli("upload", str(path), "--wait", "--timeout", "1")
    # Then the command gives up, says how to check later, and exits 124
    assert result.code == 124
    assert "stuck.xlsx: still QUEUED after 0 attempts" in result.out
    assert "Gave up waiting after 1 s; check later with `sheetflow status " in result.out


def test_moving_messages_by_hand_keeps_bodies_and_attributes(aws: AwsClientFactory) -> None:
    # Given two scratch queues, three messages in the first
    sqs = aws("sqs")
    suffix = uuid.uuid4().hex[:8]
    source = sqs.create_queue(QueueName=f"cli-move-src-{suffix}")["QueueUrl"]
    destination = sqs.create_queue(QueueName=f"cli-move-dst-{suffix}")["QueueUrl"]
    try:
        attribute = {"origin": {"DataType": "String", "StringValue": "test"}}
        for index in range(3):
            sqs.send_message(QueueUrl=source, MessageBody=f"m{index}", MessageAttributes=attribute)
        # When they are moved by hand (the fallback when StartMessageMoveTask is unavailable)
        moved = move_by_hand(sqs, source, destination)
        # Then all three arrive with their attributes and the source is empty
        assert moved == 3
        received = _receive_all(sqs, destination, expected=3, attributes=True)
        assert sorted(message["Body"] for message in received) == ["m0", "m1", "m2"]
        assert all(
            message["MessageAttributes"]["origin"]["StringValue"] == "test" for message in received
        )
        assert _visible(sqs, source) == 0
    finally:
        sqs.delete_queue(QueueUrl=source)
        sqs.delete_queue(QueueUrl=destination)


def _empty(sqs: Any, queue_url: str) -> None:
    """Deletes whatever earlier tests left in a queue (PurgeQueue allows one call a minute)."""
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
        "Messages"
    ):
        for message in messages:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def _visible(sqs: Any, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def _receive_all(
    sqs: Any, queue_url: str, expected: int, attributes: bool = False
) -> list[dict[str, Any]]:
    """Receives (and deletes) messages until `expected` have arrived."""
    received: list[dict[str, Any]] = []

    def more() -> bool:
        response = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            MessageAttributeNames=["All"] if attributes else [],
        )
        for message in response.get("Messages", []):
            received.append(message)
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(received) >= expected

    wait_until(more, timeout=15, what=f"{expected} message(s) on {queue_url}")
    assert len(received) == expected
    return received


def _drain(sqs: Any, queue_url: str, expected: int) -> list[str]:
    return [str(message["Body"]) for message in _receive_all(sqs, queue_url, expected)]
