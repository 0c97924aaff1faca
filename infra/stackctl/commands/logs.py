"""`logs FUNCTION [--follow] [--since 10m]`: a function's CloudWatch Logs lines."""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from stackctl import aws, stack
from stackctl.aws_errors import reported_as_user_errors
from stackctl.function_names import SHORT_NAMES, log_group
from stackctl.log_format import format_event

FOLLOW_INTERVAL_SECONDS = 1.0
_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """`90s`, `10m`, `2h`, `1d` -> seconds."""
    match = _DURATION.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 30s, 10m, 2h or 1d")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def log_events(group: str, start_ms: int) -> Iterator[dict[str, Any]]:
    """Every event of the group from `start_ms` on, oldest first, across pages."""
    logs = aws.client("logs")
    request: dict[str, Any] = {"logGroupName": group, "startTime": start_ms, "interleaved": True}
    while True:
        try:
            page = logs.filter_log_events(**request)
        except logs.exceptions.ResourceNotFoundException:
            return  # the function has not logged anything yet
        yield from page.get("events", [])
        if not page.get("nextToken"):
            return
        request["nextToken"] = page["nextToken"]


@reported_as_user_errors
def cmd_logs(args: argparse.Namespace) -> int:
    group = log_group(stack.outputs(), args.function)
    start_ms = int((time.time() - args.since) * 1000)
    seen: set[str] = set()
    printed = _print_new(group, start_ms, seen, args.raw)
    if not args.follow:
        if not printed:
            since = datetime.fromtimestamp(start_ms / 1000, UTC)
            print(f"No log lines in {group} since {since:%H:%M:%S} UTC.")
        return 0
    print(f"-- following {group}; Ctrl-C to stop", flush=True)
    try:
        while True:
            time.sleep(FOLLOW_INTERVAL_SECONDS)
            # Re-read a little overlap: events can land slightly out of order; ids dedupe them.
            _print_new(group, max(start_ms, int(time.time() * 1000) - 60_000), seen, args.raw)
    except KeyboardInterrupt:
        return 0


def _print_new(group: str, start_ms: int, seen: set[str], raw: bool) -> int:
    count = 0
    for event in log_events(group, start_ms):
        if event["eventId"] in seen:
            continue
        seen.add(event["eventId"])
        print(format_event(event, raw), flush=True)
        count += 1
    return count


def register(commands: Any) -> None:
    parser = commands.add_parser("logs", help="show a function's log lines (CloudWatch Logs)")
    parser.add_argument(
        "function", metavar="FUNCTION", choices=SHORT_NAMES, help=", ".join(SHORT_NAMES)
    )
    parser.add_argument("--follow", "-f", action="store_true", help="keep printing new lines")
    parser.add_argument(
        "--raw", action="store_true", help="print the JSON records as stored, not summarised"
    )
    parser.add_argument(
        "--since",
        type=parse_duration,
        default="10m",  # argparse passes a string default through `type`
        metavar="DURATION",
        help="how far back to start, e.g. 30s, 10m, 2h (default 10m)",
    )
    parser.set_defaults(handler=cmd_logs)
