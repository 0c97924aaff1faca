"""On its schedule: judge the previous canary workbook, then send a new one down the real path."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sheetflow.config import PipelineWatchConfig
from sheetflow.dal.canary_runs import CanaryRuns
from sheetflow.handlers.dependencies import HandlerDependencies
from sheetflow.observability import logger, tracer
from sheetflow.usecases.canary import run_canary

dependencies = HandlerDependencies(PipelineWatchConfig.from_env)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config = dependencies.config
    report = run_canary(
        config, dependencies.tasks, CanaryRuns(config.table_name), datetime.now(UTC)
    )
    logger.info("Canary run", extra=report.to_dict())
    return report.to_dict()
