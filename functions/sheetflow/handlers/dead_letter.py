"""DLQ handler: tasks whose messages kept failing become FAILED (RETRIES_EXHAUSTED), and the
messages move on to the failed-tasks queue, where they wait for an operator.

A record whose task cannot be marked or whose message cannot be forwarded is reported as a batch
item failure and delivered again; marking is idempotent, and the DLQ's own redrive policy parks
a record that keeps failing here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from sheetflow.config import DeadLetterConfig
from sheetflow.handlers.dependencies import HandlerDependencies
from sheetflow.observability import logger, metrics, tracer
from sheetflow.usecases.dead_letter import fail_dead_letter, park_dead_letter

# A batch whose every record failed is answered with batch item failures too, not an invocation
# error: SQS retries the records either way, and a transient AWS fault is not a crash.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


dependencies = HandlerDependencies(DeadLetterConfig.from_env)


def record_handler(record: SQSRecord) -> None:
    now = datetime.now(UTC)
    marked = fail_dead_letter(record.body, dependencies.config, dependencies.tasks, now)
    # Counted now: a retry of this record finds its tasks marked and would not count them.
    for task_id in marked:
        logger.set_correlation_id(task_id)
        logger.warning("Task failed: retries exhausted")
        metrics.add_metric(name="RetriesExhausted", unit=MetricUnit.Count, value=1)
    parked_id = park_dead_letter(record.body, dependencies.config, now)
    logger.info("Dead letter parked", extra={"message_id": record.message_id, "parked": parked_id})
    metrics.add_metric(name="DeadLetteredMessages", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
