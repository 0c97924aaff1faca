"""One consumer process: long-poll the queue, run `process_message` on each message, settle it.

Settling follows the Lambda integration exactly: a message whose outcomes came back (SUCCEEDED,
FAILED, SKIPPED, IGNORED) is consumed and deleted; RetryLaterError keeps it and sets its
visibility to the retry delay (the same backoff, through the same `schedule_retry`); any other
exception leaves it to reappear after its visibility timeout, like a crashed invocation. As in
the Lambda handler, the finishes of a received batch are announced together (`BatchAnnouncer`):
a processed message is deleted once its finishes are on the bus (the batch's messages with one
DeleteMessageBatch), and kept for a retry when their announcement failed.

A consumer stops on its own SIGTERM, on the supervisor's request, or when the supervisor dies. It
ignores SIGINT: Ctrl-C reaches the whole process group, and the supervisor alone decides what it
means. A first SIGTERM asks for a graceful stop; a second one exits at once.

ReceiveMessage waits up to 20 s; a stopping consumer should not. The poll therefore runs in a
daemon thread while the loop watches for a stop request (`AbandonablePoll`). If the loop leaves
first, messages the poll still brings are handed straight back to the queue; only a poll cut
short by the process exiting can leave messages invisible, until their visibility timeout.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.synchronize import Event
from types import FrameType

from aws_lambda_powertools import Metrics

from sheetflow.config import StandaloneConfig
from sheetflow.dal import queues
from sheetflow.dal.clients import enable_faults
from sheetflow.dal.queues import ReceivedMessage
from sheetflow.dal.tasks import TaskRepository
from sheetflow.logic.errors import TransientError
from sheetflow.observability import log_injected_fault, log_outcomes, logger, record_metrics
from sheetflow.usecases.finishing import BatchAnnouncer, Unannounced
from sheetflow.usecases.processing import (
    Outcome,
    OutcomeKind,
    RetryLaterError,
    process_message,
    schedule_retry,
)
from sheetflow.worker.health import StatusBoard
from sheetflow.worker.holding import Heartbeat, InFlight

# Pause after a failed poll, so an unreachable queue is not hammered.
_POLL_FAILURE_PAUSE_SECONDS = 5.0
_WATCH_INTERVAL_SECONDS = 0.2
_PR_SET_PDEATHSIG = 1


class Consumer:
    def __init__(
        self, config: StandaloneConfig, board: StatusBoard, slot: int, stop: StopRequest
    ) -> None:
        self._config = config
        self._board = board
        self._slot = slot
        self._stop = stop
        self._inflight = InFlight()
        self._tasks = TaskRepository(config.worker.table_name)
        self._metrics = Metrics(namespace=config.metrics_namespace)
        self._announcer = BatchAnnouncer(
            config.worker.event_bus_name,
            config.worker.results_bucket,
            self._tasks,
            on_published=self._settle,
        )
        # Processed messages whose finishes are still held, and the announcements that failed
        # (by message id) of messages not settled yet.
        self._awaiting: list[tuple[ReceivedMessage, list[Outcome]]] = []
        self._unannounced: dict[str, Unannounced] = {}
        self._heartbeat = Heartbeat(
            queue_url=config.queue_url,
            inflight=self._inflight,
            tasks=self._tasks,
            interval_seconds=config.heartbeat_seconds,
            visibility_seconds=config.visibility_seconds,
            lease_seconds=config.lease_seconds,
            on_tick=lambda: board.record_beat(slot),
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
                self._board.set_held(self._slot, len(messages))
                self._work_through(messages)
                self._announce_batch()
        finally:
            self._announce_batch()
            self._heartbeat.stop()
            self._hand_back(self._inflight.held())

    def _receive(self) -> list[ReceivedMessage] | None:
        config = self._config
        poll = AbandonablePoll(
            config.queue_url,
            lambda: queues.receive(
                config.queue_url,
                max_messages=config.receive_batch,
                wait_seconds=config.wait_seconds,
                visibility_seconds=config.visibility_seconds,
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

    def _work_through(self, messages: list[ReceivedMessage]) -> None:
        for message in messages:
            if self._stop.requested():
                return  # the rest are handed back when the loop ends
            self._board.set_busy(self._slot, True)
            try:
                self._handle(message)
            finally:
                self._board.set_busy(self._slot, False)
                self._board.set_held(self._slot, len(self._inflight.held()))

    def _handle(self, message: ReceivedMessage) -> None:
        self._inflight.start(message)
        try:
            outcomes = process_message(
                message.body,
                message.receive_count,
                self._config.worker,
                self._tasks,
                lease_seconds=self._config.lease_seconds,
                redriven=message.redriven,
                on_claim=self._inflight.record_claim,
                announcer=self._announcer,
                message_id=message.message_id,
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
            self._awaiting.append((message, outcomes))
            self._settle()

    def _announce_batch(self) -> None:
        """Announce what the batch still holds and settle its messages."""
        self._announcer.publish()
        self._settle()
        # What is left belongs to messages already kept for their own retry.
        self._unannounced.clear()

    def _settle(self) -> None:
        """Delete, or keep for a retry, each processed message whose finishes are not held."""
        self._unannounced.update(self._announcer.take_unannounced())
        awaiting, self._awaiting = self._awaiting, []
        consumed = []
        for message, outcomes in awaiting:
            if self._announcer.waiting_on(message.message_id):
                self._awaiting.append((message, outcomes))
                continue
            kept = self._unannounced.pop(message.message_id, None)
            if kept is None:
                consumed.append((message, outcomes))
            else:
                retry = RetryLaterError(kept.task_id, kept.reason, kept.retry_after_seconds)
                self._retry_later(message, retry)
        if consumed:
            self._consume(consumed)

    def _consume(self, consumed: list[tuple[ReceivedMessage, list[Outcome]]]) -> None:
        try:
            refused = queues.delete(self._config.queue_url, [message for message, _ in consumed])
        except TransientError as exc:
            # Redelivered later, they find their tasks finished and are consumed as duplicates.
            logger.warning("Could not delete processed messages", extra={"reason": exc.message})
        else:
            if refused:
                logger.warning("Processed messages not deleted", extra={"message_ids": refused})
        for message, outcomes in consumed:
            record_metrics(self._metrics, outcomes)
            self._board.count(
                self._slot,
                processed=sum(outcome.kind is OutcomeKind.SUCCEEDED for outcome in outcomes),
                failed=sum(outcome.kind is OutcomeKind.FAILED for outcome in outcomes),
            )
            log_outcomes(
                outcomes,
                message_id=message.message_id,
                receive_count=message.receive_count,
                pid=os.getpid(),
            )
        self._metrics.flush_metrics()

    def _retry_later(self, message: ReceivedMessage, retry: RetryLaterError) -> None:
        self._board.count(self._slot, retried=1)
        schedule_retry(self._config.queue_url, message.receipt_handle, retry, self._metrics)
        self._metrics.flush_metrics()

    def _hand_back(self, messages: list[ReceivedMessage]) -> None:
        """Messages received but not started go straight back to the queue for other workers."""
        if not messages:
            return
        try:
            queues.set_visibility(self._config.queue_url, messages, 0)
        except TransientError as exc:
            logger.warning("Could not hand messages back", extra={"reason": exc.message})
            return
        logger.info("Handed back unstarted messages", extra={"count": len(messages)})

    def _pause(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self._stop.requested():
            time.sleep(0.2)


def consumer_main(
    config: StandaloneConfig,
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
    # A spawned process starts with no fault plan of its own: chaos runs set SHEETFLOW_FAULTS.
    enable_faults(config.worker.faults, log_injected_fault)
    Consumer(config, board, slot, stop).run()


class StopRequest:
    def __init__(self, supervisor_request: Event, supervisor_pid: int) -> None:
        self._own = threading.Event()
        self._supervisor_request = supervisor_request
        self._supervisor_pid = supervisor_pid

    def requested(self) -> bool:
        return (
            self._own.is_set()
            or self._supervisor_request.is_set()
            or os.getppid() != self._supervisor_pid
        )

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, self._on_sigterm)

    def _on_sigterm(self, signum: int, _frame: FrameType | None) -> None:
        if self._own.is_set():
            # Unfinished messages reappear after their visibility timeout: nothing is lost.
            os._exit(128 + signum)
        self._own.set()


def die_with_supervisor(supervisor_pid: int) -> None:
    """On Linux the kernel kills this process when the supervisor dies, even by SIGKILL, so a
    killed worker never leaves consumers behind; elsewhere `requested()` notices the orphaning."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != supervisor_pid:  # it died before prctl took effect
        os._exit(1)


