"""Logger, metrics and tracer, created once and shared by every handler, and the log line and
metrics of each processed message, shared by the Lambda worker and the standalone worker.

Service name and metrics namespace come from POWERTOOLS_SERVICE_NAME and
POWERTOOLS_METRICS_NAMESPACE, set by the template.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from sheetflow.dal.faults import InjectedFault
from sheetflow.usecases.processing import Outcome, OutcomeKind

logger = Logger()
metrics = Metrics()
tracer = Tracer()


def log_outcomes(outcomes: list[Outcome], **context: object) -> None:
    """One log line per outcome, with whatever the caller knows of the message."""
    for outcome in outcomes:
        logger.info(
            "Message processed",
            extra={
                "outcome": outcome.kind,
                "task_id": outcome.task_id,
                "code": outcome.error_code,
                "detail": outcome.detail,
                "duration_ms": round(outcome.duration_ms, 1),
                **context,
            },
        )


def log_injected_fault(fault: InjectedFault) -> None:
    """One line per AWS fault injected by SHEETFLOW_FAULTS (chaos runs count them)."""
    logger.warning(
        "AWS fault injected",
        extra={
            "injected_fault": {
                "service": fault.service,
                "operation": fault.operation,
                "kind": str(fault.kind),
            }
        },
    )


def record_metrics(metrics: Metrics, outcomes: list[Outcome]) -> None:
    """Emit FilesProcessed, FilesFailed (also per error code), RowsParsed, ProcessingTime."""
    for outcome in outcomes:
        if outcome.kind is OutcomeKind.SUCCEEDED:
            metrics.add_metric(name="FilesProcessed", unit=MetricUnit.Count, value=1)
            metrics.add_metric(name="RowsParsed", unit=MetricUnit.Count, value=outcome.rows)
            metrics.add_metric(
                name="ProcessingTime", unit=MetricUnit.Milliseconds, value=outcome.duration_ms
            )
        elif outcome.kind is OutcomeKind.FAILED:
            metrics.add_metric(name="FilesFailed", unit=MetricUnit.Count, value=1)
            with single_metric(
                name="FilesFailed",
                unit=MetricUnit.Count,
                value=1,
                namespace=metrics.namespace,
                default_dimensions=metrics.default_dimensions,
            ) as by_code:
                by_code.add_dimension(name="ErrorCode", value=str(outcome.error_code))
        elif outcome.kind is OutcomeKind.CANCELLED:
            metrics.add_metric(name="TasksCancelled", unit=MetricUnit.Count, value=1)
        elif outcome.kind is OutcomeKind.SKIPPED:
            metrics.add_metric(name="DuplicateDeliveries", unit=MetricUnit.Count, value=1)
        else:
            metrics.add_metric(name="MessagesIgnored", unit=MetricUnit.Count, value=1)
