"""Driving the deployed stack in the end-to-end tests: its API over HTTP, its functions'
settings, a watcher of a task's attempts, and the queue's depth."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import requests
from boto3.dynamodb.types import TypeDeserializer

from sheetflow.dal.tasks import task_from_item
from sheetflow.logic.task import FINISHED_STATUSES, Task, upload_key
from sheetflow.logic.uploads import XLSX_MEDIA_TYPE
from stackctl import api_keys
from stackctl.api_keys import API_KEY_HEADER
from stackctl.stack import StackOutputs
from tests.support.waiting import wait_until

E2E_STACK = os.environ.get("SHEETFLOW_E2E_STACK", "sheetflow-e2e")


@dataclass
class Api:
    """HTTP calls to the deployed REST API, through LocalStack's offline invoke path.

    `http` is the one place the API key is sent: every call of a test through it carries the key
    (header x-api-key); `anonymous` is the same API without one.
    """

    base_url: str
    api_key: str | None = None
    # The key's id: the owner of the tasks this client creates, the folder of its objects.
    key_id: str | None = None
    # Sent with every request, through `http` and by the contract tests
    # (tests/e2e/test_contract_fuzz.py): the API key is one of them.
    headers: dict[str, str] = field(default_factory=dict)
    http: requests.Session = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.api_key:
            self.headers.setdefault(API_KEY_HEADER, self.api_key)
        self.http = requests.Session()
        self.http.headers.update(self.headers)

    @classmethod
    def for_stack(cls, outputs: StackOutputs, client: str | None = None) -> Api:
        """The stack's API as a client: the stack's default key, or the key named `client`
        (created and bound to the usage plan on first use)."""
        key = (
            api_keys.default_key(outputs)
            if client is None
            else api_keys.client_key(outputs, client)
        )
        return cls(outputs.api_base_url, key.value, key.key_id)

    def as_key(self, api_key: str | None) -> Api:
        """The same API with another key value (None: no key at all)."""
        return Api(self.base_url, api_key)

    def upload_key(self, task_id: str, filename: str) -> str:
        """Where a file put straight into the bucket becomes this client's task."""
        return upload_key(task_id, filename, self.key_id)

    def upload(
        self, data: bytes, filename: str = "book.xlsx", content_type: str = XLSX_MEDIA_TYPE
    ) -> requests.Response:
        return self.http.post(
            f"{self.base_url}/uploads",
            params={"filename": filename},
            data=data,
            headers={"Content-Type": content_type},
            timeout=30,
        )

    def presign(self, filename: str) -> dict[str, Any]:
        response = self.http.post(
            f"{self.base_url}/uploads/presign", json={"filename": filename}, timeout=30
        )
        assert response.status_code == 201, response.text
        document: dict[str, Any] = response.json()
        return document

    def task(self, task_id: str) -> dict[str, Any] | None:
        response = self.http.get(f"{self.base_url}/tasks/{task_id}", timeout=30)
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        document: dict[str, Any] = response.json()
        return document

    def health(self) -> requests.Response:
        return self.http.get(f"{self.base_url}/health", timeout=30)

    def wait_finished(self, task_id: str, timeout: float = 60) -> dict[str, Any]:
        def finished() -> dict[str, Any] | None:
            # A task put straight into the bucket does not exist until the worker creates it.
            task = self.task(task_id)
            return task if task and task["status"] in FINISHED_STATUSES else None

        return wait_until(finished, timeout=timeout, what=f"task {task_id} to finish")

    def wait_finished_as(self, task_id: str, status: str, timeout: float = 60) -> dict[str, Any]:
        """Until the task is in `status` (a task redriven after FAILED passes through others)."""

        def reached() -> dict[str, Any] | None:
            task = self.task(task_id)
            return task if task and task["status"] == status else None

        return wait_until(reached, timeout=timeout, what=f"task {task_id} to be {status}")


