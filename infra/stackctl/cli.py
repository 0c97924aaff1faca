"""`sheetflow`: the project's command line for the local stack."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from stackctl.commands import (
    alerts,
    cancel,
    cleanup,
    dashboard,
    demo,
    deploy,
    dev,
    localstack_process,
    logs,
    mail,
    redrive,
    send,
    upload,
    worker,
)
from stackctl.errors import UserFacingError

Command = Callable[[argparse.Namespace], int]

# Each module registers its own subcommands; the order here is the order in --help.
COMMAND_MODULES = [
    localstack_process,
    deploy,
    dev,
    demo,
    dashboard,
    upload,
    cancel,
    send,
    logs,
    mail,
    alerts,
    redrive,
    cleanup,
    worker,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sheetflow", description="Run the spreadsheet pipeline on a local AWS (LocalStack)."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(commands)
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
    except BrokenPipeError:
        # The reader went away (`sheetflow logs worker | head`): not an error of ours.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
