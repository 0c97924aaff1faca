"""The API's contract: its OpenAPI 3.1 document, and what the handler checks requests against.

Written by hand as Python data, in this one module: the handler reads the same tables to refuse
unknown query parameters, unsupported methods and badly typed JSON bodies, so the document
cannot say one thing while the code accepts another, and a test compares the routes here with
the resolver's and the template's. Python rather than a JSON file: shared pieces (the error
shape, the task id, the timer fields) are written once and the limits come from the code's own
constants.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sheetflow.logic import idempotency
from sheetflow.logic.export import SUPPORTED_OUTPUTS
from sheetflow.logic.listing import DEFAULT_LIMIT, MAX_LIMIT, status_spellings
from sheetflow.logic.recent import ORDER_BY_STATUS, ORDER_NEWEST
from sheetflow.logic.task import TaskStatus

API_KEY_SCHEME = "apiKey"
API_KEY_HEADER = "x-api-key"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _string(description: str, **more: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **more}


# Request bodies: JSON objects, checked field by field (logic/request_checks.py) before use.
_TIMER_FIELDS: dict[str, Any] = {
    "run_at": _string(
        "Run at this UTC time (ISO 8601, e.g. 2026-01-05T10:00:00Z) instead of at once.",
        **{"x-error-code": "INVALID_SCHEDULE"},
    ),
    "delay_seconds": {
        "type": ["integer", "string"],
        "x-error-code": "INVALID_SCHEDULE",
        "description": "Run this many seconds from now (a whole number, at least 1).",
    },
    "outputs": {
        "type": ["string", "array"],
        "items": {"type": "string"},
        "description": f"Extra outputs: {', '.join(sorted(SUPPORTED_OUTPUTS))} (comma-separated "
        "or a list).",
    },
    "notify": _string("An e-mail address told when the task finishes."),
    "callback_url": _string("An https URL that receives a signed POST when the task finishes."),
}

PRESIGN_BODY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "filename": _string("The workbook's name (sanitized for the object key)."),
        "size": {
            "type": "integer",
            "minimum": 1,
            "x-error-code": "INVALID_SIZE",
            "description": "The file's length in bytes; over the limit is refused at once (413).",
        },
        **_TIMER_FIELDS,
    },
}
MULTIPART_BODY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["size"],
    "properties": {
        "filename": _string("The workbook's name (sanitized for the object key)."),
        "size": {
            "type": "integer",
            "minimum": 1,
            "x-error-code": "INVALID_SIZE",
            "description": "The file's length in bytes.",
        },
    },
}
COMPLETE_BODY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["upload_id", "parts"],
    "properties": {
        "upload_id": _string(
            "The upload id returned by POST /uploads/multipart.",
            **{"x-error-code": "INVALID_PARTS"},
        ),
        "parts": {
            "type": "array",
            "x-error-code": "INVALID_PARTS",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["part_number", "etag"],
                "properties": {
                    "part_number": {"type": "integer", "minimum": 1},
                    "etag": {"type": "string"},
                },
            },
        },
    },
}
REDRIVE_BODY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"confirm": {"type": "boolean", "description": "true, to confirm."}},
}


def _query(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": "string", **schema},
    }


_UPLOAD_QUERY = [
    _query("filename", "The workbook's name (or the X-Filename header)."),
    _query("run_at", "Run at this UTC time (ISO 8601), or the X-Run-At header."),
    _query("delay_seconds", "Run this many seconds from now, or the X-Delay-Seconds header."),
    _query("outputs", "Extra outputs, comma-separated: csv."),
    _query("notify", "An e-mail address told when the task finishes, or the X-Notify header."),
    _query("callback_url", "A URL that receives the finish event, or the X-Callback-Url header."),
]
_LIST_QUERY = [
    _query(
        "status",
        "Only tasks in this status, in upper or lower case (empty: every status).",
        enum=["", *status_spellings()],
    ),
    _query(
        "limit",
        f"Tasks per page, 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT}; also when empty).",
        pattern="^[0-9]*$",
    ),
    _query("next", "The `next` token of the previous page."),
    _query(
        "order",
        "`status` (grouped by status, the default; also when empty) or `newest` (newest first).",
        enum=["", ORDER_BY_STATUS, ORDER_NEWEST],
    ),
]
_IDEMPOTENCY_KEY = {
    "name": idempotency.HEADER,
    "in": "header",
    "required": False,
    "description": "Makes a retry safe: the same key and the same request within 24 hours get "
    "the first answer again and create nothing; the same key with another request is 422.",
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": idempotency.MAX_KEY_LENGTH,
        "pattern": "^[!-~]+$",
    },
}
_TASK_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "The task id (32 lowercase hex characters); anything else is 400.",
    "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
}


@dataclass(frozen=True)
class Operation:
    method: str  # upper case
    path: str  # the template's form: /tasks/{id}
    operation_id: str
    summary: str
    responses: dict[str, Any]
    query: list[dict[str, Any]] = field(default_factory=list)
    body: dict[str, Any] | None = None  # a JSON body's schema
    example: str = "{}"  # a JSON body's example, quoted in errors
    raw_body: bool = False  # the workbook itself (POST /uploads)
    public: bool = False  # no API key (health and this document)
    idempotent: bool = False  # takes an Idempotency-Key header
    links: dict[str, Any] = field(default_factory=dict)


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    """The error answers every route may give, plus the route's own."""
    reasons = {
        400: "The request is malformed; the error says which input and how to fix it.",
        404: "No such task (or route).",
        405: "The method is not supported on this path; the Allow header lists those that are.",
        409: "The task's state does not allow this, or the first request with this "
        "Idempotency-Key is still being served.",
        413: "The workbook is over the size limit.",
        415: "The body's Content-Type is not the one this route takes.",
        422: "The Idempotency-Key was used before with another request.",
        503: "A storage service is unavailable; retry shortly.",
    }
    return {str(status): _json(_ref("Error"), reasons[status]) for status in (400, 405, *statuses)}


