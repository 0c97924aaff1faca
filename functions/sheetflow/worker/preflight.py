"""Checks made once before starting: is the endpoint reachable and does the queue exist?

Failures become one line for the person (or orchestrator log) that started the worker.
"""

from __future__ import annotations

import os

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
)

from sheetflow.dal.clients import sqs_client
from sheetflow.dal.errors import error_code

_MISSING_QUEUE_CODES = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})


class StartupError(RuntimeError):
    """The worker cannot start; the message says why and what to do."""


def check_queue(queue_url: str) -> None:
    try:
        sqs_client().get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    except EndpointConnectionError as exc:
        where = os.environ.get("AWS_ENDPOINT_URL") or "the AWS endpoint"
        raise StartupError(
            f"cannot reach {where} ({exc}); check AWS_ENDPOINT_URL and that the service is up"
        ) from None
    except NoCredentialsError:
        raise StartupError(
            "no AWS credentials found; set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a role"
        ) from None
    except ClientError as exc:
        if error_code(exc) in _MISSING_QUEUE_CODES:
            raise StartupError(
                f"queue {queue_url} does not exist; set QUEUE_URL to the stack's QueueUrl output"
            ) from None
        raise StartupError(f"cannot use queue {queue_url}: {error_code(exc)}: {exc}") from None
    except BotoCoreError as exc:
        raise StartupError(f"cannot use queue {queue_url}: {exc}") from None
