"""Task events on the deployed stack's bus, received by a rule with an SQS target."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

from stackctl import samples
from stackctl.stack import StackOutputs
from tests.support.aws import AwsClientFactory
from tests.support.bus_tap import tapped
from tests.support.e2e import Api
from tests.support.waiting import wait_until

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "schemas" / "task-event.schema.json").read_text()
)


def events_of(seen: list[dict[str, Any]], task_id: str) -> list[dict[str, Any]]:
    return [event for event in seen if event["detail"]["task_id"] == task_id]


def wait_published(api: Api, task_id: str) -> None:
    def published() -> bool:
        return bool((api.task(task_id) or {}).get("event_published"))

    wait_until(published, timeout=30, what=f"the event of {task_id} to be published")


def test_each_finished_task_is_announced_once_on_the_bus(
    api: Api, aws: AwsClientFactory, outputs: StackOutputs
) -> None:
    with tapped(aws, outputs["EventBusName"], {"source": ["sheetflow"]}) as tap:
        # Given a good workbook and a CSV renamed .xlsx, uploaded through the API
        good = api.upload(samples.orders_workbook(12), filename="good.xlsx").json()["task_id"]
        bad = api.upload(samples.broken_file("csv"), filename="bad.xlsx").json()["task_id"]
        # When both tasks have finished and their events are published
        for task_id in (good, bad):
            api.wait_finished(task_id)
            wait_published(api, task_id)
        seen = tap.wait_for(2, timeout=30, what="two task events")
    # Then the rule's queue received one event per task, valid against the schema
    succeeded, failed = events_of(seen, good), events_of(seen, bad)
    assert [event["detail-type"] for event in succeeded] == ["Task Succeeded"]
    assert [event["detail-type"] for event in failed] == ["Task Failed"]
    for event in (*succeeded, *failed):
        jsonschema.validate(event, SCHEMA)
    assert succeeded[0]["detail"]["result"]["key"] == f"results/{good}.json"
    assert succeeded[0]["detail"]["summary"]["total_rows"] == 13
    assert failed[0]["detail"]["error"]["code"] == "NOT_XLSX"
