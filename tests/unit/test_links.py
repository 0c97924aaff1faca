"""Links the API hands out are built on the address the client used (logic/links.py)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from sheetflow.handlers import api
from sheetflow.logic.links import RequestAddress, base_url

from .conftest import FakeLambdaContext, Kit, Stack

API_ID = "abc123defg"


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        # AWS: the API's own host, the stage in the path.
        (
            RequestAddress(
                f"{API_ID}.execute-api.eu-west-1.amazonaws.com",
                API_ID,
                "Prod",
                "/Prod/tasks/1",
                "/tasks/1",
                "https",
            ),
            f"https://{API_ID}.execute-api.eu-west-1.amazonaws.com/Prod",
        ),
        # LocalStack's shared endpoint: the event says 127.0.0.1:4566 and /Prod/..., but the
        # client used /_aws/execute-api/<id>/Prod/... (measured on LocalStack 2026.3.0).
        (
            RequestAddress("127.0.0.1:4566", API_ID, "Prod", "/Prod/uploads", "/uploads", "HTTP"),
            f"http://127.0.0.1:4566/_aws/execute-api/{API_ID}/Prod",
        ),
        (
            RequestAddress(
                "localhost.localstack.cloud:4566", API_ID, "Prod", "/Prod/tasks", "/tasks", "HTTP"
            ),
            f"http://localhost.localstack.cloud:4566/_aws/execute-api/{API_ID}/Prod",
        ),
        # LocalStack's host form: the API's id is the host's first label.
        (
            RequestAddress(
                f"{API_ID}.execute-api.localhost.localstack.cloud:4566",
                API_ID,
                "Prod",
                "/Prod/uploads",
                "/uploads",
                "HTTP",
            ),
            f"http://{API_ID}.execute-api.localhost.localstack.cloud:4566/Prod",
        ),
        # An AWS custom domain: the base path mapping is in requestContext.path, no stage.
        (
            RequestAddress("api.example.com", API_ID, "Prod", "/v1/tasks", "/tasks", "https"),
            "https://api.example.com/v1",
        ),
        (
            RequestAddress("api.example.com", API_ID, "Prod", "/tasks", "/tasks", None),
            "https://api.example.com",
        ),
        # A direct invoke with no host: links stay root-relative paths.
        (RequestAddress(None, None, None, None, "/tasks", None), ""),
    ],
)
def test_base_url_is_the_address_the_client_used(address: RequestAddress, expected: str) -> None:
    assert base_url(address) == expected


def test_a_strange_forwarded_scheme_falls_back_to_https() -> None:
    address = RequestAddress("api.example.com", API_ID, "Prod", "/tasks", "/tasks", "gopher")
    assert base_url(address) == "https://api.example.com"


def _via_shared_endpoint(event: dict[str, Any], port: int = 4566) -> dict[str, Any]:
    """The event as LocalStack builds it for /_aws/execute-api/<id>/Prod/<path>."""
    event = copy.deepcopy(event)
    host = f"127.0.0.1:{port}"
    event["headers"] = {**event["headers"], "Host": host, "X-Forwarded-Proto": "HTTP"}
    event["requestContext"].update(domainName=host, domainPrefix="127")
    return event


def test_upload_links_follow_the_shared_endpoint(
    stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    # Given an upload through LocalStack's shared endpoint
    event = _via_shared_endpoint(kit.event("api-upload.json"))
    # When it is handled
    response = api.handler(event, context)
    body = json.loads(response["body"])
    # Then the status link and Location carry the /_aws/execute-api/<id>/Prod prefix
    expected = f"http://127.0.0.1:4566/_aws/execute-api/{API_ID}/Prod/tasks/{body['task_id']}"
    assert body["status_url"] == expected
    assert response["multiValueHeaders"]["Location"] == [expected]


def test_multipart_links_on_aws(stack: Stack, kit: Kit, context: FakeLambdaContext) -> None:
    event = copy.deepcopy(kit.event("api-multipart-start.json"))
    body = json.loads(api.handler(event, context)["body"])
    base = f"https://{API_ID}.execute-api.us-east-1.amazonaws.com/Prod"
    assert body["complete_url"] == f"{base}/uploads/{body['task_id']}/complete"
    assert body["status_url"] == f"{base}/tasks/{body['task_id']}"
