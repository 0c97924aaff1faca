"""Hourly schedule: delete expired tasks with their uploads and results."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from sheetflow.config import CleanupConfig
from sheetflow.handlers.dependencies import HandlerDependencies
from sheetflow.observability import logger, metrics, tracer
from sheetflow.usecases.cleanup import run_cleanup

dependencies = HandlerDependencies(CleanupConfig.from_env)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = run_cleanup(
        dependencies.config,
        dependencies.tasks,
        context.get_remaining_time_in_millis,
        datetime.now(UTC),
    )
    metrics.add_metric(name="TasksExpired", unit=MetricUnit.Count, value=report.tasks_deleted)
    metrics.add_metric(name="ObjectsExpired", unit=MetricUnit.Count, value=report.objects_deleted)
    logger.info("Cleanup finished", extra=report.to_dict())
    return report.to_dict()
