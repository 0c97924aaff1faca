"""`cancel TASK_ID`: DELETE /tasks/{id}; a task that has not started is cancelled at once, a
PROCESSING one stops at its next sheet boundary."""

from __future__ import annotations

import argparse
from typing import Any

from stackctl import stack
from stackctl.api_client import ApiClient
from stackctl.aws_errors import reported_as_user_errors
from stackctl.errors import UserFacingError


@reported_as_user_errors
def cmd_cancel(args: argparse.Namespace) -> int:
    client = ApiClient.for_stack(stack.outputs())
    response = client.request("DELETE", f"/tasks/{args.task_id}")
    document = response.json()
    if response.status == 200:
        print(f"Task {args.task_id} CANCELLED: it will not be processed.")
        return 0
    if response.status == 202:
        print(
            f"Task {args.task_id} is PROCESSING: asked to stop; it stops at its next sheet and "
            f"becomes CANCELLED (follow it with `sheetflow status {args.task_id}`)."
        )
        return 0
    error: dict[str, Any] = (document or {}).get("error") or {}
    if response.status == 409:
        print(f"Task {args.task_id} is {error.get('status')} already: nothing to cancel.")
        return 1
    raise UserFacingError(
        f"Cancelling task {args.task_id} failed: HTTP {response.status}, "
        f"{error.get('message') or response.error_text()}"
    )


def register(commands: Any) -> None:
    parser = commands.add_parser("cancel", help="cancel a task (DELETE /tasks/{id})")
    parser.add_argument("task_id", metavar="TASK_ID")
    parser.set_defaults(handler=cmd_cancel)
