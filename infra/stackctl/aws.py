"""The one factory of boto3 clients bound to LocalStack, for the CLI, the tests and the benchmarks.

Built on localstack-client, pointed at the project's port (SHEETFLOW_PORT, see
`localstack.endpoint_url`). As in localstack-client, AWS_ENDPOINT_URL wins when it is set, so the
same commands can aim at another endpoint. The functions never use this module: they read only
AWS_ENDPOINT_URL, as they do in AWS.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from botocore.config import Config
from localstack_client.session import Session

from stackctl import localstack, sam

# boto3.client() builds on boto3's shared default session, which is not safe to build clients from
# in several threads at once; the tests and benchmarks do call this from threads.
_creating = threading.Lock()


def session(port: int | None = None) -> Session:
    """A localstack-client session for LocalStack on `port` (default: the project's port)."""
    return Session(
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
        region_name=os.environ.get("AWS_DEFAULT_REGION", sam.REGION),
        localstack_host=f"{localstack.HOST}:{port or localstack.port()}",
    )


def client(service: str, *, port: int | None = None, config: Config | None = None) -> Any:
    """A boto3 client for `service` on LocalStack: `aws.client("sqs")`."""
    options = {"config": config} if config is not None else {}
    with _creating:
        return session(port).client(service, **options)
