"""Watchdog, canary, pipeline health and alert recording against moto."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from sheetflow.config import PipelineWatchConfig, WorkerConfig
from sheetflow.dal.canary_runs import CanaryRuns
from sheetflow.dal.tasks import TaskRepository
from sheetflow.handlers import alerts, api, canary, watchdog
from sheetflow.logic.canary import CANARY_FILENAME, CanaryRun
from sheetflow.logic.messages import task_message
from sheetflow.logic.task import Task, TaskStatus, isoformat, new_task, new_task_id, upload_key
from sheetflow.usecases.canary import run_canary
from sheetflow.usecases.processing import Outcome, OutcomeKind, process_message
from sheetflow.usecases.watchdog import run_watchdog

from .conftest import METRICS_NAMESPACE, WORKER_FUNCTION, FakeLambdaContext, Kit, Stack


def config() -> PipelineWatchConfig:
    return PipelineWatchConfig.from_env(os.environ)


def stored_task(
    stack: Stack, kit: Kit, status: TaskStatus, age_seconds: float, data: bytes | None = None
) -> Task:
    task_id = new_task_id()
    task = new_task(
        task_id=task_id,
        status=status,
        bucket=stack.bucket,
        key=upload_key(task_id, "book.xlsx"),
        filename="book.xlsx",
        now=datetime.now(UTC) - timedelta(seconds=age_seconds),
        ttl=timedelta(days=2),
    )
    boto3.client("s3").put_object(Bucket=stack.bucket, Key=task.key, Body=data or kit.workbook())
    assert TaskRepository(stack.table).create(task)
    return task


def queue_bodies(stack: Stack) -> list[str]:
    sqs = boto3.client("sqs")
    bodies: list[str] = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=stack.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60
        ).get("Messages", [])
        if not messages:
            return bodies
        bodies += [message["Body"] for message in messages]


def metric_values(name: str) -> list[float]:
    points = boto3.client("cloudwatch").get_metric_statistics(
        Namespace=METRICS_NAMESPACE,
        MetricName=name,
        Dimensions=[{"Name": "Pipeline", "Value": "sheetflow-unit"}],
        StartTime=datetime.now(UTC) - timedelta(minutes=5),
        EndTime=datetime.now(UTC) + timedelta(minutes=5),
        Period=60,
        Statistics=["Maximum"],
    )["Datapoints"]
    return [point["Maximum"] for point in points]


def process(body: str, stack: Stack) -> list[Outcome]:
    """What the worker does with one delivery of `body`."""
    return process_message(
        body,
        1,
        WorkerConfig.from_env(os.environ),
        TaskRepository(stack.table),
        lease_seconds=60,
    )


# --- the watchdog ---------------------------------------------------------------------------


def test_a_lost_message_is_requeued_once_and_the_task_succeeds_once(stack: Stack, kit: Kit) -> None:
    tasks = TaskRepository(stack.table)
    # Given a task QUEUED for longer than the threshold, with no message in the queue
    lost = stored_task(stack, kit, TaskStatus.QUEUED, age_seconds=400)
    fresh = stored_task(stack, kit, TaskStatus.QUEUED, age_seconds=10)

    # When the watchdog runs twice
    first = run_watchdog(config(), tasks, CanaryRuns(stack.table), datetime.now(UTC))
    bodies = queue_bodies(stack)
    second = run_watchdog(config(), tasks, CanaryRuns(stack.table), datetime.now(UTC))

    # Then the stalled task was re-queued exactly once, the fresh one left alone
    assert (first.stalled_queued, first.requeued) == (1, 1)
    assert (second.stalled_queued, second.requeued) == (1, 0)
    assert bodies == [task_message(lost.task_id, lost.bucket, lost.key, lost.size)]
    assert queue_bodies(stack) == []
    # And the findings were published as metrics the alarms watch
    assert max(metric_values("StalledTasks")) == 1
    assert max(metric_values("TasksRequeued")) == 1
    # And the re-queued message is processed once
    outcomes = process(bodies[0], stack)
    assert [outcome.kind for outcome in outcomes] == [OutcomeKind.SUCCEEDED]
    done = tasks.get(lost.task_id)
    assert done is not None and done.status is TaskStatus.SUCCEEDED and done.attempts == 1
    untouched = tasks.get(fresh.task_id)
    assert untouched is not None and untouched.status is TaskStatus.QUEUED


def test_a_stalled_task_behind_messages_is_reported_not_requeued(stack: Stack, kit: Kit) -> None:
    stored_task(stack, kit, TaskStatus.QUEUED, age_seconds=400)
    boto3.client("sqs").send_message(QueueUrl=stack.queue_url, MessageBody="{}")
    report = run_watchdog(
        config(), TaskRepository(stack.table), CanaryRuns(stack.table), datetime.now(UTC)
    )
    assert (report.stalled_queued, report.requeued, report.queue_empty) == (1, 0, False)


def test_requeueing_a_task_whose_message_still_exists_processes_it_once(
    stack: Stack, kit: Kit
) -> None:
    tasks = TaskRepository(stack.table)
    task = stored_task(stack, kit, TaskStatus.QUEUED, age_seconds=400)
    # Given the original message and the watchdog's duplicate of it
    original = task_message(task.task_id, task.bucket, task.key)
    assert tasks.mark_requeued(task, datetime.now(UTC))
    # When both are delivered
    kinds = [outcome.kind for body in (original, original) for outcome in process(body, stack)]
    # Then the second is consumed as a duplicate by the worker's claim
    assert kinds == [OutcomeKind.SUCCEEDED, OutcomeKind.SKIPPED]
    done = tasks.get(task.task_id)
    assert done is not None and done.attempts == 1
    # And a task is never marked for re-queueing twice
    assert not tasks.mark_requeued(task, datetime.now(UTC))


def test_lapsed_processing_counts_and_expired_uploads_fail(stack: Stack, kit: Kit) -> None:
    tasks = TaskRepository(stack.table)
    lapsed = stored_task(stack, kit, TaskStatus.PROCESSING, age_seconds=1300)
    held = stored_task(stack, kit, TaskStatus.PROCESSING, age_seconds=1300)
    # A lease still held keeps the task out of the count
    boto3.resource("dynamodb").Table(stack.table).update_item(
        Key={"task_id": held.task_id},
        UpdateExpression="SET lease_until = :l",
        ExpressionAttributeValues={":l": int(datetime.now(UTC).timestamp()) + 600},
    )
    expired = stored_task(stack, kit, TaskStatus.AWAITING_UPLOAD, age_seconds=1300)
    waiting = stored_task(stack, kit, TaskStatus.AWAITING_UPLOAD, age_seconds=60)

    report = run_watchdog(config(), tasks, CanaryRuns(stack.table), datetime.now(UTC))

    assert (report.lapsed_processing, report.expired_uploads) == (1, 1)
    assert lapsed.task_id != held.task_id
    failed = tasks.get(expired.task_id)
    assert failed is not None and failed.status is TaskStatus.FAILED
    assert failed.error is not None and failed.error.code == "UPLOAD_EXPIRED"
    still = tasks.get(waiting.task_id)
    assert still is not None and still.status is TaskStatus.AWAITING_UPLOAD


def test_the_watchdog_handler_on_its_sample_event(
    stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    report = watchdog.handler(kit.event("watchdog-scheduled.json"), context)
    assert report["stalled_queued"] == 0 and report["queue_empty"] is True
    assert metric_values("StalledTasks") == [0.0]


# --- the canary -----------------------------------------------------------------------------


def complete(stack: Stack, task_id: str) -> None:
    """What the worker does with the canary's S3 notification."""
    key = upload_key(task_id, CANARY_FILENAME)
    body = json.dumps(
        {
            "Records": [
                {
                    "eventName": "ObjectCreated:Put",
                    "s3": {"bucket": {"name": stack.bucket}, "object": {"key": key}},
                }
            ]
        }
    )
    kinds = [outcome.kind for outcome in process(body, stack)]
    assert kinds == [OutcomeKind.SUCCEEDED]


