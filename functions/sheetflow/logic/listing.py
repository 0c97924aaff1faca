"""Task listing parameters: status filter, page size and the opaque pagination token.

Listing walks the status index one status at a time (newest first), so no request scans the
table. The token records which status the next page continues in and where.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from sheetflow.logic.errors import RequestRejectedError
from sheetflow.logic.task import TaskStatus

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
LISTING_ORDER: tuple[TaskStatus, ...] = (
    TaskStatus.AWAITING_UPLOAD,
    TaskStatus.SCHEDULED,
    TaskStatus.QUEUED,
    TaskStatus.PROCESSING,
    TaskStatus.SUCCEEDED,
    TaskStatus.FAILED,
    TaskStatus.CANCELLED,
)
_KEY_ATTRIBUTES = frozenset({"task_id", "status", "created_at"})


@dataclass(frozen=True)
class PageCursor:
    """Where a page starts: a status and, within it, the index key to resume after."""

    status: TaskStatus
    start_key: dict[str, str] | None = None


def status_spellings() -> list[str]:
    """The values the status filter takes: each status's name in upper or in lower case."""
    return [spelling for status in TaskStatus for spelling in (status.value, status.value.lower())]


def parse_status(value: str | None) -> TaskStatus | None:
    if value is None or value == "":
        return None
    if value in status_spellings():
        return TaskStatus(value.upper())
    allowed = ", ".join(status.value for status in TaskStatus)
    raise RequestRejectedError(
        "INVALID_STATUS", f"Unknown status {value!r}: use one of {allowed} (or lower case)."
    )


def parse_limit(value: str | None) -> int:
    if value is None or value == "":
        return DEFAULT_LIMIT
    # ASCII digits only: str.isdigit() also takes fullwidth digits (int() reads them) and
    # superscripts (int() raises).
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_LIMIT:
        raise RequestRejectedError(
            "INVALID_LIMIT", f"limit must be a whole number from 1 to {MAX_LIMIT}, not {value!r}."
        )
    return int(value)


def encode_token(cursor: PageCursor) -> str:
    document = {"s": cursor.status.value, "k": cursor.start_key}
    raw = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, status_filter: TaskStatus | None) -> PageCursor:
    invalid = RequestRejectedError(
        "INVALID_TOKEN", "The pagination token is not one this API issued: start without it."
    )
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        document: Any = json.loads(raw)
        status = TaskStatus(document["s"])
        start_key = document["k"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise invalid from None
    if status_filter is not None and status is not status_filter:
        raise invalid
    if start_key is not None and not _is_index_key(start_key, status):
        raise invalid
    return PageCursor(status=status, start_key=start_key)


def _is_index_key(value: Any, status: TaskStatus) -> bool:
    return (
        isinstance(value, dict)
        and set(value) == _KEY_ATTRIBUTES
        and all(isinstance(item, str) for item in value.values())
        and value["status"] == status.value
    )


def first_cursor(status_filter: TaskStatus | None) -> PageCursor:
    return PageCursor(status=status_filter or LISTING_ORDER[0])


def next_status(status: TaskStatus, status_filter: TaskStatus | None) -> TaskStatus | None:
    """The status listed after `status` is exhausted, or None at the end of the listing."""
    if status_filter is not None:
        return None
    position = LISTING_ORDER.index(status)
    return LISTING_ORDER[position + 1] if position + 1 < len(LISTING_ORDER) else None
