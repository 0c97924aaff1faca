"""Requests checked against the API's contract (logic/openapi.py) before any work is done:
JSON bodies against their schema, query parameters against the operation's list.

The schemas use a small part of JSON Schema (type, properties, required, additionalProperties,
items, minimum, minItems, const); this checker reads exactly that part, so a body the document
allows is a body the handler takes, and each refusal names the field and the type it wants.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sheetflow.logic.errors import RequestRejectedError

_JSON_TYPES = {
    "object": "an object",
    "array": "a list",
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def json_type(value: Any) -> str:
    """The JSON type of a decoded value (booleans are not integers here)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def check_body(document: Any, schema: dict[str, Any], example: str) -> dict[str, Any]:
    """The body as a checked JSON object; INVALID_BODY naming the first field that is wrong."""
    if not isinstance(document, dict):
        raise RequestRejectedError(
            "INVALID_JSON",
            f"The body must be a JSON object like {example}, "
            f"not {_JSON_TYPES[json_type(document)]}.",
        )
    _check(document, schema, "body", "INVALID_BODY")
    return document


def _check(value: Any, schema: dict[str, Any], where: str, code: str) -> None:
    # A field may name the error code its own checks use (x-error-code), so a client sees the
    # same code for `size` whether its type or its value is wrong.
    code = schema.get("x-error-code", code)
    wanted = schema.get("type")
    kinds = [wanted] if isinstance(wanted, str) else list(wanted or [])
    got = json_type(value)
    if kinds and got not in kinds and not (got == "integer" and "number" in kinds):
        expected = " or ".join(_JSON_TYPES[kind] for kind in kinds)
        raise _invalid(code, where, f"must be {expected}, not {_JSON_TYPES[got]} ({value!r:.60})")
    if "const" in schema and value != schema["const"]:
        raise _invalid(code, where, f"must be {schema['const']!r}")
    if got == "integer" and "minimum" in schema and value < schema["minimum"]:
        raise _invalid(code, where, f"must be at least {schema['minimum']} (got {value})")
    if got == "object":
        _check_object(value, schema, where, code)
    if got == "array":
        if len(value) < schema.get("minItems", 0):
            raise _invalid(code, where, f"must hold at least {schema['minItems']} item(s)")
        for index, item in enumerate(value):
            _check(item, schema.get("items", {}), f"{where}[{index}]", code)


def _check_object(value: dict[str, Any], schema: dict[str, Any], where: str, code: str) -> None:
    properties: dict[str, Any] = schema.get("properties", {})
    missing = [name for name in schema.get("required", []) if name not in value]
    if missing:
        field_code = properties.get(missing[0], {}).get("x-error-code", code)
        raise _invalid(field_code, f"{where}.{missing[0]}", "is required")
    if schema.get("additionalProperties") is False:
        unknown = sorted(set(value) - set(properties))
        if unknown:
            raise _invalid(
                code,
                f"{where}.{unknown[0]}",
                f"is not a field of this request; the fields are {_names(properties)}",
            )
    for name, item in value.items():
        if name in properties:
            _check(item, properties[name], f"{where}.{name}", code)


def check_query(given: Iterable[str], allowed: Iterable[str], method: str, path: str) -> None:
    """UNKNOWN_PARAMETER for a query parameter the operation does not take (a misspelt one
    would otherwise be ignored silently)."""
    accepted = sorted(allowed)
    unknown = sorted(set(given) - set(accepted))
    if unknown:
        takes = f"it takes {', '.join(accepted)}" if accepted else "it takes none"
        raise RequestRejectedError(
            "UNKNOWN_PARAMETER",
            f"Unknown query parameter {unknown[0]!r} on {method} {path}: {takes}.",
            parameter=unknown[0],
        )


def _names(properties: dict[str, Any]) -> str:
    return ", ".join(sorted(properties)) or "none"


def _invalid(code: str, where: str, problem: str) -> RequestRejectedError:
    field = where.removeprefix("body.")
    return RequestRejectedError(code, f"In the JSON body, {field} {problem}.", field=field)
