"""REST API (API Gateway proxy): uploads, presigned uploads, task status and listing, health."""

from __future__ import annotations

from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from sheetflow.config import ApiConfig, PipelineWatchConfig
from sheetflow.dal.canary_runs import CanaryRuns
from sheetflow.handlers import access
from sheetflow.handlers import dashboard as dashboard_routes
from sheetflow.handlers.dependencies import HandlerDependencies
from sheetflow.logic.errors import ErrorCode, RequestRejectedError, TransientError
from sheetflow.logic.export import parse_outputs
from sheetflow.logic.listing import (
    decode_token,
    first_cursor,
    parse_limit,
    parse_status,
)
from sheetflow.logic.multipart import completed_parts, declared_size
from sheetflow.logic.notifications import check_callback_url, check_email
from sheetflow.logic.recent import ORDER_NEWEST, parse_order
from sheetflow.logic.task import is_valid_task_id
from sheetflow.logic.throttling import ThrottledError
from sheetflow.logic.timers import requested_run_at
from sheetflow.logic.uploads import decode_body
from sheetflow.observability import logger, metrics, tracer
from sheetflow.usecases import cancelling, dashboard, health, pipeline_health, queries, uploads

app = APIGatewayRestResolver()
dependencies = HandlerDependencies(ApiConfig.from_env)
# What /health's pipeline section reads (worker trigger, stall threshold, canary).
pipeline_dependencies = HandlerDependencies(PipelineWatchConfig.from_env)

# The HTTP status of each way a request is rejected; any other code is a 400.
_STATUS_BY_CODE: dict[str, HTTPStatus] = {
    "TASK_NOT_FOUND": HTTPStatus.NOT_FOUND,
    "TASK_FINISHED": HTTPStatus.CONFLICT,
    ErrorCode.TOO_LARGE: HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    "UNSUPPORTED_MEDIA_TYPE": HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
    "UPLOAD_NOT_EXPECTED": HTTPStatus.CONFLICT,
    "API_KEY_REQUIRED": HTTPStatus.FORBIDDEN,
}


def _error_response(
    status: int, code: str, message: str, details: dict[str, str] | None = None
) -> Response[Any]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body={"error": {"code": code, "message": message, **(details or {})}},
    )


def _rejected(exc: RequestRejectedError) -> Response[Any]:
    status = _STATUS_BY_CODE.get(exc.code, HTTPStatus.BAD_REQUEST)
    return _error_response(status, exc.code, exc.message, exc.details)


def _throttled(exc: ThrottledError) -> Response[Any]:
    response = _error_response(HTTPStatus.TOO_MANY_REQUESTS, exc.code, exc.message, exc.details)
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


def _dependency_down(exc: TransientError) -> Response[Any]:
    logger.warning("A dependency failed", extra={"reason": exc.message})
    return _error_response(
        HTTPStatus.SERVICE_UNAVAILABLE,
        "SERVICE_UNAVAILABLE",
        "A storage service is unavailable; try again shortly.",
    )


def _no_route(_: Exception) -> Response[Any]:
    path = app.current_event.path
    method = app.current_event.http_method
    return _error_response(HTTPStatus.NOT_FOUND, "ROUTE_NOT_FOUND", f"No route {method} {path}.")


# Registered as plain calls: the resolver's decorators are untyped.
app.exception_handler(RequestRejectedError)(_rejected)
app.exception_handler(ThrottledError)(_throttled)
app.exception_handler(TransientError)(_dependency_down)
app.not_found(_no_route)
app.include_router(dashboard_routes.router)
# Every keyed route learns its caller first (handlers/access.py).
app.use(middlewares=[access.identify])


def _header(name: str) -> str | None:
    headers = app.current_event.headers or {}
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def _requested_filename() -> str | None:
    return app.current_event.get_query_string_value("filename") or _header("X-Filename")


def _requested_run_at(document: dict[str, Any] | None = None) -> datetime | None:
    """A timer from the query string, the X-Run-At / X-Delay-Seconds headers or, for presign,
    the JSON body; None when the upload asked for none."""
    event, document = app.current_event, document or {}

    def given(name: str, header: str) -> str | None:
        value = event.get_query_string_value(name) or _header(header) or document.get(name)
        return None if value is None else str(value)

    return requested_run_at(
        given("run_at", "X-Run-At"),
        given("delay_seconds", "X-Delay-Seconds"),
        datetime.now(UTC),
        dependencies.config.timers,
    )


def _outputs(document: dict[str, Any] | None = None) -> list[str]:
    """Extra stages asked for: `outputs=csv` (query string or, for presign, the JSON body)."""
    value = app.current_event.get_query_string_value("outputs") or (document or {}).get("outputs")
    return parse_outputs(",".join(value) if isinstance(value, list) else value)


