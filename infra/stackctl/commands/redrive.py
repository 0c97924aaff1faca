"""`redrive`: move what waits in the dead-letter queue back to the task queue."""

from __future__ import annotations

import argparse
from typing import Any

from stackctl import aws, overview, stack
from stackctl.aws_errors import reported_as_user_errors
from stackctl.redriving import redrive


@reported_as_user_errors
def cmd_redrive(_: argparse.Namespace) -> int:
    """Dead letters wait in FailedTasksQueue once their task was marked FAILED; after the cause
    is fixed, moving them back to the task queue has the worker process those tasks again."""
    outputs = stack.outputs()
    failed_url, queue_url = outputs["FailedQueueUrl"], outputs["QueueUrl"]
    failed_name, queue_name = failed_url.rsplit("/", 1)[-1], queue_url.rsplit("/", 1)[-1]
    if overview.queue_depth(failed_url).waiting == 0:
        print(f"{failed_name} is empty: no dead letter is waiting, nothing to move.")
        return 0
    result = redrive(aws.client("sqs"), failed_url, queue_url)
    print(
        f"Moved {result.moved} message(s) from {failed_name} to {queue_name} with {result.method}."
    )
    if result.note:
        print(f"({result.note})")
    return 0


def register(commands: Any) -> None:
    commands.add_parser(
        "redrive", help="move dead letters (FailedTasksQueue) back to the task queue"
    ).set_defaults(handler=cmd_redrive)
