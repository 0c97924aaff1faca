"""Per-message processing, independent of how the message was received.

The SQS Lambda handler and a standalone polling worker both call `process_message` with a
message body and its receive count. It returns one Outcome per job in the message, or raises
RetryLaterError for a transient failure: the caller then keeps the message (a batch item failure, or
simply not deleting it) and makes it invisible for `RetryLaterError.delay_seconds`.

Permanent failures (the file itself) mark the task FAILED and return normally, so the message is
consumed and never retried. A task FAILED with RETRIES_EXHAUSTED is processed again when its
message comes back (an operator redrove it from the parked dead letters).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from sheetflow.dal import storage
from sheetflow.dal.storage import ObjectMissingError
from sheetflow.dal.tasks import TaskRepository
from sheetflow.logic.backoff import retry_delay_seconds
from sheetflow.logic.errors import ErrorCode, PermanentError, TransientError
from sheetflow.logic.messages import MessageFormatError, ObjectJob, parse_message
from sheetflow.logic.parsing import ParseLimits, parse_workbook
from sheetflow.logic.summary import result_document, task_summary
from sheetflow.logic.task import Task, TaskError, TaskStatus, new_task, result_key
from sheetflow.logic.validation import ValidationLimits, check_size, validate_workbook_file

logger = Logger(child=True)

WORKBOOK_FILENAME = "workbook.xlsx"


class OutcomeKind(StrEnum):
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"  # permanent: the task is FAILED, the message is consumed
    SKIPPED = "SKIPPED"  # duplicate or concurrent delivery: nothing to do
    IGNORED = "IGNORED"  # a message with nothing to process (s3:TestEvent, malformed body)


@dataclass(frozen=True)
class Outcome:
    kind: OutcomeKind
    task_id: str | None = None
    error_code: str | None = None
    rows: int = 0
    duration_ms: float = 0.0
    detail: str = ""


class RetryLaterError(Exception):
    """A transient failure: keep the message and deliver it again after `delay_seconds`."""

    def __init__(self, task_id: str | None, message: str, delay_seconds: int) -> None:
        super().__init__(message)
        self.task_id = task_id
        self.message = message
        self.delay_seconds = delay_seconds


@dataclass(frozen=True)
class WorkerSettings:
    uploads_bucket: str
    results_bucket: str
    retention_hours: int
    # How long a claimed task belongs to this delivery: the processing time available to it.
    lease_seconds: int
    retry_base_seconds: int = 30
    retry_max_seconds: int = 900
    validation: ValidationLimits = field(default_factory=ValidationLimits)
    parsing: ParseLimits = field(default_factory=ParseLimits)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def process_message(
    body: str,
    receive_count: int,
    settings: WorkerSettings,
    tasks: TaskRepository,
    now: Callable[[], datetime] = _utc_now,
) -> list[Outcome]:
    """Process every job in one message body (see the module docstring for the contract)."""
    try:
        jobs = parse_message(body)
    except MessageFormatError as exc:
        logger.warning("Ignoring a malformed message", extra={"reason": str(exc)})
        return [Outcome(kind=OutcomeKind.IGNORED, detail=str(exc))]
    if not jobs:
        return [Outcome(kind=OutcomeKind.IGNORED, detail="no object to process")]
    return [_process_job(job, receive_count, settings, tasks, now) for job in jobs]


def _process_job(
    job: ObjectJob,
    receive_count: int,
    settings: WorkerSettings,
    tasks: TaskRepository,
    now: Callable[[], datetime],
) -> Outcome:
    logger.set_correlation_id(job.task_id)
    started = time.monotonic()
    try:
        claimed = _claim_new_upload(job, settings, tasks, now())
    except TransientError as exc:
        raise RetryLaterError(job.task_id, exc.message, _backoff(receive_count, settings)) from exc
    if claimed is None:
        claimed_or_outcome = _claim_existing(job, receive_count, settings, tasks, now)
        if isinstance(claimed_or_outcome, Outcome):
            return claimed_or_outcome
        claimed = claimed_or_outcome
    logger.info("Processing task", extra={"attempt": claimed.attempts, "key": claimed.key})
    try:
        return _run_claimed(claimed, settings, tasks, now, started)
    except TransientError as exc:
        raise _retry_after_release(
            claimed, exc, receive_count=receive_count, settings=settings, tasks=tasks, now=now
        ) from exc


def _claim_new_upload(
    job: ObjectJob, settings: WorkerSettings, tasks: TaskRepository, moment: datetime
) -> Task | None:
    """A file put straight into the bucket arrives with no task: create it already claimed.

    One conditional write instead of read, create and claim. None when a task exists (a
    presigned upload, a duplicate notification): the general path takes over.
    """
    if not job.from_notification:
        return None
    task = replace(
        _task_for_object(job, TaskStatus.PROCESSING, settings, moment),
        attempts=1,
        lease_until=_lease_until(moment, settings),
    )
    return task if tasks.create(task) else None


def _claim_existing(
    job: ObjectJob,
    receive_count: int,
    settings: WorkerSettings,
    tasks: TaskRepository,
    now: Callable[[], datetime],
) -> Task | Outcome:
    """Read the task (creating it if needed) and claim it; an Outcome when nothing is to do."""
    try:
        task = _find_or_create_task(job, settings, tasks, now())
        if task is None:
            return Outcome(OutcomeKind.SKIPPED, job.task_id, detail="task no longer exists")
        if not task.claimable:
            # SUCCEEDED, or FAILED for good; FAILED with RETRIES_EXHAUSTED is a redrive and runs.
            return Outcome(OutcomeKind.SKIPPED, job.task_id, detail=f"task already {task.status}")
        moment = now()
        if task.lease_active(int(moment.timestamp())):
            return Outcome(OutcomeKind.SKIPPED, job.task_id, detail="task is being processed")
        if task.redrivable:
            previous = task.error.to_dict() if task.error else None
            logger.info("Claiming a redriven task", extra={"previous_error": previous})
        claimed = tasks.claim(task, moment, _lease_until(moment, settings))
    except TransientError as exc:
        # Nothing is claimed yet: a plain retry with backoff.
        raise RetryLaterError(job.task_id, exc.message, _backoff(receive_count, settings)) from exc
    if claimed is None:
        return Outcome(OutcomeKind.SKIPPED, job.task_id, detail="another delivery claimed it")
    return claimed


def _task_for_object(
    job: ObjectJob, status: TaskStatus, settings: WorkerSettings, moment: datetime
) -> Task:
    """A new task record for an object that arrived without one."""
    return new_task(
        task_id=job.task_id,
        status=status,
        bucket=job.bucket,
        key=job.key,
        filename=job.filename,
        now=moment,
        ttl=_ttl(settings),
        size=job.size,
    )


def _lease_until(moment: datetime, settings: WorkerSettings) -> int:
    return int((moment + timedelta(seconds=settings.lease_seconds)).timestamp())


def _find_or_create_task(
    job: ObjectJob, settings: WorkerSettings, tasks: TaskRepository, moment: datetime
) -> Task | None:
    task = tasks.get(job.task_id)
    if task is None:
        if not job.from_notification:
            return None  # a task message outlived its task (cleanup): nothing to do
        # A file put straight into the bucket: its first notification creates the task.
        created = _task_for_object(job, TaskStatus.QUEUED, settings, moment)
        if tasks.create(created):
            return created
        task = tasks.get(job.task_id)  # a concurrent duplicate created it first
        if task is None:
            return None
    if task.status is TaskStatus.AWAITING_UPLOAD:
        tasks.mark_queued(task.task_id, job.size, moment)
        return tasks.get(job.task_id)
    return task


@dataclass(frozen=True)
class _Processed:
    size: int
    rows: int
    summary: dict[str, object]


def _run_claimed(
    task: Task,
    settings: WorkerSettings,
    tasks: TaskRepository,
    now: Callable[[], datetime],
    started: float,
) -> Outcome:
    try:
        processed = _process_workbook(task, settings)
    except PermanentError as exc:
        logger.info("Workbook rejected", extra={"code": exc.code, "reason": exc.message})
        tasks.fail_attempt(task.task_id, task.attempts, TaskError(exc.code, exc.message), now())
        return Outcome(
            OutcomeKind.FAILED,
            task.task_id,
            error_code=exc.code,
            duration_ms=_elapsed_ms(started),
            detail=exc.message,
        )
    recorded = tasks.succeed(
        task.task_id,
        attempt=task.attempts,
        summary=processed.summary,
        result_key=result_key(task.task_id),
        size=processed.size,
        now=now(),
    )
    if not recorded:
        # Our lease lapsed and a later attempt took over; it records its own result.
        return Outcome(OutcomeKind.SKIPPED, task.task_id, detail="superseded by a later attempt")
    return Outcome(
        OutcomeKind.SUCCEEDED, task.task_id, rows=processed.rows, duration_ms=_elapsed_ms(started)
    )


def _process_workbook(task: Task, settings: WorkerSettings) -> _Processed:
    """Download, validate, parse and store the result; PermanentError for a bad file."""
    try:
        with tempfile.TemporaryDirectory(prefix="sheetflow-") as workdir:
            path = Path(workdir) / WORKBOOK_FILENAME
            # The size is checked before any byte is read.
            size = storage.download(
                task.bucket, task.key, path, lambda size: check_size(size, settings.validation)
            )
            facts = validate_workbook_file(path, settings.validation)
            stats = parse_workbook(path, settings.parsing)
    except ObjectMissingError as exc:
        raise PermanentError(
            ErrorCode.SOURCE_MISSING, f"The uploaded object is gone: {exc}. Upload it again."
        ) from exc
    document = result_document(
        task_id=task.task_id, filename=task.filename, size=size, facts=facts, stats=stats
    )
    storage.put_json(settings.results_bucket, result_key(task.task_id), document)
    return _Processed(size=size, rows=stats.total_rows, summary=task_summary(stats, facts))


def _retry_after_release(
    task: Task,
    error: TransientError,
    *,
    receive_count: int,
    settings: WorkerSettings,
    tasks: TaskRepository,
    now: Callable[[], datetime],
) -> RetryLaterError:
    """Record the error and give the lease back so the redelivery can claim the next attempt."""
    delay = _backoff(receive_count, settings)
    logger.warning("Transient failure, will retry", extra={"reason": error.message})
    try:
        tasks.release(task.task_id, task.attempts, TaskError(error.code, error.message), now())
    except TransientError:
        # The lease stays until it lapses: deliver again only after that.
        lease_left = task.lease_until - int(now().timestamp()) + 1
        delay = max(delay, min(lease_left, settings.retry_max_seconds))
    return RetryLaterError(task.task_id, error.message, delay)


def _backoff(receive_count: int, settings: WorkerSettings) -> int:
    return retry_delay_seconds(
        receive_count, settings.retry_base_seconds, settings.retry_max_seconds
    )


def _ttl(settings: WorkerSettings) -> timedelta:
    return task_ttl(settings.retention_hours)


def task_ttl(retention_hours: int) -> timedelta:
    """DynamoDB TTL a day after the cleanup's retention, so the cleanup (which also deletes the
    task's objects) normally gets there first; TTL is the safety net."""
    return timedelta(hours=retention_hours + 24)


