"""Notifications: e-mail through SES, signed webhooks with retries, and the address rules."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import boto3
import pytest

from sheetflow.config import MailerConfig, WebhookConfig
from sheetflow.dal.tasks import TaskRepository
from sheetflow.handlers import api
from sheetflow.logic.errors import RequestRejectedError
from sheetflow.logic.events import task_event
from sheetflow.logic.notifications import (
    check_callback_url,
    check_email,
    check_resolved,
    signature,
    task_mail,
)
from sheetflow.logic.task import Task, TaskStatus
from sheetflow.usecases.notifying import DeliveryFailedError, deliver_webhook, send_task_mail

from .conftest import FakeLambdaContext, Kit, Stack

NOW = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
SENDER = "sheetflow@example.com"


def finished(stack: Stack, kit: Kit, **fields: Any) -> Task:
    """A SUCCEEDED task with the notification fields given, stored."""
    task = kit.store_task(stack, None, status=TaskStatus.SUCCEEDED)
    stored = replace(
        task,
        summary={"sheet_count": 1, "total_rows": 6, "total_errors": 0},
        result_key=f"results/{task.task_id}.json",
        attempts=1,
        **fields,
    )
    repository = TaskRepository(stack.table)
    repository.delete_expired(task.task_id, "9999")
    assert repository.create(stored)
    return stored


def event_body(task: Task, stack: Stack) -> str:
    event = task_event(task, stack.bucket)
    return json.dumps(
        {"source": "sheetflow", "detail-type": event.detail_type, "detail": event.detail}
    )


# --- the rules -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "allow_loopback", "refused"),
    [
        ("https://hooks.example.com/sheetflow", False, None),
        ("ftp://hooks.example.com/x", False, "http:// or https://"),
        ("https:///no-host", False, "http:// or https://"),
        ("http://169.254.169.254/latest/meta-data", False, "link-local"),
        ("http://[fe80::1]/x", False, "link-local"),
        ("http://metadata.google.internal/", False, "metadata service"),
        ("http://127.0.0.1:8080/hook", False, "loopback"),
        ("http://localhost:8080/hook", False, "loopback"),
        ("http://127.0.0.1:8080/hook", True, None),
        ("http://169.254.169.254/", True, "link-local"),
    ],
)
def test_callback_urls_are_http_and_never_link_local(
    url: str, allow_loopback: bool, refused: str | None
) -> None:
    if refused is None:
        assert check_callback_url(url, allow_loopback) == url
    else:
        with pytest.raises(RequestRejectedError, match=refused):
            check_callback_url(url, allow_loopback)


def test_a_host_that_resolves_to_the_metadata_address_is_refused() -> None:
    with pytest.raises(RequestRejectedError, match="link-local"):
        check_resolved("evil.example.com", ["93.184.216.34", "169.254.169.254"], True)


def test_email_addresses() -> None:
    assert check_email(" ops@example.com ") == "ops@example.com"
    with pytest.raises(RequestRejectedError, match="not an e-mail address"):
        check_email("ops at example")


def test_the_signature_covers_timestamp_and_body() -> None:
    expected = hmac.new(b"key", b"1767607200." + b'{"a":1}', hashlib.sha256).hexdigest()
    assert signature("key", "1767607200", b'{"a":1}') == f"sha256={expected}"
    assert signature("key", "1767607201", b'{"a":1}') != signature("key", "1767607200", b'{"a":1}')


def test_mail_words() -> None:
    detail = {"task_id": "t", "filename": "orders.xlsx", "status": "FAILED"}
    failed = task_mail({**detail, "error": {"code": "NOT_XLSX", "message": "not a workbook"}})
    assert failed.subject == "orders.xlsx could not be processed"
    assert "Reason: not a workbook" in failed.body


# --- the API -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"notify": "nobody"}, "INVALID_NOTIFY"),
        ({"callback_url": "file:///etc/passwd"}, "INVALID_CALLBACK_URL"),
        ({"callback_url": "http://127.0.0.1:9/x"}, "INVALID_CALLBACK_URL"),
    ],
)
def test_uploads_with_bad_notifications_are_refused(
    stack: Stack, kit: Kit, context: FakeLambdaContext, query: dict[str, str], code: str
) -> None:
    event = copy.deepcopy(kit.event("api-upload.json"))
    event["queryStringParameters"] = {**(event["queryStringParameters"] or {}), **query}
    response = api.handler(event, context)
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["error"]["code"] == code


# --- e-mail --------------------------------------------------------------------------------


def test_a_finished_task_is_mailed_once(stack: Stack, kit: Kit) -> None:
    ses = boto3.client("ses")
    ses.verify_email_identity(EmailAddress=SENDER)
    task = finished(stack, kit, notify="ops@example.com")
    config = MailerConfig.from_env(
        {"TABLE_NAME": stack.table, "BUCKET_NAME": stack.bucket, "MAIL_FROM": SENDER}
    )
    repository = TaskRepository(stack.table)
    assert send_task_mail(event_body(task, stack), config, repository).sent
    assert not send_task_mail(event_body(task, stack), config, repository).sent
    assert ses.get_send_quota()["SentLast24Hours"] == 1


# --- webhooks ------------------------------------------------------------------------------


class Receiver:
    """A webhook receiver on loopback that answers the statuses it is given, in turn."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver([500, 500])
    yield started
    started.server.shutdown()