def _notifications(document: dict[str, Any] | None = None) -> dict[str, str | None]:
    """`notify` (an e-mail address) and `callback_url`, from the query string, the X-Notify /
    X-Callback-Url headers or, for presign, the JSON body; each checked."""
    event, document = app.current_event, document or {}
    notify = event.get_query_string_value("notify") or _header("X-Notify") or document.get("notify")
    callback = (
        event.get_query_string_value("callback_url")
        or _header("X-Callback-Url")
        or document.get("callback_url")
    )
    config = dependencies.config
    return {
        "notify": check_email(str(notify)) if notify else None,
        "callback_url": (
            check_callback_url(str(callback), config.allow_loopback_callbacks) if callback else None
        ),
    }


def _status_url(task_id: str) -> str:
    return _stage_url(f"/tasks/{task_id}")


def _stage_url(path: str) -> str:
    context = app.current_event.request_context
    if context.domain_name and context.stage:
        return f"https://{context.domain_name}/{context.stage}{path}"
    return path


@app.post("/uploads")
@tracer.capture_method
def upload() -> Response[Any]:
    event = app.current_event
    config = dependencies.config
    data = decode_body(
        event.body,
        bool(event.is_base64_encoded),
        _header("Content-Type"),
        config.max_api_upload_bytes,
    )
    run_at = _requested_run_at()
    task = uploads.accept_upload(
        data,
        _requested_filename(),
        config,
        dependencies.tasks,
        datetime.now(UTC),
        owner=access.caller(app).owner,
        run_at=run_at,
        outputs=_outputs(),
        **_notifications(),
    )
    logger.set_correlation_id(task.task_id)
    logger.info("Upload accepted", extra={"size": len(data), "key": task.key})
    metrics.add_metric(name="UploadsAccepted", unit=MetricUnit.Count, value=1)
    return Response(
        status_code=HTTPStatus.ACCEPTED,
        content_type=content_types.APPLICATION_JSON,
        headers={"Location": _status_url(task.task_id)},
        body={
            "task_id": task.task_id,
            "status": task.status.value,
            "run_at": task.run_at,
            "status_url": _status_url(task.task_id),
            "status_path": f"/tasks/{task.task_id}",
        },
    )


def _json_document(example: str) -> dict[str, Any]:
    """The request body as a JSON object ({} when there is none); 400 INVALID_JSON otherwise."""
    if not app.current_event.body:
        return {}
    try:
        document = app.current_event.json_body
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise RequestRejectedError(
            "INVALID_JSON", f"The body must be a JSON object like {example}."
        )
    return document


@app.post("/uploads/presign")
@tracer.capture_method
def presign() -> Response[Any]:
    document = _json_document('{"filename": "book.xlsx", "size": 123456}')
    requested = _requested_filename()
    if requested is None and isinstance(document.get("filename"), str):
        requested = document["filename"]
    config = dependencies.config
    size = declared_size(document, config.max_upload_bytes) if "size" in document else None
    presigned = uploads.presign_upload(
        requested,
        size,
        config,
        dependencies.tasks,
        datetime.now(UTC),
        owner=access.caller(app).owner,
        run_at=_requested_run_at(document),
        outputs=_outputs(document),
        **_notifications(document),
    )
    task = presigned.task
    logger.set_correlation_id(task.task_id)
    metrics.add_metric(name="PresignedUploads", unit=MetricUnit.Count, value=1)
    return Response(
        status_code=HTTPStatus.CREATED,
        content_type=content_types.APPLICATION_JSON,
        body={
            "task_id": task.task_id,
            "status": task.status.value,
            "run_at": task.run_at,
            "key": task.key,
            "max_bytes": config.max_upload_bytes,
            "expires_in": presigned.expires_in,
            # The way to upload: a multipart/form-data POST, `fields` first, then `file`.
            "upload": {
                "method": "POST",
                "url": presigned.post.url,
                "fields": presigned.post.fields,
                "file_field": "file",
            },
            # Deprecated: a presigned PUT, whose size only the worker checks (TOO_LARGE).
            "upload_url": presigned.put_url,
            "method": "PUT",
            "status_url": _status_url(task.task_id),
            "status_path": f"/tasks/{task.task_id}",
        },
    )


