"""The CLI's creates are idempotent: a retry after a gateway error or a lost answer carries the
first try's Idempotency-Key, so the API answers it with the same task instead of a second one.

A small HTTP server on 127.0.0.1 plays the API; it answers from a script and records each request.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from stackctl import api_client
from stackctl.api_client import ApiClient
from stackctl.errors import UserFacingError


class ScriptedApi:
    """Answers each POST with the next (status, body) of `script`; remembers the headers."""

    def __init__(self, script: list[tuple[int, dict[str, Any]]]) -> None:
        self.script = list(script)
        self.received: list[Message] = []  # header lookups ignore case, as HTTP does
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                api.received.append(self.headers)
                status, body = api.script.pop(0)
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *_: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/Prod"

    def __enter__(self) -> ScriptedApi:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def no_pause(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(api_client, "CREATE_RETRY_PAUSE_SECONDS", 0.0)
    yield


ACCEPTED = (202, {"task_id": "t-1", "status": "QUEUED"})
GATEWAY_ERROR = (502, {"message": "Internal server error"})
IN_PROGRESS = (409, {"error": {"code": "IDEMPOTENCY_IN_PROGRESS", "message": "first try runs"}})


def test_an_upload_after_a_gateway_error_is_sent_again_under_the_same_key() -> None:
    with ScriptedApi([GATEWAY_ERROR, IN_PROGRESS, ACCEPTED]) as api:
        answer = ApiClient(api.url, "secret").upload(b"PK", "orders.xlsx")
    assert answer["task_id"] == "t-1"
    keys = [headers["Idempotency-Key"] for headers in api.received]
    assert len(keys) == 3 and len(set(keys)) == 1 and keys[0]
    assert {headers["x-api-key"] for headers in api.received} == {"secret"}


def test_two_uploads_use_two_keys() -> None:
    with ScriptedApi([ACCEPTED, ACCEPTED]) as api:
        client = ApiClient(api.url)
        client.upload(b"PK", "a.xlsx")
        client.presign("b.xlsx", size=10)
    first, second = (headers["Idempotency-Key"] for headers in api.received)
    assert first != second


def test_a_refusal_is_not_retried() -> None:
    refused = (415, {"error": {"code": "NOT_XLSX", "message": "not a workbook"}})
    with ScriptedApi([refused]) as api, pytest.raises(UserFacingError, match="NOT_XLSX"):
        ApiClient(api.url).upload(b"a,b", "orders.csv")
    assert len(api.received) == 1


def test_the_last_gateway_error_is_reported_after_every_attempt() -> None:
    with (
        ScriptedApi([GATEWAY_ERROR] * api_client.CREATE_ATTEMPTS) as api,
        pytest.raises(UserFacingError, match="HTTP 502"),
    ):
        ApiClient(api.url).presign("b.xlsx")
    assert len(api.received) == api_client.CREATE_ATTEMPTS
