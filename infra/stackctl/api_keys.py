"""API keys of the deployed stack: the one a command uses, and named keys for clients.

Every API route but /health and the dashboard's page needs a key of the stack's usage plan
(template.yaml, `Auth.ApiKeyRequired`). A command uses SHEETFLOW_API_KEY when it is set, else
the stack's default key (output ApiKeyId), read from API Gateway.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from stackctl import aws
from stackctl.errors import UserFacingError
from stackctl.stack import StackOutputs

API_KEY_ENV = "SHEETFLOW_API_KEY"
API_KEY_HEADER = "x-api-key"


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    name: str
    value: str


def _apigateway() -> Any:
    return aws.client("apigateway")


def default_key(outputs: StackOutputs) -> ApiKey:
    """The key the stack created with its usage plan (output ApiKeyId)."""
    key_id = outputs.values.get("ApiKeyId")
    if not key_id:
        raise UserFacingError(
            "The deployed stack has no ApiKeyId output: it predates API keys.",
            "Deploy it again with `make deploy`.",
        )
    return key_by_id(key_id)


# A key's value never changes: one lookup per process and key.
@cache
def key_by_id(key_id: str) -> ApiKey:
    """The key with that id, value included (the operator's view: AWS credentials)."""
    try:
        key = _apigateway().get_api_key(apiKey=key_id, includeValue=True)
    except (ClientError, BotoCoreError) as error:
        raise UserFacingError(
            f"The stack's API key {key_id} could not be read ({error}).",
            f"Set {API_KEY_ENV} to a key of the stack's usage plan, or redeploy.",
        ) from error
    return ApiKey(key["id"], key.get("name", ""), key["value"])


def api_key(outputs: StackOutputs) -> str:
    """The key a command sends: SHEETFLOW_API_KEY, else the stack's default key."""
    return current_key(outputs).value


def current_key(outputs: StackOutputs) -> ApiKey:
    """SHEETFLOW_API_KEY (with its id, looked up by value), else the stack's default key."""
    value = os.environ.get(API_KEY_ENV, "").strip()
    if not value:
        return default_key(outputs)
    return _key_with_value(value)


@cache
def _key_with_value(value: str) -> ApiKey:
    try:
        for page in _apigateway().get_paginator("get_api_keys").paginate(includeValues=True):
            for item in page.get("items", []):
                if item.get("value") == value:
                    return ApiKey(item["id"], item.get("name", ""), value)
    except (ClientError, BotoCoreError) as error:
        raise UserFacingError(
            f"The API keys could not be listed ({error}).", "Check that LocalStack is running."
        ) from error
    raise UserFacingError(
        f"{API_KEY_ENV} is set, but to no API key of this LocalStack.",
        "Unset it to use the stack's default key, or set it to a key `sheetflow demo` printed.",
    )


def client_key(outputs: StackOutputs, name: str) -> ApiKey:
    """The key named `name` on the stack's usage plan, created (and bound) on first use."""
    plan_id = outputs.values.get("UsagePlanId")
    if not plan_id:
        raise UserFacingError(
            "The deployed stack has no UsagePlanId output: it predates API keys.",
            "Deploy it again with `make deploy`.",
        )
    client = _apigateway()
    full_name = f"{outputs.values.get('ApiId', 'api')}-{name}"
    try:
        found = [
            item
            # No nameQuery: LocalStack's filter fails on keys without a name (SAM's default key).
            for page in client.get_paginator("get_api_keys").paginate(includeValues=True)
            for item in page.get("items", [])
            if item.get("name") == full_name
        ]
        key = found[0] if found else client.create_api_key(name=full_name, enabled=True)
        bound = {
            item["id"]
            for page in client.get_paginator("get_usage_plan_keys").paginate(usagePlanId=plan_id)
            for item in page.get("items", [])
        }
        if key["id"] not in bound:
            client.create_usage_plan_key(usagePlanId=plan_id, keyId=key["id"], keyType="API_KEY")
    except (ClientError, BotoCoreError) as error:
        raise UserFacingError(
            f"Could not create or bind the API key {full_name!r} ({error}).",
            "Check that the stack is deployed (`make deploy`).",
        ) from error
    return ApiKey(key["id"], full_name, key["value"])
