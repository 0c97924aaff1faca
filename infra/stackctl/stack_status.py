"""What `sheetflow status` adds once LocalStack runs: the stack's overview, or one task."""

from __future__ import annotations

from sheetflow.logic.tenancy import OPERATOR_OWNER, is_owner_id
from stackctl import alarms, api_keys, aws, overview, stack, task_report
from stackctl.api_client import ApiClient
from stackctl.errors import UserFacingError
from stackctl.stack import StackOutputs


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
    """The task's details, read through the API (which adds a download URL for results) as the
    client that owns it: the command's own key, else the owner's key (the operator may read
    any key with AWS credentials)."""
    outputs = stack.outputs()
    task = ApiClient.for_stack(outputs).task(task_id)
    owner = None if task is not None else _owner(outputs, task_id)
    if owner is not None and is_owner_id(owner):
        key = api_keys.key_by_id(owner)
        task = ApiClient(outputs.api_base_url, key.value, key.key_id).task(task_id)
    elif owner is not None:
        raise UserFacingError(
            f"Task {task_id} belongs to {owner!r}: a file put straight into the bucket outside "
            "any client's uploads/<key id>/ folder, which no API key reads.",
            f"Read it in the table {outputs['TableName']} (aws dynamodb get-item).",
        )
    if task is None:
        raise UserFacingError(
            f"No task {task_id} in stack {stack.stack_name()!r}.",
            "It never existed or has expired; an upload put straight into S3 gets its task "
            "once the worker picks it up. List tasks with `sheetflow status`.",
        )
    return task_report.detail_lines(task, outputs["BucketName"])


def _owner(outputs: StackOutputs, task_id: str) -> str | None:
    """Whose the task is, read from the table; None when there is no such task."""
    item = (
        aws.client("dynamodb")
        .get_item(
            TableName=outputs["TableName"],
            Key={"task_id": {"S": task_id}},
            ProjectionExpression="#o",
            ExpressionAttributeNames={"#o": "owner"},
        )
        .get("Item")
    )
    if item is None:
        return None
    return str(item.get("owner", {}).get("S") or OPERATOR_OWNER)
