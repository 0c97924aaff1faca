"""Progress of tasks being waited for: one rewritten line on a terminal, plain lines elsewhere."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from typing import TextIO

# Shown while an object put straight into the bucket has no task yet (the worker creates it).
NO_TASK_YET = "UPLOADED"


@dataclass(frozen=True)
class TaskProgress:
    label: str
    task_id: str
    status: str
    attempts: int

    def describe(self) -> str:
        attempt = f" (attempt {self.attempts})" if self.attempts else ""
        return f"{self.label}: {self.status}{attempt}"


class ProgressDisplay:
    """On a TTY, rewrites a single status line in place; otherwise prints a line per change, so
    logs and CI output stay readable."""

    def __init__(self, stream: TextIO | None = None, interactive: bool | None = None) -> None:
        self.stream = stream or sys.stdout
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self._last_seen: dict[str, tuple[str, int]] = {}
        self._line_open = False

    def show(self, rows: list[TaskProgress], elapsed: float) -> None:
        if self.interactive:
            text = " · ".join(row.describe() for row in rows)
            # Carriage return, then clear to the end of line: the line is redrawn in place.
            self.stream.write(f"\r\x1b[K{text} · {elapsed:.1f} s")
            self._line_open = True
        else:
            for row in rows:
                state = (row.status, row.attempts)
                if self._last_seen.get(row.task_id) != state:
                    self._last_seen[row.task_id] = state
                    self.stream.write(f"[{elapsed:5.1f} s] {row.describe()}\n")
        self.stream.flush()

    def close(self) -> None:
        """Ends the rewritten line so what follows starts on a fresh one."""
        if self._line_open:
            self.stream.write("\n")
            self.stream.flush()
            self._line_open = False


class TransferProgress:
    """Bytes sent of one upload: a redrawn bar on a terminal, a line per quarter elsewhere.

    `advance` may be called from several threads at once (boto3's transfer callbacks are).
    """

    BAR_WIDTH = 30

    def __init__(
        self, label: str, total: int, stream: TextIO | None = None, interactive: bool | None = None
    ) -> None:
        self.label = label
        self.total = max(total, 1)
        self.sent = 0
        self.stream = stream or sys.stdout
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self._lock = threading.Lock()
        self._quarters_shown = 0
        self._started = time.monotonic()

    def advance(self, count: int) -> None:
        with self._lock:
            self.sent = min(self.sent + count, self.total)
            self._draw()

    def _draw(self) -> None:
        fraction = self.sent / self.total
        mb = f"{self.sent / 1e6:.1f}/{self.total / 1e6:.1f} MB"
        if self.interactive:
            filled = int(fraction * self.BAR_WIDTH)
            bar = "#" * filled + "." * (self.BAR_WIDTH - filled)
            self.stream.write(f"\r\x1b[K{self.label} [{bar}] {fraction:4.0%} {mb}")
        else:
            quarters = int(fraction * 4)
            if quarters <= self._quarters_shown:
                return
            self._quarters_shown = quarters
            self.stream.write(f"{self.label}: {fraction:.0%} ({mb})\n")
        self.stream.flush()

    def close(self) -> None:
        elapsed = time.monotonic() - self._started
        if self.interactive:
            self.stream.write(
                f"\r\x1b[K{self.label}: {self.sent / 1e6:.1f} MB in {elapsed:.1f} s\n"
            )
            self.stream.flush()
