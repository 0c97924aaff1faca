"""The CSV export stage: every sheet as CSV beside the result, recorded on the task, once."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from dataclasses import replace

import boto3
import openpyxl
import pytest

from sheetflow.config import ExportConfig
from sheetflow.dal.tasks import TaskRepository
from sheetflow.logic.errors import RequestRejectedError
from sheetflow.logic.events import task_event
from sheetflow.logic.export import export_key, parse_outputs
from sheetflow.logic.task import TaskStatus
from sheetflow.usecases.exporting import export_task

from .conftest import Kit, Stack

ROWS = [["name", "amount", "when"], ["a", 1, dt.date(2026, 1, 5)], ["b", 2.5, None]]


def two_sheets() -> bytes:
    book = openpyxl.Workbook()
    first = book.active
    assert first is not None
    first.title = "Sales Q1"
    for row in ROWS:
        first.append(row)
    second = book.create_sheet("Notes")
    second.append(["only", "one"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_outputs_are_checked() -> None:
    assert parse_outputs("CSV") == ["csv"] and parse_outputs(None) == []
    with pytest.raises(RequestRejectedError, match="Unknown output parquet"):
        parse_outputs("csv,parquet")


def test_each_sheet_becomes_a_csv_beside_the_result_once(stack: Stack, kit: Kit) -> None:
    # Given a succeeded task that asked for outputs=csv
    stored = kit.store_task(stack, two_sheets(), status=TaskStatus.SUCCEEDED)
    task = replace(stored, outputs=["csv"], attempts=1)
    repository = TaskRepository(stack.table)
    repository.delete_expired(task.task_id, "9999")
    assert repository.create(task)
    event = task_event(task, stack.bucket)
    body = json.dumps({"detail-type": event.detail_type, "detail": event.detail})
    config = ExportConfig.from_env({"TABLE_NAME": stack.table, "BUCKET_NAME": stack.bucket})
    # When its event is exported
    assert export_task(body, config, repository).files == 2
    # Then the CSV files hold the sheets' rows, and the task lists them
    s3 = boto3.client("s3")
    key = export_key(task.task_id, 1, "Sales Q1")
    assert key == f"results/{task.task_id}/01-Sales_Q1.csv"
    text = s3.get_object(Bucket=stack.bucket, Key=key)["Body"].read().decode()
    assert list(csv.reader(io.StringIO(text))) == [
        ["name", "amount", "when"],
        ["a", "1", "2026-01-05T00:00:00"],
        ["b", "2.5"],  # a trailing empty cell is not stored in the file, nor written
    ]
    exported = repository.get(task.task_id)
    assert exported is not None and exported.exports is not None
    assert [(e["sheet"], e["rows"]) for e in exported.exports] == [("Sales Q1", 3), ("Notes", 1)]
    # And a repeat of the event does nothing
    assert export_task(body, config, repository).files == 0
