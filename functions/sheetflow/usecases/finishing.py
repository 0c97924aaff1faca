"""Announcing a finished task: its one task event on the stack's bus.

Publishing is part of finishing. The conditional write that finishes a task also marks its event
pending and gives the writer a short publication lease; the writer then puts the event and
clears the mark. When PutEvents fails, the mark stays and the caller raises for a retry (the
message comes back); whoever handles the task next takes the lapsed lease over and publishes.
The guarantee (docs/pipeline.md, "Task events"): every finish is published at least once, by one
publisher at a time, and only a publisher that stops between a successful PutEvents and clearing
the mark can cause a repeat, which carries the same `event_id`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from aws_lambda_powertools import Logger

from sheetflow.dal.events import put_task_event
from sheetflow.dal.tasks import TaskRepository
from sheetflow.logic.events import task_event
from sheetflow.logic.task import Task

logger = Logger(child=True)

# How long one publisher owns a pending event: a PutEvents call takes milliseconds; a publisher
# that has not cleared the mark by then has failed, and the next one may take over.
PUBLICATION_LEASE_SECONDS = 30


def publication_lease(now: datetime) -> int:
    return int((now + timedelta(seconds=PUBLICATION_LEASE_SECONDS)).timestamp())


def publish_finish(task: Task, bus_name: str, results_bucket: str, tasks: TaskRepository) -> None:
    """Put the event of `task` (as finished, holding the lease) and clear its pending mark.

    Raises TransientError when the event could not be put; the mark then stays for a retry.
    """
    event = task_event(task, results_bucket)
    put_task_event(bus_name, event)
    logger.info(
        "Task event published",
        extra={
            "task_id": task.task_id,
            "detail_type": event.detail_type,
            "event_id": event.event_id,
        },
    )
    if not tasks.mark_published(task):
        # The task changed since (a redrive claimed it): the event was still this finish's.
        logger.info("Task changed after its event was published", extra={"task_id": task.task_id})


def publish_pending(
    task: Task, bus_name: str, results_bucket: str, tasks: TaskRepository, now: datetime
) -> bool:
    """Publish a finished task's pending event if no other publisher holds it; True if done."""
    if not task.event_pending:
        return False
    if not tasks.claim_publication(task, now, publication_lease(now)):
        return False
    publish_finish(task, bus_name, results_bucket, tasks)
    return True
