"""EventBridge: task events onto the stack's bus."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sheetflow.dal.clients import events_client
from sheetflow.dal.errors import dependency_call
from sheetflow.logic.errors import TransientError
from sheetflow.logic.events import EVENT_SOURCE, TaskEvent

if TYPE_CHECKING:
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

# What one PutEvents call takes: at most ten entries of at most 256 KiB together, each entry
# counted as EventBridge counts it (its source, detail-type, detail and a 14-byte time).
PUT_EVENTS_MAX_ENTRIES = 10
PUT_EVENTS_MAX_BYTES = 256 * 1024
_ENTRY_TIME_BYTES = 14


def put_task_event(bus_name: str, event: TaskEvent) -> None:
    """Put one event on the bus; TransientError when it was not accepted."""
    rejection = put_task_events(bus_name, [event])[0]
    if rejection is not None:
        raise TransientError(rejection)


def put_task_events(bus_name: str, events: Sequence[TaskEvent]) -> list[str | None]:
    """Put several events on the bus, as few calls as the limits allow: for each event, None
    when it was accepted, else why not.

    PutEvents answers 200 even when it rejects an entry (throttling, an internal failure), so
    each entry's own error counts as well as the call's.
    """
    outcomes: list[str | None] = []
    for chunk in _chunks([(event, _entry(bus_name, event)) for event in events]):
        try:
            with dependency_call("PutEvents"):
                response = events_client().put_events(Entries=[entry for _, entry in chunk])
        except TransientError as exc:
            outcomes.extend(exc.message for _ in chunk)
            continue
        answers = response.get("Entries", [])
        for index, (event, _) in enumerate(chunk):
            answer = answers[index] if index < len(answers) else {"ErrorCode": "NoAnswer"}
            if "ErrorCode" in answer or "EventId" not in answer:
                outcomes.append(
                    f"PutEvents rejected event {event.event_id}: "
                    f"{answer.get('ErrorCode', '?')}: {answer.get('ErrorMessage', '')}"
                )
            else:
                outcomes.append(None)
    return outcomes


def _entry(bus_name: str, event: TaskEvent) -> PutEventsRequestEntryTypeDef:
    return {
        "EventBusName": bus_name,
        "Source": EVENT_SOURCE,
        "DetailType": event.detail_type,
        "Detail": json.dumps(event.detail, separators=(",", ":")),
        "Resources": [],
    }


def _entry_bytes(entry: PutEventsRequestEntryTypeDef) -> int:
    parts = [entry["Source"], entry["DetailType"], entry["Detail"], *entry["Resources"]]
    return _ENTRY_TIME_BYTES + sum(len(part.encode()) for part in parts)


_Pair = tuple[TaskEvent, "PutEventsRequestEntryTypeDef"]


def _chunks(pairs: list[_Pair]) -> list[list[_Pair]]:
    """Consecutive runs of events with their entries, each within one call's limits (an entry
    too large for any call goes alone, and EventBridge's refusal reaches its task)."""
    chunks: list[list[_Pair]] = []
    size = 0
    for pair in pairs:
        entry_size = _entry_bytes(pair[1])
        if (
            not chunks
            or len(chunks[-1]) == PUT_EVENTS_MAX_ENTRIES
            or size + entry_size > PUT_EVENTS_MAX_BYTES
        ):
            chunks.append([])
            size = 0
        chunks[-1].append(pair)
        size += entry_size
    return chunks


def bus_reachable(bus_name: str) -> None:
    with dependency_call("DescribeEventBus"):
        events_client().describe_event_bus(Name=bus_name)