@app.post("/uploads/multipart")
@tracer.capture_method
def start_multipart() -> Response[Any]:
    document = _json_document('{"filename": "book.xlsx", "size": 52428800}')
    config = dependencies.config
    size = declared_size(document, config.max_upload_bytes)
    filename = document.get("filename")
    requested = filename if isinstance(filename, str) else _requested_filename()
    started = uploads.start_multipart_upload(
        requested,
        size,
        config,
        dependencies.tasks,
        datetime.now(UTC),
        owner=access.caller(app).owner,
    )
    task = started.task
    logger.set_correlation_id(task.task_id)
    logger.info("Multipart upload started", extra={"size": size, "parts": len(started.parts)})
    metrics.add_metric(name="PresignedUploads", unit=MetricUnit.Count, value=1)
    complete_path = f"/uploads/{task.task_id}/complete"
    return Response(
        status_code=HTTPStatus.CREATED,
        content_type=content_types.APPLICATION_JSON,
        body={
            "task_id": task.task_id,
            "status": task.status.value,
            "key": task.key,
            "max_bytes": config.max_upload_bytes,
            "expires_in": started.expires_in,
            "upload_id": started.upload_id,
            "part_size": started.part_size,
            "parts": [
                {"part_number": part.part_number, "size": part.size, "url": part.url}
                for part in started.parts
            ],
            "complete_url": _stage_url(complete_path),
            "complete_path": complete_path,
            "status_url": _status_url(task.task_id),
            "status_path": f"/tasks/{task.task_id}",
        },
    )


@app.post("/uploads/<task_id>/complete")
@tracer.capture_method
def complete_multipart(task_id: str) -> Response[Any]:
    if not is_valid_task_id(task_id):
        raise RequestRejectedError(
            "INVALID_TASK_ID", f"{task_id!r} is not a task id (32 lowercase hex characters)."
        )
    logger.set_correlation_id(task_id)
    document = _json_document('{"upload_id": "...", "parts": [{"part_number": 1, "etag": "..."}]}')
    upload_id, parts = completed_parts(document)
    task = uploads.complete_multipart_upload(
        task_id,
        upload_id,
        parts,
        config=dependencies.config,
        tasks=dependencies.tasks,
        now=datetime.now(UTC),
        caller=access.caller(app),
    )
    logger.info("Multipart upload completed", extra={"parts": len(parts), "key": task.key})
    return Response(
        status_code=HTTPStatus.ACCEPTED,
        content_type=content_types.APPLICATION_JSON,
        headers={"Location": _status_url(task_id)},
        body={
            "task_id": task_id,
            "status": task.status.value,
            "status_url": _status_url(task_id),
            "status_path": f"/tasks/{task_id}",
        },
    )


def _check_task_id(task_id: str) -> None:
    if not is_valid_task_id(task_id):
        raise RequestRejectedError(
            "INVALID_TASK_ID", f"{task_id!r} is not a task id (32 lowercase hex characters)."
        )
    logger.set_correlation_id(task_id)


@app.get("/tasks/<task_id>")
@tracer.capture_method
def get_task(task_id: str) -> dict[str, Any]:
    _check_task_id(task_id)
    view = queries.get_task(task_id, dependencies.config, dependencies.tasks, access.caller(app))
    if view is None:
        raise RequestRejectedError(
            "TASK_NOT_FOUND", f"No task {task_id}: it never existed or expired."
        )
    return view


@app.delete("/tasks/<task_id>")
@tracer.capture_method
def cancel_task(task_id: str) -> Response[Any]:
    _check_task_id(task_id)
    result = cancelling.cancel_task(
        task_id, dependencies.config, dependencies.tasks, datetime.now(UTC), access.caller(app)
    )
    logger.info("Cancel accepted", extra={"immediate": result.immediate})
    # 200: cancelled now; 202: the worker stops at the next sheet boundary.
    return Response(
        status_code=HTTPStatus.OK if result.immediate else HTTPStatus.ACCEPTED,
        content_type=content_types.APPLICATION_JSON,
        body=queries.task_view(result.task),
    )


@app.get("/tasks")
@tracer.capture_method
def list_tasks() -> dict[str, Any]:
    event = app.current_event
    status = parse_status(event.get_query_string_value("status"))
    limit = parse_limit(event.get_query_string_value("limit"))
    token = event.get_query_string_value("next")
    if parse_order(event.get_query_string_value("order")) == ORDER_NEWEST:
        newest = dashboard.newest_tasks(
            status, limit, token, dependencies.tasks, access.caller(app)
        )
        return {"items": newest.items, "next": newest.next_token}
    cursor = decode_token(token, status) if token else first_cursor(status)
    listing = queries.list_tasks(cursor, status, limit, dependencies.tasks, access.caller(app))
    return {"items": listing.items, "next": listing.next_token}


@app.get("/health")
@tracer.capture_method
def get_health() -> Response[Any]:
    watch = pipeline_dependencies.config
    pipeline = pipeline_health.check_pipeline(
        watch, pipeline_dependencies.tasks, CanaryRuns(watch.table_name), datetime.now(UTC)
    )
    healthy, report = health.check_health(dependencies.config, dependencies.tasks, pipeline)
    return Response(
        status_code=HTTPStatus.OK if healthy else HTTPStatus.SERVICE_UNAVAILABLE,
        content_type=content_types.APPLICATION_JSON,
        body=report,
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
