"""Notifications on the deployed stack: an e-mail in SES's store, a signed webhook received on
loopback exactly once after two deliberate 500 answers."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
import requests

from sheetflow.logic.notifications import signature
from sheetflow.logic.uploads import XLSX_MEDIA_TYPE as XLSX
from stackctl import localstack, samples
from stackctl.stack import StackOutputs
from tests.support.aws import AwsClientFactory
from tests.support.e2e import Api, FunctionSettings
from tests.support.waiting import wait_until


def upload_with(api: Api, **query: str) -> str:
    response = api.http.post(
        f"{api.base_url}/uploads",
        params={"filename": "notified.xlsx", **query},
        data=samples.orders_workbook(8),
        headers={"Content-Type": XLSX},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    task_id: str = response.json()["task_id"]
    return task_id


def sent_mail(aws: AwsClientFactory, to: str) -> list[dict[str, Any]]:
    aws("ses").list_identities()  # loads the SES service, whose store the endpoint serves
    messages = requests.get(f"{localstack.endpoint_url()}/_aws/ses", timeout=30).json()["messages"]
    return [m for m in messages if to in m["Destination"]["ToAddresses"]]


def test_a_finished_task_is_mailed(api: Api, aws: AwsClientFactory) -> None:
    address = f"ops-{uuid.uuid4().hex[:8]}@example.com"
    task_id = upload_with(api, notify=address)
    api.wait_finished(task_id)
    mails = wait_until(lambda: sent_mail(aws, address), timeout=60, what="the task's e-mail")
    assert [mail["Subject"] for mail in mails] == [
        "notified.xlsx is processed: 9 rows in 1 sheet(s)"
    ]
    assert task_id in mails[0]["Body"]["text_part"]


class Receiver:
    """Answers 500 twice, then 200; keeps what it received."""

    def __init__(self) -> None:
        self.statuses = [500, 500]
        self.received: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append((dict(self.headers), body))
                self.send_response(outer.statuses.pop(0) if outer.statuses else 200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver()
    yield started
    started.server.shutdown()


def test_a_webhook_is_delivered_signed_once_after_two_failures(
    api: Api,
    aws: AwsClientFactory,
    outputs: StackOutputs,
    function_settings: FunctionSettings,
    receiver: Receiver,
) -> None:
    secret = aws("secretsmanager").get_secret_value(SecretId=outputs["WebhookSecretArn"])
    # Retries a second apart instead of ten (the backoff's base is a setting)
    with function_settings.overridden(
        outputs["WebhookFunctionName"],
        {"WEBHOOK_RETRY_BASE_SECONDS": "1"},
        settle=(aws("sqs"), outputs["WebhookQueueUrl"]),
    ):
        task_id = upload_with(api, callback_url=receiver.url)
        api.wait_finished(task_id)

        def three_attempts() -> dict[str, Any] | None:
            task = api.task(task_id)
            return task if task and len(task["webhook_attempts"]) >= 3 else None

        task = wait_until(three_attempts, timeout=90, what="three webhook attempts")
    # Then the receiver got three POSTs; the last, answered 200, is correctly signed
    assert [a["status"] for a in task["webhook_attempts"]] == [500, 500, 200]
    assert len(receiver.received) == 3
    headers, body = receiver.received[-1]
    expected = signature(secret["SecretString"], headers["X-Sheetflow-Timestamp"], body)
    assert headers["X-Sheetflow-Signature"] == expected
    assert headers["X-Sheetflow-Delivery"].startswith(f"{task_id}:SUCCEEDED:")
    # And every delivery of the event carried the same delivery id
    assert {h["X-Sheetflow-Delivery"] for h, _ in receiver.received} == {
        headers["X-Sheetflow-Delivery"]
    }
