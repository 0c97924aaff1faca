"""Large workbooks on the deployed stack: each path's limit, multipart uploads, a million rows.

Limits are lowered per test through the functions' environment (as an operator would set
MaxUploadBytes), so no test needs a real 100 MB file.
"""

from __future__ import annotations

import io
import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from sheetflow.logic.uploads import XLSX_MEDIA_TYPE
from stackctl import large_uploads, samples
from stackctl.api_client import ApiClient
from stackctl.progress import TransferProgress
from stackctl.stack import StackOutputs
from tests.support.aws import AwsClientFactory
from tests.support.e2e import Api, FunctionSettings, function_log_messages, wait_queue_drained
from tests.support.large_workbook import cached_large_workbook, padded_workbook
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.localstack, pytest.mark.e2e]

MIB = 1024 * 1024
MILLION = 1_000_000
_REPORT = re.compile(r"REPORT RequestId: (\S+)\t.*Max Memory Used: (\d+) MB")


def outcomes_logged(lines: list[str], task_id: str) -> list[dict[str, Any]]:
    """The worker's outcome records for one task (found by their fields, not their wording)."""
    found = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue  # START, END and REPORT lines
        if "outcome" in record and record.get("task_id") == task_id:
            found.append(record)
    return found


def presigned_multipart(api: Api, path: Path) -> dict[str, Any]:
    """Upload through POST /uploads/multipart, the part URLs and the completion route."""
    client = ApiClient(api.base_url, api.api_key)
    started = client.start_multipart(path.name, path.stat().st_size)
    large_uploads.put_parts(
        client, started, path, TransferProgress(path.name, path.stat().st_size, io.StringIO())
    )
    return started


# --- each path with its limit --------------------------------------------------------------------


def test_a_body_over_the_api_limit_is_413_naming_the_presigned_routes(
    api: Api, tmp_path: Path
) -> None:
    # Given a real 4.5 MB workbook: over the API's 4 MiB body limit, yet small enough that its
    # base64 event (6.0 MB) still reaches the function on AWS. A 5 MB body would not: Lambda
    # refuses its 6.7 MB event and API Gateway answers 500 before the function runs.
    path = tmp_path / "big.xlsx"
    padded_workbook(path, 4_500_000)
    # When it is posted to /uploads
    response = api.upload(path.read_bytes(), filename="big.xlsx")
    # Then the answer is 413 and tells the client where larger files go
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert error["code"] == "TOO_LARGE"
    assert "POST /uploads/presign" in error["message"]


