"""REST API (API Gateway proxy): uploads, presigned uploads, task status and listing, health."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from sheetflow.config import ApiConfig, PipelineWatchConfig
from sheetflow.dal.canary_runs import CanaryRuns
from sheetflow.dal.idempotency_keys import IdempotencyKeys
from sheetflow.handlers import access
from sheetflow.handlers import dashboard as dashboard_routes
from sheetflow.handlers.dependencies import HandlerDependencies
from sheetflow.logic import idempotency, links, openapi, request_checks
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
from sheetflow.usecases import (
    cancelling,
    dashboard,
    health,
    idempotent,
    pipeline_health,
    queries,
    uploads,
)

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
    "IDEMPOTENCY_IN_PROGRESS": HTTPStatus.CONFLICT,
    "IDEMPOTENCY_KEY_REUSED": HTTPStatus.UNPROCESSABLE_ENTITY,
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
    event = app.current_event
    path, method = event.path, event.http_method
    allowed = openapi.methods_for(event.resource or path)
    if allowed:
        # The template routes every method of a known path here (the `any` events), so a
        # wrong method gets this JSON answer on AWS and LocalStack alike.
        response = _error_response(
            HTTPStatus.METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            f"{method} is not supported on {path}: use {' or '.join(allowed)}.",
            {"method": method},
        )
        response.headers["Allow"] = ", ".join(allowed)
        return response
    return _error_response(HTTPStatus.NOT_FOUND, "ROUTE_NOT_FOUND", f"No route {method} {path}.")


def _check_contract(
    resolver: APIGatewayRestResolver, next_middleware: NextMiddleware
) -> Response[Any]:
    """Query parameters and JSON bodies checked against the OpenAPI document before a route
    runs (logic/openapi.py): nothing unknown is ignored silently."""
    event = resolver.current_event
    operation = openapi.operation_for(event.http_method, event.resource or event.path)
    if operation is not None:
        request_checks.check_query(
            (event.query_string_parameters or {}).keys(),
            (parameter["name"] for parameter in operation.query),
            event.http_method,
            event.path,
        )
        if operation.body is not None and event.body:
            try:
                document = event.json_body
            except ValueError:
                document = _NOT_JSON
            if document is _NOT_JSON:
                raise RequestRejectedError(
                    "INVALID_JSON", "The body is not valid JSON: send a JSON object."
                )
            request_checks.check_body(document, operation.body, operation.example)
    return next_middleware(resolver)


_NOT_JSON = object()


def _idempotent(resolver: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
    """With an Idempotency-Key header, a retry of the same request gets the first answer and
    creates nothing; the same key with another request is 422 (usecases/idempotent.py)."""
    raw_key = _header(idempotency.HEADER)
    if raw_key is None:
        return next_middleware(resolver)
    event = resolver.current_event
    fingerprint = idempotency.fingerprint(
        event.http_method,
        event.resource or event.path,
        event.query_string_parameters,
        event.headers,
        event.body,
    )
    client = event.request_context.identity.api_key_id
    record_key = idempotency.record_key(idempotency.check_key(raw_key), client)

    def serve() -> idempotency.StoredAnswer:
        response = next_middleware(resolver)
        body = response.body if isinstance(response.body, str) else json.dumps(response.body)
        headers = {name: str(value) for name, value in (response.headers or {}).items()}
        return idempotency.StoredAnswer(int(response.status_code), body, headers)

    answer, replayed = idempotent.serve_once(
        IdempotencyKeys(dependencies.config.table_name),
        record_key,
        fingerprint,
        datetime.now(UTC),
        serve,
    )
    logger.info("Idempotent request", extra={"replayed": replayed})
    return Response(
        status_code=answer.status,
        content_type=content_types.APPLICATION_JSON,
        headers={**answer.headers, "Idempotent-Replayed": "true" if replayed else "false"},
        body=answer.body,
    )


# Registered as plain calls: the resolver's decorators are untyped.
app.exception_handler(RequestRejectedError)(_rejected)
app.exception_handler(ThrottledError)(_throttled)
app.exception_handler(TransientError)(_dependency_down)
app.not_found(_no_route)
app.use([_check_contract])
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
    """A link on the address the client used (logic/links.py has the rule)."""
    return links.base_url(_request_address()) + path


def _request_address() -> links.RequestAddress:
    event = app.current_event
    context = event.request_context
    return links.RequestAddress(
        domain_name=context.domain_name or _header("Host"),
        api_id=context.api_id,
        stage=context.stage,
        context_path=context.path,
        route_path=event.path,
        forwarded_proto=_header("X-Forwarded-Proto"),
    )


@app.post("/uploads", middlewares=[_idempotent])
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


def _json_document() -> dict[str, Any]:
    """The request body's JSON object ({} when there is none), already checked against the
    operation's schema by _check_contract."""
    if not app.current_event.body:
        return {}
    document: dict[str, Any] = app.current_event.json_body
    return document


@app.post("/uploads/presign", middlewares=[_idempotent])
@tracer.capture_method
def presign() -> Response[Any]:
    document = _json_document()
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
    document = _json_document()
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
    document = _json_document()
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


@app.get("/openapi.json")
def get_openapi() -> dict[str, Any]:
    # Public, like /health: the contract is no secret; its server is the address used.
    return openapi.document(links.base_url(_request_address()))


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
