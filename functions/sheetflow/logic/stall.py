"""What counts as a stalled pipeline: pure rules shared by the watchdog and /health.

A task is *stalled* when it waits longer than the threshold for a worker to take it (QUEUED), or
when it was taken and then nothing happened for longer than the threshold after its lease and its
longest possible retry delay (PROCESSING). An AWAITING_UPLOAD task whose presigned URL expired
(plus the threshold, for a notification still on its way) will never receive its file.

A QUEUED task may only be re-queued when its message is presumed lost: it is stalled AND the task
queue holds no message at all (none visible, in flight or delayed), so nothing could still deliver
it. A stall behind a backlog is not repaired (the queue-age alarm reports it); re-queueing is
recorded on the task so it happens at most once, and a duplicate message is harmless anyway
because the worker's claim is a conditional write.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sheetflow.logic.task import Task, TaskStatus, parse_iso


@dataclass(frozen=True)
class StallRules:
    threshold_seconds: int
    # The longest retry delay: a PROCESSING task whose lease was released waits this long for
    # its redelivery without being stalled.
    retry_grace_seconds: int
    presign_expiry_seconds: int


@dataclass(frozen=True)
class QueueCounts:
    visible: int
    in_flight: int
    delayed: int

    @property
    def empty(self) -> bool:
        return self.visible == 0 and self.in_flight == 0 and self.delayed == 0


def seconds_between(earlier: datetime, later: datetime) -> float:
    return (later - earlier).total_seconds()


def queued_seconds(task: Task, now: datetime) -> float:
    """How long a QUEUED task has waited: since its last change (presigned tasks become QUEUED
    long after they are created)."""
    return seconds_between(parse_iso(task.updated_at), now)


def is_stalled_queued(task: Task, now: datetime, rules: StallRules) -> bool:
    return task.status is TaskStatus.QUEUED and queued_seconds(task, now) > rules.threshold_seconds


def is_lapsed_processing(task: Task, now: datetime, rules: StallRules) -> bool:
    if task.status is not TaskStatus.PROCESSING:
        return False
    last_sign_of_life = max(
        float(task.lease_until),
        parse_iso(task.updated_at).timestamp() + rules.retry_grace_seconds,
    )
    return now.timestamp() - last_sign_of_life > rules.threshold_seconds


def is_expired_upload(task: Task, now: datetime, rules: StallRules) -> bool:
    if task.status is not TaskStatus.AWAITING_UPLOAD:
        return False
    waited = seconds_between(parse_iso(task.created_at), now)
    return waited > rules.presign_expiry_seconds + rules.threshold_seconds


def may_requeue(task: Task, now: datetime, rules: StallRules, queue: QueueCounts) -> bool:
    """A stalled QUEUED task whose message cannot still be somewhere in the queue."""
    return is_stalled_queued(task, now, rules) and queue.empty


def oldest_queued_seconds(tasks: list[Task], now: datetime) -> float | None:
    waits = [queued_seconds(task, now) for task in tasks if task.status is TaskStatus.QUEUED]
    return max(waits) if waits else None


# --- the worker's trigger ---------------------------------------------------------------------

# Event source mapping states in which the queue is being (or about to be) consumed.
CONSUMING_STATES = frozenset({"Creating", "Enabling", "Enabled", "Updating"})


def mapping_problem(function_name: str, states: list[str]) -> str | None:
    """Why the worker's queue trigger does not consume, or None when it does."""
    if not states:
        return (
            f"The worker {function_name} has no event source mapping: nothing consumes the task "
            "queue. Redeploy the stack to restore its SQS trigger."
        )
    stopped = [state for state in states if state not in CONSUMING_STATES]
    if stopped:
        return (
            f"The worker {function_name}'s queue trigger is {', '.join(sorted(set(stopped)))}: "
            "queued tasks are not being processed. Enable it: aws lambda "
            "update-event-source-mapping --uuid <uuid> --enabled (see docs/operations.md)."
        )
    return None


# --- the verdict ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PipelineSignals:
    """What /health reads; None where a signal does not apply (no canary configured)."""

    threshold_seconds: int
    oldest_queued_seconds: float | None
    mapping_problem: str | None
    canary_problem: str | None
    unreadable: list[str] = field(default_factory=list)


def stall_reasons(signals: PipelineSignals) -> list[str]:
    """Reasons a person can act on, most telling first; empty when the pipeline is healthy."""
    reasons = []
    if signals.mapping_problem:
        reasons.append(signals.mapping_problem)
    oldest = signals.oldest_queued_seconds
    if oldest is not None and oldest > signals.threshold_seconds:
        reasons.append(
            f"The oldest queued task has waited {oldest:.0f} s (threshold "
            f"{signals.threshold_seconds} s): the worker is not taking work. Check "
            "`sheetflow logs worker` and the worker's queue trigger."
        )
    if signals.canary_problem:
        reasons.append(signals.canary_problem)
    reasons += [f"Could not check {what}." for what in signals.unreadable]
    return reasons