def test_a_presigned_post_over_the_s3_limit_is_refused_by_s3(
    api: Api, aws: AwsClientFactory, outputs: StackOutputs, function_settings: FunctionSettings
) -> None:
    with function_settings.overridden(outputs["ApiFunctionName"], {"MAX_UPLOAD_BYTES": str(MIB)}):
        # Given a presigned POST made while the S3 limit is 1 MiB
        presigned = api.presign("over.xlsx")
        assert presigned["max_bytes"] == MIB
        # A declared size over the limit is refused before anything is signed
        declared = api.http.post(
            f"{api.base_url}/uploads/presign",
            json={"filename": "over.xlsx", "size": MIB + 1},
            timeout=30,
        )
        assert declared.status_code == 413 and declared.json()["error"]["code"] == "TOO_LARGE"
    upload = presigned["upload"]
    # When a 1.5 MiB file is posted with it
    answer = requests.post(
        upload["url"],
        data=upload["fields"],
        files={upload["file_field"]: ("over.xlsx", b"x" * (3 * MIB // 2), XLSX_MEDIA_TYPE)},
        timeout=60,
    )
    # Then S3 refuses it and stores nothing
    assert answer.status_code == 400
    assert "<Code>EntityTooLarge</Code>" in answer.text
    listed = aws("s3").list_objects_v2(Bucket=outputs["BucketName"], Prefix=presigned["key"])
    assert listed.get("KeyCount") == 0
    task = api.task(presigned["task_id"])
    assert task is not None and task["status"] == "AWAITING_UPLOAD"


def test_a_presigned_post_within_the_limit_is_processed(api: Api, tmp_path: Path) -> None:
    # Given a 2 MB workbook and a presigned POST
    path = tmp_path / "posted.xlsx"
    padded_workbook(path, 2_000_000)
    presigned = api.presign(path.name)
    upload = presigned["upload"]
    # When the form is posted
    with path.open("rb") as file:
        answer = requests.post(
            upload["url"],
            data=upload["fields"],
            files={upload["file_field"]: (path.name, file, XLSX_MEDIA_TYPE)},
            timeout=60,
        )
    assert answer.status_code == 204, answer.text
    # Then the task runs once and succeeds
    task = api.wait_finished(presigned["task_id"])
    assert (task["status"], task["attempts"]) == ("SUCCEEDED", 1), task
    assert task["size"] == path.stat().st_size


def test_a_direct_put_over_the_limit_fails_too_large_after_one_attempt(
    api: Api,
    aws: AwsClientFactory,
    outputs: StackOutputs,
    function_settings: FunctionSettings,
    tmp_path: Path,
) -> None:
    path = tmp_path / "over.xlsx"
    padded_workbook(path, 1_500_000)
    with function_settings.overridden(
        outputs["WorkerFunctionName"],
        {"MAX_UPLOAD_BYTES": str(MIB)},
        settle=(aws("sqs"), outputs["QueueUrl"]),
    ):
        # Given a worker whose S3 limit is 1 MiB and a 1.5 MB workbook put straight in
        task_id = uuid.uuid4().hex
        aws("s3").put_object(
            Bucket=outputs["BucketName"],
            Key=api.upload_key(task_id, "over.xlsx"),
            Body=path.read_bytes(),
        )
        # Then its task fails with TOO_LARGE on the first attempt, naming the limit
        task = api.wait_finished(task_id)
    assert (task["status"], task["attempts"]) == ("FAILED", 1), task
    assert task["error"]["code"] == "TOO_LARGE"
    assert str(MIB) in task["error"]["message"]


# --- multipart uploads are uploads ---------------------------------------------------------------


def test_a_30_mb_workbook_uploaded_with_multipart_into_the_bucket_is_processed_once(
    api: Api, aws: AwsClientFactory, outputs: StackOutputs, tmp_path: Path
) -> None:
    # Given a 30 MB workbook, put with boto3's managed transfer (multipart, as `aws s3 cp` does)
    path = tmp_path / "thirty.xlsx"
    padded_workbook(path, 30_000_000)
    task_id = uuid.uuid4().hex
    key = api.upload_key(task_id, "thirty.xlsx")
    s3 = aws("s3")
    s3.upload_file(str(path), outputs["BucketName"], key, Config=large_uploads.TRANSFER_CONFIG)
    head = s3.head_object(Bucket=outputs["BucketName"], Key=key)
    assert head["ETag"].strip('"').endswith(f"-{-(-30_000_000 // (8 * MIB))}")  # 4 parts
    # Then its task succeeds after one attempt
    task = api.wait_finished(task_id, timeout=120)
    assert (task["status"], task["attempts"]) == ("SUCCEEDED", 1), task
    assert task["size"] == path.stat().st_size
    # And once the queue is empty, the worker processed it exactly once
    wait_queue_drained(aws("sqs"), outputs["QueueUrl"], timeout=60)
    # (the log reaches CloudWatch Logs after the task is SUCCEEDED: wait for the line itself)
    outcomes = wait_until(
        lambda: outcomes_logged(function_log_messages(aws, outputs["WorkerFunctionName"]), task_id),
        timeout=30,
        what="the worker's outcome line",
    )
    assert [outcome["outcome"] for outcome in outcomes] == ["SUCCEEDED"]


# --- time budget ---------------------------------------------------------------------------------


def test_a_workbook_that_cannot_be_parsed_before_the_timeout_fails_at_once(
    api: Api, aws: AwsClientFactory, outputs: StackOutputs, function_settings: FunctionSettings
) -> None:
    # Given a worker measured (by configuration) at 1 kB/s of sheet XML, and 2,000 order rows
    # (about 0.5 MB of sheet XML: over 500 s, far beyond the worker's 120 s timeout)
    with function_settings.overridden(
        outputs["WorkerFunctionName"],
        {"PARSE_BYTES_PER_SECOND": "1000"},
        settle=(aws("sqs"), outputs["QueueUrl"]),
    ):
        response = api.upload(samples.orders_workbook(2000), filename="slow.xlsx")
        assert response.status_code == 202, response.text
        # Then the task fails on its first attempt with its own code, long before any timeout
        task = api.wait_finished(response.json()["task_id"])
    assert (task["status"], task["attempts"]) == ("FAILED", 1), task
    assert task["error"]["code"] == "TOO_BIG_FOR_TIMEOUT"
    assert "WorkerTimeout" in task["error"]["message"]


# --- a million rows ------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_million_row_workbook_uploaded_in_presigned_parts_succeeds_with_its_statistics(
    api: Api, aws: AwsClientFactory, outputs: StackOutputs, function_settings: FunctionSettings
) -> None:
    # Given a 1M-row x 10-column workbook (about 55 MB) and the statistics computed writing it
    path, expected = cached_large_workbook(MILLION)
    worker = outputs["WorkerFunctionName"]
    # The worker gets Lambda's longest timeout (as `WorkerTimeout` would set it), so a slow
    # machine cannot fail it for time
    with function_settings.configured(
        worker, {"Timeout": 900}, settle=(aws("sqs"), outputs["QueueUrl"])
    ):
        # When it is uploaded in presigned parts
        started_at = time.monotonic()
        started = presigned_multipart(api, path)
        assert len(started["parts"]) == -(-path.stat().st_size // started["part_size"])
        task = api.wait_finished(started["task_id"], timeout=900)
        elapsed = time.monotonic() - started_at
    # Then it succeeds on the first attempt
    assert (task["status"], task["attempts"]) == ("SUCCEEDED", 1), task
    assert task["summary"]["total_rows"] == expected.rows
    assert task["summary"]["total_errors"] == len(expected.errors)
    # And the result holds the statistics the test computed while writing the file
    response = requests.get(task["result_url"], timeout=60)
    result, result_bytes = response.json(), len(response.content)
    sheet = result["sheets"][0]
    assert sheet["data_row_count"] == MILLION
    assert sheet["dimensions"] == f"A1:J{MILLION + 1}"
    columns = sheet["columns"]
    assert columns["B"]["types"]["blank"] == expected.blank_customers
    assert columns["E"]["types"]["date"] == expected.dates
    assert columns["F"]["types"]["bool"] == expected.booleans
    assert columns["G"]["types"]["string"] == expected.strings_in_region + 1  # and the header
    for letter, numbers in expected.numeric.items():
        numeric = columns[letter]["numeric"]
        assert numeric["count"] == numbers.count, letter
        assert numeric["sum"] == pytest.approx(numbers.total), letter
        assert (numeric["min"], numeric["max"]) == (
            pytest.approx(numbers.low),
            pytest.approx(numbers.high),
        ), letter
    assert [(c["cell"], c["value"]) for c in sheet["errors"]["cells"]] == expected.errors

    # And the worker stayed within its memory size; the figures are printed for the record
    # (the outcome and REPORT lines reach CloudWatch Logs after the task is SUCCEEDED: wait)
    def logged() -> tuple[list[str], dict[str, Any], list[int]] | None:
        lines = function_log_messages(aws, worker)
        outcomes = outcomes_logged(lines, started["task_id"])
        if len(outcomes) != 1:
            return None
        request_id = outcomes[0]["function_request_id"]
        reports = [m for m in map(_REPORT.search, lines) if m and m.group(1) == request_id]
        return (lines, outcomes[0], [int(m.group(2)) for m in reports]) if reports else None

    _, outcome, peaks = wait_until(logged, timeout=30, what="the outcome and REPORT lines")
    memory_size = aws("lambda").get_function_configuration(FunctionName=worker)["MemorySize"]
    assert peaks and peaks[0] < memory_size, (peaks, memory_size)
    print(
        f"\n1M rows: {path.stat().st_size:,} bytes uploaded in {len(started['parts'])} parts; "
        f"upload to SUCCEEDED {elapsed:.1f} s, worker {outcome['duration_ms'] / 1000:.1f} s, "
        f"peak memory {peaks[0]} MB of {memory_size} MB, result {result_bytes:,} bytes"
    )
