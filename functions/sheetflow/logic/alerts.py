"""Alarm notifications (CloudWatch -> SNS) read as one state transition each."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


class AlertFormatError(ValueError):
    """The SNS message is not a CloudWatch alarm notification."""


@dataclass(frozen=True)
class AlarmTransition:
    alarm: str
    old_state: str
    new_state: str
    reason: str
    changed_at: str
    description: str

    def to_dict(self) -> dict[str, str]:
        return {
            "alarm": self.alarm,
            "old_state": self.old_state,
            "new_state": self.new_state,
            "reason": self.reason,
            "changed_at": self.changed_at,
            "description": self.description,
        }


def parse_alarm_notification(message: str) -> AlarmTransition:
    try:
        document: Any = json.loads(message)
    except json.JSONDecodeError as exc:
        raise AlertFormatError(f"the SNS message is not JSON: {exc.msg}") from exc
    if not isinstance(document, dict) or "AlarmName" not in document:
        raise AlertFormatError("the SNS message is not a CloudWatch alarm notification")
    return AlarmTransition(
        alarm=str(document["AlarmName"]),
        old_state=str(document.get("OldStateValue", "")),
        new_state=str(document.get("NewStateValue", "")),
        reason=str(document.get("NewStateReason", "")),
        changed_at=str(document.get("StateChangeTime", "")),
        description=str(document.get("AlarmDescription") or ""),
    )
