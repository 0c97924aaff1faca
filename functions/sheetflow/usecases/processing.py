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
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import partial
from pathlib import Path

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from sheetflow.config import WorkerConfig
from sheetflow.dal import queues, storage
from sheetflow.dal.storage import ObjectMissingError, OpenedObject
from sheetflow.dal.tasks import TaskRepository
from sheetflow.logic.backoff import retry_delay_seconds
from sheetflow.logic.budget import check_time_budget
from sheetflow.logic.errors import (
    ErrorCode,
    PermanentError,
    RequestRejectedError,
    StopRequestedError,
    TransientError,
)
from sheetflow.logic.messages import MessageFormatError, ObjectJob, parse_message, task_message
from sheetflow.logic.parsing import ParseLimits, parse_workbook
from sheetflow.logic.summary import result_document, task_summary
from sheetflow.logic.task import Task, TaskError, TaskStatus, isoformat, result_key
from sheetflow.logic.timers import (
    EARLY_ARRIVAL_SECONDS,
    message_delay,
    requested_run_at,
    seconds_until,
)
from sheetflow.logic.validation import check_size, validate_workbook_file
from sheetflow.usecases.finishing import BatchAnnouncer, publication_lease, publish_pending

logger = Logger(child=True)

WORKBOOK_FILENAME = "workbook.xlsx"
# How often, at most, a worker reads its task to see whether it was cancelled.
CANCEL_CHECK_SECONDS = 1.0
# How often, at most, a worker writes its progress on the task (one small conditional write).
PROGRESS_INTERVAL_SECONDS = 2.0


class OutcomeKind(StrEnum):
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"  # permanent: the task is FAILED, the message is consumed
    SKIPPED = "SKIPPED"  # duplicate or concurrent delivery: nothing to do
    CANCELLED = "CANCELLED"  # asked to stop while processing: the task is CANCELLED
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
    # Whether the message came back from the failed-tasks queue: only then may it run a task
    # FAILED with RETRIES_EXHAUSTED (see PARKED_ATTRIBUTE).
    redriven: bool
    # How long a claim on the task lasts: the processing time this delivery can count on.
    lease_seconds: int
    config: WorkerConfig
    tasks: TaskRepository
    now: Callable[[], datetime]
    on_claim: Callable[[Task], None]
    # Where the delivery's finishes go to be announced, under the message's id.
    announcer: BatchAnnouncer
    message_id: str
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
    redriven: bool = False,
    on_claim: Callable[[Task], None] = lambda task: None,
    now: Callable[[], datetime] = _utc_now,
    deadline: float | None = None,
    announcer: BatchAnnouncer | None = None,
    message_id: str = "",
) -> list[Outcome]:
    """Process every job in one message body (see the module docstring for the contract).

    `redriven` says the message carries PARKED_ATTRIBUTE: an operator's redrive, which may run
    a task whose retries ran out; any other copy of its message leaves such a task FAILED.
    `on_claim` sees each task this delivery claims, so a caller that can outlive the lease (the
    standalone worker's heartbeat) knows which leases to renew. `deadline` (time.monotonic())
    is when the caller is stopped (Lambda's timeout): a workbook that cannot be parsed by then
    fails at once with TOO_BIG_FOR_TIMEOUT. None: no time limit.

    A caller handling a batch passes its `announcer` and the message's id: the finishes are
    then held for it to publish with the batch's (see BatchAnnouncer). Without one, they are
    announced before this returns, and RetryLaterError keeps a message whose announcement
    failed.
    """
    try:
        jobs = parse_message(body)
    except MessageFormatError as exc:
        logger.warning("Ignoring a malformed message", extra={"reason": str(exc)})
        return [Outcome(kind=OutcomeKind.IGNORED, detail=str(exc))]
    if not jobs:
        return [Outcome(kind=OutcomeKind.IGNORED, detail="no object to process")]

    def process_jobs(announcer: BatchAnnouncer) -> list[Outcome]:
        outcomes = []
        for job in jobs:
            announcer.make_room(job.size)
            delivery = _Delivery(
                job=job,
                receive_count=receive_count,
                redriven=redriven,
                lease_seconds=lease_seconds,
                config=config,
                tasks=tasks,
                now=now,
                on_claim=on_claim,
                announcer=announcer,
                message_id=message_id,
                deadline=deadline,
            )
            outcomes.append(_process_job(delivery))
        return outcomes

    if announcer is not None:
        return process_jobs(announcer)
    own = BatchAnnouncer(config.event_bus_name, config.results_bucket, tasks, now=now)
    try:
        outcomes = process_jobs(own)
    finally:
        own.publish()  # also when a later job failed: the finished ones are announced
    for unannounced in own.take_unannounced().values():
        raise RetryLaterError(
            unannounced.task_id, unannounced.reason, unannounced.retry_after_seconds
        )
    return outcomes


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
    job = delivery.job
    logger.set_correlation_id(job.task_id)
    started = time.monotonic()
    with ExitStack() as open_objects:
        upload = _open_upload(delivery, open_objects)
        claimed = _claim(delivery, upload)
        if isinstance(claimed, Outcome):
            return claimed
        delivery.on_claim(claimed)
        logger.info("Processing task", extra={"attempt": claimed.attempts, "key": claimed.key})
        if (claimed.bucket, claimed.key) != (job.bucket, job.key):
            upload = None  # not the task's object: it is downloaded by its own name
        try:
            return _run_claimed(claimed, delivery, started, upload)
        except TransientError as exc:
            raise _retry_after_release(claimed, exc, delivery) from exc


