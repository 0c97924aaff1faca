"""Notification functions, each fed by its own queue from a rule on the task-events bus:
`mailer` (SES e-mail) and `webhooks` (signed POSTs, retried with growing delays, then
dead-lettered)."""

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

from sheetflow.config import MailerConfig, WebhookConfig
from sheetflow.dal import queues
from sheetflow.handlers.dependencies import HandlerDependencies
from sheetflow.logic.errors import TransientError
from sheetflow.observability import logger, metrics, tracer
from sheetflow.usecases.notifying import DeliveryFailedError, deliver_webhook, send_task_mail

mailer_dependencies = HandlerDependencies(MailerConfig.from_env)
webhook_dependencies = HandlerDependencies(WebhookConfig.from_env)
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def _mail_record(record: SQSRecord) -> None:
    notice = send_task_mail(record.body, mailer_dependencies.config, mailer_dependencies.tasks)
    logger.info(
        "Mail handled",
        extra={"task_id": notice.task_id, "sent": notice.sent, "detail": notice.detail},
    )
    if notice.sent:
        metrics.add_metric(name="MailsSent", unit=MetricUnit.Count, value=1)


def _webhook_record(record: SQSRecord) -> None:
    config = webhook_dependencies.config
    receive_count = int(record.attributes.approximate_receive_count or "1")
    try:
        notice = deliver_webhook(
            record.body, receive_count, config, webhook_dependencies.tasks, datetime.now(UTC)
        )
    except DeliveryFailedError as failed:
        logger.warning(
            "Webhook not delivered",
            extra={"reason": str(failed), "delay_seconds": failed.delay_seconds},
        )
        metrics.add_metric(name="WebhookFailures", unit=MetricUnit.Count, value=1)
        try:
            queues.delay_retry(config.queue_url, record.receipt_handle, failed.delay_seconds)
        except TransientError:
            logger.warning("Could not set the webhook retry delay")
        raise
    logger.info(
        "Webhook handled",
        extra={"task_id": notice.task_id, "sent": notice.sent, "detail": notice.detail},
    )
    if notice.sent:
        metrics.add_metric(name="WebhooksDelivered", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def mailer(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=_mail_record, processor=processor, context=context
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def webhooks(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=_webhook_record, processor=processor, context=context
    )
