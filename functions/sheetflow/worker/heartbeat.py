"""Keeps held messages invisible, and their claimed tasks leased, while a consumer works.

A daemon thread beats every third of the visibility timeout: one ChangeMessageVisibilityBatch for
every held message (the one being processed and those received with it that wait their turn),
then a lease renewal for each task claimed by the message being processed. A failed beat is
logged and the next one tries again; two beats may fail before a message lapses.
"""

from __future__ import annotations

import threading
import time

from aws_lambda_powertools import Logger

from sheetflow.logic.errors import TransientError
from sheetflow.worker import sqs
from sheetflow.worker.inflight import InFlight
from sheetflow.worker.leases import LeasedTaskRepository

logger = Logger(child=True)


class Heartbeat:
    def __init__(
        self,
        *,
        queue_url: str,
        inflight: InFlight,
        tasks: LeasedTaskRepository,
        interval_seconds: float,
        visibility_seconds: int,
        lease_seconds: int,
    ) -> None:
        self._queue_url = queue_url
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
            try:
                self.beat()
            except Exception:  # the thread must outlive any single failure
                logger.exception("Heartbeat failed")

    def beat(self) -> None:
        with self._inflight.beat() as held:
            if not held.messages:
                return
            try:
                refused = sqs.set_visibility(self._queue_url, held.messages, self._visibility)
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