def test_the_canary_starts_waits_passes_and_cleans_up(stack: Stack) -> None:
    tasks, runs, s3 = TaskRepository(stack.table), CanaryRuns(stack.table), boto3.client("s3")
    start = datetime.now(UTC)
    # When the canary runs, a workbook lands where direct uploads land
    first = run_canary(config(), tasks, runs, start)
    assert first.previous is None and first.started_task_id
    key = upload_key(first.started_task_id, CANARY_FILENAME)
    assert s3.head_object(Bucket=stack.bucket, Key=key)["ContentLength"] > 0
    # And while it is pending, no second one is started
    pending = run_canary(config(), tasks, runs, start + timedelta(seconds=30))
    assert pending.started_task_id is None and pending.previous is not None
    assert pending.previous.state.value == "PENDING"
    # When the worker processed it, the next run passes it, cleans it up and starts another
    complete(stack, first.started_task_id)
    passed = run_canary(config(), tasks, runs, start + timedelta(seconds=60))
    assert passed.previous is not None and passed.previous.state.value == "PASSED"
    assert tasks.get(first.started_task_id) is None
    listed = s3.list_objects_v2(Bucket=stack.bucket, Prefix=f"uploads/{first.started_task_id}/")
    assert listed.get("KeyCount", 0) == 0
    assert passed.started_task_id not in (None, first.started_task_id)


