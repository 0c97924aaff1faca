"""Cancel on the deployed stack: before the upload arrives, while processing, once finished."""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

import openpyxl
import requests

from sheetflow.logic.uploads import XLSX_MEDIA_TYPE as XLSX
from stackctl import samples
from stackctl.stack import StackOutputs
from tests.support.aws import AwsClientFactory
from tests.support.bus_tap import tapped
from tests.support.e2e import Api
from tests.support.waiting import wait_until


def many_sheets(sheets: int, rows: int, *, slow: bool = False) -> bytes:
    """A workbook of `sheets` sheets, written in normal mode, which stores each sheet's
    `<dimension>` (write-only mode does not), so the worker knows the size and reports a
    percentage.

    `slow`: rows without their `r` number, a form the streaming reader leaves to openpyxl,
    which takes seconds for a workbook like this: time for a cancel to arrive mid-way."""
    book = openpyxl.Workbook()
    book.remove(book.worksheets[0])
    for index in range(sheets):
        sheet = book.create_sheet(f"S{index}")
        for row in range(rows):
            sheet.append([row, row * 0.5, f"text {row}", row % 3 == 0])
    buffer = io.BytesIO()
    book.save(buffer)
    data = buffer.getvalue()
    if not slow:
        return data
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        parts = {
            name: re.sub(rb'<row r="\d+"', b"<row", archive.read(name))
            for name in archive.namelist()
            if name.startswith("xl/worksheets/sheet")
        }
    return samples.rewrite_parts(data, parts)


def cancel(api: Api, task_id: str) -> requests.Response:
    return api.http.delete(f"{api.base_url}/tasks/{task_id}", timeout=30)


def test_a_presigned_task_cancelled_before_its_upload_is_never_processed(
    api: Api, aws: AwsClientFactory, outputs: StackOutputs
) -> None:
    with tapped(aws, outputs["EventBusName"], {"source": ["sheetflow"]}) as tap:
        # Given a presigned task, cancelled before its file arrives
        presigned = api.presign("late.xlsx")
        task_id = presigned["task_id"]
        response = cancel(api, task_id)
        assert response.status_code == 200 and response.json()["status"] == "CANCELLED"
        # When the file arrives anyway
        put = requests.put(
            presigned["upload_url"], data=many_sheets(1, 5), headers={"Content-Type": XLSX}
        )
        assert put.status_code == 200
        # Then the notification is consumed (the message leaves the queue) without processing
        wait_until(
            lambda: (
                aws("sqs").get_queue_attributes(
                    QueueUrl=outputs["QueueUrl"],
                    AttributeNames=[
                        "ApproximateNumberOfMessages",
                        "ApproximateNumberOfMessagesNotVisible",
                    ],
                )["Attributes"]
                == {
                    "ApproximateNumberOfMessages": "0",
                    "ApproximateNumberOfMessagesNotVisible": "0",
                }
            ),
            timeout=60,
            what="the task queue to be empty",
        )
        task = api.task(task_id)
        assert task is not None and task["status"] == "CANCELLED" and task["attempts"] == 0
        events = [
            e for e in tap.wait_for(1, 30, "the cancel event") if e["detail"]["task_id"] == task_id
        ]
        assert [event["detail-type"] for event in events] == ["Task Cancelled"]
        # And a second cancel is a 409 that names the state
        again = cancel(api, task_id)
        assert again.status_code == 409 and again.json()["error"]["status"] == "CANCELLED"


def test_a_processing_task_stops_at_a_sheet_boundary(api: Api) -> None:
    # Given a long workbook being processed
    response = api.upload(many_sheets(40, 3000, slow=True), filename="long.xlsx")
    assert response.status_code == 202, response.text
    task_id = response.json()["task_id"]
    wait_until(
        lambda: (api.task(task_id) or {}).get("status") == "PROCESSING",
        timeout=60,
        interval=0.05,
        what="the task to be PROCESSING",
    )

    # And reporting its progress: rows read and a share of the rows the workbook declares
    def progressed() -> dict[str, Any] | None:
        task = api.task(task_id)
        return task["progress"] if task and task.get("progress") else None

    progress = wait_until(progressed, timeout=60, interval=0.2, what="a progress report")
    assert progress["rows_read"] > 0 and progress["declared_rows"] == 40 * 3000
    assert 0 <= progress["percent"] < 100
    # When it is cancelled
    answer = cancel(api, task_id)
    assert answer.status_code == 202, answer.text
    assert answer.json()["cancel_requested"] is True
    # Then the worker stops and the task ends CANCELLED without a result
    task = api.wait_finished_as(task_id, "CANCELLED", timeout=120)
    assert task["result_key"] is None and task["summary"] is None
