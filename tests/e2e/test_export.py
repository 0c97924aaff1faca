"""The CSV export stage on the deployed stack: a second function, fed by the task events."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from sheetflow.logic.uploads import XLSX_MEDIA_TYPE as XLSX
from stackctl import samples
from stackctl.stack import StackOutputs
from tests.support.aws import AwsClientFactory
from tests.support.e2e import Api
from tests.support.waiting import wait_until


def test_outputs_csv_writes_the_rows_the_test_wrote(
    api: Api, aws: AwsClientFactory, outputs: StackOutputs
) -> None:
    # Given a workbook of known rows, uploaded with outputs=csv
    rows = samples.order_rows(25, seed=5)
    response = api.http.post(
        f"{api.base_url}/uploads",
        params={"filename": "export.xlsx", "outputs": "csv"},
        data=samples.workbook_bytes(rows),
        headers={"Content-Type": XLSX},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    task_id = response.json()["task_id"]
    # When the task has succeeded and the export stage has run
    assert api.wait_finished(task_id)["status"] == "SUCCEEDED"

    def exported() -> list[dict[str, Any]] | None:
        task = api.task(task_id)
        return task["exports"] if task and task["exports"] else None

    exports = wait_until(exported, timeout=60, what="the CSV export")
    # Then one CSV per sheet sits beside the result, holding the header and every row
    assert [(e["sheet"], e["rows"]) for e in exports] == [("Orders", len(rows) + 1)]
    body = aws("s3").get_object(Bucket=outputs["BucketName"], Key=exports[0]["key"])["Body"]
    written = list(csv.reader(io.StringIO(body.read().decode())))
    assert written[0] == samples.HEADER
    assert len(written) == len(rows) + 1

    # Every cell as text: blanks empty, dates in ISO 8601, numbers and booleans as Python writes
    def as_text(value: Any) -> str:
        if value is None:
            return ""
        return value.isoformat() if isinstance(value, dt.datetime) else str(value)

    assert written[1:] == [[as_text(value) for value in row] for row in rows]
