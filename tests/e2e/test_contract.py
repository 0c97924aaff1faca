"""The API as a contract, on the deployed stack: every link it returns answers when followed,
in both of LocalStack's URL forms; the document is served; wrong methods and unknown
parameters get JSON 4xx from the real API Gateway route."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests

from sheetflow.logic.uploads import XLSX_MEDIA_TYPE
from stackctl import localstack, samples
from stackctl.stack import StackOutputs
from tests.support.aws import AwsClientFactory
from tests.support.e2e import Api
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.localstack, pytest.mark.e2e]

# LocalStack's host form resolves to 127.0.0.1 in public DNS; offline, the test does that itself.
_LOCALSTACK_DOMAIN = ".localhost.localstack.cloud"


# The test client's headers (its API key) for requests to the API, not to S3's presigned URLs.
_API_HEADERS: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _api_key(api: Api) -> None:
    _API_HEADERS.update(api.headers)


def follow(method: str, url: str, **kwargs: Any) -> requests.Response:
    """A request to a URL the API returned, exactly as returned (host form: to 127.0.0.1 with the
    URL's own Host header, as DNS would resolve it); the API key goes to the API's URLs."""
    parts = urlsplit(url)
    headers = dict(kwargs.pop("headers", {}))
    if "execute-api" in url:
        headers = {**_API_HEADERS, **headers}
    hostname = parts.hostname or ""
    if hostname.endswith(_LOCALSTACK_DOMAIN):
        headers["Host"] = parts.netloc
        url = urlunsplit(parts._replace(netloc=f"127.0.0.1:{parts.port or 80}"))
    return requests.request(method, url, headers=headers, timeout=30, **kwargs)


def _host_form(outputs: StackOutputs) -> str:
    port = urlsplit(localstack.endpoint_url()).port
    return f"http://{outputs['ApiId']}.execute-api{_LOCALSTACK_DOMAIN}:{port}/Prod"


@pytest.fixture(params=["path form", "host form"])
def base_url(request: pytest.FixtureRequest, outputs: StackOutputs) -> str:
    """LocalStack's two ways to reach the API: /_aws/execute-api/<id>/Prod and <id>.execute-api
    .localhost.localstack.cloud/Prod."""
    return str(outputs.api_base_url if request.param == "path form" else _host_form(outputs))


def _succeeded(status_url: str) -> Callable[[], dict[str, Any] | None]:
    def check() -> dict[str, Any] | None:
        response = follow("GET", status_url)
        assert response.status_code == 200, response.text
        task: dict[str, Any] = response.json()
        assert task["status"] not in {"FAILED", "CANCELLED"}, task
        return task if task["status"] == "SUCCEEDED" else None

    return check


def _result_follows(status_url: str) -> None:
    task = wait_until(_succeeded(status_url), timeout=90, what=f"{status_url} to succeed")
    result = follow("GET", task["result_url"])
    assert result.status_code == 200, result.text
    assert result.json()["task_id"] == task["task_id"]


def test_links_of_an_api_upload_are_followed(base_url: str) -> None:
    # Given a workbook uploaded through the API at one of LocalStack's addresses
    response = follow(
        "POST",
        f"{base_url}/uploads",
        params={"filename": "links.xlsx"},
        data=samples.orders_workbook(10),
        headers={"Content-Type": XLSX_MEDIA_TYPE},
    )
    assert response.status_code == 202, response.text
    body = response.json()
    # Then its links are on that same address, and each answers when followed
    assert body["status_url"] == f"{base_url}/tasks/{body['task_id']}"
    assert response.headers["Location"] == body["status_url"]
    _result_follows(body["status_url"])


def test_links_of_a_presigned_upload_are_followed(base_url: str) -> None:
    data = samples.orders_workbook(10)
    grant = follow(
        "POST", f"{base_url}/uploads/presign", json={"filename": "form.xlsx", "size": len(data)}
    )
    assert grant.status_code == 201, grant.text
    body = grant.json()
    form = body["upload"]
    posted = follow(
        "POST",
        form["url"],
        data=form["fields"],
        files={form["file_field"]: ("form.xlsx", data, XLSX_MEDIA_TYPE)},
    )
    assert posted.status_code in {200, 201, 204}, posted.text
    _result_follows(body["status_url"])


def test_links_of_a_multipart_upload_are_followed(base_url: str) -> None:
    data = samples.orders_workbook(10)
    started = follow(
        "POST", f"{base_url}/uploads/multipart", json={"filename": "parts.xlsx", "size": len(data)}
    )
    assert started.status_code == 201, started.text
    body = started.json()
    [part] = body["parts"]
    put = follow("PUT", part["url"], data=data)
    assert put.status_code == 200, put.text
    completed = follow(
        "POST",
        body["complete_url"],
        json={
            "upload_id": body["upload_id"],
            "parts": [{"part_number": 1, "etag": put.headers["ETag"]}],
        },
    )
    assert completed.status_code == 202, completed.text
    assert completed.json()["status_url"] == body["status_url"]
    _result_follows(body["status_url"])


def test_the_document_is_served_with_its_own_address_as_server(base_url: str) -> None:
    response = follow("GET", f"{base_url}/openapi.json")
    assert response.status_code == 200, response.text
    document = response.json()
    assert document["openapi"] == "3.1.0"
    assert document["servers"] == [{"url": base_url}]
    assert follow("GET", f"{document['servers'][0]['url']}/health").status_code in {200, 503}


def test_a_wrong_method_is_405_json_through_api_gateway(api: Api) -> None:
    response = api.http.put(f"{api.base_url}/uploads", data=b"x", timeout=30)
    assert response.status_code == 405, response.text
    assert response.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert response.headers["Allow"] == "POST"


def test_an_unknown_query_parameter_is_400_json(api: Api) -> None:
    response = api.http.get(f"{api.base_url}/tasks", params={"statuss": "QUEUED"}, timeout=30)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["parameter"] == "statuss"


def test_a_retried_upload_with_its_idempotency_key_creates_nothing_new(
    api: Api, aws: AwsClientFactory, outputs: StackOutputs
) -> None:
    # Given an upload through the deployed API with an Idempotency-Key
    key = str(uuid.uuid4())
    data = samples.orders_workbook(5)

    def send(filename: str) -> requests.Response:
        return api.http.post(
            f"{api.base_url}/uploads",
            params={"filename": filename},
            data=data,
            headers={"Content-Type": XLSX_MEDIA_TYPE, "Idempotency-Key": key},
            timeout=30,
        )

    first = send("once.xlsx")
    assert first.status_code == 202, first.text
    # When it is sent again, Then the answer is the same task, replayed
    retry = send("once.xlsx")
    assert (retry.status_code, retry.json()) == (202, first.json())
    assert retry.headers["Idempotent-Replayed"] == "true"
    task_id = first.json()["task_id"]
    # And one object was stored for it, in the task's folder (under its client's prefix)
    task = api.task(task_id)
    assert task is not None
    folder = task["source"]["key"].rsplit("/", 1)[0] + "/"
    assert folder.endswith(f"/{task_id}/")
    listed = aws("s3").list_objects_v2(Bucket=outputs["BucketName"], Prefix=folder)
    assert listed["KeyCount"] == 1
    # And the same key with another request is refused
    other = send("other.xlsx")
    assert other.status_code == 422, other.text
    assert other.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
