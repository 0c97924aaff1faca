"""DLQ handler: tasks whose messages kept failing become FAILED (RETRIES_EXHAUSTED)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from functools import cache
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
from sheetflow.dal.tasks import TaskRepository
from sheetflow.observability import logger, metrics, tracer
from sheetflow.usecases.dead_letter import fail_dead_letter

processor = BatchProcessor(event_type=EventType.SQS)


@cache
def _config() -> DeadLetterConfig:
    return DeadLetterConfig.from_env(os.environ)


@cache
def _tasks() -> TaskRepository:
    return TaskRepository(_config().table_name)


def record_handler(record: SQSRecord) -> None:
    marked = fail_dead_letter(record.body, _config(), _tasks(), datetime.now(UTC))
    metrics.add_metric(name="DeadLetteredMessages", unit=MetricUnit.Count, value=1)
    for task_id in marked:
        logger.set_correlation_id(task_id)
        logger.warning("Task failed: retries exhausted")
        metrics.add_metric(name="RetriesExhausted", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
