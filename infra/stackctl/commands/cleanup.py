"""`cleanup`: run the hourly cleanup now and print what it deleted."""

from __future__ import annotations

import argparse
import uuid
from datetime import UTC, datetime
from typing import Any

from stackctl import stack
from stackctl.aws_errors import reported_as_user_errors
from stackctl.function_names import function_name
from stackctl.lambda_invoke import invoke, readable


def scheduled_event(account: str = "000000000000", region: str = "us-east-1") -> dict[str, Any]:
    """The event an EventBridge schedule rule delivers (the handler reads none of it)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [],
        "detail": {},
    }


@reported_as_user_errors
def cmd_cleanup(_: argparse.Namespace) -> int:
    name = function_name(stack.outputs(), "cleanup")
    result = invoke(name, scheduled_event())
    if not result.succeeded or not isinstance(result.payload, dict):
        print(f"{name} failed ({result.function_error}):")
        print(readable(result.payload))
        return 1
    report = result.payload
    print(
        f"Cleanup deleted {report.get('tasks_deleted', 0)} task(s) and "
        f"{report.get('objects_deleted', 0)} object(s) created before {report.get('cutoff')}."
    )
    print(f"  pages read: {report.get('pages', 0)}; finished: {report.get('complete')}")
    for failure in report.get("failures") or []:
        print(f"  not deleted: {failure}")
    if not report.get("complete", True):
        print("  (ran out of time; run it again to continue)")
    return 0


def register(commands: Any) -> None:
    commands.add_parser(
        "cleanup", help="run the cleanup function now (deletes tasks older than the retention)"
    ).set_defaults(handler=cmd_cleanup)
