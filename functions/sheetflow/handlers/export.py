"""CSV export of finished tasks that asked for it (outputs=csv), fed by ExportQueue."""

from __future__ import annotations

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

from sheetflow.config import ExportConfig
from sheetflow.handlers.dependencies import HandlerDependencies
from sheetflow.observability import logger, metrics, tracer
from sheetflow.usecases.exporting import export_task

dependencies = HandlerDependencies(ExportConfig.from_env)
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def _record(record: SQSRecord) -> None:
    report = export_task(record.body, dependencies.config, dependencies.tasks)
    logger.info(
        "Export handled",
        extra={"task_id": report.task_id, "files": report.files, "detail": report.detail},
    )
    metrics.add_metric(name="CsvFilesExported", unit=MetricUnit.Count, value=report.files)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=_record, processor=processor, context=context
    )
