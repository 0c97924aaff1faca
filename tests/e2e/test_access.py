"""No anonymous access, and each client on its own: API keys on the deployed stack.

API Gateway (LocalStack's, as AWS's) refuses a keyed route without a key or with a wrong one;
the function keeps each key's tasks and objects apart."""

from __future__ import annotations

import uuid
from typing import Any

import jsonschema
import pytest
import requests

from sheetflow.logic import openapi
from stackctl import samples
from stackctl.stack import StackOutputs
from tests.support.aws import AwsClientFactory
from tests.support.e2e import Api, FunctionSettings

pytestmark = [pytest.mark.localstack, pytest.mark.e2e]


@pytest.fixture(scope="module")
def other(outputs: StackOutputs) -> Api:
    """A second client: its own key on the stack's usage plan."""
    return Api.for_stack(outputs, client="e2e-other")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/tasks"),
        ("GET", f"/tasks/{'0' * 32}"),
        ("DELETE", f"/tasks/{'0' * 32}"),
        ("POST", "/uploads"),
        ("POST", "/uploads/presign"),
        ("POST", "/uploads/multipart"),
        ("GET", "/stats"),
        ("GET", "/dead-letters"),
        ("POST", "/dead-letters/redrive"),
        ("GET", "/alarms"),
    ],
)
def test_a_keyed_route_refuses_no_key_and_a_wrong_key(api: Api, method: str, path: str) -> None:
    for anonymous in (api.as_key(None), api.as_key(f"wrong-{uuid.uuid4().hex}")):
        response = anonymous.http.request(method, f"{api.base_url}{path}", timeout=30)
        assert response.status_code == 403, (method, path, response.text)
        assert response.json() == {"message": "Forbidden"}
        # as the API's document says
        assert_documented(api, method, path, response)


def assert_documented(api: Api, method: str, path: str, response: requests.Response) -> None:
    """The response's status is documented for the route, and its body fits that schema."""
    document = requests.get(f"{api.base_url}/openapi.json", timeout=30).json()
    operation = openapi.operation_for(method, path)
    assert operation is not None, (method, path)
    responses = document["paths"][operation.path][method.lower()]["responses"]
    documented = responses.get(str(response.status_code))
    assert documented is not None, (method, path, response.status_code, sorted(responses))
    schema: dict[str, Any] = documented["content"]["application/json"]["schema"]
    jsonschema.validate(
        response.json(),
        {**schema, "components": document["components"]},
        cls=jsonschema.Draft202012Validator,
    )
    for header in documented.get("headers", {}):
        assert header in response.headers, (method, path, header)


def test_a_valid_key_opens_the_api_and_health_needs_none(api: Api) -> None:
    # A key of the usage plan: 2xx
    listed = api.http.get(f"{api.base_url}/tasks", timeout=30)
    assert listed.status_code == 200, listed.text
    # /health and the dashboard's page: no key at all
    anonymous = api.as_key(None)
    assert anonymous.health().status_code in (200, 503)
    page = requests.get(f"{api.base_url}/dashboard", timeout=30)
    assert page.status_code == 200 and "<title>sheetflow dashboard</title>" in page.text


def test_a_client_sees_only_its_own_tasks(api: Api, other: Api) -> None:
    # Given a task of each client
    mine = api.upload(samples.orders_workbook(5), filename="mine.xlsx")
    theirs = other.upload(samples.orders_workbook(5), filename="theirs.xlsx")
    assert mine.status_code == theirs.status_code == 202
    mine_id, theirs_id = mine.json()["task_id"], theirs.json()["task_id"]
    api.wait_finished(mine_id)
    finished = other.wait_finished(theirs_id)
    # Then each reads its own; the other's is 404, like a task that never existed
    assert other.task(mine_id) is None
    assert api.task(theirs_id) is None
    assert finished["status"] == "SUCCEEDED" and finished["source"]["key"].startswith(
        f"received/{other.key_id}/{theirs_id}/"
    )
    cancel = other.http.delete(f"{api.base_url}/tasks/{mine_id}", timeout=30)
    assert cancel.status_code == 404 and cancel.json()["error"]["code"] == "TASK_NOT_FOUND"
    # And each listing holds only the caller's tasks
    for query in ({"limit": "100"}, {"order": "newest", "limit": "100"}):
        listed = other.http.get(f"{api.base_url}/tasks", params=query, timeout=30).json()
        owned = {item["task_id"] for item in listed["items"]}
        assert theirs_id in owned and mine_id not in owned


def test_a_file_under_a_clients_prefix_in_the_bucket_is_that_clients_task(
    api: Api, other: Api, aws: AwsClientFactory, outputs: StackOutputs
) -> None:
    # Given a workbook put straight into the bucket under the other client's folder
    task_id = uuid.uuid4().hex
    key = other.upload_key(task_id, "dropped.xlsx")
    assert key.startswith(f"uploads/{other.key_id}/")
    aws("s3").put_object(Bucket=outputs["BucketName"], Key=key, Body=samples.orders_workbook(4))
    # Then it is that client's task: it reads it, the first client does not
    task = other.wait_finished(task_id)
    assert task["status"] == "SUCCEEDED", task
    assert api.task(task_id) is None


def test_a_client_over_its_limit_gets_429_with_retry_after(
    outputs: StackOutputs, function_settings: FunctionSettings
) -> None:
    # Given a client of its own, and the API function's per-key figures narrowed to a burst of
    # 2, one request a second and a quota of 5 a day (the stack's ApiBurstLimit, ApiRateLimit,
    # ApiDailyQuota, as the function receives them)
    client = Api.for_stack(outputs, client=f"e2e-throttled-{uuid.uuid4().hex[:8]}")
    narrowed = {"API_BURST_LIMIT": "2", "API_RATE_LIMIT": "1", "API_DAILY_QUOTA": "5"}
    with function_settings.overridden(outputs["ApiFunctionName"], narrowed):
        # When it keeps asking (each answer comes back well under the second a token takes, so
        # the bucket empties; the quota of 5 ends the series at the latest)
        answers = [client.http.get(f"{client.base_url}/tasks", timeout=30) for _ in range(6)]
    statuses = [answer.status_code for answer in answers]
    # Then the first ones pass and a later one is refused with 429 and a Retry-After
    assert statuses[:2] == [200, 200], statuses
    refused = next(answer for answer in answers if answer.status_code == 429)
    assert int(refused.headers["Retry-After"]) >= 1
    error = refused.json()["error"]
    assert error["code"] in ("RATE_LIMITED", "QUOTA_EXCEEDED")
    assert error["retry_after_seconds"] == refused.headers["Retry-After"]
    assert_documented(client, "GET", "/tasks", refused)
    # And nothing but 200 and 429 came back
    assert set(statuses) <= {200, 429}
