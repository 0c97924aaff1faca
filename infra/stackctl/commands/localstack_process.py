"""`up`, `down`, `status` of LocalStack itself."""

from __future__ import annotations

import argparse
from typing import Any

from stackctl import localstack, paths
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


def cmd_status(_: argparse.Namespace) -> int:
    line, code = localstack_status_line()
    print(line)
    return code


def register(commands: Any) -> None:
    commands.add_parser(
        "up", help="start LocalStack in the background (reuses a healthy one)"
    ).set_defaults(handler=cmd_up)
    commands.add_parser("down", help="stop LocalStack and its Lambda environments").set_defaults(
        handler=cmd_down
    )
    commands.add_parser("status", help="is LocalStack running?").set_defaults(handler=cmd_status)
