"""Retries, dead letters, the alarm and redrive, on the deployed stack.

Faults are injected by configuration: the worker's RESULTS_BUCKET is pointed at a bucket that does
not exist (a dependency that is down), exactly as an operator could misconfigure it.
"""

from __future__ import annotations

import json
import uuid

import pytest

from sheetflow.logic.messages import task_message
from sheetflow.logic.task import FINISHED_STATUSES
from stackctl import cli, samples
from stackctl.stack import StackOutputs
from tests.support.aws import AwsClientFactory
from tests.support.e2e import (
    E2E_STACK,
    Api,
    AttemptWatcher,
    FunctionSettings,
    function_log_messages,
    stored_task,
    wait_queue_drained,
)
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.localstack, pytest.mark.e2e]

RETRY_BASE_SECONDS = 2


def retry_delays_logged(aws: AwsClientFactory, function: str, task_id: str) -> list[int]:
    """The delays the worker set with ChangeMessageVisibility for a task, from its logs."""
    delays = []
    for message in function_log_messages(aws, function):
        try:
            line = json.loads(message)
        except ValueError:
            continue  # START, END and REPORT lines
        # A retry is the line with a delay for this task, whatever its wording.
        if line.get("task_id") == task_id and "delay_seconds" in line:
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
        settle=(aws("sqs"), outputs["QueueUrl"]),
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
                "the task to finish", lambda t: t["status"] in FINISHED_STATUSES, timeout=60
            )

    # Then the task succeeds on its third attempt
    assert task["status"] == "SUCCEEDED", task
    assert task["attempts"] == 3
    assert task["last_error"]["code"] == "DEPENDENCY_UNAVAILABLE"

    # And each retry waited longer than the one before (the log reaches CloudWatch Logs after the
    # invocation: wait for both retry lines, then compare)
    def both_retries() -> list[int] | None:
        found = retry_delays_logged(aws, worker, task_id)
        return found if len(found) >= 2 else None

    delays = wait_until(both_retries, timeout=30, what="both retry lines in the worker's log")
    assert delays == [RETRY_BASE_SECONDS, RETRY_BASE_SECONDS * 2]
    # and the message really stayed away that long: each attempt came at least its delay after
    # the one before (a loaded machine only adds to the gaps, so this cannot pass by accident)
    seen = watcher.first_seen
    assert seen[2] - seen[1] >= RETRY_BASE_SECONDS
    assert seen[3] - seen[2] >= RETRY_BASE_SECONDS * 2


def dead_letter_alarm(aws: AwsClientFactory, outputs: StackOutputs) -> str:
    failed_queue = outputs["FailedQueueUrl"].rsplit("/", 1)[-1]
    for alarm in aws("cloudwatch").describe_alarms()["MetricAlarms"]:
        dimensions = {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}
        if dimensions.get("QueueName") == failed_queue:
            return str(alarm["AlarmName"])
    raise AssertionError(f"no alarm watches {failed_queue}")


def test_a_persistent_fault_dead_letters_alarms_and_redrive_recovers(
    api: Api,
    aws: AwsClientFactory,
    outputs: StackOutputs,
    function_settings: FunctionSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cloudwatch, sqs = aws("cloudwatch"), aws("sqs")
    sqs.purge_queue(QueueUrl=outputs["FailedQueueUrl"])
    alarm = dead_letter_alarm(aws, outputs)
    cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="test start")
    worker = outputs["WorkerFunctionName"]
    with function_settings.overridden(
        worker,
        {
            "RESULTS_BUCKET": f"never-created-{uuid.uuid4().hex[:8]}",
            "RETRY_BASE_SECONDS": "1",
        },
        settle=(aws("sqs"), outputs["QueueUrl"]),
    ):
        # Given every attempt fails, the task ends FAILED once its retries are exhausted
        task_id = api.upload(samples.orders_workbook(10), filename="doomed.xlsx").json()["task_id"]
        task = api.wait_finished(task_id, timeout=90)
        assert task["status"] == "FAILED"
        assert task["error"]["code"] == "RETRIES_EXHAUSTED"
        assert task["error"]["message"].startswith("retries exhausted after 3 attempts")
        assert "DEPENDENCY_UNAVAILABLE" in task["error"]["message"]
        # And its message is parked, which puts the dead-letter alarm into ALARM
        wait_until(
            lambda: (
                sqs.get_queue_attributes(
                    QueueUrl=outputs["FailedQueueUrl"],
                    AttributeNames=["ApproximateNumberOfMessages"],
                )["Attributes"]["ApproximateNumberOfMessages"]
                == "1"
            ),
            timeout=30,
            what="the dead letter to be parked",
        )
        wait_until(
            lambda: (
                cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"]
                == "ALARM"
            ),
            timeout=180,
            interval=2,
            what="the dead-letter alarm",
        )

    # And a stray copy of its message (a duplicate delivery, not a redrive) leaves it FAILED
    failed = stored_task(aws, outputs["TableName"], task_id)
    assert failed is not None
    sqs.send_message(
        QueueUrl=outputs["QueueUrl"], MessageBody=task_message(task_id, failed.bucket, failed.key)
    )
    wait_queue_drained(sqs, outputs["QueueUrl"], timeout=60)
    assert stored_task(aws, outputs["TableName"], task_id) == failed

    # When the cause is fixed (the configuration is restored) and the operator redrives
    monkeypatch.setenv("SHEETFLOW_STACK", E2E_STACK)
    assert cli.main(["redrive"]) == 0
    # Then the same task is processed again and succeeds
    recovered = api.wait_finished_as(task_id, "SUCCEEDED", timeout=60)
    assert recovered["attempts"] == 4
    assert recovered["error"] is None
