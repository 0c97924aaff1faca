"""SQS with the queue-age metric AWS publishes and LocalStack does not.

LocalStack's SQS provider reports ApproximateNumberOfMessages{Visible,NotVisible,Delayed} to
CloudWatch on a timer, but not ApproximateAgeOfOldestMessage, the metric an alarm on a stalled
queue watches on AWS. This provider is LocalStack's own, with a publisher that adds that metric on
the same timer, so the template's alarm on it behaves locally as it does on AWS. Selected with
PROVIDER_OVERRIDE_SQS=sheetflow.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from localstack.services.plugins import Service, aws_provider
from localstack.services.sqs.provider import CloudwatchPublishWorker, SqsProvider

LOG = logging.getLogger(__name__)

AGE_METRIC = "ApproximateAgeOfOldestMessage"
# AWS: a message received this many times without being deleted no longer counts as the oldest
# (it is moved to the back of the queue), so one poison message does not pin the metric.
RECEIVES_BEFORE_SET_ASIDE = 3


def oldest_message_age(messages: Iterable[Any], now: float) -> int:
    """Seconds since the oldest undeleted message was sent; 0 for an empty queue.

    `messages` are LocalStack's SqsMessage objects (attributes `created`, `deleted`,
    `receive_count`). Messages received RECEIVES_BEFORE_SET_ASIDE times or more only count when
    nothing else is left, as on AWS.
    """
    alive = [message for message in messages if not message.deleted]
    fresh = [message for message in alive if message.receive_count < RECEIVES_BEFORE_SET_ASIDE]
    candidates = fresh or alive
    if not candidates:
        return 0
    return max(0, int(now - min(message.created for message in candidates)))


def queue_messages(queue: Any) -> list[Any]:
    """Visible and in-flight messages of a standard or FIFO queue (delayed ones are not yet
    available, and AWS does not count them either)."""
    with queue.mutex:
        in_flight = list(queue.inflight)
        visible = getattr(queue, "visible", None)
        if visible is not None:
            return list(visible.queue) + in_flight
        groups = getattr(queue, "message_groups", {})
        return [message for group in groups.values() for message in group.messages] + in_flight


class AgeReportingPublishWorker(CloudwatchPublishWorker):
    """LocalStack's periodic SQS metrics, plus ApproximateAgeOfOldestMessage per queue."""

    def publish_approximate_cloudwatch_metrics(self) -> None:
        super().publish_approximate_cloudwatch_metrics()
        try:
            publish_queue_ages()
        except Exception:
            # The timer must keep running; a failed round is retried on the next tick.
            LOG.exception("Publishing %s failed", AGE_METRIC)


def publish_queue_ages() -> None:
    # Imported on use, like LocalStack's own publisher: the stores exist once the provider runs.
    from localstack.services.sqs.models import sqs_stores  # noqa: PLC0415
    from localstack.utils.cloudwatch.cloudwatch_util import (  # noqa: PLC0415
        SqsMetricBatchData,
        publish_sqs_metric_batch,
    )

    now = time.time()
    for account_id, region, store in sqs_stores.iter_stores():
        batch = [
            SqsMetricBatchData(
                QueueName=queue.name,
                MetricName=AGE_METRIC,
                Value=oldest_message_age(queue_messages(queue), now),
                Unit="Seconds",
            )
            for queue in list(store.queues.values())
        ]
        if batch:
            publish_sqs_metric_batch(
                account_id=account_id, region=region, sqs_metric_batch_data=batch
            )


class AgeReportingSqsProvider(SqsProvider):
    def _init_cloudwatch_metrics_reporting(self) -> None:
        super()._init_cloudwatch_metrics_reporting()
        publisher: Any = getattr(self, "_cloudwatch_publish_worker", None)
        if publisher is not None:
            self._cloudwatch_publish_worker = AgeReportingPublishWorker()


@aws_provider(api="sqs", name="sheetflow")  # type: ignore[untyped-decorator]
def sqs_sheetflow() -> Service:
    return Service.for_provider(AgeReportingSqsProvider())