def _open_upload(delivery: _Delivery, open_objects: ExitStack) -> OpenedObject | None:
    """The object a notification names, its GET answered but its body unread: its metadata
    tells whether it carries a timer, and a claimed task reads its body with no second call.
    None for a task message, or when the object is gone (processing then fails the task with
    SOURCE_MISSING)."""
    job = delivery.job
    if not job.from_notification:
        return None
    try:
        return open_objects.enter_context(storage.opened(job.bucket, job.key))
    except ObjectMissingError:
        return None
    except TransientError as exc:
        raise delivery.retry_later(exc) from exc


def _claim(delivery: _Delivery, upload: OpenedObject | None) -> Task | Outcome:
    """Claim the delivery's task (creating it for an object that arrived without one); an
    Outcome when there is nothing to do. Nothing is claimed when this raises."""
    job, tasks = delivery.job, delivery.tasks
    try:
        if job.from_notification:
            timed = _object_timer(delivery, upload.metadata if upload else {})
            if timed is not None:
                return timed
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
        else:
            # The usual task message: its task QUEUED and never tried, claimed by one write that
            # returns it. Any other state is read and judged below.
            moment = delivery.now()
            queued = tasks.claim_queued(job.task_id, moment, delivery.lease_until(moment))
            if queued is not None:
                return queued
        task = tasks.get(job.task_id)
        if task is None:
            # A task message that outlived its task (cleanup): nothing to do.
            return Outcome(OutcomeKind.SKIPPED, job.task_id, detail="task no longer exists")
        if task.status is TaskStatus.AWAITING_UPLOAD:
            tasks.mark_queued(task.task_id, job.size, delivery.now(), scheduled=bool(task.run_at))
            task = tasks.get(job.task_id)
            if task is None:
                return Outcome(OutcomeKind.SKIPPED, job.task_id, detail="task no longer exists")
        if task.status is TaskStatus.SCHEDULED:
            ahead = _hold_until_due(task, delivery)
            if ahead is not None:
                return ahead
        redrive = task.redrivable and delivery.redriven
        if delivery.announcer.holds(task.task_id):
            # A copy of a message this batch has already finished: announced with the batch.
            return Outcome(OutcomeKind.SKIPPED, job.task_id, detail=f"task already {task.status}")
        if task.finished and task.event_pending and not redrive:
            return _announce_pending(task, delivery)
        if not task.claimable or (task.redrivable and not redrive):
            # SUCCEEDED, or FAILED for good; FAILED with RETRIES_EXHAUSTED runs again only on a
            # redrive, never on a stray copy of the message that was dead-lettered.
            return Outcome(OutcomeKind.SKIPPED, job.task_id, detail=f"task already {task.status}")
        moment = delivery.now()
        if task.lease_active(int(moment.timestamp())):
            return Outcome(OutcomeKind.SKIPPED, job.task_id, detail="task is being processed")
        if redrive:
            previous = task.error.to_dict() if task.error else None
            logger.info("Claiming a redriven task", extra={"previous_error": previous})
        claimed = tasks.claim(task, moment, delivery.lease_until(moment))
    except TransientError as exc:
        raise delivery.retry_later(exc) from exc
    if claimed is None:
        return Outcome(OutcomeKind.SKIPPED, job.task_id, detail="another delivery claimed it")
    return claimed


