"""Liveness of the worker, decided from what the consumers report (pure: no I/O, no clock).

Healthy when the supervisor's loop is ticking and every consumer process is alive and either
busy with a message or has completed a poll recently (a long poll lasts at most 20 s, so a
stale poll means the loop is stuck or the queue unreachable).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The supervisor ticks every 0.2 s; allow for a busy machine.
SUPERVISOR_STALE_SECONDS = 10.0


@dataclass(frozen=True)
class ConsumerState:
    slot: int
    pid: int | None
    alive: bool
    last_poll: float
    busy_since: float
    restarts: int


@dataclass(frozen=True)
class Liveness:
    healthy: bool
    document: dict[str, Any]


def assess_liveness(
    now: float, supervisor_tick: float, consumers: list[ConsumerState], stale_seconds: float
) -> Liveness:
    problems: list[str] = []
    if now - supervisor_tick > SUPERVISOR_STALE_SECONDS:
        problems.append(f"supervisor loop silent for {now - supervisor_tick:.0f} s")
    reports = []
    for consumer in consumers:
        poll_age = max(now - consumer.last_poll, 0.0)
        busy = consumer.busy_since > 0
        if not consumer.alive:
            problems.append(f"consumer {consumer.slot} is not running")
        elif not busy and poll_age > stale_seconds:
            problems.append(f"consumer {consumer.slot} last polled {poll_age:.0f} s ago")
        reports.append(
            {
                "slot": consumer.slot,
                "pid": consumer.pid,
                "alive": consumer.alive,
                "last_poll_age_seconds": round(poll_age, 1),
                "busy_seconds": round(now - consumer.busy_since, 1) if busy else None,
                "restarts": consumer.restarts,
            }
        )
    return Liveness(
        healthy=not problems,
        document={
            "status": "ok" if not problems else "unhealthy",
            "problems": problems,
            "consumers": reports,
        },
    )
