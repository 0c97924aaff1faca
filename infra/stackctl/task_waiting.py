"""Polling tasks until each one has finished (SUCCEEDED or FAILED) or a deadline passes."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sheetflow.logic.task import FINISHED_STATUSES
from stackctl.progress import NO_TASK_YET, ProgressDisplay, TaskProgress

POLL_INTERVAL_SECONDS = 0.25

TaskFetcher = Callable[[str], dict[str, Any] | None]


@dataclass(frozen=True)
class WatchedTask:
    label: str
    task_id: str


@dataclass
class WaitResult:
    tasks: dict[str, dict[str, Any] | None]  # last state seen, by task id (None: never created)
    elapsed: float

    def finished(self, task_id: str) -> bool:
        task = self.tasks.get(task_id)
        return task is not None and task.get("status") in FINISHED_STATUSES

    @property
    def all_finished(self) -> bool:
        return all(self.finished(task_id) for task_id in self.tasks)


def wait_for_tasks(
    watched: list[WatchedTask],
    fetch: TaskFetcher,
    timeout: float,
    display: ProgressDisplay,
    *,
    interval: float = POLL_INTERVAL_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> WaitResult:
    began = clock()
    latest: dict[str, dict[str, Any] | None] = {item.task_id: None for item in watched}
    try:
        while True:
            for item in watched:
                if not _is_finished(latest[item.task_id]):
                    latest[item.task_id] = fetch(item.task_id)
            elapsed = clock() - began
            display.show([_progress(item, latest[item.task_id]) for item in watched], elapsed)
            result = WaitResult(dict(latest), elapsed)
            if result.all_finished or elapsed >= timeout:
                return result
            sleep(interval)
    finally:
        display.close()


def _is_finished(task: dict[str, Any] | None) -> bool:
    return task is not None and task.get("status") in FINISHED_STATUSES


def _progress(item: WatchedTask, task: dict[str, Any] | None) -> TaskProgress:
    if task is None:
        return TaskProgress(item.label, item.task_id, NO_TASK_YET, 0)
    return TaskProgress(
        item.label, item.task_id, str(task.get("status")), int(task.get("attempts") or 0)
    )
