"""The Lambda worker and a standalone worker consuming the same queue of a deployed stack."""

from __future__ import annotations

import signal
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from sheetflow.config import ApiConfig
from sheetflow.dal import storage
from sheetflow.dal.queues import send
from sheetflow.dal.tasks import TaskRepository
from sheetflow.logic.messages import task_message
from sheetflow.logic.task import TaskStatus, new_task_id, upload_key
from stackctl import stack
from stackctl.stack import StackOutputs
from tests.support.aws import AwsClientFactory
from tests.support.waiting import wait_until
from tests.support.worker import StartWorker, submit

pytestmark = pytest.mark.localstack

STACK = "sheetflow-worker-test"
SHEETFLOW_CLI = Path(sys.executable).with_name("sheetflow")


@pytest.fixture(scope="module")
def deployed(aws: AwsClientFactory) -> Iterator[StackOutputs]:
    # No canary: its workbooks would join the queue these tests count messages on.
    outputs = stack.deploy(name=STACK, parameters={"CanaryIntervalMinutes": "0"})
    yield outputs
    s3 = aws("s3")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=outputs["BucketName"]):
        for item in page.get("Contents", []):
            s3.delete_object(Bucket=outputs["BucketName"], Key=item["Key"])
    aws("cloudformation").delete_stack(StackName=STACK)


def api_config(outputs: StackOutputs) -> ApiConfig:
    values = outputs.values
    return ApiConfig.from_env(
        {
            "TABLE_NAME": values["TableName"],
            "BUCKET_NAME": values["BucketName"],
            "QUEUE_URL": values["QueueUrl"],
            "DLQ_URL": values["DlqUrl"],
            "FAILED_QUEUE_URL": values.get("FailedQueueUrl", values["DlqUrl"]),
            "EVENT_BUS_NAME": values["EventBusName"],
        }
    )


def test_lambda_and_standalone_worker_share_the_queue(
    deployed: StackOutputs, sdk_env: None, start_worker: StartWorker, small_workbook: bytes
) -> None:
    # Given a standalone worker started by `sheetflow worker` on the stack whose Lambda worker
    # also consumes the queue
    worker = start_worker({}, "--stack", STACK, command=[str(SHEETFLOW_CLI), "worker"])
    wait_until(worker.started, timeout=120, what="worker started")
    # When 20 workbooks come through the upload API, each task message also sent a second time
    # (SQS delivers at least once), and 10 are put straight into the bucket (S3 notifications)
    tasks = submit(api_config(deployed), small_workbook, count=20)
    for task in tasks:
        send(deployed["QueueUrl"], task_message(task.task_id, task.bucket, task.key))
    direct_ids = [new_task_id() for _ in range(10)]
    for task_id in direct_ids:
        key = upload_key(task_id, "direct.xlsx")
        storage.put_upload(deployed["BucketName"], key, small_workbook, "direct.xlsx")
    task_ids = [task.task_id for task in tasks] + direct_ids
    repository = TaskRepository(deployed["TableName"])

    def finished() -> bool:
        found = [repository.get(task_id) for task_id in task_ids]
        return all(task is not None and task.status is TaskStatus.SUCCEEDED for task in found)

    wait_until(finished, timeout=90, what="every task to succeed")
    # Then each task was claimed and processed once
    attempts = {task_id: getattr(repository.get(task_id), "attempts", None) for task_id in task_ids}
    assert set(attempts.values()) == {1}, attempts
    # and the worker started through the CLI stops gracefully (after which its log is complete)
    worker.signal(signal.SIGTERM)
    assert worker.wait(timeout=120) == 0
    by_worker = Counter(str(record["task_id"]) for record in worker.outcomes("SUCCEEDED"))
    assert set(by_worker.values()) <= {1}
    # and both consumers did part of the work
    assert 0 < len(by_worker) < len(task_ids), by_worker
