"""Fixtures shared by the suites that need LocalStack.

The session starts LocalStack the way `make up` does, or reuses one that is already healthy, and
stops it at the end only if it started it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from stackctl import aws as stackctl_aws
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
    """boto3 clients bound to the session's LocalStack: `aws("lambda")`."""
    return stackctl_aws.client
