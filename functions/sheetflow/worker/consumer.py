"""One consumer process: long-poll the queue, run `process_message` on each message, settle it.

Settling follows the Lambda integration exactly: a message whose outcomes came back (SUCCEEDED,
FAILED, SKIPPED, IGNORED) is consumed and deleted; RetryLaterError keeps it and sets its
visibility to the retry delay (the same backoff); any other exception leaves it to reappear after
its visibility timeout, like a crashed invocation.
"""

from __future__ import annotations

import os
import time
from multiprocessing.synchronize import Event

from aws_lambda_powertools import Metrics

from sheetflow.dal import queues
from sheetflow.logic.errors import TransientError
from sheetflow.observability import logger
from sheetflow.processing import (
    Outcome,
    RetryLaterError,
    WorkerSettings,
    log_outcomes,
    process_message,
    record_metrics,
)
from sheetflow.worker import sqs
from sheetflow.worker.heartbeat import Heartbeat
from sheetflow.worker.inflight import InFlight
from sheetflow.worker.leases import LeasedTaskRepository
from sheetflow.worker.receiving import AbandonablePoll
from sheetflow.worker.settings import StandaloneSettings
from sheetflow.worker.status import StatusBoard
from sheetflow.worker.stopping import StopRequest, die_with_supervisor

# Pause after a failed poll, so an unreachable queue is not hammered.
_POLL_FAILURE_PAUSE_SECONDS = 5.0


class Consumer:
    def __init__(
        self, settings: StandaloneSettings, board: StatusBoard, slot: int, stop: StopRequest
    ) -> None:
        self._settings = settings
        self._board = board
        self._slot = slot
        self._stop = stop
        self._inflight = InFlight()
        self._tasks = LeasedTaskRepository(
            settings.processing.table_name, on_claim=self._inflight.record_claim
        )
        self._worker_settings: WorkerSettings = settings.worker_settings()
        self._metrics = Metrics(namespace=settings.metrics_namespace)
        self._heartbeat = Heartbeat(
            queue_url=settings.queue_url,
            inflight=self._inflight,
            tasks=self._tasks,
            interval_seconds=settings.heartbeat_seconds,
            visibility_seconds=settings.visibility_seconds,
            lease_seconds=settings.lease_seconds,
        )

    def run(self) -> None:
        logger.info("Consumer started", extra={"pid": os.getpid()})
        self._heartbeat.start()
        try:
            while not self._stop.requested():
                messages = self._receive()
                if messages is None:
                    break
                self._inflight.hold(messages)
                self._work_through(messages)
        finally:
            self._heartbeat.stop()
            self._hand_back(self._inflight.held())

    def _receive(self) -> list[sqs.ReceivedMessage] | None:
        settings = self._settings
        poll = AbandonablePoll(
            settings.queue_url,
            lambda: sqs.receive(
                settings.queue_url,
                max_messages=settings.receive_batch,
                wait_seconds=settings.wait_seconds,
                visibility_seconds=settings.visibility_seconds,
            ),
        )
        try:
            messages = poll.run(self._stop.requested)
        except TransientError as exc:
            logger.warning("Polling the queue failed", extra={"reason": exc.message})
            self._pause(_POLL_FAILURE_PAUSE_SECONDS)
            return []
        if messages is not None:
            self._board.record_poll(self._slot)
        return messages

    def _work_through(self, messages: list[sqs.ReceivedMessage]) -> None:
        for message in messages:
            if self._stop.requested():
                return  # the rest are handed back when the loop ends
            self._board.set_busy(self._slot, True)
            try:
                self._handle(message)
            finally:
                self._board.set_busy(self._slot, False)

    def _handle(self, message: sqs.ReceivedMessage) -> None:
        self._inflight.start(message)
        try:
            outcomes = process_message(
                message.body, message.receive_count, self._worker_settings, self._tasks
            )
        except RetryLaterError as retry:
            self._inflight.drop(message)  # before the delay, so no heartbeat overrides it
            self._retry_later(message, retry)
        except Exception:
            # An unexpected bug: like a crashed invocation, the message reappears after its
            # visibility timeout and, after MaxReceiveCount deliveries, goes to the DLQ.
            self._inflight.drop(message)
            logger.exception("Processing crashed", extra={"message_id": message.message_id})
        else:
            self._inflight.drop(message)
            self._consume(message, outcomes)
        finally:
            self._metrics.flush_metrics()

    def _consume(self, message: sqs.ReceivedMessage, outcomes: list[Outcome]) -> None:
        try:
            sqs.delete(self._settings.queue_url, message)
        except TransientError as exc:
            # Redelivered later, it finds the task finished and is consumed as a duplicate.
            logger.warning("Could not delete a processed message", extra={"reason": exc.message})
        record_metrics(self._metrics, outcomes)
        log_outcomes(
            outcomes,
            message_id=message.message_id,
            receive_count=message.receive_count,
            pid=os.getpid(),
        )

    def _retry_later(self, message: sqs.ReceivedMessage, retry: RetryLaterError) -> None:
        self._metrics.add_metric(name="TransientFailures", unit="Count", value=1)
        logger.warning(
            "Transient failure, will retry",
            extra={
                "task_id": retry.task_id,
                "reason": retry.message,
                "delay_seconds": retry.delay_seconds,
                "message_id": message.message_id,
            },
        )
        queue_url = self._settings.queue_url
        try:
            queues.delay_retry(queue_url, message.receipt_handle, retry.delay_seconds)
        except TransientError:
            # The visibility timeout set at receive still delays the retry.
            logger.warning("Could not set the retry delay", extra={"seconds": retry.delay_seconds})

    def _hand_back(self, messages: list[sqs.ReceivedMessage]) -> None:
        """Messages received but not started go straight back to the queue for other workers."""
        if not messages:
            return
        try:
            sqs.set_visibility(self._settings.queue_url, messages, 0)
        except TransientError as exc:
            logger.warning("Could not hand messages back", extra={"reason": exc.message})
            return
        logger.info("Handed back unstarted messages", extra={"count": len(messages)})

    def _pause(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self._stop.requested():
            time.sleep(0.2)


def consumer_main(
    settings: StandaloneSettings,
    board: StatusBoard,
    slot: int,
    supervisor_request: Event,
    supervisor_pid: int,
) -> None:
    """Entry point of a consumer process (spawned by the supervisor)."""
    die_with_supervisor(supervisor_pid)
    stop = StopRequest(supervisor_request, supervisor_pid)
    stop.install_signal_handlers()
    logger.append_keys(consumer=slot)
    Consumer(settings, board, slot, stop).run()
