"""Every minute: find stalled work, publish the findings as metrics, repair what is safe."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sheetflow.config import PipelineWatchConfig
from sheetflow.dal.canary_runs import CanaryRuns
from sheetflow.dal.tasks import TaskRepository
from sheetflow.observability import logger, tracer
from sheetflow.usecases.watchdog import run_watchdog


@cache
def _config() -> PipelineWatchConfig:
    return PipelineWatchConfig.from_env(os.environ)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config = _config()
    report = run_watchdog(
        config,
        TaskRepository(config.table_name),
        CanaryRuns(config.table_name),
        datetime.now(UTC),
    )
    logger.info("Watchdog finished", extra=report.to_dict())
    return report.to_dict()