_STATUS_LINK = {
    "status": {
        "operationId": "getTask",
        "parameters": {"id": "$response.body#/task_id"},
        "description": "`status_url` is this operation's URL for the new task.",
    }
}

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "POST",
        "/uploads",
        "uploadWorkbook",
        "Upload a workbook in the body (up to 4 MiB); the task is queued at once.",
        responses={
            "202": _json(_ref("Accepted"), "The task was created (or, for a retry, it was)."),
            **_errors(409, 413, 415, 422),
        },
        query=_UPLOAD_QUERY,
        raw_body=True,
        idempotent=True,
        links=_STATUS_LINK,
    ),
    Operation(
        "POST",
        "/uploads/presign",
        "presignUpload",
        "A task awaiting its file and a presigned POST form to send the file straight to S3.",
        responses={
            "201": _json(_ref("Presigned"), "The task and the upload form."),
            **_errors(409, 413, 422),
        },
        query=_UPLOAD_QUERY,
        body=PRESIGN_BODY,
        idempotent=True,
        example='{"filename": "book.xlsx", "size": 123456}',
        links=_STATUS_LINK,
    ),
    Operation(
        "POST",
        "/uploads/multipart",
        "startMultipartUpload",
        "A task and one presigned URL per part, for files too large for one request.",
        responses={
            "201": _json(_ref("Multipart"), "The task and the part URLs."),
            **_errors(413),
        },
        query=[_UPLOAD_QUERY[0]],
        body=MULTIPART_BODY,
        example='{"filename": "book.xlsx", "size": 52428800}',
        links={
            **_STATUS_LINK,
            "complete": {
                "operationId": "completeMultipartUpload",
                "parameters": {"id": "$response.body#/task_id"},
                "description": "`complete_url` is this operation's URL for the new task.",
            },
        },
    ),
    Operation(
        "POST",
        "/uploads/{id}/complete",
        "completeMultipartUpload",
        "Assemble the uploaded parts and queue the task.",
        responses={
            "202": _json(_ref("Accepted"), "The parts were assembled and the task queued."),
            **_errors(404, 409, 413),
        },
        body=COMPLETE_BODY,
        example='{"upload_id": "...", "parts": [{"part_number": 1, "etag": "..."}]}',
        links=_STATUS_LINK,
    ),
    Operation(
        "GET",
        "/tasks/{id}",
        "getTask",
        "A task: status, attempts, timeline, summary and, when it succeeded, `result_url`.",
        responses={"200": _json(_ref("Task"), "The task."), **_errors(404)},
    ),
    Operation(
        "DELETE",
        "/tasks/{id}",
        "cancelTask",
        "Cancel a task: at once when it has not started, else at the next sheet.",
        responses={
            "200": _json(_ref("Task"), "Cancelled at once."),
            "202": _json(_ref("Task"), "The worker stops at the next sheet."),
            **_errors(404, 409),
        },
    ),
    Operation(
        "GET",
        "/tasks",
        "listTasks",
        "A page of tasks, grouped by status or newest first.",
        responses={"200": _json(_ref("TaskPage"), "One page."), **_errors()},
        query=_LIST_QUERY,
    ),
    Operation(
        "GET",
        "/health",
        "getHealth",
        "Liveness, dependencies and pipeline; 503 with reasons when something needs action.",
        responses={
            "200": _json(_ref("Health"), "Everything works."),
            "503": _json(_ref("Health"), "Degraded: `reasons` says what to act on."),
            "405": _json(_ref("Error"), "Only GET is supported."),
        },
        public=True,
    ),
    Operation(
        "GET",
        "/openapi.json",
        "getOpenApi",
        "This document.",
        responses={
            "200": _json({"type": "object"}, "The OpenAPI document."),
            "405": _json(_ref("Error"), "Only GET is supported."),
        },
        public=True,
    ),
    Operation(
        "GET",
        "/dashboard",
        "getDashboard",
        "The dashboard page (HTML); the calls it makes send the key.",
        responses={
            "200": {
                "description": "The page.",
                "content": {"text/html": {"schema": {"type": "string"}}},
            },
            **_errors(),
        },
        public=True,
    ),
    Operation(
        "GET",
        "/stats",
        "getStats",
        "The last hour's finished tasks per minute.",
        responses={"200": _json({"type": "object"}, "Figures per minute."), **_errors(503)},
    ),
    Operation(
        "GET",
        "/dead-letters",
        "listDeadLetters",
        "Parked dead letters waiting for an operator.",
        responses={"200": _json(_ref("DeadLetters"), "The parked messages."), **_errors(503)},
    ),
    Operation(
        "POST",
        "/dead-letters/redrive",
        "redriveDeadLetters",
        'Move every parked dead letter back to the task queue (body {"confirm": true}).',
        responses={
            "200": _json(_ref("Redrive"), "How many moved."),
            **_errors(503),
        },
        body=REDRIVE_BODY,
        example='{"confirm": true}',
    ),
    Operation(
        "GET",
        "/alarms",
        "listAlarms",
        "Every alarm's state.",
        responses={"200": _json(_ref("Alarms"), "The alarms."), **_errors(503)},
    ),
)

