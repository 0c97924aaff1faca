"""Reading a sample event (events/*.json) back into what its real trigger would have sent."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackctl.errors import UserFacingError


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes | None


def load_event(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UserFacingError(f"{path}: no such event file.", "The samples are in events/.")
    try:
        document = json.loads(path.read_text())
    except ValueError as error:
        raise UserFacingError(f"{path}: not valid JSON ({error}).") from error
    if not isinstance(document, dict):
        raise UserFacingError(f"{path}: an event must be a JSON object.")
    return document


def http_request_of(event: dict[str, Any]) -> HttpRequest:
    """The HTTP request an API Gateway REST proxy event stands for (path without the stage)."""
    try:
        method, path = str(event["httpMethod"]), str(event["path"])
    except KeyError as error:
        raise UserFacingError(f"Not an API Gateway proxy event: it has no {error}.") from error
    body: bytes | None = None
    if event.get("body") is not None:
        raw = str(event["body"])
        body = base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode()
    # Hop-by-hop and routing headers belong to the original request, not to this one.
    kept = {
        name: str(value)
        for name, value in (event.get("headers") or {}).items()
        if name.lower() in {"content-type", "x-filename", "accept"}
    }
    return HttpRequest(
        method=method,
        path=path,
        query={k: str(v) for k, v in (event.get("queryStringParameters") or {}).items()},
        headers=kept,
        body=body,
    )


# Sample events whose file name starts with this are EventBridge events for the stack's bus.
BUS_EVENT_PREFIX = "bus-"


def bus_entry_of(event: dict[str, Any], bus_name: str) -> dict[str, Any]:
    """The PutEvents entry that puts an EventBridge event (as a rule's target receives it) back
    on the bus: the same source, detail-type and detail."""
    try:
        source, detail_type, detail = event["source"], event["detail-type"], event["detail"]
    except KeyError as error:
        raise UserFacingError(f"Not an EventBridge event: it has no {error}.") from error
    return {
        "EventBusName": bus_name,
        "Source": str(source),
        "DetailType": str(detail_type),
        "Detail": json.dumps(detail),
    }


def sqs_bodies_of(event: dict[str, Any]) -> list[str]:
    """The message bodies of an SQS event's records, as they were sent to the queue."""
    records = event.get("Records")
    if not isinstance(records, list) or not records:
        raise UserFacingError("Not an SQS event: it has no Records.")
    try:
        return [str(record["body"]) for record in records]
    except (KeyError, TypeError) as error:
        raise UserFacingError(f"An SQS record without a body ({error}).") from error
