"""EventBridge: task events onto the stack's bus."""

from __future__ import annotations

import json

from sheetflow.dal.clients import events_client
from sheetflow.dal.errors import dependency_call
from sheetflow.logic.errors import TransientError
from sheetflow.logic.events import EVENT_SOURCE, TaskEvent


def put_task_event(bus_name: str, event: TaskEvent) -> None:
    """Put one event on the bus; TransientError when it was not accepted.

    PutEvents answers 200 even when it rejects an entry (throttling, an internal failure), so
    the entry's own error counts as a failure too.
    """
    with dependency_call("PutEvents"):
        response = events_client().put_events(
            Entries=[
                {
                    "EventBusName": bus_name,
                    "Source": EVENT_SOURCE,
                    "DetailType": event.detail_type,
                    "Detail": json.dumps(event.detail, separators=(",", ":")),
                    "Resources": [],
                }
            ]
        )
    if response.get("FailedEntryCount", 0):
        entry = response["Entries"][0]
        raise TransientError(
            f"PutEvents rejected event {event.event_id}: "
            f"{entry.get('ErrorCode', '?')}: {entry.get('ErrorMessage', '')}"
        )


def bus_reachable(bus_name: str) -> None:
    with dependency_call("DescribeEventBus"):
        events_client().describe_event_bus(Name=bus_name)