_NULLABLE_STRING: dict[str, Any] = {"type": ["string", "null"]}
_LINK = {"type": "string", "description": "An absolute URL on the address the client used."}
_SCHEMAS: dict[str, Any] = {
    "Forbidden": {
        "type": "object",
        "required": ["message"],
        "properties": {"message": {"type": "string"}},
    },
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "description": "Stable, for programs."},
                    "message": {"type": "string", "description": "What went wrong, what to do."},
                },
                "additionalProperties": {"type": "string"},
            }
        },
    },
    "Accepted": {
        "type": "object",
        "required": ["task_id", "status", "status_url", "status_path"],
        "properties": {
            "task_id": {"type": "string"},
            "status": {"type": "string", "enum": [status.value for status in TaskStatus]},
            "run_at": _NULLABLE_STRING,
            "status_url": _LINK,
            "status_path": {"type": "string"},
        },
    },
    "Presigned": {
        "type": "object",
        "required": ["task_id", "status", "key", "upload", "status_url", "expires_in"],
        "properties": {
            "task_id": {"type": "string"},
            "status": {"type": "string"},
            "run_at": _NULLABLE_STRING,
            "key": {"type": "string"},
            "max_bytes": {"type": "integer"},
            "expires_in": {"type": "integer"},
            "upload": {
                "type": "object",
                "required": ["method", "url", "fields", "file_field"],
                "properties": {
                    "method": {"const": "POST"},
                    "url": {"type": "string"},
                    "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                    "file_field": {"type": "string"},
                },
            },
            "upload_url": {"type": "string", "description": "Deprecated presigned PUT."},
            "method": {"const": "PUT"},
            "status_url": _LINK,
            "status_path": {"type": "string"},
        },
    },
    "Multipart": {
        "type": "object",
        "required": ["task_id", "upload_id", "parts", "complete_url", "status_url"],
        "properties": {
            "task_id": {"type": "string"},
            "status": {"type": "string"},
            "key": {"type": "string"},
            "max_bytes": {"type": "integer"},
            "expires_in": {"type": "integer"},
            "upload_id": {"type": "string"},
            "part_size": {"type": "integer"},
            "parts": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["part_number", "size", "url"],
                    "properties": {
                        "part_number": {"type": "integer"},
                        "size": {"type": "integer"},
                        "url": {"type": "string"},
                    },
                },
            },
            "complete_url": _LINK,
            "complete_path": {"type": "string"},
            "status_url": _LINK,
            "status_path": {"type": "string"},
        },
    },
    "Task": {
        "type": "object",
        "required": ["task_id", "status", "attempts", "created_at", "timeline"],
        "properties": {
            "task_id": {"type": "string"},
            "status": {"type": "string", "enum": [status.value for status in TaskStatus]},
            "attempts": {"type": "integer"},
            "created_at": {"type": "string"},
            "updated_at": {"type": "string"},
            "filename": _NULLABLE_STRING,
            "size": {"type": ["integer", "null"]},
            "error": {"type": ["object", "null"]},
            "summary": {"type": ["object", "null"]},
            "timeline": {"type": "array"},
            "result_url": {
                "type": "string",
                "description": "A presigned GET of the result document (SUCCEEDED only).",
            },
        },
    },
    "TaskPage": {
        "type": "object",
        "required": ["items", "next"],
        "properties": {"items": {"type": "array", "items": _ref("Task")}, "next": _NULLABLE_STRING},
    },
    "Health": {
        "type": "object",
        "required": ["status", "reasons", "checks"],
        "properties": {
            "status": {"enum": ["ok", "degraded"]},
            "reasons": {"type": "array", "items": {"type": "string"}},
            "checks": {"type": "object"},
        },
    },
    "DeadLetters": {
        "type": "object",
        "required": ["queue", "depth", "items"],
        "properties": {
            "queue": {"type": "string"},
            "depth": {"type": "integer"},
            "in_flight": {"type": "integer"},
            "items": {"type": "array"},
        },
    },
    "Redrive": {
        "type": "object",
        "required": ["moved"],
        "properties": {"moved": {"type": "integer"}, "method": _NULLABLE_STRING},
    },
    "Alarms": {
        "type": "object",
        "required": ["alarms"],
        "properties": {"alarms": {"type": "array"}},
    },
}


