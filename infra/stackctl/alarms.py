"""The stack's alarms, their states, the alert history and the pipeline's stall reasons."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from stackctl import aws, stack
from stackctl.api_client import ApiClient
from stackctl.errors import UserFacingError
from stackctl.stack import StackOutputs

# The `message` the alerts function gives each recorded transition (sheetflow.handlers.alerts).
ALERT_MESSAGE = "Alarm state changed"
RED, GREEN, YELLOW, RESET = "\033[31m", "\033[32m", "\033[33m", "\033[0m"
STATE_COLOURS = {"ALARM": RED, "OK": GREEN, "INSUFFICIENT_DATA": YELLOW}


@dataclass(frozen=True)
class AlarmState:
    name: str
    state: str
    reason: str


@dataclass(frozen=True)
class Alert:
    event_id: str
    timestamp_ms: int
    alarm: str
    old_state: str
    new_state: str
    reason: str
    changed_at: str


def stack_alarm_names(name: str | None = None) -> list[str]:
    """Every CloudWatch alarm the stack created (from its resources, not a name prefix)."""
    cloudformation = aws.client("cloudformation")
    names: list[str] = []
    request: dict[str, Any] = {"StackName": name or stack.stack_name()}
    while True:
        page = cloudformation.list_stack_resources(**request)
        names += [
            resource["PhysicalResourceId"]
            for resource in page.get("StackResourceSummaries", [])
            if resource["ResourceType"] == "AWS::CloudWatch::Alarm"
            and resource.get("PhysicalResourceId")
        ]
        if not page.get("NextToken"):
            return sorted(names)
        request["NextToken"] = page["NextToken"]


def alarm_states(names: list[str]) -> list[AlarmState]:
    if not names:
        return []
    found = aws.client("cloudwatch").describe_alarms(AlarmNames=names)["MetricAlarms"]
    return sorted(
        (AlarmState(a["AlarmName"], a["StateValue"], a.get("StateReason", "")) for a in found),
        key=lambda alarm: (alarm.state != "ALARM", alarm.name),
    )


def stall_reasons(outputs: StackOutputs) -> list[str]:
    """The reasons /health gives when it answers 503 (none when healthy)."""
    response = ApiClient(outputs.api_base_url).request("GET", "/health")
    document = response.json()
    if response.ok or not isinstance(document, dict):
        return []
    return [str(reason) for reason in document.get("reasons", [])]


def colour(text: str, code: str, stream: TextIO = sys.stdout) -> str:
    """`text` in colour when the stream is a terminal, plain otherwise (pipes, CI logs)."""
    return f"{code}{text}{RESET}" if stream.isatty() else text


def alarm_lines(outputs: StackOutputs) -> list[str]:
    """The block `sheetflow status` starts with: stall reasons, then every alarm's state."""
    lines: list[str] = []
    reasons = stall_reasons(outputs)
    if reasons:
        lines.append(colour("PIPELINE STALLED:", RED))
        lines += [colour(f"  {reason}", RED) for reason in reasons]
    states = alarm_states(stack_alarm_names())
    lines.append("Alarms:")
    width = max((len(_short(alarm.name)) for alarm in states), default=0)
    for alarm in states:
        state = colour(f"{alarm.state:<17}", STATE_COLOURS.get(alarm.state, ""))
        line = f"  {_short(alarm.name):<{width}}  {state}"
        if alarm.state == "ALARM":
            line += f"  {alarm.reason}"
        lines.append(line.rstrip())
    if not states:
        lines.append("  (none)")
    return lines


def _short(alarm_name: str) -> str:
    """`sheetflow-QueueAgeAlarm-1A2B3C` -> `QueueAgeAlarm-1A2B3C` (the stack name is known)."""
    prefix = f"{stack.stack_name()}-"
    return alarm_name[len(prefix) :] if alarm_name.startswith(prefix) else alarm_name


def alerts_from(events: Iterator[dict[str, Any]]) -> Iterator[Alert]:
    """The alarm transitions among the alerts function's log events."""
    for event in events:
        try:
            record = json.loads(event["message"])
        except ValueError:
            continue  # START, END and REPORT lines
        if not isinstance(record, dict) or record.get("message") != ALERT_MESSAGE:
            continue
        alert = record.get("alert") or {}
        yield Alert(
            event_id=str(event["eventId"]),
            timestamp_ms=int(event["timestamp"]),
            alarm=str(alert.get("alarm", "")),
            old_state=str(alert.get("old_state", "")),
            new_state=str(alert.get("new_state", "")),
            reason=str(alert.get("reason", "")),
            changed_at=str(alert.get("changed_at", "")),
        )


def require_alerts_function(outputs: StackOutputs) -> str:
    try:
        return outputs["AlertsFunctionName"]
    except KeyError:
        raise UserFacingError(
            f"The stack {stack.stack_name()!r} has no alerts function.",
            "Deploy the current template with `make deploy`.",
        ) from None
