"""Newest-first listing across every status, for the dashboard.

The status index keeps each status in its own partition, so the newest tasks overall are the
newest of each partition merged. A page ends at a (created_at, task_id) position; the next page
starts strictly after it, so tasks sharing a timestamp are neither repeated nor skipped.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from dataclasses import dataclass

from sheetflow.logic.errors import RequestRejectedError
from sheetflow.logic.task import Task

ORDER_BY_STATUS = "status"
ORDER_NEWEST = "newest"
# A marker that tells these tokens from the by-status listing's.
_CURSOR_MARK = "n."


@dataclass(frozen=True, order=True)
class Position:
    created_at: str
    task_id: str


def parse_order(value: str | None) -> str:
    if value is None or value in ("", ORDER_BY_STATUS):
        return ORDER_BY_STATUS
    if value == ORDER_NEWEST:
        return ORDER_NEWEST
    raise RequestRejectedError(
        "INVALID_ORDER",
        f"Unknown order {value!r}: use {ORDER_NEWEST!r} (newest first across statuses) or "
        f"{ORDER_BY_STATUS!r} (grouped by status, the default).",
    )


def encode_position(position: Position) -> str:
    raw = json.dumps([position.created_at, position.task_id], separators=(",", ":")).encode()
    return _CURSOR_MARK + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_position(token: str) -> Position:
    invalid = RequestRejectedError(
        "INVALID_TOKEN", "The pagination token is not one this API issued: start without it."
    )
    if not token.startswith(_CURSOR_MARK):
        raise invalid
    body = token[len(_CURSOR_MARK) :]
    try:
        document = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (binascii.Error, ValueError):
        raise invalid from None
    if (
        not isinstance(document, list)
        or len(document) != 2
        or not all(isinstance(part, str) for part in document)
    ):
        raise invalid
    return Position(created_at=document[0], task_id=document[1])


def position_of(task: Task) -> Position:
    return Position(created_at=task.created_at, task_id=task.task_id)


def merge_newest(
    partitions: Iterable[Iterable[Task]], after: Position | None, limit: int
) -> tuple[list[Task], Position | None]:
    """The `limit` newest tasks of all partitions that come after `after` (older than it), and
    the position to continue from, or None when this page is the last.

    Each partition must hold every one of its tasks after `after`, or at least `limit + 1` of
    them, newest first (tasks at or before `after` are dropped here in any case).
    """
    # A task that changes status between two partitions' reads is in both: the later write wins.
    latest: dict[str, Task] = {}
    for partition in partitions:
        for task in partition:
            if after is not None and position_of(task) >= after:
                continue
            seen = latest.get(task.task_id)
            if seen is None or task.updated_at > seen.updated_at:
                latest[task.task_id] = task
    candidates = sorted(latest.values(), key=position_of, reverse=True)
    page = candidates[:limit]
    more = len(candidates) > limit
    return page, (position_of(page[-1]) if more and page else None)
