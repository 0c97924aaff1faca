"""Large workbooks in the worker: validation that does not read whole parts, the time budget
checked before parsing, and results and summaries whose size does not grow with the rows."""

from __future__ import annotations

import json
import time
import zipfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from sheetflow.config import WorkerConfig
from sheetflow.dal.tasks import TaskRepository, task_to_item
from sheetflow.logic.budget import TimeBudget, check_time_budget
from sheetflow.logic.errors import ErrorCode, PermanentError, TransientError
from sheetflow.logic.messages import task_message
from sheetflow.logic.parsing import ParseLimits, WorkbookStats, parse_workbook
from sheetflow.logic.summary import result_document, task_summary
from sheetflow.logic.task import TaskStatus, new_task
from sheetflow.logic.validation import (
    PROLOG_SCAN_BYTES,
    ArchiveFacts,
    ValidationLimits,
    validate_workbook_file,
)
from sheetflow.usecases.processing import OutcomeKind, RetryLaterError, process_message
from tests.support.large_workbook import write_large_workbook

from .conftest import Kit, Stack

DYNAMODB_ITEM_LIMIT = 400 * 1024
NOW = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


# --- validation reads the prolog of each part, not the part ----------------------------------


def with_shared_strings(kit: Kit, tmp_path: Path, xml: bytes) -> Path:
    path = tmp_path / "book.xlsx"
    path.write_bytes(kit.rewrite(kit.workbook(), {"xl/sharedStrings.xml": xml}))
    return path


SST = (
    '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>a</t></si></sst>'
)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16-le", "utf-16-be", "utf-16"])
def test_a_dtd_after_the_declaration_and_a_comment_is_an_xml_attack(
    kit: Kit, tmp_path: Path, encoding: str
) -> None:
    xml = (
        f'<?xml version="1.0" encoding="{encoding.upper()}"?>\n<!-- generated -->\n'
        '<!DOCTYPE sst [<!ENTITY a "aaaaaaaaaa">]>' + SST
    ).encode(encoding)
    with pytest.raises(PermanentError) as refused:
        validate_workbook_file(with_shared_strings(kit, tmp_path, xml), ValidationLimits())
    assert refused.value.code == ErrorCode.XML_ATTACK


def test_a_prolog_longer_than_the_scan_window_is_refused(kit: Kit, tmp_path: Path) -> None:
    padding = "<!--" + "x" * PROLOG_SCAN_BYTES + "-->"
    xml = (f'<?xml version="1.0"?>{padding}<!DOCTYPE sst>' + SST).encode()
    with pytest.raises(PermanentError) as refused:
        validate_workbook_file(with_shared_strings(kit, tmp_path, xml), ValidationLimits())
    assert refused.value.code == ErrorCode.XML_ATTACK


def test_text_after_the_root_element_is_left_to_the_parser(kit: Kit, tmp_path: Path) -> None:
    # The root element ends the prolog: markup-like text inside the document is not scanned
    xml = (
        b'<?xml version="1.0"?>'
        b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        b"<si><t><![CDATA[<!DOCTYPE is just text here>]]></t></si></sst>"
    )
    facts = validate_workbook_file(with_shared_strings(kit, tmp_path, xml), ValidationLimits())
    assert facts.entries > 0


def test_the_sheet_xml_size_comes_from_the_zip_directory(tmp_path: Path) -> None:
    path = tmp_path / "orders.xlsx"
    write_large_workbook(path, 2000)
    with zipfile.ZipFile(path) as archive:
        sizes = {entry.filename: entry.file_size for entry in archive.infolist()}
    facts = validate_workbook_file(path, ValidationLimits())
    assert facts.cell_xml_bytes == sizes["xl/worksheets/sheet1.xml"] + sizes["xl/sharedStrings.xml"]


# --- the time budget -----------------------------------------------------------------------------


def facts_with(cell_xml_bytes: int) -> ArchiveFacts:
    return ArchiveFacts(
        entries=7,
        uncompressed_bytes=cell_xml_bytes,
        has_macros=False,
        cell_xml_bytes=cell_xml_bytes,
    )


def test_a_parse_that_fits_the_time_left_passes_and_one_that_does_not_fails_with_its_code() -> None:
    budget = TimeBudget(xml_bytes_per_second=2_000_000, margin_seconds=10)
    # 200 MB at 2 MB/s is 100 s: fits in 120 s less the 10 s margin
    check_time_budget(facts_with(200_000_000), 120, budget)
    # 330 MB (a million rows) is 165 s: does not
    with pytest.raises(PermanentError) as refused:
        check_time_budget(facts_with(330_000_000), 120, budget)
    assert refused.value.code == ErrorCode.TOO_BIG_FOR_TIMEOUT
    assert "165 s" in refused.value.message and "WorkerTimeout" in refused.value.message


def test_a_parse_that_fits_a_fresh_invocation_but_not_the_time_left_is_retried() -> None:
    budget = TimeBudget(xml_bytes_per_second=2_000_000, margin_seconds=10)
    # 100 MB is 50 s: 20 s are left of this invocation, a fresh one has 120 s
    with pytest.raises(TransientError) as retried:
        check_time_budget(facts_with(100_000_000), 20, budget, whole_seconds=120)
    assert retried.value.code == ErrorCode.OUT_OF_TIME
    # A fresh invocation of 55 s would not do either: refused for good
    with pytest.raises(PermanentError):
        check_time_budget(facts_with(100_000_000), 20, budget, whole_seconds=55)


