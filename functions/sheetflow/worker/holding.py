"""What a consumer holds while it works, and the heartbeat that keeps it held.

The consumer loop records the messages it received and the task claims made while processing
each; a daemon thread beats every third of the visibility timeout: one
ChangeMessageVisibilityBatch for every held message (the one being processed and those received
with it that wait their turn), then a lease renewal for each task claimed by them. A failed beat
is logged and the next one tries again; two beats may fail before a message lapses.

A task's lease is shorter than the time a file may take; renewing it while the message is still
held means a duplicate message of the same task (SQS delivers at least once; a message may also
be sent again, or redriven) finds the task still held instead of claiming it a second time.

A beat holds the lock for its whole run, so a message dropped by the loop (to delete it, or to
set its retry delay) is never renewed afterwards by a beat that read it before.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from aws_lambda_powertools import Logger

from sheetflow.dal import queues
from sheetflow.dal.queues import ReceivedMessage
from sheetflow.dal.tasks import TaskRepository
from sheetflow.logic.errors import TransientError
from sheetflow.logic.task import Task

logger = Logger(child=True)


@dataclass(frozen=True)
class Claim:
    task_id: str
    attempt: int


@dataclass
class _Held:
    message: ReceivedMessage
    claims: list[Claim] = field(default_factory=list)


@dataclass(frozen=True)
class Snapshot:
    messages: list[ReceivedMessage]
    claims: list[Claim]


class InFlight:
    """The messages a consumer process holds, and the task claims made while processing each."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, _Held] = {}
        self._current: str | None = None

    def hold(self, messages: Sequence[ReceivedMessage]) -> None:
        with self._lock:
            for message in messages:
                self._held[message.message_id] = _Held(message)

    def start(self, message: ReceivedMessage) -> None:
        """Claims recorded from now on belong to this message."""
        with self._lock:
            self._current = message.message_id

    def record_claim(self, task: Task) -> None:
        with self._lock:
            held = self._held.get(self._current or "")
            if held is not None:
                held.claims.append(Claim(task.task_id, task.attempts))

    def drop(self, message: ReceivedMessage) -> None:
        """Stop renewing this message (waits for a beat in progress to finish)."""
        with self._lock:
            self._held.pop(message.message_id, None)
            if self._current == message.message_id:
                self._current = None

    def held(self) -> list[ReceivedMessage]:
        with self._lock:
            return [held.message for held in self._held.values()]

    @contextmanager
    def beat(self) -> Iterator[Snapshot]:
        """Everything held, locked against changes until the beat is over."""
        with self._lock:
            yield Snapshot(
                messages=[held.message for held in self._held.values()],
                claims=[claim for held in self._held.values() for claim in held.claims],
            )


class Heartbeat:
    def __init__(
        self,
        *,
        queue_url: str,
        inflight: InFlight,
        tasks: TaskRepository,
        interval_seconds: float,
        visibility_seconds: int,
        lease_seconds: int,
        on_tick: Callable[[], None],
    ) -> None:
        self._queue_url = queue_url
        self._on_tick = on_tick
        self._inflight = inflight
        self._tasks = tasks
        self._interval = interval_seconds
        self._visibility = visibility_seconds
        self._lease = lease_seconds
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=self._interval + 1)

    def _run(self) -> None:
        while not self._stopped.wait(self._interval):
            # A tick is a sign of life that liveness checks while a long file is processed.
            self._on_tick()
            try:
                self.beat()
            except Exception:  # the thread must outlive any single failure
                logger.exception("Heartbeat failed")

    def beat(self) -> None:
        with self._inflight.beat() as held:
            if not held.messages:
                return
            try:
                refused = queues.set_visibility(self._queue_url, held.messages, self._visibility)
            except TransientError as exc:
                logger.warning("Could not extend message visibility", extra={"reason": exc.message})
                refused = []
            if refused:
                logger.warning("Visibility not extended", extra={"message_ids": refused})
            lease_until = int(time.time()) + self._lease
            for claim in held.claims:
                try:
                    self._tasks.renew_lease(claim.task_id, claim.attempt, lease_until)
                except TransientError as exc:
                    logger.warning(
                        "Could not renew the task lease",
                        extra={"task_id": claim.task_id, "reason": exc.message},
                    )
