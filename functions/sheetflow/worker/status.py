"""What each consumer process reports to the supervisor, in shared memory: time of its last
completed poll and since when it has been busy with a message (0 when idle)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from multiprocessing.context import SpawnContext
from multiprocessing.sharedctypes import Synchronized, SynchronizedArray

_FIELDS = 2  # last_poll, busy_since (epoch seconds)


@dataclass(frozen=True)
class SlotReport:
    last_poll: float
    busy_since: float


class StatusBoard:
    def __init__(self, values: SynchronizedArray[float], supervisor_tick: Synchronized[float]):
        self._values = values
        self._tick = supervisor_tick

    @classmethod
    def create(cls, context: SpawnContext, slots: int) -> StatusBoard:
        return cls(context.Array("d", slots * _FIELDS), context.Value("d", time.time()))

    def reset(self, slot: int) -> None:
        """A (re)started consumer counts as having just polled."""
        self._values[slot * _FIELDS] = time.time()
        self._values[slot * _FIELDS + 1] = 0.0

    def record_poll(self, slot: int) -> None:
        self._values[slot * _FIELDS] = time.time()

    def set_busy(self, slot: int, busy: bool) -> None:
        self._values[slot * _FIELDS + 1] = time.time() if busy else 0.0

    def report(self, slot: int) -> SlotReport:
        return SlotReport(
            last_poll=self._values[slot * _FIELDS], busy_since=self._values[slot * _FIELDS + 1]
        )

    def tick(self) -> None:
        self._tick.value = time.time()

    @property
    def last_tick(self) -> float:
        return float(self._tick.value)
