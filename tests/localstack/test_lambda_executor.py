"""The host-process Lambda executor, exercised only through the public Lambda API."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.support.aws import AwsClientFactory
from tests.support.lambda_zip import zip_of
from tests.support.lambdas import FunctionFactory
from tests.support.waiting import wait_until

pytestmark = pytest.mark.localstack


def invoke(lambda_client: Any, name: str, event: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    response = lambda_client.invoke(FunctionName=name, Payload=json.dumps(event), LogType="Tail")
    return response, json.loads(response["Payload"].read())


def tail_logs(response: dict[str, Any]) -> str:
    return base64.b64decode(response["LogResult"]).decode()


def test_payload_goes_in_and_comes_out(
    aws: AwsClientFactory, create_function: FunctionFactory
) -> None:
    # Given a function created from a zip
    name = create_function()
    # When it is invoked with a payload
    response, body = invoke(aws("lambda"), name, {"action": "echo", "value": [1, "two", None]})
    # Then the handler's return value comes back as the response payload
    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    assert body["echo"] == {"action": "echo", "value": [1, "two", None]}


def test_unhandled_exception_is_reported_like_aws(
    aws: AwsClientFactory, create_function: FunctionFactory
) -> None:
    name = create_function()
    response, body = invoke(aws("lambda"), name, {"action": "fail", "reason": "bad input"})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ValueError"
    assert body["errorMessage"] == "asked to fail: bad input"
    # The stack trace shows the function's own frame, not the runtime's
    assert any("probe.py" in frame and "in handler" in frame for frame in body["stackTrace"])
    assert not any("bootstrap.py" in frame for frame in body["stackTrace"])


def test_timeout_is_enforced_and_the_environment_replaced(
    aws: AwsClientFactory, create_function: FunctionFactory
) -> None:
    lambda_client = aws("lambda")
    # (3 s, not 1: a loaded machine must not time out the echo invocations as well)
    name = create_function(timeout=3)
    _, before = invoke(lambda_client, name, {"action": "echo"})

    response, body = invoke(lambda_client, name, {"action": "sleep", "seconds": 10})

    assert response["FunctionError"] == "Unhandled"
    assert "Task timed out after 3.00 seconds" in body["errorMessage"]
    assert "Task timed out after 3.00 seconds" in tail_logs(response)
    # The next invocation runs in a fresh runtime process
    _, after = invoke(lambda_client, name, {"action": "echo"})
    assert after["pid"] != before["pid"]


def test_warm_invocations_reuse_the_environment(
    aws: AwsClientFactory, create_function: FunctionFactory
) -> None:
    lambda_client = aws("lambda")
    name = create_function()
    first_response, first = invoke(lambda_client, name, {"action": "echo"})
    second_response, second = invoke(lambda_client, name, {"action": "echo"})
    assert first["pid"] == second["pid"]
    # Only the cold start reports an init duration and the module's import-time output
    assert "Init Duration" in tail_logs(first_response)
    assert "probe module initialised" in tail_logs(first_response)
    assert "Init Duration" not in tail_logs(second_response)


def test_logs_carry_the_handlers_output(
    aws: AwsClientFactory, create_function: FunctionFactory
) -> None:
    name = create_function()
    response, body = invoke(aws("lambda"), name, {"action": "echo"})
    logs = tail_logs(response)
    request_id = body["context"]["aws_request_id"]
    assert f"START RequestId: {request_id}" in logs
    assert "probe handling echo" in logs
    assert f"REPORT RequestId: {request_id}" in logs

    # The same lines reach CloudWatch Logs
    logs_client = aws("logs")

    def logged_messages() -> list[str] | None:
        try:
            events = logs_client.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
        except logs_client.exceptions.ResourceNotFoundException:
            return None
        messages = [event["message"] for event in events]
        return messages if any("probe handling echo" in m for m in messages) else None

    wait_until(logged_messages, timeout=10, what="the handler's output in CloudWatch Logs")


def test_context_and_environment_match_aws(
    aws: AwsClientFactory, create_function: FunctionFactory
) -> None:
    name = create_function(memory=256, timeout=7, environment={"GREETING": "hello"})
    _, body = invoke(aws("lambda"), name, {"action": "echo"})
    context, environment = body["context"], body["environment"]
    assert context["function_name"] == name
    assert context["function_version"] == "$LATEST"
    assert context["invoked_function_arn"].endswith(f":function:{name}")
    assert context["memory_limit_in_mb"] == 256
    assert context["log_group_name"] == f"/aws/lambda/{name}"
    assert context["log_stream_name"]
    assert 0 < context["remaining_ms"] <= 7000
    assert environment["AWS_LAMBDA_FUNCTION_NAME"] == name
    assert environment["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert environment["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    # boto3 comes from the runtime, as in AWS, not from the function's package
    assert "rt-python3.13" in body["boto3_file"]


def test_memory_size_limits_the_process(
    aws: AwsClientFactory, create_function: FunctionFactory
) -> None:
    lambda_client = aws("lambda")
    name = create_function(memory=128)
    _, within = invoke(lambda_client, name, {"action": "allocate", "megabytes": 16})
    assert within == {"allocated": 16 * 1024 * 1024}
    response, beyond = invoke(lambda_client, name, {"action": "allocate", "megabytes": 512})
    assert response["FunctionError"] == "Unhandled"
    assert beyond["errorType"] == "MemoryError"


def test_python312_runtime_runs(aws: AwsClientFactory, create_function: FunctionFactory) -> None:
    name = create_function(runtime="python3.12")
    _, body = invoke(aws("lambda"), name, {"action": "echo"})
    assert "rt-python3.12" in body["boto3_file"]


def test_unsupported_runtime_leaves_the_function_failed_with_a_reason(
    aws: AwsClientFactory, create_function: FunctionFactory
) -> None:
    lambda_client = aws("lambda")
    code = zip_of({"index.js": "exports.handler = async () => 1;"})
    name = create_function(code=code, handler="index.handler", runtime="nodejs20.x")
    configuration = lambda_client.get_function(FunctionName=name)["Configuration"]
    assert configuration["State"] == "Failed"
    assert "nodejs20.x" in configuration["StateReason"]
    assert "python3.12, python3.13" in configuration["StateReason"]


def test_import_error_is_reported_on_invoke(
    aws: AwsClientFactory, create_function: FunctionFactory
) -> None:
    code = zip_of({"broken.py": "import module_that_does_not_exist\n"})
    name = create_function(code=code, handler="broken.handler")
    response, body = invoke(aws("lambda"), name, {})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert "module_that_does_not_exist" in body["errorMessage"]


def test_runtime_exit_fails_the_invocation_and_recovers(
    aws: AwsClientFactory, create_function: FunctionFactory
) -> None:
    lambda_client = aws("lambda")
    name = create_function()
    response, body = invoke(lambda_client, name, {"action": "exit"})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in body["errorMessage"]
    _, recovered = invoke(lambda_client, name, {"action": "echo"})
    assert recovered["echo"] == {"action": "echo"}
