"""Processing one task message, independent of how it was received.

The SQS Lambda handler and the standalone worker both call `process_message` with a message body,
its receive count and how long a claim on its task may last. It returns one Outcome per job in
the message, or raises RetryLaterError for a transient failure: the caller then keeps the message
(a batch item failure, or simply not deleting it) and hands it to `schedule_retry`, which makes
it invisible for the backoff delay.

Permanent failures (the file itself) mark the task FAILED and return normally, so the message is
consumed and never retried. A task FAILED with RETRIES_EXHAUSTED is processed again when its
message comes back (an operator redrove it from the parked dead letters).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from sheetflow.config import WorkerConfig
from sheetflow.dal import queues, storage
from sheetflow.dal.storage import ObjectMissingError
from sheetflow.dal.tasks import TaskRepository
from sheetflow.logic.backoff import retry_delay_seconds
from sheetflow.logic.budget import check_time_budget
from sheetflow.logic.errors import ErrorCode, PermanentError, TransientError
from sheetflow.logic.messages import MessageFormatError, ObjectJob, parse_message
from sheetflow.logic.parsing import ParseLimits, parse_workbook
from sheetflow.logic.summary import result_document, task_summary
from sheetflow.logic.task import Task, TaskError, TaskStatus, result_key
from sheetflow.logic.validation import check_size, validate_workbook_file

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
class _Delivery:
    """One job of one received message, with what processing it needs to know."""

    job: ObjectJob
    receive_count: int
    # How long a claim on the task lasts: the processing time this delivery can count on.
    lease_seconds: int
    config: WorkerConfig
    tasks: TaskRepository
    now: Callable[[], datetime]
    on_claim: Callable[[Task], None]
    # time.monotonic() by which the caller is stopped; None when it has no time limit.
    deadline: float | None = None

    def lease_until(self, moment: datetime) -> int:
        return int((moment + timedelta(seconds=self.lease_seconds)).timestamp())

    def backoff(self) -> int:
        return retry_delay_seconds(
            self.receive_count, self.config.retry_base_seconds, self.config.retry_max_seconds
        )

    def retry_later(self, error: TransientError) -> RetryLaterError:
        return RetryLaterError(self.job.task_id, error.message, self.backoff())


def _utc_now() -> datetime:
    return datetime.now(UTC)


def process_message(
    body: str,
    receive_count: int,
    config: WorkerConfig,
    tasks: TaskRepository,
    *,
    lease_seconds: int,
    on_claim: Callable[[Task], None] = lambda task: None,
    now: Callable[[], datetime] = _utc_now,
    deadline: float | None = None,
) -> list[Outcome]:
    """Process every job in one message body (see the module docstring for the contract).

    `on_claim` sees each task this delivery claims, so a caller that can outlive the lease (the
    standalone worker's heartbeat) knows which leases to renew. `deadline` (time.monotonic())
    is when the caller is stopped (Lambda's timeout): a workbook that cannot be parsed by then
    fails at once with TOO_BIG_FOR_TIMEOUT. None: no time limit.
    """
    try:
        jobs = parse_message(body)
    except MessageFormatError as exc:
        logger.warning("Ignoring a malformed message", extra={"reason": str(exc)})
        return [Outcome(kind=OutcomeKind.IGNORED, detail=str(exc))]
    if not jobs:
        return [Outcome(kind=OutcomeKind.IGNORED, detail="no object to process")]
    return [
        _process_job(
            _Delivery(job, receive_count, lease_seconds, config, tasks, now, on_claim, deadline)
        )
        for job in jobs
    ]


def schedule_retry(
    queue_url: str, receipt_handle: str, retry: RetryLaterError, metrics: Metrics
) -> None:
    """Keep a message that failed transiently invisible until its backoff delay has passed."""
    metrics.add_metric(name="TransientFailures", unit=MetricUnit.Count, value=1)
    logger.warning(
        "Retry scheduled",
        extra={
            "task_id": retry.task_id,
            "reason": retry.message,
            "delay_seconds": retry.delay_seconds,
        },
    )
    try:
        queues.delay_retry(queue_url, receipt_handle, retry.delay_seconds)
    except TransientError:
        # The queue's own visibility timeout still delays the retry.
        logger.warning("Could not set the retry delay", extra={"seconds": retry.delay_seconds})


def _process_job(delivery: _Delivery) -> Outcome:
    logger.set_correlation_id(delivery.job.task_id)
    started = time.monotonic()
    claimed = _claim(delivery)
    if isinstance(claimed, Outcome):
        return claimed
    delivery.on_claim(claimed)
    logger.info("Processing task", extra={"attempt": claimed.attempts, "key": claimed.key})
    try:
        return _run_claimed(claimed, delivery, started)
    except TransientError as exc:
        raise _retry_after_release(claimed, exc, delivery) from exc


def _claim(delivery: _Delivery) -> Task | Outcome:
    """Claim the delivery's task (creating it for an object that arrived without one); an
    Outcome when there is nothing to do. Nothing is claimed when this raises."""
    job, tasks = delivery.job, delivery.tasks
    try:
        if job.from_notification:
            # A file put straight into the bucket has no task yet: one conditional write creates
            # it already claimed. False when it exists (a presigned upload, a duplicate).
            moment = delivery.now()
            created = replace(
                job.new_task(TaskStatus.PROCESSING, moment, delivery.config.retention_hours),
                attempts=1,
                lease_until=delivery.lease_until(moment),
            )
            if tasks.create(created):
                return created
        task = tasks.get(job.task_id)
        if task is None:
            # A task message that outlived its task (cleanup): nothing to do.
            return Outcome(OutcomeKind.SKIPPED, job.task_id, detail="task no longer exists")
        if task.status is TaskStatus.AWAITING_UPLOAD:
            tasks.mark_queued(task.task_id, job.size, delivery.now())
            task = tasks.get(job.task_id)
            if task is None:
                return Outcome(OutcomeKind.SKIPPED, job.task_id, detail="task no longer exists")
        if not task.claimable:
            # SUCCEEDED, or FAILED for good; FAILED with RETRIES_EXHAUSTED is a redrive and runs.
            return Outcome(OutcomeKind.SKIPPED, job.task_id, detail=f"task already {task.status}")
        moment = delivery.now()
        if task.lease_active(int(moment.timestamp())):
            return Outcome(OutcomeKind.SKIPPED, job.task_id, detail="task is being processed")
        if task.redrivable:
            previous = task.error.to_dict() if task.error else None
            logger.info("Claiming a redriven task", extra={"previous_error": previous})
        claimed = tasks.claim(task, moment, delivery.lease_until(moment))
    except TransientError as exc:
        raise delivery.retry_later(exc) from exc
    if claimed is None:
        return Outcome(OutcomeKind.SKIPPED, job.task_id, detail="another delivery claimed it")
    return claimed


@dataclass(frozen=True)
class _Processed:
    size: int
    rows: int
    summary: dict[str, object]


def _run_claimed(task: Task, delivery: _Delivery, started: float) -> Outcome:
    tasks, now = delivery.tasks, delivery.now
    try:
        processed = _process_workbook(task, delivery.config, delivery.deadline)
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


def _process_workbook(task: Task, config: WorkerConfig, deadline: float | None) -> _Processed:
    """Download, validate, parse and store the result; PermanentError for a bad file.

    The workbook goes to a file in the temporary directory (/tmp on Lambda, sized by the
    EphemeralStorage parameter), never whole into memory; validation reads the zip directory
    and the start of each XML part; parsing streams.
    """
    try:
        with tempfile.TemporaryDirectory(prefix="sheetflow-") as workdir:
            path = Path(workdir) / WORKBOOK_FILENAME
            # The size is checked before any byte is read.
            size = storage.download(
                task.bucket, task.key, path, lambda size: check_size(size, config.validation)
            )
            facts = validate_workbook_file(path, config.validation)
            if deadline is not None:
                check_time_budget(facts, deadline - time.monotonic(), config.time_budget)
            stats = parse_workbook(path, ParseLimits())
    except ObjectMissingError as exc:
        raise PermanentError(
            ErrorCode.SOURCE_MISSING, f"The uploaded object is gone: {exc}. Upload it again."
        ) from exc
    document = result_document(
        task_id=task.task_id, filename=task.filename, size=size, facts=facts, stats=stats
    )
    storage.put_json(config.results_bucket, result_key(task.task_id), document)
    return _Processed(size=size, rows=stats.total_rows, summary=task_summary(stats, facts))


def _retry_after_release(task: Task, error: TransientError, delivery: _Delivery) -> RetryLaterError:
    """Record the error and give the lease back so the redelivery can claim the next attempt."""
    delay = delivery.backoff()
    try:
        delivery.tasks.release(
            task.task_id, task.attempts, TaskError(error.code, error.message), delivery.now()
        )
    except TransientError:
        # The lease stays until it lapses: deliver again only after that.
        lease_left = task.lease_until - int(delivery.now().timestamp()) + 1
        delay = max(delay, min(lease_left, delivery.config.retry_max_seconds))
    return RetryLaterError(task.task_id, error.message, delay)


def _elapsed_ms(started: float) -> float:
    return (time.monotonic() - started) * 1000
