"""Progress of a PROCESSING task: rows read, a percentage when the workbook declares its size."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest

from sheetflow.config import WorkerConfig
from sheetflow.dal.tasks import TaskRepository
from sheetflow.logic.messages import task_message
from sheetflow.logic.parsing import ParseLimits, parse_workbook
from sheetflow.logic.task import TaskStatus
from sheetflow.usecases import processing
from sheetflow.usecases.processing import OutcomeKind, process_message
from stackctl.task_report import progress_text

from .conftest import Kit, Stack


def rows_workbook(rows: int) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for index in range(rows):
        sheet.append([index, f"row {index}"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def without_dimension(data: bytes) -> bytes:
    """The same workbook with the sheet's stored `<dimension>` removed (some writers omit it)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        sheet = archive.read("xl/worksheets/sheet1.xml").decode()
    stripped = re.sub(r"<dimension[^>]*/>", "", sheet)
    assert stripped != sheet
    return Kit.rewrite(data, {"xl/worksheets/sheet1.xml": stripped.encode()})


@pytest.mark.parametrize(("strip", "declared"), [(False, 1200), (True, None)])
def test_the_parser_reports_rows_read_and_the_declared_size(
    tmp_path: Path, strip: bool, declared: int | None
) -> None:
    data = rows_workbook(1200)
    path = tmp_path / "rows.xlsx"
    path.write_bytes(without_dimension(data) if strip else data)
    reports: list[tuple[int, int | None]] = []
    stats = parse_workbook(path, ParseLimits(), on_rows=lambda *args: reports.append(args))
    # The streaming reader feeds rows in runs (one per chunk of XML read): at least one report
    # per PROGRESS_EVERY_ROWS rows fed, counting every row, with the declared size each time
    rows = [read for read, _ in reports]
    assert rows and rows == sorted(rows) and rows[-1] == 1200
    assert {size for _, size in reports} == {declared}
    assert stats.total_rows == 1200


def test_a_processing_task_records_its_progress(
    stack: Stack, kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a worker that may report at every chance (the interval is a cost bound, not logic)
    monkeypatch.setattr(processing, "PROGRESS_INTERVAL_SECONDS", 0.0)
    seen: list[dict[str, object]] = []
    repository = TaskRepository(stack.table)
    real_report = repository.report_progress

    def recording(task_id: str, attempt: int, progress: dict[str, object]) -> bool:
        seen.append(progress)
        return real_report(task_id, attempt, progress)

    monkeypatch.setattr(repository, "report_progress", recording)
    task = kit.store_task(stack, rows_workbook(1200))
    config = WorkerConfig.from_env(
        {
            "TABLE_NAME": stack.table,
            "BUCKET_NAME": stack.bucket,
            "QUEUE_URL": stack.queue_url,
            "EVENT_BUS_NAME": stack.bus,
        }
    )
    # When it is processed
    outcomes = process_message(
        task_message(task.task_id, task.bucket, task.key),
        1,
        config,
        repository,
        lease_seconds=60,
        now=lambda: datetime.now(UTC),
    )
    # Then it reported rows read with their share of the declared 1200, never 100% early
    assert [outcome.kind for outcome in outcomes] == [OutcomeKind.SUCCEEDED]
    assert seen, "no progress was reported"
    for progress in seen:
        rows = int(str(progress["rows_read"]))
        assert progress["declared_rows"] == 1200
        assert progress["percent"] == min(99, rows * 100 // 1200)
    stored = repository.get(task.task_id)
    assert stored is not None and stored.status is TaskStatus.SUCCEEDED
    assert stored.progress is not None and stored.progress["rows_read"] == seen[-1]["rows_read"]


def test_progress_in_words() -> None:
    assert progress_text({"rows_read": 12000, "percent": 40}) == "12,000 rows read, 40%"
    assert progress_text({"rows_read": 500, "percent": None}) == "500 rows read"
    assert progress_text(None) == ""
