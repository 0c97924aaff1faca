"""Deleting expired tasks with their uploads and results, within the invocation's time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from aws_lambda_powertools import Logger

from sheetflow.config import CleanupConfig
from sheetflow.dal import storage
from sheetflow.dal.tasks import TaskRepository
from sheetflow.logic.cleanup import (
    ALL_STATUSES,
    CleanupReport,
    has_time_for_more,
    objects_of,
    retention_cutoff,
)
from sheetflow.logic.errors import TransientError

logger = Logger(child=True)


def run_cleanup(
    config: CleanupConfig,
    tasks: TaskRepository,
    remaining_ms: Callable[[], int],
    now: datetime,
) -> CleanupReport:
    """Walk the status index oldest first, page by page, and stop cleanly when time runs short.

    Every step is idempotent (deleting what is already gone succeeds), so the next hourly run
    simply continues where this one stopped.
    """
    report = CleanupReport(cutoff=retention_cutoff(now, config.retention_hours))
    for status in ALL_STATUSES:
        start_key: dict[str, str] | None = None
        while True:
            if not has_time_for_more(remaining_ms(), config.safety_margin_ms):
                report.complete = False
                return report
            page = tasks.page(
                status,
                config.page_size,
                start_key,
                created_before=report.cutoff,
                newest_first=False,
            )
            report.pages += 1
            for task in page.tasks:
                try:
                    owned = objects_of(task, config.bucket_name, config.results_bucket)
                    for bucket in sorted({bucket for bucket, _ in owned}):
                        keys = [key for owner, key in owned if owner == bucket]
                        report.objects_deleted += storage.delete_objects(bucket, keys)
                    tasks.delete_expired(task.task_id, report.cutoff)
                    report.tasks_deleted += 1
                except TransientError as exc:
                    # Leave the task for the next run; its objects may be partly gone already.
                    report.complete = False
                    report.failures.append(f"{task.task_id}: {exc.message}")
                    logger.warning("Cleanup of a task failed", extra={"task_id": task.task_id})
            if page.last_key is None:
                break
            start_key = page.last_key
    return report
