"""A long poll the consumer can walk away from when it is asked to stop.

ReceiveMessage waits up to 20 s; a stopping consumer should not. The poll runs in a daemon
thread while the caller watches for a stop request. If the caller leaves first, messages the
poll still brings are handed straight back to the queue; only a poll cut short by the process
exiting can leave messages invisible, until their visibility timeout.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable

from sheetflow.logic.errors import TransientError
from sheetflow.worker import sqs
from sheetflow.worker.sqs import ReceivedMessage

_WATCH_INTERVAL_SECONDS = 0.2

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
        sqs.set_visibility(queue_url, messages, 0)
