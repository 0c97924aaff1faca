"""The watchdog: once a minute, find work that is not being done, report it, repair what is safe.

Reads the task table through the `status-created_at` index (oldest first, only tasks older than
the threshold) and publishes its findings as CloudWatch metrics that alarms watch:

- `StalledTasks`: QUEUED longer than the threshold, plus PROCESSING tasks whose lease and longest
  retry delay lapsed more than the threshold ago while the queue holds no message for them;
- `TasksRequeued`: stalled QUEUED tasks re-queued because their message is presumed lost (see
  logic/stall.py for the rule; at most once per task, recorded with a conditional write first);
- `ExpiredUploads`: presigned uploads that never arrived, now FAILED with UPLOAD_EXPIRED;
- `CanaryMissed`: 1 while the latest canary run is a miss, 0 while it is fine (not published
  when the canary is off or its run is still pending).

Nothing here processes a task: a re-queued message goes through the worker's conditional claim,
so a message that was not lost after all is consumed as a duplicate.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger

from sheetflow.config import PipelineWatchConfig
from sheetflow.dal import metrics, queues
from sheetflow.dal.canary_runs import CanaryRuns
from sheetflow.dal.tasks import TaskRepository
from sheetflow.logic.canary import CanaryState
from sheetflow.logic.errors import ErrorCode, TransientError
from sheetflow.logic.messages import task_message
from sheetflow.logic.stall import (
    QueueCounts,
    StallRules,
    is_expired_upload,
    is_lapsed_processing,
    is_stalled_queued,
    may_requeue,
    queued_seconds,
)
from sheetflow.logic.task import Task, TaskError, TaskStatus, isoformat
from sheetflow.usecases.canary import latest_verdict

logger = Logger(child=True)

PAGE_SIZE = 100
# A bound on one run's reads; what is left is seen by the next run a minute later.
MAX_PAGES_PER_STATUS = 10


@dataclass
class WatchdogReport:
    queue_empty: bool
    stalled_queued: int = 0
    lapsed_processing: int = 0
    requeued: int = 0
    expired_uploads: int = 0
    canary_missed: bool | None = None

    @property
    def stalled(self) -> int:
        return self.stalled_queued + self.lapsed_processing

    def metrics(self) -> dict[str, float]:
        counts: dict[str, float] = {
            "StalledTasks": self.stalled,
            "TasksRequeued": self.requeued,
            "ExpiredUploads": self.expired_uploads,
        }
        if self.canary_missed is not None:
            counts["CanaryMissed"] = 1 if self.canary_missed else 0
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {
            "queue_empty": self.queue_empty,
            "stalled_queued": self.stalled_queued,
            "lapsed_processing": self.lapsed_processing,
            "requeued": self.requeued,
            "expired_uploads": self.expired_uploads,
            "canary_missed": self.canary_missed,
        }


def rules_of(config: PipelineWatchConfig) -> StallRules:
    return StallRules(
        threshold_seconds=config.stall_threshold_seconds,
        retry_grace_seconds=config.retry_max_seconds,
        presign_expiry_seconds=config.presign_expiry_seconds,
    )


def run_watchdog(
    config: PipelineWatchConfig, tasks: TaskRepository, runs: CanaryRuns, now: datetime
) -> WatchdogReport:
    rules = rules_of(config)
    depth = queues.depth(config.queue_url)
    queue = QueueCounts(visible=depth.visible, in_flight=depth.in_flight, delayed=depth.delayed)
    report = WatchdogReport(queue_empty=queue.empty)
    stalled_before = isoformat(now - timedelta(seconds=rules.threshold_seconds))

    for task in _oldest(tasks, TaskStatus.QUEUED, stalled_before):
        if not is_stalled_queued(task, now, rules):
            continue
        report.stalled_queued += 1
        if may_requeue(task, now, rules, queue) and _requeue(task, config, tasks, now):
            report.requeued += 1

    if queue.empty:
        for task in _oldest(tasks, TaskStatus.PROCESSING, stalled_before):
            if is_lapsed_processing(task, now, rules):
                report.lapsed_processing += 1
                logger.warning(
                    "Task PROCESSING with its lease long lapsed and no message left",
                    extra={"task_id": task.task_id, "attempts": task.attempts},
                )

    expired_before = isoformat(
        now - timedelta(seconds=rules.presign_expiry_seconds + rules.threshold_seconds)
    )
    for task in _oldest(tasks, TaskStatus.AWAITING_UPLOAD, expired_before):
        if is_expired_upload(task, now, rules) and _expire_upload(task, config, tasks, now):
            report.expired_uploads += 1

    judged = latest_verdict(config, tasks, runs, now)
    if judged and judged[1].state is not CanaryState.PENDING:
        report.canary_missed = judged[1].missed

    metrics.put_counts(config.metrics_namespace, config.pipeline_name, report.metrics(), now)
    return report


def _oldest(tasks: TaskRepository, status: TaskStatus, created_before: str) -> Iterator[Task]:
    start_key: dict[str, str] | None = None
    for _ in range(MAX_PAGES_PER_STATUS):
        page = tasks.page(
            status, PAGE_SIZE, start_key, created_before=created_before, newest_first=False
        )
        yield from page.tasks
        if page.last_key is None:
            return
        start_key = page.last_key


def _requeue(task: Task, config: PipelineWatchConfig, tasks: TaskRepository, now: datetime) -> bool:
    if not tasks.mark_requeued(task, now):
        return False  # re-queued before, or taken meanwhile
    extra = {"task_id": task.task_id, "queued_seconds": round(queued_seconds(task, now))}
    try:
        queues.send(config.queue_url, task_message(task.task_id, task.bucket, task.key, task.size))
    except TransientError as exc:
        # Recorded but not sent: it stays stalled and alarmed, and is not retried automatically.
        logger.error("Re-queueing a stalled task failed", extra={**extra, "reason": exc.message})
        return False
    logger.warning("Stalled task re-queued: its message was lost", extra=extra)
    return True


def _expire_upload(
    task: Task, config: PipelineWatchConfig, tasks: TaskRepository, now: datetime
) -> bool:
    error = TaskError(
        ErrorCode.UPLOAD_EXPIRED,
        f"No file arrived within the presigned URL's {config.presign_expiry_seconds} s; "
        "request a new upload URL (POST /uploads/presign) and upload again.",
    )
    expired = tasks.fail_awaiting_upload(task.task_id, error, now)
    if expired:
        logger.info("Presigned upload expired", extra={"task_id": task.task_id})
    return expired
