"""Idempotent uploads: what an `Idempotency-Key` retry must match, and how its record decides
the answer.

A client that did not see the answer to `POST /uploads` or `POST /uploads/presign` (a timeout, a
dropped connection) sends the same request again with the same key; within 24 hours it gets the
first answer back and nothing new is created. The same key with another request is a client bug
and is refused (422) rather than answered with a task the client did not ask for.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from sheetflow.logic.errors import RequestRejectedError

HEADER = "Idempotency-Key"
RECORD_PREFIX = "idempotency#"
TTL_SECONDS = 24 * 3600
# How long a first request may take before a retry may claim its key again (API Gateway gives a
# request at most 29 s).
CLAIM_SECONDS = 60
MAX_KEY_LENGTH = 255
# Headers that change what an upload means; a retry must carry the same ones.
MEANINGFUL_HEADERS = (
    "content-type",
    "x-filename",
    "x-run-at",
    "x-delay-seconds",
    "x-notify",
    "x-callback-url",
)


def check_key(raw: str) -> str:
    """1 to 255 visible ASCII characters (a UUID is the usual choice)."""
    if not 1 <= len(raw) <= MAX_KEY_LENGTH or not all(33 <= ord(char) <= 126 for char in raw):
        raise RequestRejectedError(
            "INVALID_IDEMPOTENCY_KEY",
            f"The {HEADER} header must be 1 to {MAX_KEY_LENGTH} visible ASCII characters "
            f"(a UUID, for example); got {raw[:60]!r}.",
        )
    return raw


def record_key(key: str, client: str | None) -> str:
    """The record's key: scoped to the client's API key when there is one."""
    return f"{RECORD_PREFIX}{client or '-'}#{key}"


def fingerprint(
    method: str,
    route: str,
    query: Mapping[str, str] | None,
    headers: Mapping[str, str] | None,
    body: str | None,
) -> str:
    """A digest of everything that makes two requests the same request."""
    wanted = {
        name.lower(): value
        for name, value in (headers or {}).items()
        if name.lower() in MEANINGFUL_HEADERS
    }
    canonical = json.dumps(
        [method.upper(), route, sorted((query or {}).items()), sorted(wanted.items())],
        separators=(",", ":"),
    )
    digest = hashlib.sha256(canonical.encode())
    digest.update(b"\0")
    digest.update((body or "").encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class StoredAnswer:
    status: int
    body: str
    headers: dict[str, str]


@dataclass(frozen=True)
class KeyRecord:
    fingerprint: str
    answer: StoredAnswer | None  # None while the first request is still being served
    expires_at: int
    claimed_until: int


class Verdict(StrEnum):
    REPLAY = "REPLAY"
    IN_PROGRESS = "IN_PROGRESS"


def judge(record: KeyRecord, wanted: str) -> Verdict:
    """What a request finding an existing, live record gets; 422 for another request."""
    if record.fingerprint != wanted:
        raise RequestRejectedError(
            "IDEMPOTENCY_KEY_REUSED",
            f"This {HEADER} was used in the last 24 hours for a different request (another "
            "body, query or headers). Use a new key for a new upload; a retry must repeat the "
            "first request exactly.",
        )
    return Verdict.REPLAY if record.answer is not None else Verdict.IN_PROGRESS
