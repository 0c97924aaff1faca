"""Announcing a finished task: its one task event on the stack's bus.

Publishing is part of finishing. The conditional write that finishes a task also marks its event
pending and gives the writer a short publication lease; the writer then puts the event and
clears the mark. When PutEvents fails, the mark stays and the caller raises for a retry (the
message comes back); whoever handles the task next takes the lapsed lease over and publishes.
The guarantee (docs/pipeline.md, "Task events"): every finish is published at least once, by one
publisher at a time, and only a publisher that stops between a successful PutEvents and clearing
the mark can cause a repeat, which carries the same `event_id`.

A worker handling a batch of messages announces the batch's finishes together (`BatchAnnouncer`):
one PutEvents for up to ten events instead of one per task; each mark is then cleared on its own
(a transactional write would clear them in one call, but the emulator's DynamoDB copies the
whole table for every transaction, and fails some under concurrent writes).
A finish waits only while small files are processed after it, and never past its message: a
message is consumed only once its finishes are announced, so the guarantee above is unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aws_lambda_powertools import Logger

from sheetflow.dal.events import put_task_event, put_task_events
from sheetflow.dal.tasks import TaskRepository
from sheetflow.logic.errors import TransientError
from sheetflow.logic.events import TaskEvent, task_event
from sheetflow.logic.task import Task

logger = Logger(child=True)

# How long one publisher owns a pending event: a PutEvents call takes milliseconds; a publisher
# that has not cleared the mark by then has failed, and the next one may take over.
PUBLICATION_LEASE_SECONDS = 30
# A held finish is published before the next file unless that file is this small (it is then
# processed in well under a second) and the finish has waited less than MAX_HOLD_SECONDS.
SMALL_FILE_BYTES = 256 * 1024
MAX_HOLD_SECONDS = 2.0


def publication_lease(now: datetime) -> int:
    return int((now + timedelta(seconds=PUBLICATION_LEASE_SECONDS)).timestamp())


def publish_finish(task: Task, bus_name: str, results_bucket: str, tasks: TaskRepository) -> None:
    """Put the event of `task` (as finished, holding the lease) and clear its pending mark.

    Raises TransientError when the event could not be put; the mark then stays for a retry.
    """
    event = task_event(task, results_bucket)
    put_task_event(bus_name, event)
    _record_published(task, event, tasks)


def _record_published(task: Task, event: TaskEvent, tasks: TaskRepository) -> None:
    """The event of `task` is on the bus: log it and clear the pending mark (TransientError when
    the mark could not be cleared; it then stays, and a redelivery publishes again)."""
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


@dataclass(frozen=True)
class Unannounced:
    """A finish whose event is not on the bus, or whose mark stayed: its message must be kept
    and delivered again after `retry_after_seconds`, when the publication lease has lapsed."""

    message_id: str
    task_id: str
    reason: str
    retry_after_seconds: int


@dataclass(frozen=True)
class _Held:
    task: Task
    message_id: str
    backoff_seconds: int
    held_at: float


class BatchAnnouncer:
    """The finishes of one batch of messages, announced together.

    Processing `hold`s each finish, under the id of the message it came from. `make_room` runs
    before each next file and publishes what is held unless the file is small; the caller
    publishes the rest when the batch is done, then keeps the messages `take_unannounced`
    names and consumes the others. `on_published` runs after each publication, so a caller can
    consume the messages it settled (`waiting_on` tells which are still held).
    """

    def __init__(
        self,
        bus_name: str,
        results_bucket: str,
        tasks: TaskRepository,
        *,
        on_published: Callable[[], None] = lambda: None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._bus_name, self._results_bucket, self._tasks = bus_name, results_bucket, tasks
        self._on_published, self._now, self._clock = on_published, now, clock
        self._held: list[_Held] = []
        self._unannounced: dict[str, Unannounced] = {}

    def hold(self, task: Task, message_id: str, backoff_seconds: int) -> None:
        """Announce the finish of `task` (as finished, holding the publication lease) later."""
        if self.holds(task.task_id):
            self.publish()  # its earlier finish goes out first
        self._held.append(_Held(task, message_id, backoff_seconds, self._clock()))

    def holds(self, task_id: str) -> bool:
        return any(held.task.task_id == task_id for held in self._held)

    def waiting_on(self, message_id: str) -> bool:
        return any(held.message_id == message_id for held in self._held)

    def make_room(self, next_file_size: int | None) -> None:
        """Before processing a file of `next_file_size` bytes (None: not known)."""
        if not self._held:
            return
        small = next_file_size is not None and next_file_size <= SMALL_FILE_BYTES
        if not small or self._clock() - self._held[0].held_at >= MAX_HOLD_SECONDS:
            self.publish()

    def publish(self) -> None:
        """Put the held events and clear their marks; failures are kept for `take_unannounced`."""
        held, self._held = self._held, []
        if not held:
            return
        events = [task_event(entry.task, self._results_bucket) for entry in held]
        rejections = put_task_events(self._bus_name, events)
        for entry, event, rejection in zip(held, events, rejections, strict=True):
            if rejection is not None:
                logger.warning("Task event not published", extra={"reason": rejection})
                self._keep(entry, rejection)
                continue
            try:
                _record_published(entry.task, event, self._tasks)
            except TransientError as exc:
                logger.warning("Task event mark not cleared", extra={"reason": exc.message})
                self._keep(entry, exc.message)
        self._on_published()

    def take_unannounced(self) -> dict[str, Unannounced]:
        """By message id, the messages to keep since the last call (the longest delay of each)."""
        unannounced, self._unannounced = self._unannounced, {}
        return unannounced

    def _keep(self, entry: _Held, reason: str) -> None:
        lease_left = entry.task.event_lease - int(self._now().timestamp()) + 1
        delay = max(entry.backoff_seconds, lease_left)
        earlier = self._unannounced.get(entry.message_id)
        if earlier is None or earlier.retry_after_seconds < delay:
            self._unannounced[entry.message_id] = Unannounced(
                entry.message_id, entry.task.task_id, reason, delay
            )
