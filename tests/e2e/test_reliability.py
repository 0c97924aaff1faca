"""Retries, dead letters, the alarm and redrive, on the deployed stack.

Faults are injected by configuration: the worker's RESULTS_BUCKET is pointed at a bucket that does
not exist (a dependency that is down), exactly as an operator could misconfigure it.
"""

from __future__ import annotations

import json
import uuid

import pytest

from stackctl import samples
from stackctl.stack import StackOutputs
from tests.conftest import AwsClientFactory
from tests.e2e.conftest import Api, AttemptWatcher, FunctionSettings

pytestmark = [pytest.mark.localstack, pytest.mark.e2e]

RETRY_BASE_SECONDS = 2


def retry_delays_logged(aws: AwsClientFactory, function: str, task_id: str) -> list[int]:
    """The delays the worker set with ChangeMessageVisibility for a task, from its logs."""
    events = aws("logs").filter_log_events(
        logGroupName=f"/aws/lambda/{function}", filterPattern=f'"{task_id}"'
    )["events"]
    delays = []
    for event in events:
        try:
            line = json.loads(event["message"])
        except ValueError:
            continue
        if line.get("message") == "Retry scheduled":
            delays.append(int(line["delay_seconds"]))
    return delays


def test_a_transient_fault_is_retried_with_growing_delays_then_succeeds(
    api: Api, aws: AwsClientFactory, outputs: StackOutputs, function_settings: FunctionSettings
) -> None:
    worker = outputs["WorkerFunctionName"]
    results_bucket = f"late-results-{uuid.uuid4().hex[:10]}"
    with function_settings.overridden(
        worker,
        {
            "RESULTS_BUCKET": results_bucket,
            "RETRY_BASE_SECONDS": str(RETRY_BASE_SECONDS),
        },
    ):
        # Given the results bucket is missing, the first attempts fail transiently
        task_id = api.upload(samples.orders_workbook(10), filename="late.xlsx").json()["task_id"]
        with AttemptWatcher(api, task_id) as watcher:
            watcher.wait_for(
                "a second failed attempt",
                lambda t: t["attempts"] >= 2 and t["last_error"],
                timeout=30,
            )
            # When the dependency comes back before the last allowed attempt
            aws("s3").create_bucket(Bucket=results_bucket)
            task = watcher.wait_for(
                "the task to finish", lambda t: t["status"] in ("SUCCEEDED", "FAILED"), timeout=60
            )

    # Then the task succeeds on its third attempt
    assert task["status"] == "SUCCEEDED", task
    assert task["attempts"] == 3
    assert task["last_error"]["code"] == "DEPENDENCY_UNAVAILABLE"
    # And each retry waited longer than the one before
    assert retry_delays_logged(aws, worker, task_id) == [RETRY_BASE_SECONDS, RETRY_BASE_SECONDS * 2]
    seen = watcher.first_seen
    assert seen[3] - seen[2] > seen[2] - seen[1]