def webhook_config(stack: Stack, secret_arn: str) -> WebhookConfig:
    return WebhookConfig.from_env(
        {
            "TABLE_NAME": stack.table,
            "BUCKET_NAME": stack.bucket,
            "WEBHOOK_QUEUE_URL": stack.queue_url,
            "WEBHOOK_SECRET_ID": secret_arn,
            "ALLOW_LOOPBACK_CALLBACKS": "true",
            "WEBHOOK_RETRY_BASE_SECONDS": "5",
        }
    )


def test_a_webhook_is_retried_with_growing_delays_and_delivered_signed_once(
    stack: Stack, kit: Kit, receiver: Receiver
) -> None:
    secret = boto3.client("secretsmanager").create_secret(Name="hook", SecretString="s3cret")
    config = webhook_config(stack, secret["ARN"])
    task = finished(stack, kit, callback_url=receiver.url)
    repository = TaskRepository(stack.table)
    body = event_body(task, stack)
    # When the receiver answers 500 twice, Then each delivery asks for a retry, later each time
    delays = []
    for receive_count in (1, 2):
        with pytest.raises(DeliveryFailedError) as failed:
            deliver_webhook(body, receive_count, config, repository, NOW)
        delays.append(failed.value.delay_seconds)
    assert delays == [5, 10]
    # And the third is delivered; a redelivery of the event after that sends nothing
    assert deliver_webhook(body, 3, config, repository, NOW).sent
    assert not deliver_webhook(body, 4, config, repository, NOW).sent
    assert len(receiver.requests) == 3
    headers, payload = receiver.requests[-1]
    expected = signature("s3cret", headers["X-Sheetflow-Timestamp"], payload)
    assert headers["X-Sheetflow-Signature"] == expected
    assert headers["X-Sheetflow-Delivery"] == f"{task.task_id}:SUCCEEDED:1"
    assert json.loads(payload)["detail"]["task_id"] == task.task_id
    # And every attempt is on the task
    stored = repository.get(task.task_id)
    assert stored is not None and stored.webhook_attempts is not None
    assert [attempt["status"] for attempt in stored.webhook_attempts] == [500, 500, 200]


def test_a_refused_address_is_recorded_and_not_retried(stack: Stack, kit: Kit) -> None:
    secret = boto3.client("secretsmanager").create_secret(Name="hook", SecretString="s3cret")
    task = finished(stack, kit, callback_url="http://169.254.169.254/latest")
    repository = TaskRepository(stack.table)
    notice = deliver_webhook(
        event_body(task, stack), 1, webhook_config(stack, secret["ARN"]), repository, NOW
    )
    assert not notice.sent and "link-local" in notice.detail
    stored = repository.get(task.task_id)
    assert stored is not None and stored.webhook_attempts is not None
    assert stored.webhook_attempts[0]["status"] is None
