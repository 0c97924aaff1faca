"""`up`, `down`, `status` of LocalStack itself."""

from __future__ import annotations

import argparse
from typing import Any

from stackctl import localstack, paths, stack_status
from stackctl.aws_errors import reported_as_user_errors
from stackctl.errors import UserFacingError


def cmd_up(_: argparse.Namespace) -> int:
    result = localstack.start()
    if result.reused:
        print(f"LocalStack is already running at {localstack.endpoint_url()} (pid {result.pid}).")
    else:
        print(
            f"LocalStack is up at {localstack.endpoint_url()} (pid {result.pid}, "
            f"healthy after {result.seconds:.1f} s). Log: {paths.localstack_log_file()}"
        )
    return 0


def cmd_down(_: argparse.Namespace) -> int:
    pid = localstack.stop()
    if pid is None:
        print("LocalStack is not running; nothing to stop.")
    else:
        print(f"LocalStack (pid {pid}) stopped, with every Lambda environment it ran.")
    return 0


def localstack_status_line() -> tuple[str, int]:
    """One line on LocalStack's state and the exit code `status` should give for it."""
    current = localstack.status()
    if current.state == "running":
        return f"LocalStack: running at {localstack.endpoint_url()} (pid {current.pid})", 0
    if current.state == "starting":
        return f"LocalStack: starting (pid {current.pid}); {current.detail}", 0
    if current.state == "died":
        raise UserFacingError(
            f"LocalStack died (pid {current.pid}): {current.detail}.",
            f"Its log: {current.log_file}. Start it again with `make up`.",
        )
    return "LocalStack: stopped. Start it with `make up`.", 3


@reported_as_user_errors
def cmd_status(args: argparse.Namespace) -> int:
    if args.task_id:
        print("\n".join(stack_status.task_lines(args.task_id)))
        return 0
    line, code = localstack_status_line()
    print(line)
    if code == 0 and localstack.health() is not None:
        # The exit code stays LocalStack's: running without the stack deployed is still "up".
        print("\n".join(stack_status.stack_lines()))
    return code


def register(commands: Any) -> None:
    commands.add_parser(
        "up", help="start LocalStack in the background (reuses a healthy one)"
    ).set_defaults(handler=cmd_up)
    commands.add_parser("down", help="stop LocalStack and its Lambda environments").set_defaults(
        handler=cmd_down
    )
    status = commands.add_parser(
        "status",
        help="LocalStack's state; with the stack deployed, tasks by status and queue depths; "
        "with TASK_ID, that task",
    )
    status.add_argument("task_id", nargs="?", metavar="TASK_ID", help="show this task's details")
    status.set_defaults(handler=cmd_status)
