"""A small SAM application built with `sam build` and deployed with samlocal."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from stackctl import sam
from tests.support.aws import AwsClientFactory

pytestmark = pytest.mark.localstack

APP = Path(__file__).with_name("sam_app")


def test_sam_application_deploys_and_runs(aws: AwsClientFactory, tmp_path: Path) -> None:
    # Given the application built by sam build
    built = sam.build(APP / "template.yaml", tmp_path / "build")
    stack = f"sam-hello-{uuid.uuid4().hex[:8]}"
    # When samlocal deploys it
    sam.deploy(built, stack)
    # Then the stack is complete and its function answers
    description = aws("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    assert description["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in description["Outputs"]}
    response = aws("lambda").invoke(
        FunctionName=outputs["HelloFunctionName"], Payload=json.dumps({"name": "sam"})
    )
    assert json.loads(response["Payload"].read()) == {"greeting": "hello from SAM", "name": "sam"}
    aws("cloudformation").delete_stack(StackName=stack)