def worker_config(stack: Stack, bytes_per_second: int) -> WorkerConfig:
    return WorkerConfig.from_env(
        {
            "TABLE_NAME": stack.table,
            "BUCKET_NAME": stack.bucket,
            "QUEUE_URL": stack.queue_url,
            "EVENT_BUS_NAME": stack.bus,
            "PARSE_BYTES_PER_SECOND": str(bytes_per_second),
            "TIME_BUDGET_MARGIN_SECONDS": "1",
        }
    )


def test_a_workbook_that_cannot_finish_before_the_deadline_fails_at_once(
    stack: Stack, kit: Kit
) -> None:
    # Given a worker measured at 1 kB/s of sheet XML and a 5,000-row workbook
    task = kit.store_task(stack, kit.workbook(rows=5000), created=NOW)
    body = task_message(task.task_id, task.bucket, task.key)
    config = worker_config(stack, 1000)
    # When processed with a minute left before the invocation's timeout
    (outcome,) = process_message(
        body,
        1,
        config,
        TaskRepository(stack.table),
        lease_seconds=60,
        deadline=time.monotonic() + 60,
    )
    # Then it fails on its first attempt with its own code, and no result is written
    assert (outcome.kind, outcome.error_code) == (OutcomeKind.FAILED, "TOO_BIG_FOR_TIMEOUT")
    stored = TaskRepository(stack.table).get(task.task_id)
    assert stored is not None and stored.status is TaskStatus.FAILED and stored.attempts == 1
    listed = boto3.client("s3").list_objects_v2(Bucket=stack.bucket, Prefix="results/")
    assert listed.get("KeyCount") == 0


def test_a_workbook_late_in_a_batch_is_retried_not_refused(
    stack: Stack, kit: Kit, tmp_path: Path
) -> None:
    # Given a workbook whose parse is estimated at 20 s
    data = kit.workbook(rows=200)
    (tmp_path / "book.xlsx").write_bytes(data)
    xml_bytes = validate_workbook_file(tmp_path / "book.xlsx", ValidationLimits()).cell_xml_bytes
    task = kit.store_task(stack, data, created=NOW)
    body = task_message(task.task_id, task.bucket, task.key)
    # When it comes with 5 s left of a 60 s invocation (earlier records used the rest)
    with pytest.raises(RetryLaterError):
        process_message(
            body,
            1,
            worker_config(stack, max(1, xml_bytes // 20)),
            TaskRepository(stack.table),
            lease_seconds=60,
            deadline=time.monotonic() + 5,
        )
    # Then the attempt ends as a retry for a fresh invocation; the task is not failed
    stored = TaskRepository(stack.table).get(task.task_id)
    assert stored is not None and stored.status is not TaskStatus.FAILED
    assert stored.last_error is not None and stored.last_error.code == ErrorCode.OUT_OF_TIME
    assert (stored.timeline[-1]["event"], stored.timeline[-1]["code"]) == ("retry", "OUT_OF_TIME")


def test_without_a_deadline_there_is_no_time_budget(stack: Stack, kit: Kit) -> None:
    # The standalone worker renews its lease and has no timeout: the same file succeeds
    task = kit.store_task(stack, kit.workbook(rows=5000), created=NOW)
    body = task_message(task.task_id, task.bucket, task.key)
    (outcome,) = process_message(
        body, 1, worker_config(stack, 1000), TaskRepository(stack.table), lease_seconds=60
    )
    assert outcome.kind is OutcomeKind.SUCCEEDED


# --- bounded results and summaries ---------------------------------------------------------------


def result_bytes(tmp_path: Path, rows: int) -> int:
    path = tmp_path / f"orders-{rows}.xlsx"
    write_large_workbook(path, rows)
    facts = validate_workbook_file(path, ValidationLimits())
    stats = parse_workbook(path, ParseLimits())
    document = result_document(
        task_id="0" * 32, filename=path.name, size=path.stat().st_size, facts=facts, stats=stats
    )
    return len(json.dumps(document))


def test_the_result_does_not_grow_with_the_rows(tmp_path: Path) -> None:
    # Per-column statistics and capped samples: 25x the rows, (almost) the same document
    small, large = result_bytes(tmp_path, 2_000), result_bytes(tmp_path, 50_000)
    assert small < 20_000
    assert large - small < 200  # only the digits of counts and sums differ


def test_the_largest_possible_summary_is_far_below_the_dynamodb_item_limit() -> None:
    # Given the worst case the parser can report: 100 sheets with long names, errors everywhere
    sheet = {"name": "N" * 500, "row_count": 1_048_576, "errors": {"count": 10**9}}
    stats = WorkbookStats(sheets=[dict(sheet) for _ in range(100)], sheets_truncated=True)
    summary = task_summary(stats, facts_with(10**9))
    # When it is stored on a task item with the longest file name a task can have
    task = replace(
        new_task(
            task_id="0" * 32,
            status=TaskStatus.SUCCEEDED,
            bucket="b" * 63,
            key="uploads/" + "0" * 32 + "/" + "k" * 120 + ".xlsx",
            filename="f" * 200,
            now=NOW,
            ttl=timedelta(hours=1),
        ),
        summary=summary,
    )
    item_bytes = len(json.dumps(task_to_item(task), default=str))
    # Then the item stays under a twentieth of DynamoDB's 400 KB limit
    assert item_bytes < DYNAMODB_ITEM_LIMIT // 20, item_bytes
    assert len(summary["sheets"]) == 20 and summary["truncated"] is True
