"""Subscribed to the alarm topic: records each alarm transition as one structured log line.

The log group is the alert history `sheetflow alerts` reads (on AWS too: e-mail is optional, and
the record stays when the mail is lost).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import SNSEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from sheetflow.logic.alerts import AlertFormatError, parse_alarm_notification
from sheetflow.observability import logger

# The `message` of every recorded transition: what `sheetflow alerts` looks for.
ALERT_MESSAGE = "Alarm state changed"


@logger.inject_lambda_context(clear_state=True)
@event_source(data_class=SNSEvent)
def handler(event: SNSEvent, context: LambdaContext) -> dict[str, Any]:
    recorded = 0
    for record in event.records:
        try:
            transition = parse_alarm_notification(record.sns.message)
        except AlertFormatError as exc:
            logger.warning("Not an alarm notification", extra={"reason": str(exc)})
            continue
        logger.warning(ALERT_MESSAGE, extra={"alert": transition.to_dict()})
        recorded += 1
    return {"recorded": recorded}
