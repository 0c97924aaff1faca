"""Per-client throttling and daily quota: the token bucket with an injected clock, its storage
(moto) and the API's 429 answer with Retry-After."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from sheetflow.dal.rate_buckets import RateBuckets
from sheetflow.handlers import access, api
from sheetflow.logic.throttling import (
    BucketState,
    RateLimits,
    ThrottledError,
    seconds_to_next_day,
    take_token,
)
from sheetflow.usecases.throttling import admit

from .conftest import FakeLambdaContext, Kit, Stack

LIMITS = RateLimits(rate_per_second=2, burst=3, daily_quota=5)
# 2026-01-05 10:00:00 UTC
T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC).timestamp()


def spend(times: list[float], limits: RateLimits = LIMITS) -> list[str]:
    """Takes a token at each time; 'ok' or the refusal's code and Retry-After, in order."""
    state: BucketState | None = None
    outcomes = []
    for now in times:
        try:
            state = take_token(state, limits, now)
            outcomes.append("ok")
        except ThrottledError as refused:
            outcomes.append(f"{refused.code}:{refused.retry_after}")
    return outcomes


def test_a_new_client_has_a_full_burst_then_waits_for_the_rate() -> None:
    # Given a burst of 3 and 2 tokens a second, four requests at the same instant
    assert spend([T0, T0, T0, T0]) == ["ok", "ok", "ok", "RATE_LIMITED:1"]


def test_tokens_come_back_at_the_rate_and_never_beyond_the_burst() -> None:
    # Half a second after emptying the bucket one token is back (2 per second)
    assert spend([T0, T0, T0, T0 + 0.5, T0 + 0.5]) == ["ok", "ok", "ok", "ok", "RATE_LIMITED:1"]
    # An hour of rest refills only up to the burst
    limits = RateLimits(rate_per_second=1, burst=2, daily_quota=100)
    later = T0 + 3600
    assert spend([T0, later, later, later], limits) == ["ok", "ok", "ok", "RATE_LIMITED:1"]


def test_retry_after_is_the_whole_seconds_until_the_next_token() -> None:
    slow = RateLimits(rate_per_second=1, burst=1, daily_quota=100)
    assert spend([T0, T0 + 0.2], slow) == ["ok", "RATE_LIMITED:1"]
    # A clock that went backwards refills nothing
    assert spend([T0, T0 - 30], slow) == ["ok", "RATE_LIMITED:1"]


def test_the_daily_quota_stops_a_client_until_midnight_utc() -> None:
    # Given a quota of 5 and requests spaced so the rate never bites
    times = [T0 + second for second in range(6)]
    outcomes = spend(times)
    # Then the sixth is refused until midnight UTC, 14 hours after 10:00:05
    assert outcomes[:5] == ["ok"] * 5
    assert outcomes[5] == f"QUOTA_EXCEEDED:{14 * 3600 - 5}"


def test_the_quota_renews_on_the_next_utc_day() -> None:
    midnight = datetime(2026, 1, 6, tzinfo=UTC).timestamp()
    times = [midnight - 10 + second for second in range(5)] + [midnight - 4, midnight + 1]
    assert spend(times) == ["ok"] * 5 + ["QUOTA_EXCEEDED:4", "ok"]
    assert seconds_to_next_day(midnight - 0.5) == 1


def test_the_bucket_is_stored_per_client(stack: Stack) -> None:
    buckets = RateBuckets(stack.table)
    # Given Alice's three requests at one instant
    for _ in range(3):
        admit("alice00key1", LIMITS, buckets, T0)
    # Then her fourth is refused, while Bob still has his whole burst
    with pytest.raises(ThrottledError) as refused:
        admit("alice00key1", LIMITS, buckets, T0)
    assert refused.value.code == "RATE_LIMITED"
    state = admit("bob0000key2", LIMITS, buckets, T0)
    assert state.tokens == 2 and state.used_today == 1


def test_a_concurrent_writer_does_not_let_a_token_be_spent_twice(stack: Stack) -> None:
    # Given two requests of one client that read the same bucket: the second's write must lose
    # and read again
    buckets = RateBuckets(stack.table)
    admit("alice00key1", LIMITS, buckets, T0)
    seen: list[float | None] = []

    def take_racing(state: BucketState | None) -> BucketState:
        seen.append(state.tokens if state else None)
        if len(seen) == 1:
            # Another request of the same client lands between this read and this write
            admit("alice00key1", LIMITS, buckets, T0)
        return take_token(state, LIMITS, T0)

    final = buckets.spend("alice00key1", T0, take_racing)
    # Then the write was retried on the fresh state: three tokens spent in all, not two
    assert seen == [2.0, 1.0]
    assert final.tokens == 0 and final.used_today == 3


def test_the_api_answers_429_with_retry_after_and_a_clear_body(
    stack: Stack, kit: Kit, context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a function whose limit is one request, then one a second
    monkeypatch.setenv("API_RATE_LIMIT", "1")
    monkeypatch.setenv("API_BURST_LIMIT", "1")
    access.dependencies.rebuild()
    access.buckets.cache_clear()
    event = kit.as_client(kit.event("api-list-tasks.json"), "alice00key1")
    # When the client asks twice at once
    first = api.handler(event, context)
    second = api.handler(event, context)
    # Then the second is 429 with Retry-After and says what limit it hit
    assert first["statusCode"] == 200
    assert second["statusCode"] == 429
    (retry_after,) = second["multiValueHeaders"]["Retry-After"]
    assert int(retry_after) >= 1
    error = json.loads(second["body"])["error"]
    assert error["code"] == "RATE_LIMITED"
    assert error["retry_after_seconds"] == retry_after
    # And /health is never throttled
    for _ in range(3):
        assert api.handler(kit.event("api-health.json"), context)["statusCode"] in (200, 503)
