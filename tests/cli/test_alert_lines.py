"""`sheetflow alerts` and the alarm block of `status`: reading and printing, without a stack."""

from __future__ import annotations

import io
import json
from typing import Any

from stackctl.alarms import ALERT_MESSAGE, RED, Alert, alerts_from, colour
from stackctl.commands.alerts import alert_line


def log_event(record: dict[str, Any] | str, event_id: str) -> dict[str, Any]:
    message = record if isinstance(record, str) else json.dumps(record)
    return {"eventId": event_id, "timestamp": 1_764_480_000_000, "message": message}


def test_only_alarm_transitions_are_read_from_the_alerts_log() -> None:
    transition = {
        "level": "WARNING",
        "message": ALERT_MESSAGE,
        "alert": {
            "alarm": "sheetflow-QueueAgeAlarm-1",
            "old_state": "OK",
            "new_state": "ALARM",
            "reason": "Threshold Crossed",
            "changed_at": "2025-11-30T05:20:00.000+0000",
        },
    }
    events = [
        log_event("START RequestId: 1 Version: $LATEST", "a"),
        log_event({"level": "WARNING", "message": "Not an alarm notification"}, "b"),
        log_event(transition, "c"),
    ]
    alerts = list(alerts_from(iter(events)))
    assert alerts == [
        Alert(
            event_id="c",
            timestamp_ms=1_764_480_000_000,
            alarm="sheetflow-QueueAgeAlarm-1",
            old_state="OK",
            new_state="ALARM",
            reason="Threshold Crossed",
            changed_at="2025-11-30T05:20:00.000+0000",
        )
    ]
    assert alert_line(alerts[0]).endswith(
        "sheetflow-QueueAgeAlarm-1  OK -> ALARM  Threshold Crossed"
    )


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_only_on_a_terminal() -> None:
    assert colour("ALARM", RED, io.StringIO()) == "ALARM"
    assert colour("ALARM", RED, Terminal()) == f"{RED}ALARM\033[0m"
