"""`redrive`: move what waits in the dead-letter queue back to the task queue."""

from __future__ import annotations

import argparse
from typing import Any

from stackctl import overview, stack
from stackctl.aws_errors import reported_as_user_errors
from stackctl.redriving import redrive


@reported_as_user_errors
def cmd_redrive(_: argparse.Namespace) -> int:
    outputs = stack.outputs()
    dlq_url, queue_url = outputs["DlqUrl"], outputs["QueueUrl"]
    dlq_name, queue_name = dlq_url.rsplit("/", 1)[-1], queue_url.rsplit("/", 1)[-1]
    if overview.queue_depth(dlq_url).waiting == 0:
        print(
            f"{dlq_name} is empty: nothing to move. (The dead-letter function consumes it as "
            "messages arrive; a message stays there only when that function fails on it.)"
        )
        return 0
    result = redrive(stack.client("sqs"), dlq_url, queue_url)
    print(f"Moved {result.moved} message(s) from {dlq_name} to {queue_name} with {result.method}.")
    if result.note:
        print(f"({result.note})")
    return 0


def register(commands: Any) -> None:
    commands.add_parser(
        "redrive", help="move messages from the dead-letter queue back to the task queue"
    ).set_defaults(handler=cmd_redrive)
