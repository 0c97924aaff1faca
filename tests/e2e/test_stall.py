"""Never silently stalled: stall signals, watchdog repairs, canary and alerts on the deployed stack.

The e2e stack is deployed with a 30 s stall threshold and a 20 s canary deadline (see
E2E_PARAMETERS) so that each signal shows within a minute or two. Faults are injected as an
operator would cause them: the worker's queue trigger disabled, a worker handler that cannot be
imported, a task message deleted by hand.
"""

from __future__ import annotations

import functools
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sheetflow.logic.task import Task, TaskStatus
from stackctl import cli, paths, samples
from stackctl.stack import StackOutputs
from tests.support.aws import AwsClientFactory
from tests.support.e2e import (
    E2E_STACK,
    Api,
    FunctionSettings,
    function_log_messages,
    set_visibility_timeout,
    stored_task,
    wait_queue_drained,
)
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.localstack, pytest.mark.e2e, pytest.mark.slow]

# Where the measured delays of the disabled-trigger case are written (and printed with -s).
TIMINGS_FILE = "stall-timings.json"


def alarm_state(aws: AwsClientFactory, name: str) -> str:
    return str(
        aws("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"]
    )


def wait_alarm(aws: AwsClientFactory, name: str, state: str, timeout: float) -> None:
    wait_until(
        lambda: alarm_state(aws, name) == state,
        timeout=timeout,
        interval=1,
        what=f"alarm {name} to be {state}",
    )


def invoke(aws: AwsClientFactory, function: str, event: dict[str, Any]) -> dict[str, Any]:
    response = aws("lambda").invoke(FunctionName=function, Payload=json.dumps(event).encode())
    payload: dict[str, Any] = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, payload
    return payload


def scheduled_event() -> dict[str, Any]:
    return json.loads((paths.project_root() / "events" / "watchdog-scheduled.json").read_text())  # type: ignore[no-any-return]


def worker_mapping(aws: AwsClientFactory, outputs: StackOutputs) -> str:
    mappings = aws("lambda").list_event_source_mappings(
        FunctionName=outputs["WorkerFunctionName"], EventSourceArn=outputs["QueueArn"]
    )["EventSourceMappings"]
    assert len(mappings) == 1, mappings
    return str(mappings[0]["UUID"])


def set_mapping(aws: AwsClientFactory, mapping: str, enabled: bool) -> None:
    lambda_client = aws("lambda")
    lambda_client.update_event_source_mapping(UUID=mapping, Enabled=enabled)
    wanted = "Enabled" if enabled else "Disabled"
    wait_until(
        lambda: lambda_client.get_event_source_mapping(UUID=mapping)["State"] == wanted,
        timeout=30,
        what=f"the worker's queue trigger to be {wanted}",
    )


def wait_unconsumed(aws: AwsClientFactory, queue_url: str) -> None:
    """Until two probe messages in a row come back to the test: nothing else consumes the queue.

    LocalStack reports a mapping Disabled at once, while its poller may still finish the long
    poll it is in and hand what it receives to the worker.
    """
    sqs = aws("sqs")

    def probe_returns() -> bool:
        body = json.dumps({"probe": uuid.uuid4().hex})  # the worker would ignore it
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)
        received = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=2).get("Messages", [])
        for message in received:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return any(message["Body"] == body for message in received)

    wait_until(
        lambda: probe_returns() and probe_returns(),
        timeout=30,
        what="the disabled trigger's poller to stop",
    )


@contextmanager
def trigger_disabled(aws: AwsClientFactory, outputs: StackOutputs) -> Iterator[None]:
    mapping = worker_mapping(aws, outputs)
    set_mapping(aws, mapping, enabled=False)
    try:
        wait_unconsumed(aws, outputs["QueueUrl"])
        yield
    finally:
        set_mapping(aws, mapping, enabled=True)


def wait_healthy(api: Api, timeout: float = 120) -> None:
    wait_until(lambda: api.health().status_code == 200, timeout=timeout, interval=1, what="200")


