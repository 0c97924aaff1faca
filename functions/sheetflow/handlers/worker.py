"""SQS batch handler: each record goes through `sheetflow.usecases.processing.process_message`;
the batch's finishes are announced together before the handler answers (`BatchAnnouncer`), and a
record whose announcement failed is reported as a batch item failure, kept for a retry."""

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
from sheetflow.usecases.finishing import BatchAnnouncer
from sheetflow.usecases.processing import RetryLaterError, process_message, schedule_retry

dependencies = HandlerDependencies(WorkerConfig.from_env)
# A batch whose every record failed is still a partial response, not a function error: transient
# retries must not look like a crashing worker (and trip the errors alarm).
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def _record_handler(lease_seconds: int, context: LambdaContext, announcer: BatchAnnouncer) -> Any:
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
                announcer=announcer,
                message_id=record.message_id,
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
    config = dependencies.config
    announcer = BatchAnnouncer(config.event_bus_name, config.results_bucket, dependencies.tasks)
    response = process_partial_response(
        event=event,
        record_handler=_record_handler(lease_seconds, context, announcer),
        processor=processor,
        context=context,
    )
    announcer.publish()
    return _keep_unannounced(response, event, announcer)


def _keep_unannounced(
    response: PartialItemFailureResponse, event: dict[str, Any], announcer: BatchAnnouncer
) -> PartialItemFailureResponse:
    """Add the records whose finishes are not announced to the batch item failures, each kept
    invisible until its publication lease has lapsed."""
    unannounced = announcer.take_unannounced()
    if not unannounced:
        return response
    failures = list(response["batchItemFailures"])
    failed = {failure["itemIdentifier"] for failure in failures}
    for record in event.get("Records", []):
        message_id = record.get("messageId")
        kept = unannounced.get(message_id)
        if kept is None or message_id in failed:
            continue  # announced, or already kept for its own retry
        retry = RetryLaterError(kept.task_id, kept.reason, kept.retry_after_seconds)
        schedule_retry(dependencies.config.queue_url, record["receiptHandle"], retry, metrics)
        failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures}