class FunctionSettings:
    """Changes a deployed function's configuration for one test, then puts it back.

    Faults are injected the way an operator would misconfigure a function, never through a
    test-only branch in the code.
    """

    def __init__(self, lambda_client: Any) -> None:
        self._lambda = lambda_client

    @contextmanager
    def overridden(
        self, name: str, changes: dict[str, str], *, settle: tuple[Any, str] | None = None
    ) -> Iterator[None]:
        """The function runs with these environment variables changed inside the block."""
        variables = self._lambda.get_function_configuration(FunctionName=name)["Environment"][
            "Variables"
        ]
        with self.configured(
            name, {"Environment": {"Variables": {**variables, **changes}}}, settle=settle
        ):
            yield

    @contextmanager
    def configured(
        self, name: str, configuration: dict[str, Any], *, settle: tuple[Any, str] | None = None
    ) -> Iterator[None]:
        """The function runs with `configuration` (UpdateFunctionConfiguration's fields, such
        as Timeout or Handler) inside the block; each field is put back afterwards.

        `settle` (an SQS client and the URL of the queue the function consumes) makes the
        restore wait until that queue holds nothing in flight: LocalStack stops a function's
        environments mid-invocation when its configuration changes (AWS lets them finish), so a
        restore right after a task is marked finished would leave its message undeleted until
        the visibility timeout ran out, and the work of the next test would wait behind it.
        """
        current = self._lambda.get_function_configuration(FunctionName=name)
        original = {field: current[field] for field in configuration}
        self._update(name, configuration)
        try:
            yield
            if settle is not None:
                wait_queue_drained(*settle, timeout=120)
        finally:
            self._update(name, original)

    def _update(self, name: str, configuration: dict[str, Any]) -> None:
        self._lambda.update_function_configuration(FunctionName=name, **configuration)
        wait_until(
            lambda: (
                self._lambda.get_function_configuration(FunctionName=name)["LastUpdateStatus"]
                == "Successful"
            ),
            timeout=30,
            what=f"the configuration update of {name}",
        )


class AttemptWatcher:
    """Polls a task in the background and notes when each attempt number was first seen."""

    def __init__(self, api: Api, task_id: str) -> None:
        self.api, self.task_id = api, task_id
        self.first_seen: dict[int, float] = {}
        self.latest: dict[str, Any] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            task = self.api.task(self.task_id)
            if task:
                self.latest = task
                self.first_seen.setdefault(int(task["attempts"]), time.monotonic())
            time.sleep(0.05)

    def __enter__(self) -> AttemptWatcher:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def wait_for(self, what: str, condition: Any, timeout: float) -> dict[str, Any]:
        return wait_until(
            lambda: self.latest if self.latest and condition(self.latest) else None,
            timeout=timeout,
            what=what,
        )


def queue_counts(sqs: Any, queue_url: str) -> tuple[int, int]:
    """The queue's (visible, in flight) message counts."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]),
        int(attributes["ApproximateNumberOfMessagesNotVisible"]),
    )


def wait_queue_drained(sqs: Any, queue_url: str, timeout: float = 30) -> None:
    """Until the queue holds no message, visible or in flight."""
    wait_until(
        lambda: queue_counts(sqs, queue_url) == (0, 0), timeout=timeout, what="the queue to drain"
    )


def set_visibility_timeout(sqs: Any, queue_url: str, seconds: int) -> None:
    """Changes a queue's visibility timeout so that it holds for the next message received.

    A receive takes the timeout when it starts, so a long poll of the queue's trigger begun before
    the change would still hide the next message for the old time (seen: twelve minutes). A probe
    the trigger's function consumes (S3's test event, which carries nothing to do) marks the
    change: the trigger polls one receive at a time, so every receive after the probe's began
    after the change. Needs the function to be healthy, and nothing else sending, meanwhile.
    """

    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"VisibilityTimeout": str(seconds)})
    # Messages already in flight (another test's, hidden for long) are not the probe's business.
    _, in_flight_before = queue_counts(sqs, queue_url)
    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({"Event": "s3:TestEvent"}))

    def probe_consumed() -> bool:
        visible, in_flight = queue_counts(sqs, queue_url)
        return visible == 0 and in_flight <= in_flight_before

    wait_until(probe_consumed, timeout=60, what="the visibility probe to be consumed")


def function_log_messages(aws: Any, function: str) -> list[str]:
    """Every line a deployed function has logged to CloudWatch Logs so far, oldest first."""
    logs, events, token = aws("logs"), [], None
    while True:
        page = logs.filter_log_events(
            logGroupName=f"/aws/lambda/{function}", **({"nextToken": token} if token else {})
        )
        events += page["events"]
        token = page.get("nextToken")
        if not token:
            return [event["message"] for event in sorted(events, key=lambda e: e["timestamp"])]


def stored_task(aws: Any, table: str, task_id: str) -> Task | None:
    """A task read from the table, as an operator with AWS credentials reads it: the way to see
    the tasks no API key owns (the canary's, direct puts outside a client's folder)."""
    raw = aws("dynamodb").get_item(TableName=table, Key={"task_id": {"S": task_id}}).get("Item")
    if raw is None:
        return None
    deserializer = TypeDeserializer()
    return task_from_item({name: deserializer.deserialize(value) for name, value in raw.items()})
