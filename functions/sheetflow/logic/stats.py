"""Figures for the dashboard's last-hour chart: finished tasks per minute by outcome, and
processing-time percentiles. Pure: the tasks are read elsewhere."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sheetflow.logic.task import isoformat

PERCENTILES = (50, 90, 99)


@dataclass(frozen=True)
class Finished:
    at: datetime
    outcome: str  # the finished status: SUCCEEDED or FAILED
    seconds: float | None  # processing time, when known


def percentile(values: Sequence[float], rank: float) -> float | None:
    """Nearest-rank percentile (the smallest value with at least `rank` % at or below it)."""
    if not values:
        return None
    if not 0 < rank <= 100:
        raise ValueError(f"a percentile rank is in (0, 100], not {rank}")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(rank / 100 * len(ordered)) - 1)]


def minute_floor(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def per_minute(
    finished: Iterable[Finished], now: datetime, minutes: int, outcomes: Sequence[str]
) -> list[dict[str, Any]]:
    """One bucket per minute for the last `minutes` minutes (the current one last), each with a
    count per outcome. Tasks outside the window are left out."""
    last = minute_floor(now)
    first = last - timedelta(minutes=minutes - 1)
    buckets: list[dict[str, Any]] = [
        {"minute": isoformat(first + timedelta(minutes=index)), **dict.fromkeys(outcomes, 0)}
        for index in range(minutes)
    ]
    for item in finished:
        index = int((minute_floor(item.at) - first).total_seconds() // 60)
        if 0 <= index < minutes and item.outcome in outcomes:
            buckets[index][item.outcome] += 1
    return buckets


def summarize(
    finished: Sequence[Finished], now: datetime, minutes: int, outcomes: Sequence[str]
) -> dict[str, Any]:
    window_start = minute_floor(now) - timedelta(minutes=minutes - 1)
    inside = [item for item in finished if window_start <= item.at <= now]
    seconds = [item.seconds for item in inside if item.seconds is not None]
    return {
        "window_minutes": minutes,
        "since": isoformat(window_start),
        "until": isoformat(now),
        "per_minute": per_minute(inside, now, minutes, outcomes),
        "totals": {
            outcome: sum(item.outcome == outcome for item in inside) for outcome in outcomes
        },
        "processing_seconds": {
            "count": len(seconds),
            **{f"p{rank}": percentile(seconds, rank) for rank in PERCENTILES},
        },
    }
