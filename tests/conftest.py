"""Fixtures shared by the suites that need LocalStack.

The session starts LocalStack the way `make up` does, or reuses one that is already healthy, and
stops it at the end only if it started it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from stackctl import localstack

AwsClientFactory = Callable[[str], Any]


@pytest.fixture(scope="session")
def localstack_endpoint() -> Iterator[str]:
    started = localstack.start()
    yield localstack.endpoint_url()
    if not started.reused:
        localstack.stop()


@pytest.fixture(scope="session")
def aws(localstack_endpoint: str) -> AwsClientFactory:
    """boto3 clients bound to LocalStack: `aws("lambda")`."""
    session = boto3.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    )

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=localstack_endpoint)  # type: ignore[call-overload]

    return client
