"""Lambda's invocation payload limits, enforced on LocalStack the way AWS enforces them.

The figures: 6,291,456 bytes for a synchronous request, 1,048,576 for an asynchronous one,
6,291,556 for a response. An API Gateway proxy request whose event exceeds the synchronous limit
is refused by Lambda, and API Gateway answers 500 {"message": "Internal server error"}.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from stackctl import aws
from tests.support.aws import AwsClientFactory
from tests.support.lambdas import FunctionFactory, source_zip

pytestmark = pytest.mark.localstack

SYNC_REQUEST_LIMIT = 6_291_456
ASYNC_REQUEST_LIMIT = 1_048_576
RESPONSE_LIMIT = 6_291_556


def json_string_of(total_bytes: int) -> str:
    """A JSON document (a string) of exactly `total_bytes` bytes."""
    return '"' + "a" * (total_bytes - 2) + '"'


@pytest.fixture
def lambda_client(localstack_endpoint: str) -> Any:
    # No retries: a refused request must surface, not be sent again.
    return aws.client("lambda", config=Config(retries={"max_attempts": 0}, read_timeout=120))


@pytest.fixture
def payloads_function(create_function: FunctionFactory) -> str:
    return create_function(code=source_zip("payloads"), handler="payloads.handler", memory=512)


def test_synchronous_request_up_to_the_limit_runs(
    lambda_client: Any, payloads_function: str
) -> None:
    response = lambda_client.invoke(
        FunctionName=payloads_function, Payload=json_string_of(SYNC_REQUEST_LIMIT)
    )
    assert "FunctionError" not in response
    assert json.loads(response["Payload"].read()) == {"received_chars": SYNC_REQUEST_LIMIT - 2}


def test_synchronous_request_over_the_limit_is_refused_with_413(
    lambda_client: Any, payloads_function: str
) -> None:
    with pytest.raises(ClientError) as refused:
        lambda_client.invoke(
            FunctionName=payloads_function, Payload=json_string_of(SYNC_REQUEST_LIMIT + 1)
        )
    error = refused.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert error["Error"]["Code"] == "RequestEntityTooLargeException"
    assert error["Error"]["Message"] == (
        "Request must be smaller than 6291456 bytes for the InvokeFunction operation"
    )


def test_asynchronous_request_limit_is_one_megabyte(
    lambda_client: Any, payloads_function: str
) -> None:
    accepted = lambda_client.invoke(
        FunctionName=payloads_function,
        Payload=json_string_of(ASYNC_REQUEST_LIMIT),
        InvocationType="Event",
    )
    assert accepted["StatusCode"] == 202

    with pytest.raises(ClientError) as refused:
        lambda_client.invoke(
            FunctionName=payloads_function,
            Payload=json_string_of(ASYNC_REQUEST_LIMIT + 1),
            InvocationType="Event",
        )
    error = refused.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert error["Error"]["Code"] == "RequestEntityTooLargeException"
    assert error["Error"]["Message"] == (
        "1048577 byte payload is too large for the Event invocation type (limit 1048576 bytes)"
    )


def test_response_up_to_the_limit_is_returned(lambda_client: Any, payloads_function: str) -> None:
    response = lambda_client.invoke(
        FunctionName=payloads_function,
        Payload=json.dumps({"respond_chars": RESPONSE_LIMIT - 2}),
    )
    assert "FunctionError" not in response
    assert len(response["Payload"].read()) == RESPONSE_LIMIT


def test_response_over_the_limit_becomes_a_function_error(
    lambda_client: Any, payloads_function: str
) -> None:
    response = lambda_client.invoke(
        FunctionName=payloads_function,
        Payload=json.dumps({"respond_chars": RESPONSE_LIMIT - 1}),
    )
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"].read()) == {
        "errorType": "Function.ResponseSizeTooLarge",
        "errorMessage": (
            "Response payload size (6291557 bytes) exceeded maximum allowed payload size "
            "(6291556 bytes)."
        ),
    }


@pytest.fixture
def proxy_api(
    aws: AwsClientFactory, payloads_function: str, localstack_endpoint: str
) -> Iterator[str]:
    """A REST API whose every POST goes to the payloads function (Lambda proxy); its base URL."""
    apigateway = aws("apigateway")
    function_arn = aws("lambda").get_function(FunctionName=payloads_function)["Configuration"][
        "FunctionArn"
    ]
    api_id = apigateway.create_rest_api(name=f"payloads-{uuid.uuid4().hex[:8]}")["id"]
    root_id = apigateway.get_resources(restApiId=api_id)["items"][0]["id"]
    apigateway.put_method(
        restApiId=api_id, resourceId=root_id, httpMethod="POST", authorizationType="NONE"
    )
    apigateway.put_integration(
        restApiId=api_id,
        resourceId=root_id,
        httpMethod="POST",
        type="AWS_PROXY",
        integrationHttpMethod="POST",
        uri=f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{function_arn}/invocations",
    )
    apigateway.create_deployment(restApiId=api_id, stageName="test")
    yield f"{localstack_endpoint}/_aws/execute-api/{api_id}/test/"
    apigateway.delete_rest_api(restApiId=api_id)


def test_api_body_whose_event_fits_reaches_the_function(proxy_api: str) -> None:
    # Given a 4 MB binary body: base64 in the event makes it about 5.6 MB, under Lambda's 6 MB
    body = os.urandom(4 * 1024 * 1024)
    # When it is posted through API Gateway
    response = requests.post(
        proxy_api, data=body, headers={"Content-Type": "application/octet-stream"}, timeout=120
    )
    # Then the function receives all of it
    assert response.status_code == 200
    assert response.json() == {"body_chars": 5_592_408, "is_base64_encoded": True}


def test_api_body_whose_event_exceeds_lambdas_limit_gets_500(proxy_api: str) -> None:
    # Given a 5 MB binary body: about 7 MB once base64-encoded in the event
    body = os.urandom(5 * 1024 * 1024)
    # When it is posted through API Gateway
    response = requests.post(
        proxy_api, data=body, headers={"Content-Type": "application/octet-stream"}, timeout=120
    )
    # Then Lambda refuses the invocation and API Gateway answers as AWS does
    assert response.status_code == 500
    assert response.json() == {"message": "Internal server error"}
