"""The pipeline canary: a tiny workbook sent through the real upload path, and its verdict.

Each canary run checks the run before it and then starts a new one. Between runs, the watchdog
(every minute) and /health judge the pending run with the same rule: a canary that has not
SUCCEEDED within the deadline is a miss.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import openpyxl

from sheetflow.logic.task import TaskStatus, parse_iso

CANARY_FILENAME = "sheetflow-canary.xlsx"
# The item holding the latest canary run, in the task table. Not a task id (those are 32 hex
# characters), so it can never collide with a task, and the status index never lists it.
CANARY_RECORD_KEY = "canary#latest"


class CanaryState(StrEnum):
    PASSED = "PASSED"
    PENDING = "PENDING"
    MISSED = "MISSED"


@dataclass(frozen=True)
class CanaryRun:
    task_id: str
    started_at: str


@dataclass(frozen=True)
class CanaryVerdict:
    state: CanaryState
    reason: str

    @property
    def missed(self) -> bool:
        return self.state is CanaryState.MISSED


def judge(
    run: CanaryRun, status: TaskStatus | None, error: str | None, now: datetime, deadline: int
) -> CanaryVerdict:
    """The verdict on one canary run, given its task's status now (None: no task yet)."""
    waited = (now - parse_iso(run.started_at)).total_seconds()
    if status is TaskStatus.SUCCEEDED:
        return CanaryVerdict(CanaryState.PASSED, f"canary {run.task_id} SUCCEEDED")
    if status is TaskStatus.FAILED:
        return CanaryVerdict(
            CanaryState.MISSED,
            f"The canary workbook {run.task_id} FAILED ({error or 'no error recorded'}): the "
            "worker cannot process even a trivial file. Check `sheetflow logs worker`.",
        )
    if waited <= deadline:
        return CanaryVerdict(
            CanaryState.PENDING, f"canary {run.task_id} started {waited:.0f} s ago"
        )
    seen = status.value if status else "no task yet (the upload notification was not handled)"
    return CanaryVerdict(
        CanaryState.MISSED,
        f"The canary workbook {run.task_id} has not SUCCEEDED after {waited:.0f} s (deadline "
        f"{deadline} s; state: {seen}): work is not being done end to end. Check "
        "`sheetflow logs worker` and the worker's queue trigger.",
    )


def canary_workbook(now: datetime) -> bytes:
    """A one-sheet workbook of a few rows: parsing it costs the worker next to nothing."""
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Canary")
    sheet.append(["check", "at"])
    sheet.append(["pipeline canary", now.isoformat()])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
