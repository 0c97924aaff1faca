"""`alerts [--follow] [--since 1h]`: every alarm transition the alarm topic delivered."""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from typing import Any

from stackctl import stack
from stackctl.alarms import STATE_COLOURS, Alert, alerts_from, colour, require_alerts_function
from stackctl.aws_errors import reported_as_user_errors
from stackctl.commands.logs import FOLLOW_INTERVAL_SECONDS, log_events, parse_duration


def alert_line(alert: Alert) -> str:
    moment = datetime.fromtimestamp(alert.timestamp_ms / 1000, UTC)
    change = colour(
        f"{alert.old_state} -> {alert.new_state}", STATE_COLOURS.get(alert.new_state, "")
    )
    return f"{moment:%Y-%m-%d %H:%M:%S}  {alert.alarm}  {change}  {alert.reason}"


def _print_new(group: str, start_ms: int, seen: set[str]) -> int:
    count = 0
    for alert in alerts_from(log_events(group, start_ms)):
        if alert.event_id in seen:
            continue
        seen.add(alert.event_id)
        print(alert_line(alert), flush=True)
        count += 1
    return count


@reported_as_user_errors
def cmd_alerts(args: argparse.Namespace) -> int:
    group = f"/aws/lambda/{require_alerts_function(stack.outputs())}"
    start_ms = int((time.time() - args.since) * 1000)
    seen: set[str] = set()
    printed = _print_new(group, start_ms, seen)
    if not args.follow:
        if not printed:
            print("No alarm changed state in that time.")
        return 0
    print("-- following alarm transitions; Ctrl-C to stop", flush=True)
    try:
        while True:
            time.sleep(FOLLOW_INTERVAL_SECONDS)
            _print_new(group, max(start_ms, int(time.time() * 1000) - 120_000), seen)
    except KeyboardInterrupt:
        return 0


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "alerts", help="alarm transitions delivered through the alarm topic (name, old -> new)"
    )
    parser.add_argument("--follow", "-f", action="store_true", help="keep printing new alerts")
    parser.add_argument(
        "--since",
        type=parse_duration,
        default="1d",  # argparse passes a string default through `type`
        metavar="DURATION",
        help="how far back to start, e.g. 30m, 2h, 1d (default 1d)",
    )
    parser.set_defaults(handler=cmd_alerts)
