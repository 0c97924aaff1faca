"""Deploys throwaway functions to LocalStack for the platform tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from tests.support.aws import AwsClientFactory
from tests.support.lambdas import ROLE, FunctionFactory, probe_zip, wait_for_state


@pytest.fixture
def create_function(aws: AwsClientFactory) -> Iterator[FunctionFactory]:
    """Creates a function and waits until it is Active (or Failed); deletes it afterwards."""
    lambda_client = aws("lambda")
    created: list[str] = []

    def create(
        *,
        code: bytes | None = None,
        handler: str = "probe.handler",
        runtime: str = "python3.13",
        timeout: int = 10,
        memory: int = 128,
        environment: dict[str, str] | None = None,
        wait: bool = True,
    ) -> str:
        name = f"probe-{uuid.uuid4().hex[:10]}"
        lambda_client.create_function(
            FunctionName=name,
            Runtime=runtime,
            Role=ROLE,
            Handler=handler,
            Code={"ZipFile": code or probe_zip()},
            Timeout=timeout,
            MemorySize=memory,
            Environment={"Variables": environment or {}},
        )
        created.append(name)
        if wait:
            wait_for_state(lambda_client, name)
        return name

    yield create
    for name in created:
        try:
            lambda_client.delete_function(FunctionName=name)
        except ClientError as error:
            # LocalStack cannot delete a function whose version never became Active.
            if "Unable to find version manager" not in str(error):
                raise


@pytest.fixture
def record_table(aws: AwsClientFactory) -> Iterator[str]:
    """A table where the recorder function writes what it received."""
    dynamodb = aws("dynamodb")
    name = f"records-{uuid.uuid4().hex[:10]}"
    dynamodb.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    yield name
    dynamodb.delete_table(TableName=name)
