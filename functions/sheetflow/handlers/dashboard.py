"""Dashboard routes of the REST API: the page itself and the small read-only and operator routes
it needs (last hour's figures, parked dead letters and their redrive, alarm states).

Included into the API's resolver (handlers/api.py), whose error handlers apply here too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from http import HTTPStatus
from importlib import resources
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.metrics import MetricUnit

from sheetflow.config import ApiConfig
from sheetflow.handlers import access
from sheetflow.handlers.dependencies import HandlerDependencies
from sheetflow.logic.errors import RequestRejectedError
from sheetflow.observability import logger, metrics, tracer
from sheetflow.usecases import dashboard

router = Router()  # type: ignore[no-untyped-call]

# The page only talks to this API and to the presigned upload URLs it is given.
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "img-src data:; connect-src 'self' https: http:; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
}


# The API's configuration and table, as the API handler has them (a module of its own: the
# handler imports this router).
dependencies = HandlerDependencies(ApiConfig.from_env)


@cache
def _page() -> str:
    return resources.files("sheetflow.web").joinpath("dashboard.html").read_text("utf-8")


@router.get("/dashboard")
def page() -> Response[str]:
    return Response(
        status_code=HTTPStatus.OK,
        content_type="text/html; charset=utf-8",
        body=_page(),
        headers=_PAGE_HEADERS,
    )


@router.get("/stats")
@tracer.capture_method
def last_hour() -> dict[str, Any]:
    return dashboard.last_hour(dependencies.tasks, datetime.now(UTC), access.caller(router))


@router.get("/dead-letters")
@tracer.capture_method
def parked() -> dict[str, Any]:
    return dashboard.parked_dead_letters(
        dependencies.config, dependencies.tasks, access.caller(router)
    )


@router.post("/dead-letters/redrive")
@tracer.capture_method
def redrive() -> dict[str, Any]:
    # A JSON body saying so: a plain cross-site form post cannot send one.
    try:
        document = router.current_event.json_body if router.current_event.body else None
    except ValueError:
        document = None
    if not isinstance(document, dict) or document.get("confirm") is not True:
        raise RequestRejectedError(
            "CONFIRMATION_REQUIRED",
            "A redrive moves every parked dead letter back to the task queue: send the JSON body "
            '{"confirm": true} to confirm it.',
        )
    result = dashboard.redrive(dependencies.config)
    logger.info("Dead letters redriven", extra=result)
    metrics.add_metric(name="DeadLettersRedriven", unit=MetricUnit.Count, value=result["moved"])
    return result


@router.get("/alarms")
@tracer.capture_method
def alarm_states() -> dict[str, Any]:
    return dashboard.alarm_states(dependencies.config)
