"""Invoking a deployed function synchronously and reading what it answered."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

from stackctl import aws


@dataclass(frozen=True)
class Invocation:
    function_name: str
    payload: Any  # the decoded JSON answer (or the raw text when it is not JSON)
    function_error: str | None  # "Unhandled" when the handler raised

    @property
    def succeeded(self) -> bool:
        return self.function_error is None


def invoke(function_name: str, event: Any) -> Invocation:
    response = aws.client("lambda").invoke(
        FunctionName=function_name,
        InvocationType="RequestResponse",
        Payload=json.dumps(event).encode(),
    )
    raw = response["Payload"].read().decode(errors="replace")
    try:
        payload: Any = json.loads(raw) if raw else None
    except ValueError:
        payload = raw
    return Invocation(
        function_name=function_name,
        payload=payload,
        function_error=response.get("FunctionError"),
    )


def readable(payload: Any) -> str:
    """Pretty JSON; an API Gateway proxy answer also gets its JSON body string unpacked."""
    if isinstance(payload, dict) and isinstance(payload.get("body"), str):
        with contextlib.suppress(ValueError):
            payload = {**payload, "body": json.loads(payload["body"])}
    return json.dumps(payload, indent=2, sort_keys=False, default=str)
