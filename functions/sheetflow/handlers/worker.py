"""SQS batch handler: each record goes through `sheetflow.processing.process_message`."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from sheetflow.config import WorkerConfig
from sheetflow.dal import queues
from sheetflow.dal.tasks import TaskRepository
from sheetflow.logic.errors import TransientError
from sheetflow.logic.validation import ValidationLimits
from sheetflow.observability import logger, metrics, tracer
from sheetflow.processing import (
    RetryLaterError,
    WorkerSettings,
    log_outcomes,
    process_message,
    record_metrics,
)

# A batch whose every record failed is still a partial response, not a function error: transient
# retries must not look like a crashing worker (and trip the errors alarm).
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
# Lease fallback when no context is known; normally the invocation's remaining time.
_DEFAULT_LEASE_SECONDS = 900


@cache
def _config() -> WorkerConfig:
    return WorkerConfig.from_env(os.environ)


@cache
def _tasks() -> TaskRepository:
    return TaskRepository(_config().table_name)


def _settings(lease_seconds: int) -> WorkerSettings:
    config = _config()
    return WorkerSettings(
        uploads_bucket=config.bucket_name,
        results_bucket=config.results_bucket,
        retention_hours=config.retention_hours,
        lease_seconds=lease_seconds,
        retry_base_seconds=config.retry_base_seconds,
        retry_max_seconds=config.retry_max_seconds,
        validation=ValidationLimits(
            max_file_bytes=config.max_upload_bytes,
            max_uncompressed_bytes=config.max_uncompressed_bytes,
        ),
    )


class _RecordHandler:
    """Adapts one SQS record to process_message; raising marks it a batch item failure."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings

    def __call__(self, record: SQSRecord) -> None:
        receive_count = int(record.attributes.approximate_receive_count or "1")
        try:
            outcomes = process_message(record.body, receive_count, self.settings, _tasks())
        except RetryLaterError as retry:
            metrics.add_metric(name="TransientFailures", unit="Count", value=1)
            self._delay(record, retry.delay_seconds)
            logger.info(
                "Retry scheduled",
                extra={
                    "task_id": retry.task_id,
                    "receive_count": receive_count,
                    "delay_seconds": retry.delay_seconds,
                },
            )
            raise
        record_metrics(metrics, outcomes)
        log_outcomes(outcomes, message_id=record.message_id, receive_count=receive_count)

    def _delay(self, record: SQSRecord, seconds: int) -> None:
        try:
            queues.delay_retry(_config().queue_url, record.receipt_handle, seconds)
        except TransientError:
            # The queue's own visibility timeout still delays the retry.
            logger.warning("Could not set the retry delay", extra={"seconds": seconds})


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    lease_seconds = max(context.get_remaining_time_in_millis() // 1000, 1)
    return process_partial_response(
        event=event,
        record_handler=_RecordHandler(_settings(lease_seconds or _DEFAULT_LEASE_SECONDS)),
        processor=processor,
        context=context,
    )