def _object_timer(delivery: _Delivery, metadata: dict[str, str]) -> Outcome | None:
    """A file put straight into the bucket with a timer in its metadata (x-amz-meta-run-at or
    x-amz-meta-delay-seconds) becomes a SCHEDULED task; None when it has none (or its task
    exists already: a presigned upload, a duplicate notification)."""
    job, config, tasks = delivery.job, delivery.config, delivery.tasks
    if not ({"run-at", "delay-seconds"} & metadata.keys()):
        return None
    moment = delivery.now()
    task = job.new_task(TaskStatus.SCHEDULED, moment, config.retention_hours)
    try:
        run_at = requested_run_at(
            metadata.get("run-at"), metadata.get("delay-seconds"), moment, config.timers
        )
    except RequestRejectedError as exc:
        # No one to answer 400 to: the task fails with the reason, announced like any failure.
        error, lease = TaskError(exc.code, exc.message), publication_lease(moment)
        failed = replace(
            task, status=TaskStatus.FAILED, error=error, event_pending=True, event_lease=lease
        )
        if not tasks.create(failed):
            return None
        _announce(failed, delivery)
        return Outcome(OutcomeKind.FAILED, job.task_id, error_code=exc.code, detail=exc.message)
    if run_at is None or not tasks.create(replace(task, run_at=isoformat(run_at))):
        return None
    stored = tasks.get(job.task_id)
    if stored is None:
        return Outcome(OutcomeKind.SKIPPED, job.task_id, detail="task no longer exists")
    return _hold_until_due(stored, delivery)


def _hold_until_due(task: Task, delivery: _Delivery) -> Outcome | None:
    """A SCHEDULED task's message: None to claim it now (its time has come, or comes within
    EARLY_ARRIVAL_SECONDS, which are waited out here); otherwise the message is consumed and
    the task's time kept: by a new delayed message when it is near, by the sweep when not."""
    if not task.run_at:
        return None
    run_at = datetime.fromisoformat(task.run_at)
    wait = seconds_until(run_at, delivery.now())
    if wait <= 0:
        return None
    if wait <= EARLY_ARRIVAL_SECONDS:
        _pause(wait)
        return None
    config = delivery.config
    if wait <= config.timers.direct_max_seconds:
        moment = delivery.now()
        if delivery.tasks.mark_dispatched(task, moment, stale_before=isoformat(moment)):
            message = task_message(task.task_id, task.bucket, task.key, task.size)
            queues.send(config.queue_url, message, message_delay(run_at, moment))
        return Outcome(OutcomeKind.SKIPPED, task.task_id, detail=f"scheduled for {task.run_at}")
    return Outcome(OutcomeKind.SKIPPED, task.task_id, detail=f"scheduled for {task.run_at} (sweep)")


def _pause(seconds: float) -> None:
    time.sleep(seconds)