def _elapsed_ms(started: float) -> float:
    return (time.monotonic() - started) * 1000


def log_outcomes(outcomes: list[Outcome], **context: object) -> None:
    """One log line per outcome, with whatever the caller knows of the message."""
    for outcome in outcomes:
        logger.info(
            "Message processed",
            extra={
                "outcome": outcome.kind,
                "task_id": outcome.task_id,
                "code": outcome.error_code,
                "detail": outcome.detail,
                "duration_ms": round(outcome.duration_ms, 1),
                **context,
            },
        )


def record_metrics(metrics: Metrics, outcomes: list[Outcome]) -> None:
    """Emit FilesProcessed, FilesFailed (also per error code), RowsParsed, ProcessingTime."""
    for outcome in outcomes:
        if outcome.kind is OutcomeKind.SUCCEEDED:
            metrics.add_metric(name="FilesProcessed", unit=MetricUnit.Count, value=1)
            metrics.add_metric(name="RowsParsed", unit=MetricUnit.Count, value=outcome.rows)
            metrics.add_metric(
                name="ProcessingTime", unit=MetricUnit.Milliseconds, value=outcome.duration_ms
            )
        elif outcome.kind is OutcomeKind.FAILED:
            metrics.add_metric(name="FilesFailed", unit=MetricUnit.Count, value=1)
            with single_metric(
                name="FilesFailed",
                unit=MetricUnit.Count,
                value=1,
                namespace=metrics.namespace,
                default_dimensions=metrics.default_dimensions,
            ) as by_code:
                by_code.add_dimension(name="ErrorCode", value=str(outcome.error_code))
        elif outcome.kind is OutcomeKind.SKIPPED:
            metrics.add_metric(name="DuplicateDeliveries", unit=MetricUnit.Count, value=1)
        else:
            metrics.add_metric(name="MessagesIgnored", unit=MetricUnit.Count, value=1)
