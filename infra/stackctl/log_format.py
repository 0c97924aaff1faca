"""Log lines made readable: Powertools' JSON records and metric (EMF) records as one short line."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

# Fields Powertools adds to every record: context, not content.
_BOILERPLATE = frozenset(
    {
        "level",
        "location",
        "message",
        "timestamp",
        "service",
        "cold_start",
        "function_name",
        "function_memory_size",
        "function_arn",
        "function_request_id",
        "xray_trace_id",
        "sampling_rate",
        "correlation_id",
    }
)


def format_event(event: dict[str, Any], raw: bool = False) -> str:
    moment = datetime.fromtimestamp(event["timestamp"] / 1000, UTC)
    stamp = f"{moment:%H:%M:%S.%f}"[:-3]
    message = str(event["message"]).rstrip()
    return f"{stamp}  {message if raw else readable_message(message)}"


def readable_message(message: str) -> str:
    try:
        record = json.loads(message)
    except ValueError:
        return message  # START/END/REPORT lines and plain prints stay as they are
    if not isinstance(record, dict):
        return message
    if "_aws" in record:
        names = [
            metric["Name"]
            for directive in record["_aws"].get("CloudWatchMetrics", [])
            for metric in directive.get("Metrics", [])
        ]
        return "metrics  " + " ".join(f"{name}={_number(record.get(name))}" for name in names)
    if "level" in record and "message" in record:
        extras = " ".join(
            f"{key}={value}"
            for key, value in record.items()
            if key not in _BOILERPLATE and value is not None
        )
        task = f" [{record['correlation_id']}]" if record.get("correlation_id") else ""
        return f"{record['level']:<8}{record['message']}{task}" + (f"  {extras}" if extras else "")
    return message


def _number(value: Any) -> str:
    """EMF values may be lists (several samples in one record): `[1.0]` -> `1`."""
    values = value if isinstance(value, list) else [value]
    return ",".join(f"{v:g}" if isinstance(v, int | float) else str(v) for v in values)