def _announce_pending(task: Task, delivery: _Delivery) -> Outcome:
    """A finished task whose event is not on the bus yet (an earlier publication failed)."""
    config, moment = delivery.config, delivery.now()
    if publish_pending(task, config.event_bus_name, config.results_bucket, delivery.tasks, moment):
        return Outcome(OutcomeKind.SKIPPED, task.task_id, detail=f"task {task.status} announced")
    # Another publisher holds the event: keep the message until its lease has lapsed, in case
    # that publisher fails too.
    delay = max(1, task.event_lease - int(moment.timestamp()) + 1)
    raise RetryLaterError(task.task_id, "the task event is being published", delay)


@dataclass(frozen=True)
class _Processed:
    size: int
    rows: int
    summary: dict[str, object]


def _run_claimed(
    task: Task, delivery: _Delivery, started: float, upload: OpenedObject | None
) -> Outcome:
    tasks, now, config = delivery.tasks, delivery.now, delivery.config
    try:
        processed = _process_workbook(
            task,
            upload,
            config,
            delivery.deadline,
            invocation_seconds=delivery.lease_seconds,
            cancelled=_CancelProbe(task, tasks),
            progress=_ProgressReporter(task, tasks, now),
        )
    except StopRequestedError as exc:
        return _stop_cancelled(task, delivery, started, str(exc))
    except PermanentError as exc:
        logger.info("Workbook rejected", extra={"code": exc.code, "reason": exc.message})
        error, moment = TaskError(exc.code, exc.message), now()
        lease = publication_lease(moment)
        if tasks.fail_attempt(task.task_id, task.attempts, error, moment, lease):
            failed = _finished(task, TaskStatus.FAILED, moment, lease, error=error)
            _announce(failed, delivery)
        return Outcome(
            OutcomeKind.FAILED,
            task.task_id,
            error_code=exc.code,
            duration_ms=_elapsed_ms(started),
            detail=exc.message,
        )
    moment = now()
    lease = publication_lease(moment)
    recorded = tasks.succeed(
        task.task_id,
        attempt=task.attempts,
        summary=processed.summary,
        result_key=result_key(task.task_id),
        size=processed.size,
        now=moment,
        event_lease=lease,
    )
    if not recorded:
        current = tasks.get(task.task_id)
        if current and current.cancel_requested and current.attempts == task.attempts:
            # Cancelled after the last sheet: the success write refuses it (see `succeed`).
            return _stop_cancelled(task, delivery, started, "stopped before recording success")
        # Our lease lapsed and a later attempt took over; it records its own result.
        return Outcome(OutcomeKind.SKIPPED, task.task_id, detail="superseded by a later attempt")
    succeeded = _finished(
        replace(task, summary=processed.summary, result_key=result_key(task.task_id)),
        TaskStatus.SUCCEEDED,
        moment,
        lease,
        size=processed.size,
    )
    _announce(succeeded, delivery)
    return Outcome(
        OutcomeKind.SUCCEEDED, task.task_id, rows=processed.rows, duration_ms=_elapsed_ms(started)
    )


def _stop_cancelled(task: Task, delivery: _Delivery, started: float, where: str) -> Outcome:
    """The task was cancelled while processing: CANCELLED, announced, nothing stored."""
    moment = delivery.now()
    lease = publication_lease(moment)
    logger.info("Processing stopped: task cancelled", extra={"where": where})
    if not delivery.tasks.cancel_attempt(task.task_id, task.attempts, moment, lease):
        return Outcome(OutcomeKind.SKIPPED, task.task_id, detail="superseded by a later attempt")
    _announce(_finished(task, TaskStatus.CANCELLED, moment, lease), delivery)
    return Outcome(
        OutcomeKind.CANCELLED, task.task_id, duration_ms=_elapsed_ms(started), detail=where
    )


