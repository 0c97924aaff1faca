"""Cleanup, health and the sample events, on the deployed stack."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from boto3.dynamodb.types import TypeSerializer

from sheetflow.dal.tasks import task_to_item
from sheetflow.logic.task import TaskStatus, new_task, result_key, upload_key
from stackctl import paths, samples
from stackctl.function_names import function_name, function_of_event_file
from stackctl.stack import StackOutputs
from tests.support.aws import AwsClientFactory
from tests.support.e2e import Api, FunctionSettings, wait_queue_drained

pytestmark = [pytest.mark.localstack, pytest.mark.e2e]

EVENTS = paths.project_root() / "events"


def store_task_with_objects(
    aws: AwsClientFactory, outputs: StackOutputs, age: timedelta, owner: str | None
) -> str:
    """A SUCCEEDED task of `owner` created `age` ago, with its upload and result objects."""
    task_id = uuid.uuid4().hex
    bucket = outputs["BucketName"]
    upload = upload_key(task_id, "old.xlsx")
    task = new_task(
        task_id=task_id,
        status=TaskStatus.SUCCEEDED,
        bucket=bucket,
        key=upload,
        filename="old.xlsx",
        now=datetime.now(UTC) - age,
        ttl=timedelta(days=30),
        owner=owner,
    )
    item = task_to_item(task) | {"result_key": result_key(task_id)}
    serializer = TypeSerializer()
    aws("dynamodb").put_item(
        TableName=outputs["TableName"],
        Item={key: serializer.serialize(value) for key, value in item.items()},
    )
    # The record exists first: the upload's notification then finds a finished task and skips it.
    s3 = aws("s3")
    s3.put_object(Bucket=bucket, Key=upload, Body=samples.orders_workbook(3))
    s3.put_object(Bucket=bucket, Key=result_key(task_id), Body=b"{}")
    return task_id


def objects_of(aws: AwsClientFactory, bucket: str, task_id: str) -> list[str]:
    keys = []
    for prefix in (upload_key(task_id, ""), result_key(task_id)):
        listing = aws("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)
        keys += [entry["Key"] for entry in listing.get("Contents", [])]
    return keys


def test_cleanup_removes_expired_tasks_and_their_files_and_keeps_fresh_ones(
    api: Api, aws: AwsClientFactory, outputs: StackOutputs
) -> None:
    # Given a task older than the retention (168 h by default) and a fresh one
    expired = store_task_with_objects(aws, outputs, timedelta(days=8), api.key_id)
    fresh = store_task_with_objects(aws, outputs, timedelta(hours=1), api.key_id)
    assert len(objects_of(aws, outputs["BucketName"], expired)) == 2
    # (their uploads' notifications are consumed first, so none arrives after the cleanup)
    wait_queue_drained(aws("sqs"), outputs["QueueUrl"])
    # When the scheduled cleanup runs
    event = (EVENTS / "cleanup-scheduled.json").read_bytes()
    response = aws("lambda").invoke(FunctionName=outputs["CleanupFunctionName"], Payload=event)
    assert "FunctionError" not in response
    report = json.loads(response["Payload"].read())
    # Then the expired task and its objects are gone; the fresh one is untouched
    assert report["tasks_deleted"] >= 1
    assert api.task(expired) is None
    assert objects_of(aws, outputs["BucketName"], expired) == []
    assert api.task(fresh) is not None
    assert len(objects_of(aws, outputs["BucketName"], fresh)) == 2
    # And running it again is harmless
    again = aws("lambda").invoke(FunctionName=outputs["CleanupFunctionName"], Payload=event)
    assert "FunctionError" not in again
    assert api.task(fresh) is not None


def test_health_reports_a_missing_dependency_with_503(
    api: Api, outputs: StackOutputs, function_settings: FunctionSettings
) -> None:
    healthy = api.health()
    assert healthy.status_code == 200, healthy.text
    assert healthy.json()["status"] == "ok"
    missing_table = f"gone-{uuid.uuid4().hex[:8]}"
    with function_settings.overridden(outputs["ApiFunctionName"], {"TABLE_NAME": missing_table}):
        degraded = api.health()
    assert degraded.status_code == 503, degraded.text
    document = degraded.json()
    assert document["checks"]["table"]["ok"] is False
    assert document["checks"]["bucket"]["ok"] is True
    assert api.health().status_code == 200


def function_for(event_file: Path, outputs: StackOutputs) -> str:
    return function_name(outputs, function_of_event_file(event_file))


# Every sample that a function receives; `bus-*.json` are events for the task-events bus, not for a
# function (`sheetflow send … --to trigger` puts them there; tests/e2e/test_task_events.py and the
# CLI's bus test cover them).
FUNCTION_EVENTS = sorted(path for path in EVENTS.glob("*.json") if not path.name.startswith("bus-"))


@pytest.mark.parametrize("event_file", FUNCTION_EVENTS, ids=lambda p: p.name)
def test_every_sample_event_is_accepted_by_its_deployed_function(
    event_file: Path, aws: AwsClientFactory, outputs: StackOutputs
) -> None:
    response = aws("lambda").invoke(
        FunctionName=function_for(event_file, outputs), Payload=event_file.read_bytes()
    )
    body = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, body
    if event_file.name.startswith("api-"):
        # The sample ids do not exist in this stack: a clean 4xx is an acceptance, 5xx is not.
        assert body["statusCode"] < 500, body
    elif event_file.name.startswith(("worker-", "dead-letter-", "export-", "mailer-", "webhook-")):
        # SQS-fed functions answer with their partial batch response
        assert isinstance(body["batchItemFailures"], list)
    elif event_file.name.startswith("scheduler-"):
        assert isinstance(body["dispatched"], int)
    elif event_file.name.startswith("watchdog-"):
        assert isinstance(body["stalled_queued"], int)
    elif event_file.name.startswith("canary-"):
        assert "started_task_id" in body
    elif event_file.name.startswith("alerts-"):
        assert body == {"recorded": 1}
    else:
        assert "tasks_deleted" in body
