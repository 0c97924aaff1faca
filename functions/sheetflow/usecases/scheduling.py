"""The timer sweep: SCHEDULED tasks due within the horizon get their task message, delayed so
it arrives at their time. Runs every minute (an EventBridge rule: EventBridge Scheduler would be
the obvious tool, but its schedules never fire on LocalStack, and this route works on both).

Each task is dispatched by one sweep: a conditional write records `dispatched_at` before the
message is sent (and is undone if sending fails). A dispatch older than the horizon plus a
margin counts as lost (its sweep died between the two steps) and is done again; a duplicate
message is harmless, the worker's claim makes it one job.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from aws_lambda_powertools import Logger

from sheetflow.config import SchedulerConfig
from sheetflow.dal import queues
from sheetflow.dal.tasks import TaskRepository
from sheetflow.logic.errors import TransientError
from sheetflow.logic.messages import task_message
from sheetflow.logic.task import isoformat
from sheetflow.logic.timers import message_delay

logger = Logger(child=True)

# After the horizon plus this, a dispatched task's message should have arrived long ago.
LOST_DISPATCH_MARGIN = timedelta(minutes=5)


@dataclass(frozen=True)
class SweepReport:
    due: int
    dispatched: int
    failed: int

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def sweep(config: SchedulerConfig, tasks: TaskRepository, now: datetime) -> SweepReport:
    horizon = now + timedelta(seconds=config.horizon_seconds)
    stale_before = isoformat(now - timedelta(seconds=config.horizon_seconds) - LOST_DISPATCH_MARGIN)
    due = tasks.scheduled_before(isoformat(horizon))
    dispatched = failed = 0
    for task in due:
        if not task.run_at or not tasks.mark_dispatched(task, now, stale_before):
            continue
        delay = message_delay(datetime.fromisoformat(task.run_at), now)
        try:
            message = task_message(task.task_id, task.bucket, task.key, task.size)
            queues.send(config.queue_url, message, delay)
        except TransientError as exc:
            failed += 1
            logger.warning(
                "Timer not dispatched", extra={"task_id": task.task_id, "reason": exc.message}
            )
            tasks.forget_dispatch(task.task_id)
            continue
        dispatched += 1
        logger.info(
            "Timer dispatched",
            extra={"task_id": task.task_id, "run_at": task.run_at, "delay_seconds": delay},
        )
    return SweepReport(due=len(due), dispatched=dispatched, failed=failed)