def alert_lines(capsys: pytest.CaptureFixture[str], since_seconds: int) -> list[str]:
    """What `sheetflow alerts --since Ns` prints."""
    capsys.readouterr()
    assert cli.main(["alerts", "--since", f"{since_seconds}s"]) == 0
    return capsys.readouterr().out.splitlines()


def structured_lines(aws: AwsClientFactory, function: str) -> list[dict[str, Any]]:
    lines = []
    for message in function_log_messages(aws, function):
        try:
            line = json.loads(message)
        except ValueError:
            continue
        if isinstance(line, dict):
            lines.append(line)
    return lines


def test_a_disabled_worker_trigger_is_seen_within_two_minutes_and_recovers(
    api: Api,
    aws: AwsClientFactory,
    outputs: StackOutputs,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SHEETFLOW_STACK", E2E_STACK)
    age_alarm, watchdog = outputs["QueueAgeAlarmName"], outputs["WatchdogFunctionName"]
    # Given a healthy pipeline whose queue-age alarm is quiet
    wait_healthy(api)
    wait_queue_drained(aws("sqs"), outputs["QueueUrl"], timeout=60)
    wait_alarm(aws, age_alarm, "OK", timeout=240)

    with trigger_disabled(aws, outputs):
        # When a workbook is uploaded while nothing consumes the queue
        started_stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        accepted = api.upload(samples.orders_workbook(5), filename="stalled.xlsx")
        stalled_at = time.monotonic()
        assert accepted.status_code == 202, accepted.text
        task_id = accepted.json()["task_id"]

        # Then /health answers 503 with a reason naming the disabled trigger
        degraded = wait_until(
            lambda: (r := api.health()).status_code == 503 and r.json(),
            timeout=120,
            interval=1,
            what="/health to answer 503",
        )
        to_503 = time.monotonic() - stalled_at
        assert degraded["status"] == "degraded" and degraded["liveness"] == {"ok": True}
        assert any("queue trigger is Disabled" in reason for reason in degraded["reasons"])
        assert all(check["ok"] for check in degraded["checks"].values())

        # And the queue-age alarm goes to ALARM
        wait_alarm(aws, age_alarm, "ALARM", timeout=120)
        to_alarm = time.monotonic() - stalled_at

        # And the transition is listed by `sheetflow alerts`
        def alert_seen() -> bool:
            since = int(time.monotonic() - stalled_at) + 5
            return any(
                age_alarm in line and "OK -> ALARM" in line for line in alert_lines(capsys, since)
            )

        wait_until(alert_seen, timeout=60, interval=1, what="the alert in `sheetflow alerts`")
        to_alert = time.monotonic() - stalled_at

        # And the watchdog, on its own one-minute schedule (nobody invokes it), finds the task
        # stalled (its StalledTasks metric feeds StalledTasksAlarm; other leftovers of earlier
        # tests may keep that alarm in ALARM already, so its run is what is checked here)
        def watchdog_found_it() -> bool:
            return any(
                line.get("message") == "Watchdog finished" and line.get("stalled_queued", 0) >= 1
                for line in structured_lines(aws, watchdog)
                if str(line.get("timestamp", "")) >= started_stamp
            )

        wait_until(watchdog_found_it, timeout=150, interval=2, what="a scheduled watchdog run")
        to_watchdog = time.monotonic() - stalled_at

        # And `sheetflow status` leads with the stall reason and the alarms' states
        capsys.readouterr()
        assert cli.main(["status"]) == 0
        status_out = capsys.readouterr().out
        assert status_out.index("PIPELINE STALLED:") < status_out.index("Tasks:")
        assert "queue trigger is Disabled" in status_out
        task = api.task(task_id)
        assert task is not None and task["status"] == "QUEUED"
        timings = {
            "stall_to_503_s": round(to_503, 1),
            "stall_to_queue_age_alarm_s": round(to_alarm, 1),
            "stall_to_alert_listed_s": round(to_alert, 1),
            "stall_to_scheduled_watchdog_finding_s": round(to_watchdog, 1),
        }
        report_timings(timings, capsys)

    # When the trigger is enabled again, the task is processed once
    done = api.wait_finished(task_id, timeout=60)
    recovered_at = time.monotonic()
    assert (done["status"], done["attempts"]) == ("SUCCEEDED", 1)
    # And health and both alarms return to normal (LocalStack judges an alarm on its last three
    # periods, so OK comes up to three minutes after the last breaching minute)
    wait_healthy(api, timeout=60)
    wait_alarm(aws, age_alarm, "OK", timeout=240)
    report_timings(
        {**timings, "recovery_to_alarms_ok_s": round(time.monotonic() - recovered_at, 1)}, capsys
    )


def report_timings(timings: dict[str, float], capsys: pytest.CaptureFixture[str]) -> None:
    """Printed (pytest -s) and kept in .local/ for quoting; figures, not assertions."""
    Path(paths.state_dir() / TIMINGS_FILE).write_text(json.dumps(timings, indent=2) + "\n")
    with capsys.disabled():
        print(f"\nstall timings: {json.dumps(timings)}")


def test_a_lost_task_message_is_requeued_by_the_watchdog_and_succeeds_once(
    api: Api, aws: AwsClientFactory, outputs: StackOutputs, function_settings: FunctionSettings
) -> None:
    sqs, queue = aws("sqs"), outputs["QueueUrl"]
    wait_queue_drained(sqs, queue, timeout=60)
    with trigger_disabled(aws, outputs):
        task_id = api.upload(samples.orders_workbook(5), filename="lost.xlsx").json()["task_id"]
        # Given its message is deleted by hand: the task is QUEUED with nothing to deliver it
        message = wait_until(
            lambda: sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages"),
            timeout=30,
            what="the task message",
        )[0]
        assert json.loads(message["Body"])["task_id"] == task_id
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    wait_queue_drained(sqs, queue, timeout=30)

    # When the watchdog runs (with a 5 s threshold, to not wait for the stack's 30 s)
    watchdog = outputs["WatchdogFunctionName"]
    with function_settings.overridden(watchdog, {"STALL_THRESHOLD_SECONDS": "5"}):

        def requeued_and_done() -> dict[str, Any] | None:
            invoke(aws, watchdog, scheduled_event())
            task = api.task(task_id)
            return task if task and task["status"] == "SUCCEEDED" else None

        done = wait_until(requeued_and_done, timeout=60, interval=3, what="the lost task to finish")
        # And it keeps running after the task finished
        invoke(aws, watchdog, scheduled_event())

    # Then the task succeeded on its first attempt, re-queued exactly once
    assert done["attempts"] == 1
    requeues = [
        line
        for line in structured_lines(aws, watchdog)
        if line.get("message") == "Stalled task re-queued: its message was lost"
        and line.get("task_id") == task_id
    ]
    assert len(requeues) == 1
    processed = [
        line
        for line in structured_lines(aws, outputs["WorkerFunctionName"])
        if line.get("message") == "Message processed" and line.get("task_id") == task_id
    ]
    assert [line["outcome"] for line in processed] == ["SUCCEEDED"]


def test_a_worker_that_cannot_import_fires_alarms_and_loses_no_task(
    api: Api,
    aws: AwsClientFactory,
    outputs: StackOutputs,
    function_settings: FunctionSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sqs = aws("sqs")
    worker, canary = outputs["WorkerFunctionName"], outputs["CanaryFunctionName"]
    errors_alarm, canary_alarm = outputs["WorkerErrorsAlarmName"], outputs["CanaryAlarmName"]
    queue = outputs["QueueUrl"]
    wait_queue_drained(sqs, queue, timeout=60)
    for alarm in (errors_alarm, canary_alarm):
        wait_alarm(aws, alarm, "OK", timeout=240)
    original_visibility = sqs.get_queue_attributes(
        QueueUrl=queue, AttributeNames=["VisibilityTimeout"]
    )["Attributes"]["VisibilityTimeout"]
    broken_module = f"sheetflow.handlers.missing_{uuid.uuid4().hex[:6]}.handler"

    # Failed deliveries come back after 5 s instead of 12 minutes, so retries run out quickly.
    set_visibility_timeout(sqs, queue, 5)
    try:
        with (
            function_settings.configured(worker, {"Handler": broken_module}),
            function_settings.overridden(canary, {"CANARY_DEADLINE_SECONDS": "10"}),
        ):
            # Given a broken worker deploy, when a workbook and a canary go in
            upload = api.upload(samples.orders_workbook(5), filename="broken.xlsx")
            task_id = upload.json()["task_id"]
            first_canary = invoke(aws, canary, scheduled_event())["started_task_id"]
            assert first_canary

            # Then the errors alarm fires
            wait_alarm(aws, errors_alarm, "ALARM", timeout=150)
            # And the task is not stuck: its retries run out and it is FAILED with a reason
            try:
                failed = api.wait_finished(task_id, timeout=600)
            except AssertionError as unfinished:
                raise AssertionError(
                    f"{unfinished}; {pipeline_state(aws, outputs, task_id)}"
                ) from None
            assert failed["status"] == "FAILED"
            assert failed["error"]["code"] == "RETRIES_EXHAUSTED"
            assert "attempts" in failed["error"]["message"]

            # And the next canary run reports the first one missed, and the canary alarm fires
            missed = wait_until(
                lambda: (r := invoke(aws, canary, scheduled_event()))["previous"] == "MISSED" and r,
                timeout=60,
                interval=3,
                what="the canary to report a miss",
            )
            second_canary = missed["started_task_id"]
            wait_alarm(aws, canary_alarm, "ALARM", timeout=150)
    finally:
        sqs.set_queue_attributes(
            QueueUrl=queue, Attributes={"VisibilityTimeout": original_visibility}
        )

    # When the fixed worker is back and the dead letters are redriven
    wait_queue_drained(sqs, queue, timeout=60)
    wait_queue_drained(sqs, outputs["DlqUrl"], timeout=60)
    monkeypatch.setenv("SHEETFLOW_STACK", E2E_STACK)
    assert cli.main(["redrive"]) == 0

    # Then every task of the broken period ends SUCCEEDED: none was lost (read from the table:
    # the canary's tasks belong to no API key)
    def succeeded(task_id: str) -> Task | None:
        task = stored_task(aws, outputs["TableName"], task_id)
        return task if task and task.status is TaskStatus.SUCCEEDED else None

    for lost_or_not in (task_id, first_canary, second_canary):
        ended = wait_until(
            functools.partial(succeeded, lost_or_not),
            timeout=90,
            what=f"task {lost_or_not} to be SUCCEEDED",
        )
        assert ended.error is None
    # And the canary passes again
    passed = invoke(aws, canary, scheduled_event())
    assert passed["previous"] == "PASSED"


def pipeline_state(aws: AwsClientFactory, outputs: StackOutputs, task_id: str) -> str:
    """What a person would look at when a task does not finish: its record, the three queues'
    depths and the queue triggers' states."""
    sqs, lambda_client = aws("sqs"), aws("lambda")
    task = stored_task(aws, outputs["TableName"], task_id)
    depths = {
        name: sqs.get_queue_attributes(QueueUrl=outputs[name], AttributeNames=["All"])["Attributes"]
        for name in ("QueueUrl", "DlqUrl", "FailedQueueUrl")
    }
    counts = {
        name: {
            key: value
            for key, value in attributes.items()
            if key.startswith("ApproximateNumberOf") or key == "VisibilityTimeout"
        }
        for name, attributes in depths.items()
    }
    triggers = {
        function: [
            (mapping["EventSourceArn"].rsplit(":", 1)[-1], mapping["State"])
            for mapping in lambda_client.list_event_source_mappings(FunctionName=outputs[function])[
                "EventSourceMappings"
            ]
        ]
        for function in ("WorkerFunctionName", "DeadLetterFunctionName")
    }
    status = (task.status, task.attempts, task.error) if task else None
    return f"task {status}, queues {counts}, triggers {triggers}"
