"""Serving a request at most once per Idempotency-Key (logic/idempotency.py has the rules)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sheetflow.dal.idempotency_keys import IdempotencyKeys
from sheetflow.logic.errors import RequestRejectedError
from sheetflow.logic.idempotency import (
    CLAIM_SECONDS,
    HEADER,
    TTL_SECONDS,
    StoredAnswer,
    Verdict,
    judge,
)


def serve_once(
    keys: IdempotencyKeys,
    record_key: str,
    fingerprint: str,
    now: datetime,
    serve: Callable[[], StoredAnswer],
) -> tuple[StoredAnswer, bool]:
    """The answer, and whether it is a replay of the first request's."""
    existing = keys.claim(record_key, fingerprint, int(now.timestamp()), TTL_SECONDS, CLAIM_SECONDS)
    if existing is not None:
        if judge(existing, fingerprint) is Verdict.REPLAY and existing.answer is not None:
            return existing.answer, True
        raise RequestRejectedError(
            "IDEMPOTENCY_IN_PROGRESS",
            f"The first request with this {HEADER} is still being served; retry in a few "
            "seconds to get its answer.",
        )
    try:
        answer = serve()
    except BaseException:
        keys.release(record_key)
        raise
    # Only a success is kept: a refused or failed request may be corrected and retried.
    if 200 <= answer.status < 300:
        keys.answer(record_key, answer)
    else:
        keys.release(record_key)
    return answer, False
