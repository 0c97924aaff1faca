"""The hostile corpus through the worker's per-message path (moto): state, code, one attempt.

Each case runs `process_message` once, as a delivery would, within the worker's timeout (the
template's WorkerTimeout default) and with the test process's peak resident memory under the
worker's memory (WorkerMemory default). Where validation refuses a file for its structure, the
test also checks that openpyxl itself cannot read it faithfully: validation never stands in
front of a workbook openpyxl reads.
"""

from __future__ import annotations

import io
import json
import re
import warnings
import zipfile
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import openpyxl
import pytest

from sheetflow.config import WorkerConfig
from sheetflow.dal.tasks import TaskRepository
from sheetflow.logic.messages import task_message
from sheetflow.logic.task import TaskStatus, api_upload_key, new_task, new_task_id
from sheetflow.usecases.processing import Outcome, process_message
from tests.support.hostile import CASES, HostileCase

from .conftest import Stack
from .test_processing import NOW

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
# Limits that exist to bound resources, not to judge the format: openpyxl may well read such a
# file; refusing it is the product's limit, documented with its code.
RESOURCE_CODES = {
    "EMPTY_FILE", "TOO_LARGE", "ZIP_BOMB", "TOO_MANY_ENTRIES", "TOO_MANY_CELLS", "XML_ATTACK",
}  # fmt: skip


def template_default(parameter: str) -> int:
    """A parameter's Default in template.yaml (the limits the worker is deployed with)."""
    match = re.search(
        rf"^  {parameter}:\n(?:    .*\n)*?    Default: \"?(\d+)\"?", TEMPLATE.read_text(), re.M
    )
    assert match, f"{parameter} has no Default in template.yaml"
    return int(match.group(1))


WORKER_TIMEOUT_SECONDS = template_default("WorkerTimeout")
WORKER_MEMORY_MB = template_default("WorkerMemory")
# The corpus's over-size case is 10 MiB: the worker runs with that limit here (the template's
# default is larger; the check is the same, and a 100 MiB test file would only cost time).
MAX_UPLOAD_BYTES = 10 * 1024 * 1024


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("/proc/self/status has no VmHWM line")


def reset_peak_rss() -> None:
    # Linux: writing 5 resets the process's peak RSS to its current RSS (proc(5), clear_refs).
    Path("/proc/self/clear_refs").write_text("5")


def worker_config(stack: Stack) -> WorkerConfig:
    return WorkerConfig.from_env(
        {
            "TABLE_NAME": stack.table,
            "BUCKET_NAME": stack.bucket,
            "QUEUE_URL": stack.queue_url,
            "RETENTION_HOURS": "24",
            "MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES),
        }
    )


def run_once(stack: Stack, data: bytes) -> tuple[str, list[Outcome], float]:
    """Store `data` as an API upload, deliver its message once; task id, outcomes, peak MB."""
    task_id = new_task_id()
    task = new_task(
        task_id=task_id,
        status=TaskStatus.QUEUED,
        bucket=stack.bucket,
        key=api_upload_key(task_id, "upload.xlsx"),
        filename="upload.xlsx",
        now=NOW,
        ttl=timedelta(hours=48),
    )
    boto3.client("s3").put_object(Bucket=stack.bucket, Key=task.key, Body=data)
    repository = TaskRepository(stack.table)
    assert repository.create(task)
    config = worker_config(stack)
    assert config.validation.max_file_bytes == MAX_UPLOAD_BYTES
    reset_peak_rss()
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(
            process_message,
            task_message(task_id, task.bucket, task.key),
            1,
            config,
            repository,
            lease_seconds=WORKER_TIMEOUT_SECONDS,
            now=lambda: NOW,
        )
        # The worker would be stopped at its timeout: a case must finish well inside it.
        outcomes = future.result(timeout=WORKER_TIMEOUT_SECONDS)
    return task_id, outcomes, peak_rss_mb()


def openpyxl_reading(data: bytes, tmp_path: Path) -> list[tuple[str, int]] | None:
    """What openpyxl itself makes of a file: (sheet, rows) for each sheet, None if it fails."""
    path = tmp_path / "reference.xlsx"
    path.write_bytes(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
            try:
                return [
                    (sheet.title, sum(1 for _ in sheet.iter_rows(values_only=True)))
                    for sheet in workbook.worksheets
                ]
            finally:
                workbook.close()
    except Exception:  # any failure at all means openpyxl cannot read it
        return None


def listed_sheet_count(data: bytes) -> int:
    """`<sheet ...>` elements in xl/workbook.xml, read without any of the product's code."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            workbook = archive.read("xl/workbook.xml").decode("utf-8", "replace")
    except (zipfile.BadZipFile, KeyError):
        return 0
    return len(re.findall(r"<(?:\w+:)?sheet\s", workbook))


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.case_id)
def test_hostile_input_ends_in_its_state_after_one_attempt(
    stack: Stack, case: HostileCase, tmp_path: Path
) -> None:
    # Given a hostile upload queued as a task
    data = case.build()
    # When its message is delivered once, within the worker's timeout
    task_id, outcomes, peak_mb = run_once(stack, data)
    # Then the task is in its terminal state after exactly one attempt
    stored = TaskRepository(stack.table).get(task_id)
    assert stored is not None
    assert [outcome.kind.value for outcome in outcomes] == [case.status]
    assert (stored.status.value, stored.attempts) == (case.status, 1)
    if case.status == "FAILED":
        assert stored.error is not None and stored.error.code == case.code
        assert stored.error.message
    else:
        assert stored.error is None and stored.summary is not None
        result = boto3.client("s3").get_object(Bucket=stack.bucket, Key=f"results/{task_id}.json")
        document: dict[str, Any] = json.loads(result["Body"].read())
        reference = openpyxl_reading(data, tmp_path)
        assert reference is not None
        assert [sheet["name"] for sheet in document["sheets"]] == [name for name, _ in reference]
    # And the worker's memory stayed under its limit while it ran
    assert peak_mb < WORKER_MEMORY_MB, f"peak RSS {peak_mb:.0f} MB"


STRUCTURAL_CASES = [
    case for case in CASES if case.status == "FAILED" and case.code not in RESOURCE_CODES
]


@pytest.mark.parametrize("case", STRUCTURAL_CASES, ids=lambda case: case.case_id)
def test_refused_structures_are_ones_openpyxl_cannot_read_faithfully(
    case: HostileCase, tmp_path: Path
) -> None:
    # Given a file validation refuses for its format or structure
    data = case.build()
    # When openpyxl itself reads it
    reading = openpyxl_reading(data, tmp_path)
    # Then it fails, or silently loses sheets the workbook lists (which would have "succeeded")
    assert reading is None or len(reading) < max(listed_sheet_count(data), 1)


def test_corpus_is_large_and_covers_every_file_code() -> None:
    assert len(CASES) >= 40
    assert len({case.case_id for case in CASES}) == len(CASES)
    codes = {case.code for case in CASES if case.code}
    assert codes >= {
        "EMPTY_FILE", "TOO_LARGE", "NOT_XLSX", "CORRUPT", "ENCRYPTED", "LEGACY_XLS", "XLSB",
        "STRICT_OOXML", "MISSING_PART", "ZIP_BOMB", "TOO_MANY_ENTRIES", "TOO_MANY_CELLS",
        "XML_ATTACK",
    }  # fmt: skip
