"""SQS batch handler: each record goes through `sheetflow.usecases.processing.process_message`."""

from __future__ import annotations

import time
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
from sheetflow.handlers.dependencies import HandlerDependencies
from sheetflow.logic.messages import PARKED_ATTRIBUTE
from sheetflow.observability import log_outcomes, logger, metrics, record_metrics, tracer
from sheetflow.usecases.processing import RetryLaterError, process_message, schedule_retry

dependencies = HandlerDependencies(WorkerConfig.from_env)
# A batch whose every record failed is still a partial response, not a function error: transient
# retries must not look like a crashing worker (and trip the errors alarm).
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def _record_handler(lease_seconds: int, context: LambdaContext) -> Any:
    """Processes one SQS record; raising marks it a batch item failure."""

    def handle(record: SQSRecord) -> None:
        # Records of a batch run one after the other: each gets the time the invocation has left.
        deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000
        receive_count = int(record.attributes.approximate_receive_count or "1")
        config = dependencies.config
        try:
            outcomes = process_message(
                record.body,
                receive_count,
                config,
                dependencies.tasks,
                lease_seconds=lease_seconds,
                redriven=PARKED_ATTRIBUTE in (record.raw_event.get("messageAttributes") or {}),
                deadline=deadline,
            )
        except RetryLaterError as retry:
            schedule_retry(config.queue_url, record.receipt_handle, retry, metrics)
            raise
        record_metrics(metrics, outcomes)
        log_outcomes(outcomes, message_id=record.message_id, receive_count=receive_count)

    return handle


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    # A claim lasts as long as this invocation can still run.
    lease_seconds = max(context.get_remaining_time_in_millis() // 1000, 1)
    return process_partial_response(
        event=event,
        record_handler=_record_handler(lease_seconds, context),
        processor=processor,
        context=context,
    )
