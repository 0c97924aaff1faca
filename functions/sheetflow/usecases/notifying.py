"""Telling people a task finished: an e-mail through SES, a signed webhook POST.

Both consume the task events (an EventBridge rule per kind routes the events whose upload asked
for it to a queue of their own, read by their function). Each notification is sent, then
recorded on the task under the event's id; a redelivered event whose notification is recorded
is skipped. A failure before the record means a retry, so a notification is sent at least once;
a repeat is possible only when the function stops between sending and recording, and carries the
same delivery id (the event id) for the receiver to de-duplicate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from sheetflow.config import MailerConfig, WebhookConfig
from sheetflow.dal import mail, webhooks
from sheetflow.dal.tasks import TaskRepository
from sheetflow.logic.backoff import retry_delay_seconds
from sheetflow.logic.errors import RequestRejectedError
from sheetflow.logic.notifications import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    check_callback_url,
    check_resolved,
    signature,
    task_mail,
)
from sheetflow.logic.task import isoformat

logger = Logger(child=True)


class DeliveryFailedError(Exception):
    """The receiver did not accept the webhook: deliver again after `delay_seconds`."""

    def __init__(self, message: str, delay_seconds: int) -> None:
        super().__init__(message)
        self.delay_seconds = delay_seconds


@dataclass(frozen=True)
class Notice:
    """What one notification did: `sent`, or why not (`skipped` with a reason)."""

    task_id: str
    sent: bool
    detail: str


def _event_of(body: str) -> tuple[dict[str, Any], dict[str, Any]]:
    event = json.loads(body)
    return event, event["detail"]


def send_task_mail(body: str, config: MailerConfig, tasks: TaskRepository) -> Notice:
    """E-mail the address the upload gave about the finished task in the event `body`."""
    _, detail = _event_of(body)
    task_id, event_id = detail["task_id"], detail["event_id"]
    task = tasks.get(task_id)
    if task is None or not task.notify:
        return Notice(task_id, sent=False, detail="no address to notify")
    if task.email_sent_for == event_id:
        return Notice(task_id, sent=False, detail="already mailed")
    message_id = mail.send_mail(config.mail_from, task.notify, task_mail(detail))
    tasks.claim_notification(task_id, "email_sent_for", event_id)
    return Notice(task_id, sent=True, detail=f"SES message {message_id}")


def deliver_webhook(
    body: str, receive_count: int, config: WebhookConfig, tasks: TaskRepository, now: datetime
) -> Notice:
    """POST the event to the task's callback URL, signed; DeliveryFailedError to retry.

    A URL refused by the address rules is not retried: the refusal is recorded as the attempt.
    """
    event, detail = _event_of(body)
    task_id, event_id = detail["task_id"], detail["event_id"]
    task = tasks.get(task_id)
    if task is None or not task.callback_url:
        return Notice(task_id, sent=False, detail="no callback URL")
    if task.webhook_delivered_for == event_id:
        return Notice(task_id, sent=False, detail="already delivered")
    url = task.callback_url
    try:
        check_callback_url(url, config.allow_loopback)
        host, addresses = webhooks.resolve(url)
        check_resolved(host, addresses, config.allow_loopback)
    except RequestRejectedError as exc:
        _record(tasks, task_id, now, event_id, status=None, error=exc.message)
        return Notice(task_id, sent=False, detail=exc.message)
    payload = json.dumps(event, separators=(",", ":")).encode()
    timestamp = str(int(now.timestamp()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "sheetflow-webhooks",
        DELIVERY_HEADER: event_id,
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature(webhooks.signing_secret(config.secret_id), timestamp, payload),
    }
    result = webhooks.post(url, payload, headers, config.timeout_seconds)
    _record(tasks, task_id, now, event_id, status=result.status, error=result.error)
    if not result.delivered:
        delay = retry_delay_seconds(
            receive_count, config.retry_base_seconds, config.retry_max_seconds
        )
        raise DeliveryFailedError(
            f"{url} answered {result.status or result.error}; attempt {receive_count}", delay
        )
    tasks.claim_notification(task_id, "webhook_delivered_for", event_id)
    return Notice(task_id, sent=True, detail=f"HTTP {result.status}")


def _record(
    tasks: TaskRepository,
    task_id: str,
    now: datetime,
    event_id: str,
    *,
    status: int | None,
    error: str | None,
) -> None:
    attempt = {"at": isoformat(now), "delivery_id": event_id, "status": status, "error": error}
    tasks.record_webhook_attempt(task_id, attempt)
