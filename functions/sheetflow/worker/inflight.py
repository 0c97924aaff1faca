"""The messages a consumer process holds, and the task claims made while processing each.

The consumer loop adds and removes entries; the heartbeat thread renews what is held. A heartbeat
holds the lock for the whole beat, so a message dropped by the loop (to delete it, or to set its
retry delay) is never renewed afterwards by a beat that read it before.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from sheetflow.logic.task import Task
from sheetflow.worker.sqs import ReceivedMessage


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
