"""LocalStack restarted once (`make chaos RESTART=1`): what survives, and how long recovery takes.

LocalStack (community, on the host) keeps every resource and item in memory: a restart loses the
deployed stacks, the tasks, the queued messages and the objects. The run shows that instead of
hiding it: it counts the run's tasks before, restarts, says whether the stack is still there,
redeploys, and sends a few uploads through the API to show the pipeline works again. On AWS no
such event exists; the closest, a regional outage of one service, is what the injected faults
of the main run stand for.
"""

from __future__ import annotations

import time
from typing import Any

from stackctl import aws, localstack, samples, stack
from stackctl.api_client import ApiClient

PROBES = 10  # uploads after the redeploy


def _task_count(table: str) -> int:
    pages = aws.client("dynamodb").get_paginator("scan").paginate(TableName=table, Select="COUNT")
    return sum(int(page["Count"]) for page in pages)


def restart_and_recover(stack_name: str, timeout: float = 120) -> dict[str, Any]:
    before = stack.outputs(stack_name)
    tasks_before = _task_count(before["TableName"])
    began = time.monotonic()
    localstack.stop()
    localstack.start()
    restart_seconds = time.monotonic() - began
    survived = stack.is_deployed(stack_name)
    began = time.monotonic()
    outputs = stack.deploy(name=stack_name)
    redeploy_seconds = time.monotonic() - began
    tasks_after = _task_count(outputs["TableName"])
    api = ApiClient.for_stack(outputs)
    data = samples.orders_workbook(20)
    ids = [str(api.upload(data, f"after-restart-{n}.xlsx")["task_id"]) for n in range(PROBES)]
    deadline = time.monotonic() + timeout
    succeeded: set[str] = set()
    while time.monotonic() < deadline and len(succeeded) < len(ids):
        for task_id in set(ids) - succeeded:
            task = api.task(task_id)
            if task and task["status"] == "SUCCEEDED":
                succeeded.add(task_id)
        time.sleep(0.5)
    return {
        "restart_tasks_before": tasks_before,
        "restart_stack_survived": survived,
        "restart_tasks_after_redeploy": tasks_after,
        "restart_seconds": round(restart_seconds, 1),
        "restart_redeploy_seconds": round(redeploy_seconds, 1),
        "restart_probe_uploads_succeeded": f"{len(succeeded)}/{len(ids)}",
    }
