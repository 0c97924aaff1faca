"""`sheetflow`: the project's command line for the local stack."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from stackctl import localstack, paths
from stackctl.errors import UserFacingError

Command = Callable[[argparse.Namespace], int]


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


def cmd_status(_: argparse.Namespace) -> int:
    current = localstack.status()
    if current.state == "running":
        print(f"LocalStack: running at {localstack.endpoint_url()} (pid {current.pid})")
        return 0
    if current.state == "starting":
        print(f"LocalStack: starting (pid {current.pid}); {current.detail}")
        return 0
    if current.state == "died":
        raise UserFacingError(
            f"LocalStack died (pid {current.pid}): {current.detail}.",
            f"Its log: {current.log_file}. Start it again with `make up`.",
        )
    print("LocalStack: stopped. Start it with `make up`.")
    return 3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sheetflow", description="Run the spreadsheet pipeline on a local AWS (LocalStack)."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    simple: dict[str, tuple[Command, str]] = {
        "up": (cmd_up, "start LocalStack in the background (reuses a healthy one)"),
        "down": (cmd_down, "stop LocalStack and its Lambda environments"),
        "status": (cmd_status, "is LocalStack running?"),
    }
    for name, (handler, help_text) in simple.items():
        commands.add_parser(name, help=help_text).set_defaults(handler=handler)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Command = args.handler
    try:
        return handler(args)
    except UserFacingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
