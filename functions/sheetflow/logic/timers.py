"""Timers: an upload may ask to run at a time (`run_at`, ISO 8601 UTC) or after a delay
(`delay_seconds`). Parsing and the arithmetic of the two routes a timer takes.

A timer within SQS's 15-minute message delay is a delayed task message. A longer one waits in
the table (status SCHEDULED) until the scheduler's sweep, every minute, finds it within its
horizon and sends its message with the remaining delay. Either way the worker claims the task
when the message arrives, waiting out the last fraction of a second itself (SQS delays are whole
seconds), so the task starts within about a second of its time.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sheetflow.logic.errors import RequestRejectedError

# SQS's largest per-message delay.
SQS_MAX_DELAY_SECONDS = 900
# A message may arrive this early (whole-second delays, clock skew): the worker waits the rest.
EARLY_ARRIVAL_SECONDS = 2.0
# The scheduled time must leave the cleanup this much room: a task is deleted `retention` after
# it was created, and it has to have run (and been looked at) before that.
RETENTION_MARGIN = timedelta(hours=1)
_ISO_UTC = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]00:?00)$", re.IGNORECASE
)


@dataclass(frozen=True)
class TimerLimits:
    retention_hours: int
    # Timers up to this far ahead go straight to SQS as delayed messages; longer ones wait for
    # the sweep. 900 (SQS's maximum) in production; tests shorten it to exercise the sweep.
    direct_max_seconds: int = SQS_MAX_DELAY_SECONDS

    def latest(self, now: datetime) -> datetime:
        return now + timedelta(hours=self.retention_hours) - RETENTION_MARGIN


def requested_run_at(
    run_at: str | None, delay_seconds: str | None, now: datetime, limits: TimerLimits
) -> datetime | None:
    """The time the upload asked for, or None; RequestRejectedError for a bad request."""
    run_at = (run_at or "").strip() or None
    delay_seconds = (delay_seconds or "").strip() or None
    if run_at is None and delay_seconds is None:
        return None
    if run_at is not None and delay_seconds is not None:
        raise RequestRejectedError(
            "INVALID_SCHEDULE", "Give either run_at or delay_seconds, not both."
        )
    if delay_seconds is not None:
        if not delay_seconds.isdigit() or int(delay_seconds) < 1:
            raise RequestRejectedError(
                "INVALID_SCHEDULE",
                f"delay_seconds must be a whole number of seconds, at least 1, not "
                f"{delay_seconds!r}.",
            )
        moment = now + timedelta(seconds=int(delay_seconds))
    else:
        # Not None here: one of the two was given, and it was not the delay.
        moment = _parse_utc(str(run_at))
        if moment <= now:
            raise RequestRejectedError(
                "INVALID_SCHEDULE",
                f"run_at {run_at} is in the past (now is {now.strftime('%Y-%m-%dT%H:%M:%SZ')}); "
                "give a future time, or leave it out to run now.",
            )
    latest = limits.latest(now)
    if moment > latest:
        raise RequestRejectedError(
            "INVALID_SCHEDULE",
            f"The task would run at {moment.strftime('%Y-%m-%dT%H:%M:%SZ')}, later than the "
            f"latest allowed, {latest.strftime('%Y-%m-%dT%H:%M:%SZ')} (retention of "
            f"{limits.retention_hours} h minus 1 h): schedule it sooner or deploy with a longer "
            "RetentionHours.",
        )
    return moment


def _parse_utc(text: str) -> datetime:
    if not _ISO_UTC.match(text):
        raise RequestRejectedError(
            "INVALID_SCHEDULE",
            f"run_at {text!r} is not an ISO 8601 UTC time like 2026-01-05T10:00:00Z.",
        )
    try:
        parsed = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    except ValueError:
        raise RequestRejectedError(
            "INVALID_SCHEDULE", f"run_at {text!r} is not a valid date and time."
        ) from None
    return parsed.astimezone(UTC)


def seconds_until(run_at: datetime, now: datetime) -> float:
    return (run_at - now).total_seconds()


def message_delay(run_at: datetime, now: datetime) -> int:
    """Whole seconds to delay a message so it arrives at `run_at` or just before (never after:
    the worker waits out the fraction), within SQS's limit."""
    return max(0, min(SQS_MAX_DELAY_SECONDS, math.floor(seconds_until(run_at, now))))
