"""Every minute: send the messages of timers that fall due within the horizon."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from sheetflow.config import SchedulerConfig
from sheetflow.handlers.dependencies import HandlerDependencies
from sheetflow.observability import logger, metrics, tracer
from sheetflow.usecases.scheduling import sweep

dependencies = HandlerDependencies(SchedulerConfig.from_env)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = sweep(dependencies.config, dependencies.tasks, datetime.now(UTC))
    metrics.add_metric(name="TimersDispatched", unit=MetricUnit.Count, value=report.dispatched)
    if report.due:
        logger.info("Timer sweep finished", extra=report.to_dict())
    return report.to_dict()
