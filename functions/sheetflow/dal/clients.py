"""AWS clients, created on first use and reused by the warm Lambda environment.

Endpoints come from the standard SDK environment (AWS_ENDPOINT_URL and friends), so the same code
reaches AWS or a local emulator without a switch of its own.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from sheetflow.dal import faults
from sheetflow.logic.faults import FaultPlan

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_dynamodb import DynamoDBServiceResource
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_ses import SESClient
    from mypy_boto3_sqs import SQSClient

_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=5,
    read_timeout=30,
    signature_version="s3v4",
)


@cache
def s3_client() -> S3Client:
    return faults.instrument(boto3.client("s3", config=_CONFIG))


@cache
def sqs_client() -> SQSClient:
    return faults.instrument(boto3.client("sqs", config=_CONFIG))


@cache
def cloudwatch_client() -> CloudWatchClient:
    return faults.instrument(boto3.client("cloudwatch", config=_CONFIG))


@cache
def dynamodb_resource() -> DynamoDBServiceResource:
    resource = boto3.resource("dynamodb", config=_CONFIG)
    faults.instrument(resource.meta.client)
    return resource


@cache
def events_client() -> EventBridgeClient:
    return faults.instrument(boto3.client("events", config=_CONFIG))


@cache
def ses_client() -> SESClient:
    return faults.instrument(boto3.client("ses", config=_CONFIG))


@cache
def secrets_client() -> SecretsManagerClient:
    return faults.instrument(boto3.client("secretsmanager", config=_CONFIG))


@cache
def lambda_client() -> LambdaClient:
    return faults.instrument(boto3.client("lambda", config=_CONFIG))


def reset_clients() -> None:
    """Forget cached clients (tests switch credentials and mocks between cases)."""
    s3_client.cache_clear()
    sqs_client.cache_clear()
    dynamodb_resource.cache_clear()
    events_client.cache_clear()
    ses_client.cache_clear()
    secrets_client.cache_clear()
    cloudwatch_client.cache_clear()
    lambda_client.cache_clear()


def enable_faults(
    plan: FaultPlan | None, listener: faults.FaultListener | None = None
) -> faults.FaultInjector | None:
    """Injects the plan's AWS faults into every client from now on (None: none), for chaos runs."""
    if plan is None and faults.active() is None:
        return None  # the usual case: nothing to switch off, keep the clients
    injector = faults.enable(plan, listener)
    reset_clients()
    return injector
