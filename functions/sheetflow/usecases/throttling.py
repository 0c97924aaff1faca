"""Admitting one API request of a client against its rate and daily quota (logic/throttling.py)."""

from __future__ import annotations

from sheetflow.dal.rate_buckets import RateBuckets
from sheetflow.logic.throttling import BucketState, RateLimits, take_token


def admit(owner: str, limits: RateLimits, buckets: RateBuckets, now: float) -> BucketState:
    """Spends one of the owner's tokens at `now` (epoch seconds); ThrottledError when it must
    wait, with the seconds to wait."""
    return buckets.spend(owner, now, lambda state: take_token(state, limits, now))