# What every keyed route may answer besides its own responses.
_KEYED_RESPONSES = {
    "403": {
        "description": "No API key, or not a key of this API's usage plan. API Gateway answers "
        'itself with {"message": "Forbidden"}; the function, for a request without a key '
        "identity, with the Error shape (API_KEY_REQUIRED).",
        "content": {"application/json": {"schema": {"oneOf": [_ref("Forbidden"), _ref("Error")]}}},
    },
    "429": {
        **_json(
            _ref("Error"),
            "The key's request rate (RATE_LIMITED) or daily quota (QUOTA_EXCEEDED) is spent.",
        ),
        "headers": {
            "Retry-After": {
                "description": "Seconds until the key may call again.",
                "schema": {"type": "integer", "minimum": 1},
            }
        },
    },
}


def _operation(operation: Operation) -> dict[str, Any]:
    responses = (
        operation.responses
        if operation.public
        else {
            **operation.responses,
            **_KEYED_RESPONSES,
        }
    )
    body: dict[str, Any] = {
        "operationId": operation.operation_id,
        "summary": operation.summary,
        "responses": responses,
    }
    parameters = [*operation.query]
    if "{id}" in operation.path:
        parameters.insert(0, _TASK_ID)
    if operation.idempotent:
        parameters.append(_IDEMPOTENCY_KEY)
    if parameters:
        body["parameters"] = parameters
    if operation.body is not None:
        body["requestBody"] = {
            "required": False,
            "content": {"application/json": {"schema": operation.body}},
        }
    if operation.raw_body:
        body["requestBody"] = {
            "required": True,
            "content": {XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
        }
    if operation.public:
        body["security"] = []
    if operation.links:
        success = next(code for code in responses if code.startswith("2"))
        body["responses"] = {**responses, success: {**responses[success], "links": operation.links}}
    return body


def document(server_url: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document, its server being the address the client reached it at."""
    paths: dict[str, dict[str, Any]] = {}
    for operation in OPERATIONS:
        paths.setdefault(operation.path, {})[operation.method.lower()] = _operation(operation)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "sheetflow",
            "version": "1",
            "description": "Spreadsheet processing: upload an .xlsx workbook, follow its task. "
            "Every error is JSON {error: {code, message}}. Unknown query parameters, unknown "
            "JSON body fields and unsupported methods are refused.",
        },
        "servers": [{"url": server_url or "/"}],
        "security": [{API_KEY_SCHEME: []}],
        "paths": paths,
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {
                API_KEY_SCHEME: {"type": "apiKey", "in": "header", "name": API_KEY_HEADER}
            },
        },
    }


def _matches(template: str, path: str) -> bool:
    pattern = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
    return re.match(pattern, path) is not None


def operation_for(method: str, resource: str) -> Operation | None:
    """The documented operation behind a request (`resource` is API Gateway's template path,
    or the concrete path when the event carries none)."""
    return next(
        (
            operation
            for operation in OPERATIONS
            if operation.method == method.upper()
            and (operation.path == resource or _matches(operation.path, resource))
        ),
        None,
    )


def methods_for(resource: str) -> list[str]:
    """The methods a path supports; empty for a path the API does not have."""
    return sorted(
        operation.method
        for operation in OPERATIONS
        if operation.path == resource or _matches(operation.path, resource)
    )
