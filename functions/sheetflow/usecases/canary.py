"""The pipeline canary: judge the previous run, then send a new tiny workbook down the real path.

The workbook is put into the uploads bucket under `uploads/<task_id>/sheetflow-canary.xlsx`, so it
travels exactly as a user's direct upload does: S3 notification, task queue, worker. A run that
SUCCEEDED is cleaned up (task, upload, result); a missed one is left for an operator to inspect.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from sheetflow.config import PipelineWatchConfig
from sheetflow.dal import metrics, storage
from sheetflow.dal.canary_runs import CanaryRuns
from sheetflow.dal.tasks import TaskRepository
from sheetflow.logic.canary import (
    CANARY_FILENAME,
    CanaryRun,
    CanaryState,
    CanaryVerdict,
    canary_workbook,
    judge,
)
from sheetflow.logic.cleanup import objects_of
from sheetflow.logic.task import isoformat, new_task_id, upload_key

logger = Logger(child=True)


@dataclass(frozen=True)
class CanaryReport:
    previous: CanaryVerdict | None
    started_task_id: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "previous": self.previous.state.value if self.previous else None,
            "previous_reason": self.previous.reason if self.previous else None,
            "started_task_id": self.started_task_id,
        }


def latest_verdict(
    config: PipelineWatchConfig, tasks: TaskRepository, runs: CanaryRuns, now: datetime
) -> tuple[CanaryRun, CanaryVerdict] | None:
    """The latest run and its verdict now; None when the canary is off or has never run."""
    if not config.canary_enabled:
        return None
    run = runs.latest()
    if run is None:
        return None
    task = tasks.get(run.task_id)
    error = f"{task.error.code}: {task.error.message}" if task and task.error else None
    verdict = judge(run, task.status if task else None, error, now, config.canary_deadline_seconds)
    return run, verdict


def run_canary(
    config: PipelineWatchConfig, tasks: TaskRepository, runs: CanaryRuns, now: datetime
) -> CanaryReport:
    judged = latest_verdict(config, tasks, runs, now)
    previous = judged[1] if judged else None
    if judged and previous and previous.state is CanaryState.PENDING:
        # Still within its deadline: one canary in flight at a time.
        return CanaryReport(previous=previous, started_task_id=None)
    if previous is not None:
        # The watchdog republishes the verdict every minute; publishing it here makes a miss
        # visible as soon as the canary itself finds it.
        metrics.put_counts(
            config.metrics_namespace,
            config.pipeline_name,
            {"CanaryMissed": 1 if previous.missed else 0},
            now,
        )
    if judged and previous and previous.state is CanaryState.PASSED:
        _clean_up(judged[0].task_id, config, tasks, now)
    if previous and previous.missed:
        logger.warning("Canary missed", extra={"reason": previous.reason})
    task_id = new_task_id()
    # Recorded before the upload: if the put fails, the run is judged a miss at its deadline.
    runs.record(CanaryRun(task_id=task_id, started_at=isoformat(now)))
    storage.put_upload(
        config.bucket_name,
        upload_key(task_id, CANARY_FILENAME),
        canary_workbook(now),
        CANARY_FILENAME,
    )
    logger.info("Canary started", extra={"canary_task_id": task_id})
    return CanaryReport(previous=previous, started_task_id=task_id)


def _clean_up(
    task_id: str, config: PipelineWatchConfig, tasks: TaskRepository, now: datetime
) -> None:
    task = tasks.get(task_id)
    if task is None:
        return
    owned = objects_of(task, config.bucket_name, config.results_bucket)
    for bucket in sorted({bucket for bucket, _ in owned}):
        storage.delete_objects(bucket, [key for owner, key in owned if owner == bucket])
    tasks.delete_expired(task_id, created_before=isoformat(now))
