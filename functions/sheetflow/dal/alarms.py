"""CloudWatch: the state of the stack's own alarms."""

from __future__ import annotations

from dataclasses import dataclass

from sheetflow.dal.clients import cloudwatch_client
from sheetflow.dal.errors import dependency_call


@dataclass(frozen=True)
class AlarmState:
    name: str
    state: str
    reason: str
    updated_at: str
    description: str


def states(names: list[str]) -> list[AlarmState]:
    if not names:
        return []
    with dependency_call("DescribeAlarms"):
        alarms = cloudwatch_client().describe_alarms(AlarmNames=names)["MetricAlarms"]
    return [
        AlarmState(
            name=alarm["AlarmName"],
            state=alarm.get("StateValue", "INSUFFICIENT_DATA"),
            reason=alarm.get("StateReason", ""),
            updated_at=alarm["StateUpdatedTimestamp"].isoformat()
            if "StateUpdatedTimestamp" in alarm
            else "",
            description=alarm.get("AlarmDescription", ""),
        )
        for alarm in alarms
    ]
