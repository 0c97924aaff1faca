"""Progress of tasks being waited for: one rewritten line on a terminal, plain lines elsewhere."""

from __future__ import annotations

import sys
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
    # While PROCESSING, e.g. "12,000 rows, 40%" (see `progress_text`).
    progress: str = ""

    def describe(self) -> str:
        attempt = f" (attempt {self.attempts})" if self.attempts else ""
        done = f", {self.progress}" if self.progress else ""
        return f"{self.label}: {self.status}{attempt}{done}"


class ProgressDisplay:
    """On a TTY, rewrites a single status line in place; otherwise prints a line per change, so
    logs and CI output stay readable."""

    def __init__(self, stream: TextIO | None = None, interactive: bool | None = None) -> None:
        self.stream = stream or sys.stdout
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self._last_seen: dict[str, tuple[str, int, str]] = {}
        self._line_open = False

    def show(self, rows: list[TaskProgress], elapsed: float) -> None:
        if self.interactive:
            text = " · ".join(row.describe() for row in rows)
            # Carriage return, then clear to the end of line: the line is redrawn in place.
            self.stream.write(f"\r\x1b[K{text} · {elapsed:.1f} s")
            self._line_open = True
        else:
            for row in rows:
                state = (row.status, row.attempts, row.progress)
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
