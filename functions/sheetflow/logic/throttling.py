"""Per-client throttling and daily quota: a token bucket and a day counter per API key.

AWS enforces a usage plan's throttle and quota at API Gateway; LocalStack does not, so the API
function enforces the same figures itself, everywhere (the template passes the usage plan's
parameters to both). A request takes one token; tokens come back at `rate_per_second` up to
`burst`. The quota counts requests per UTC day, as the usage plan's `Period: DAY` does.

Pure: the caller passes the stored state and the clock, and stores the new state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sheetflow.logic.errors import RequestRejectedError


@dataclass(frozen=True)
class RateLimits:
    rate_per_second: float
    burst: int
    daily_quota: int


@dataclass(frozen=True)
class BucketState:
    """One client's bucket: tokens left at `updated_at` (epoch seconds), requests on `day`."""

    tokens: float
    updated_at: float
    day: str
    used_today: int


class ThrottledError(RequestRejectedError):
    """Too many requests: answered 429 with Retry-After (whole seconds)."""

    def __init__(self, code: str, message: str, retry_after: int) -> None:
        super().__init__(code, message, retry_after_seconds=str(retry_after))
        self.retry_after = retry_after


def utc_day(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")


def seconds_to_next_day(now: float) -> int:
    moment = datetime.fromtimestamp(now, UTC)
    midnight = (moment + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, math.ceil((midnight - moment).total_seconds()))


def take_token(state: BucketState | None, limits: RateLimits, now: float) -> BucketState:
    """The state after one more request at `now`; ThrottledError when it must wait.

    A new client starts with a full bucket. A clock that went backwards refills nothing.
    """
    today = utc_day(now)
    if state is None:
        state = BucketState(tokens=float(limits.burst), updated_at=now, day=today, used_today=0)
    elapsed = max(0.0, now - state.updated_at)
    tokens = min(float(limits.burst), state.tokens + elapsed * limits.rate_per_second)
    used = state.used_today if state.day == today else 0
    if used >= limits.daily_quota:
        wait = seconds_to_next_day(now)
        raise ThrottledError(
            "QUOTA_EXCEEDED",
            f"This API key made its {limits.daily_quota} requests for today (UTC, ApiDailyQuota); "
            f"the quota renews at midnight UTC, in {wait} s. Ask the operator for a larger quota "
            "or another key.",
            wait,
        )
    if tokens < 1.0:
        wait = max(1, math.ceil((1.0 - tokens) / limits.rate_per_second))
        raise ThrottledError(
            "RATE_LIMITED",
            f"Too many requests with this API key: at most {limits.rate_per_second:g} per second "
            f"on average with bursts of {limits.burst} (ApiRateLimit, ApiBurstLimit). Retry after "
            f"{wait} s.",
            wait,
        )
    return BucketState(tokens=tokens - 1.0, updated_at=now, day=today, used_today=used + 1)