def test_a_missed_canary_is_a_metric_and_a_health_reason(
    stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    runs = CanaryRuns(stack.table)
    # Given a canary started longer ago than the deadline that never became a task
    runs.record(
        CanaryRun(
            task_id=new_task_id(), started_at=isoformat(datetime.now(UTC) - timedelta(hours=1))
        )
    )
    # When the canary runs again
    report = canary.handler(kit.event("canary-scheduled.json"), context)
    # Then it reports the miss, publishes it and starts a new canary
    assert report["previous"] == "MISSED" and report["started_task_id"]
    assert metric_values("CanaryMissed") == [1.0]
    # And /health, while the new canary is pending, says nothing about it
    response = api.handler(kit.event("api-health.json"), context)
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["pipeline"]["canary"]["state"] == "PENDING"


# --- /health --------------------------------------------------------------------------------


def health(kit: Kit, context: FakeLambdaContext) -> tuple[int, dict[str, Any]]:
    response = api.handler(kit.event("api-health.json"), context)
    return int(response["statusCode"]), json.loads(response["body"])


def test_health_separates_liveness_dependencies_and_pipeline(
    stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    status, body = health(kit, context)
    assert status == 200 and body["status"] == "ok" and body["reasons"] == []
    assert body["liveness"] == {"ok": True}
    assert body["pipeline"]["ok"] is True
    assert body["pipeline"]["worker_trigger"] == {"states": ["Enabled"]}
    assert set(body["about"]) == {"liveness", "checks", "pipeline"}


def test_health_is_503_when_the_worker_trigger_is_disabled(
    stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    lambda_client = boto3.client("lambda")
    mapping = lambda_client.list_event_source_mappings(FunctionName=WORKER_FUNCTION)
    uuid = mapping["EventSourceMappings"][0]["UUID"]
    lambda_client.update_event_source_mapping(UUID=uuid, Enabled=False)
    status, body = health(kit, context)
    assert status == 503 and body["status"] == "degraded"
    assert body["liveness"] == {"ok": True}
    assert all(check["ok"] for check in body["checks"].values())
    assert "queue trigger is Disabled" in body["reasons"][0]


def test_health_is_503_when_queued_work_waits_past_the_threshold(
    stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    task = stored_task(stack, kit, TaskStatus.QUEUED, age_seconds=400)
    status, body = health(kit, context)
    assert status == 503
    assert body["pipeline"]["oldest_queued_seconds"] >= 400
    assert "oldest queued task has waited" in body["reasons"][0]
    assert task.status is TaskStatus.QUEUED


# --- alerts ---------------------------------------------------------------------------------


def test_an_alarm_notification_is_recorded_as_one_structured_line(
    kit: Kit, context: FakeLambdaContext, caplog: pytest.LogCaptureFixture
) -> None:
    event = kit.event("alerts-alarm-notification.json")
    garbage = replace_message(event, "not json")
    assert alerts.handler(event, context) == {"recorded": 1}  # type: ignore[arg-type]
    assert alerts.handler(garbage, context) == {"recorded": 0}  # type: ignore[arg-type]
    recorded = [r for r in caplog.records if r.getMessage() == alerts.ALERT_MESSAGE]
    assert len(recorded) == 1
    alert = recorded[0].__dict__["alert"]
    assert alert["alarm"] == "sheetflow-QueueAgeAlarm-EXAMPLE"
    assert (alert["old_state"], alert["new_state"]) == ("OK", "ALARM")


def replace_message(event: dict[str, Any], message: str) -> dict[str, Any]:
    record = event["Records"][0]
    return {"Records": [{**record, "Sns": {**record["Sns"], "Message": message}}]}


def test_canary_record_is_not_a_task(stack: Stack) -> None:
    runs = CanaryRuns(stack.table)
    run = CanaryRun(task_id=new_task_id(), started_at=isoformat(datetime.now(UTC)))
    runs.record(run)
    assert runs.latest() == run
    # Not listed among tasks of any status
    for status in TaskStatus:
        assert TaskRepository(stack.table).page(status, 10).tasks == []
    assert replace(run) == run
