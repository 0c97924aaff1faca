"""What `sheetflow status` adds once LocalStack runs: the stack's overview, or one task."""

from __future__ import annotations

from stackctl import alarms, overview, stack, task_report
from stackctl.api_client import ApiClient
from stackctl.errors import UserFacingError


def stack_lines() -> list[str]:
    """The overview; a one-line hint instead when the stack is not deployed (not an error:
    LocalStack alone is a valid state)."""
    try:
        outputs = stack.outputs()
    except UserFacingError as missing:
        return [f"Stack {stack.stack_name()}: {missing.message} {missing.hint}".rstrip()]
    # Stall reasons and alarm states first: what needs attention leads.
    return alarms.alarm_lines(outputs) + overview.overview_lines(outputs)


def task_lines(task_id: str) -> list[str]:
    """The task's details, read through the API (which adds a download URL for results)."""
    outputs = stack.outputs()
    task = ApiClient.for_stack(outputs).task(task_id)
    if task is None:
        raise UserFacingError(
            f"No task {task_id} in stack {stack.stack_name()!r}.",
            "It never existed or has expired; an upload put straight into S3 gets its task "
            "once the worker picks it up. List tasks with `sheetflow status`.",
        )
    return task_report.detail_lines(task, outputs["BucketName"])