class _CancelProbe:
    """Whether the task being processed was asked to stop: one read of the task at most every
    CANCEL_CHECK_SECONDS, so a workbook of many small sheets costs few reads."""

    def __init__(self, task: Task, tasks: TaskRepository) -> None:
        self._task, self._tasks = task, tasks
        # The claim has just read the task: the first read is due a check interval later.
        self._checked_at = time.monotonic()
        self._requested = task.cancel_requested

    def __call__(self) -> bool:
        moment = time.monotonic()
        if self._requested or moment - self._checked_at < CANCEL_CHECK_SECONDS:
            return self._requested
        self._checked_at = moment
        try:
            current = self._tasks.get(self._task.task_id)
        except TransientError as exc:
            # Not knowing is not a reason to stop: the next check may know.
            logger.warning("Could not check for a cancel", extra={"reason": exc.message})
            return False
        self._requested = current is not None and current.cancel_requested
        return self._requested


class _ProgressReporter:
    """Writes the rows read so far (and a percentage when the workbook declares its size) on
    the task, at most every PROGRESS_INTERVAL_SECONDS: a small workbook costs no write."""

    def __init__(self, task: Task, tasks: TaskRepository, now: Callable[[], datetime]) -> None:
        self._task, self._tasks, self._now = task, tasks, now
        self._reported_at = time.monotonic()

    def __call__(self, rows_read: int, declared_rows: int | None) -> None:
        moment = time.monotonic()
        if moment - self._reported_at < PROGRESS_INTERVAL_SECONDS:
            return
        self._reported_at = moment
        percent = None
        if declared_rows:
            # Never 100 before the result is stored; a sheet may hold more than it declares.
            percent = min(99, rows_read * 100 // declared_rows)
        progress = {
            "rows_read": rows_read,
            "declared_rows": declared_rows,
            "percent": percent,
            "reported_at": isoformat(self._now()),
        }
        try:
            self._tasks.report_progress(self._task.task_id, self._task.attempts, progress)
        except TransientError as exc:
            logger.warning("Could not record progress", extra={"reason": exc.message})


def _finished(
    task: Task,
    status: TaskStatus,
    moment: datetime,
    event_lease: int,
    *,
    error: TaskError | None = None,
    size: int | None = None,
) -> Task:
    """The task as the finishing write left it (saves reading it back)."""
    return replace(
        task,
        status=status,
        error=error,
        size=size if size is not None else task.size,
        lease_until=0,
        updated_at=isoformat(moment),
        event_pending=True,
        event_lease=event_lease,
    )


def _announce(task: Task, delivery: _Delivery) -> None:
    """Hand the finish to the batch's announcer; if its publication fails, the message is kept
    (until the publication lease has lapsed) and its redelivery publishes."""
    delivery.announcer.hold(task, delivery.message_id, delivery.backoff())


def _process_workbook(
    task: Task,
    upload: OpenedObject | None,
    config: WorkerConfig,
    deadline: float | None,
    *,
    invocation_seconds: float,
    cancelled: _CancelProbe,
    progress: _ProgressReporter,
) -> _Processed:
    """Download, validate, parse and store the result; PermanentError for a bad file,
    StopRequestedError when the task was cancelled (checked between sheets). `upload` is the
    task's object already opened (a notification's), else it is fetched here.

    The workbook goes to a file in the temporary directory (/tmp on Lambda, sized by the
    EphemeralStorage parameter), never whole into memory; validation reads the zip directory
    and the start of each XML part; parsing streams.
    """
    try:
        with tempfile.TemporaryDirectory(prefix="sheetflow-") as workdir:
            path = Path(workdir) / WORKBOOK_FILENAME
            # The size is checked before any byte is read.
            accept = partial(check_size, limits=config.validation)
            if upload is None:
                size = storage.download(task.bucket, task.key, path, accept)
            else:
                size = upload.save(path, accept)
            facts = validate_workbook_file(path, config.validation)
            if deadline is not None:
                # The lease is what a whole invocation has: a file that fits one is retried.
                check_time_budget(
                    facts, deadline - time.monotonic(), config.time_budget, invocation_seconds
                )
            stats = parse_workbook(path, ParseLimits(), cancelled, progress)
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
