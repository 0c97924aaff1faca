"""Uploads through every entrance end as SUCCEEDED with the right numbers, or FAILED with a code."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest
import requests

from sheetflow.logic.uploads import XLSX_MEDIA_TYPE
from stackctl import samples
from stackctl.stack import StackOutputs
from tests.support.aws import AwsClientFactory
from tests.support.e2e import Api, wait_queue_drained

pytestmark = [pytest.mark.localstack, pytest.mark.e2e]


def expected_statistics(rows: list[list[Any]]) -> dict[str, Any]:
    """What the worker must report, computed here from the rows the test generated."""
    quantities = [row[2] for row in rows]
    prices = [row[3] for row in rows if isinstance(row[3], float)]
    errors = [
        (f"D{index}", row[3]) for index, row in enumerate(rows, start=2) if isinstance(row[3], str)
    ]
    return {
        "rows": len(rows) + 1,
        "blank_customers": sum(1 for row in rows if row[1] is None),
        "quantity": (len(quantities), sum(quantities), min(quantities), max(quantities)),
        "price": (len(prices), sum(prices), min(prices), max(prices)),
        "errors": errors,
        "dates": sum(1 for row in rows if isinstance(row[4], dt.datetime)),
        "booleans": len(rows),
    }


def test_api_upload_succeeds_with_the_statistics_of_the_workbook(
    api: Api, aws: AwsClientFactory, outputs: StackOutputs
) -> None:
    # Given a workbook of 120 orders with blanks and a few Excel error values
    rows = samples.order_rows(120, seed=11, errors_every=25)
    expected = expected_statistics(rows)
    # When it is uploaded through the API
    response = api.upload(samples.workbook_bytes(rows), filename="orders.xlsx")
    assert response.status_code == 202, response.text
    task_id = response.json()["task_id"]
    # Then the task succeeds after one attempt, with a summary that matches the workbook
    task = api.wait_finished(task_id)
    assert task["status"] == "SUCCEEDED", task
    assert task["attempts"] == 1
    assert task["summary"]["total_rows"] == expected["rows"]
    assert task["summary"]["total_errors"] == len(expected["errors"])
    assert task["summary"]["sheets"] == [{"name": "Orders", "rows": expected["rows"]}]

    # And the full result, fetched through its presigned URL, holds the per-column statistics
    result = requests.get(task["result_url"], timeout=30).json()
    sheet = result["sheets"][0]
    assert sheet["header"] == samples.HEADER
    assert sheet["data_row_count"] == len(rows)
    assert sheet["dimensions"] == f"A1:F{len(rows) + 1}"
    columns = sheet["columns"]
    assert columns["B"]["types"]["blank"] == expected["blank_customers"]
    for letter, key in (("C", "quantity"), ("D", "price")):
        count, total, low, high = expected[key]
        numeric = columns[letter]["numeric"]
        assert numeric["count"] == count
        assert numeric["sum"] == pytest.approx(total)
        assert (numeric["min"], numeric["max"]) == (pytest.approx(low), pytest.approx(high))
        assert numeric["mean"] == pytest.approx(total / count)
    assert columns["E"]["types"]["date"] == expected["dates"]
    assert columns["F"]["types"]["bool"] == expected["booleans"]
    assert [(c["cell"], c["value"]) for c in sheet["errors"]["cells"]] == expected["errors"]


def test_presigned_upload_is_processed(api: Api) -> None:
    presigned = api.presign("presigned orders.xlsx")
    assert presigned["status"] == "AWAITING_UPLOAD"
    put = requests.put(
        presigned["upload_url"],
        data=samples.orders_workbook(30),
        headers={"Content-Type": XLSX_MEDIA_TYPE},
        timeout=30,
    )
    assert put.status_code == 200, put.text
    task = api.wait_finished(presigned["task_id"])
    assert task["status"] == "SUCCEEDED", task
    assert task["summary"]["total_rows"] == 31


def test_a_file_put_straight_into_the_bucket_gets_a_task(
    api: Api, aws: AwsClientFactory, outputs: StackOutputs
) -> None:
    # Given no task exists yet: the S3 upload trigger alone must create and process it
    task_id = uuid.uuid4().hex
    key = api.upload_key(task_id, "dropped in bucket.xlsx")
    aws("s3").put_object(Bucket=outputs["BucketName"], Key=key, Body=samples.orders_workbook(40))
    task = api.wait_finished(task_id)
    assert task["status"] == "SUCCEEDED", task
    assert task["filename"] == "dropped in bucket.xlsx"
    assert task["summary"]["total_rows"] == 41


def test_every_broken_file_fails_once_with_its_code(
    api: Api, aws: AwsClientFactory, outputs: StackOutputs
) -> None:
    task_ids: dict[str, str] = {}
    for kind in samples.BROKEN_KINDS:
        data = samples.broken_file(kind)
        if not data:
            # An empty body is refused by the API itself; the bucket entrance must refuse it too.
            assert api.upload(data).status_code == 400
            task_id = uuid.uuid4().hex
            aws("s3").put_object(
                Bucket=outputs["BucketName"], Key=api.upload_key(task_id, "empty.xlsx"), Body=b""
            )
        else:
            response = api.upload(data, filename=f"{kind}.xlsx")
            assert response.status_code == 202, (kind, response.text)
            task_id = response.json()["task_id"]
        task_ids[kind] = task_id

    for kind, task_id in task_ids.items():
        task = api.wait_finished(task_id, timeout=90)
        assert task["status"] == "FAILED", (kind, task)
        assert task["error"]["code"] == samples.BROKEN_KINDS[kind], (kind, task["error"])
        assert task["error"]["message"]
        assert task["attempts"] == 1, (kind, task)


def test_a_duplicate_message_is_processed_once(
    api: Api, aws: AwsClientFactory, outputs: StackOutputs
) -> None:
    # An API upload already reaches the worker twice (its task message and the bucket's
    # notification); a third, late copy of the task message must change nothing either.
    response = api.upload(samples.orders_workbook(20), filename="twice.xlsx")
    task_id = response.json()["task_id"]
    first = api.wait_finished(task_id)
    assert first["status"] == "SUCCEEDED"
    assert first["attempts"] == 1
    message = {"task_id": task_id, "bucket": outputs["BucketName"], "key": first["source"]["key"]}
    sqs = aws("sqs")
    sqs.send_message(QueueUrl=outputs["QueueUrl"], MessageBody=json.dumps(message))

    wait_queue_drained(sqs, outputs["QueueUrl"])
    again = api.task(task_id)
    assert again is not None
    assert again["attempts"] == 1
    assert again["updated_at"] == first["updated_at"]
