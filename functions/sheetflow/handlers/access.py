"""Who calls the API: a middleware of the REST resolver that identifies the client of every route
that needs an API key, and holds it to its rate and daily quota, before the route runs.

API Gateway has checked the key already (403 without one or with a wrong one) and names it in
`requestContext.identity.apiKeyId`, on AWS and on LocalStack alike; logic/tenancy.py turns that
into the caller the use cases filter by.
"""

from __future__ import annotations

import time
from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import BaseRouter
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

from sheetflow.config import ApiConfig
from sheetflow.dal.rate_buckets import RateBuckets
from sheetflow.handlers.dependencies import HandlerDependencies
from sheetflow.logic.tenancy import Caller, caller_from_key_id
from sheetflow.usecases import throttling

# Routes served without a key (template.yaml: `Auth: ApiKeyRequired: false`).
PUBLIC_RESOURCES = frozenset({"/health", "/dashboard", "/openapi.json"})

_CALLER = "caller"

dependencies = HandlerDependencies(ApiConfig.from_env)


def identify(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
    """Records the caller of a keyed route (API_KEY_REQUIRED, 403, when there is none) and
    spends one of its tokens (429 with Retry-After when it has none left)."""
    event = app.current_event
    if event.resource not in PUBLIC_RESOURCES:
        key_id = event.request_context.identity.api_key_id
        caller = caller_from_key_id(key_id)
        app.context[_CALLER] = caller
        config = dependencies.config
        throttling.admit(caller.owner, config.rate_limits, buckets(), time.time())
    return next_middleware(app)


@cache
def buckets() -> RateBuckets:
    return RateBuckets(dependencies.config.table_name)


def caller(app: BaseRouter) -> Caller:
    """The caller `identify` recorded for this request."""
    found = app.context.get(_CALLER)
    if not isinstance(found, Caller):
        # A keyed route always passes through `identify` first; reaching here is a wiring bug.
        raise RuntimeError("no caller recorded: is the access middleware registered?")
    return found