PollResult = list[ReceivedMessage] | TransientError


class AbandonablePoll:
    def __init__(self, queue_url: str, poll: Callable[[], list[ReceivedMessage]]) -> None:
        self._queue_url = queue_url
        self._poll = poll
        self._results: queue.SimpleQueue[PollResult] = queue.SimpleQueue()
        self._handoff = threading.Lock()
        self._abandoned = False

    def run(self, should_stop: Callable[[], bool]) -> list[ReceivedMessage] | None:
        """The messages received, or None when a stop was requested first.

        TransientError propagates when the poll itself failed.
        """
        threading.Thread(target=self._receive, name="receive", daemon=True).start()
        while True:
            try:
                result = self._results.get(timeout=_WATCH_INTERVAL_SECONDS)
            except queue.Empty:
                if should_stop():
                    self._abandon()
                    return None
                continue
            if isinstance(result, TransientError):
                raise result
            return result

    def _receive(self) -> None:
        try:
            result: PollResult = self._poll()
        except TransientError as exc:
            result = exc
        with self._handoff:
            if not self._abandoned:
                self._results.put(result)
                return
        if isinstance(result, list) and result:
            _hand_back(self._queue_url, result)

    def _abandon(self) -> None:
        with self._handoff:
            self._abandoned = True
        # A result that arrived between the last look and the abandonment.
        try:
            late = self._results.get_nowait()
        except queue.Empty:
            return
        if isinstance(late, list) and late:
            _hand_back(self._queue_url, late)


def _hand_back(queue_url: str, messages: list[ReceivedMessage]) -> None:
    # If even that fails, they reappear after their visibility timeout instead.
    with contextlib.suppress(TransientError):
        queues.set_visibility(queue_url, messages, 0)
