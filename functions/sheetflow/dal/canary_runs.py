"""The latest canary run, kept as one item of the task table (see logic/canary.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sheetflow.dal.clients import dynamodb_resource
from sheetflow.dal.errors import dependency_call
from sheetflow.logic.canary import CANARY_RECORD_KEY, CanaryRun

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


class CanaryRuns:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    @property
    def _table(self) -> Table:
        return dynamodb_resource().Table(self.table_name)

    def latest(self) -> CanaryRun | None:
        with dependency_call("GetItem"):
            item = self._table.get_item(
                Key={"task_id": CANARY_RECORD_KEY}, ConsistentRead=True
            ).get("Item")
        if not item:
            return None
        return CanaryRun(task_id=str(item["canary_task_id"]), started_at=str(item["started_at"]))

    def record(self, run: CanaryRun) -> None:
        # No `status` attribute: the item stays out of the status index (listing, cleanup).
        with dependency_call("PutItem"):
            self._table.put_item(
                Item={
                    "task_id": CANARY_RECORD_KEY,
                    "canary_task_id": run.task_id,
                    "started_at": run.started_at,
                }
            )
