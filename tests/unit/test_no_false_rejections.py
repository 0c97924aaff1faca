"""No false rejections: every workbook openpyxl reads passes validation and SUCCEEDS.

The corpus spans producers: Excel 2007-2016, WPS, LibreOffice 5.2-7.4 (committed fixtures, see
tests/fixtures/workbooks/README.md), openpyxl itself, and minimal hand-built packages that use
the format's freedoms (renamed parts, absolute targets, no optional parts). openpyxl is the
reference: the worker's result must list the sheets openpyxl lists, with the rows it finds.
"""

from __future__ import annotations

import io
import json
import warnings
import zipfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import openpyxl
import pytest
from openpyxl.chart import BarChart, Reference

from sheetflow.config import WorkerConfig
from sheetflow.dal.tasks import TaskRepository
from sheetflow.logic.messages import task_message
from sheetflow.logic.task import TaskStatus, new_task, new_task_id, upload_key
from sheetflow.logic.validation import ValidationLimits, validate_workbook_file
from sheetflow.usecases.processing import OutcomeKind, process_message
from tests.support.packages import MAIN_NS, Package, Sheet, one_sheet, sheet_xml, zip_parts

from .conftest import Stack
from .test_processing import NOW

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "workbooks"
PRODUCED = sorted(
    path
    for path in FIXTURES.rglob("*")
    if path.suffix in {".xlsx", ".xlsm"} and path.read_bytes()[:4] == b"PK\x03\x04"
)


def _openpyxl_book(build: Callable[[openpyxl.Workbook], None]) -> bytes:
    workbook = openpyxl.Workbook()
    build(workbook)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _with_formulas_and_dates(workbook: openpyxl.Workbook) -> None:
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["when", "n", "double"])
    for index in range(1, 6):
        sheet.append([NOW.replace(tzinfo=None) + timedelta(days=index), index, f"=B{index + 1}*2"])


def _many_sheets_and_chartsheet(workbook: openpyxl.Workbook) -> None:
    first = workbook.active
    assert first is not None
    first.append(["k", "v"])
    first.append(["a", 1])
    for index in range(2, 6):
        workbook.create_sheet(f"Sheet {index}").append([index])
    chart = BarChart()
    chart.add_data(Reference(first, min_col=2, min_row=1, max_row=2), titles_from_data=True)
    workbook.create_chartsheet("Chart").add_chart(chart)
    workbook["Sheet 3"].sheet_state = "hidden"


def _write_only_book() -> bytes:
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("Streamed")
    for index in range(300):
        sheet.append([index, f"row {index}", index * 0.5])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _shared_strings_elsewhere() -> bytes:
    """Shared strings at a non-default part name, found through the content types."""
    table = f'<sst xmlns="{MAIN_NS}"><si><t>hello</t></si><si><t>world</t></si></sst>'.encode()
    xml = (
        f'<worksheet xmlns="{MAIN_NS}"><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c>'
        '<c r="B1" t="s"><v>1</v></c></row></sheetData></worksheet>'
    )
    parts = one_sheet(xml=xml, extra_parts={"xl/strings/table.xml": table}).parts()
    parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(
        b"</Types>",
        b'<Override PartName="/xl/strings/table.xml" ContentType="application/'
        b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
    )
    return zip_parts(parts)


HAND_BUILT: dict[str, Callable[[], bytes]] = {
    "renamed-sheet-part": lambda: one_sheet(
        "xl/worksheets/data.xml", "worksheets/data.xml"
    ).to_bytes(),
    "absolute-target": lambda: one_sheet(
        "xl/worksheets/data.xml", "/xl/worksheets/data.xml"
    ).to_bytes(),
    "workbook-outside-xl": lambda: Package(
        sheets=[Sheet("Only", "../tables/t1.xml", "tables/t1.xml")], workbook_part="book/main.xml"
    ).to_bytes(),
    "relative-office-document-target": lambda: one_sheet(
        office_document_target="xl/workbook.xml"
    ).to_bytes(),
    "no-package-rels": lambda: one_sheet(with_package_rels=False).to_bytes(),
    "stored-not-deflated": lambda: one_sheet(compression=zipfile.ZIP_STORED).to_bytes(),
    "sheet-part-without-xml-suffix": lambda: one_sheet(
        "xl/sheets/one", "/xl/sheets/one"
    ).to_bytes(),
    "three-sheets-shuffled-names": lambda: Package(
        sheets=[
            Sheet("Zeta", "s/c.xml", "xl/s/c.xml", sheet_xml([["z"], [1], [2]])),
            Sheet("Alpha", "/xl/s/a.xml", "xl/s/a.xml", sheet_xml([["a"]])),
            Sheet("Mid", "s/b.xml", "xl/s/b.xml", sheet_xml([[None, "b"], [None, None, 3]])),
        ]
    ).to_bytes(),
    "empty-sheet-among-others": lambda: Package(
        sheets=[
            Sheet("Data", "worksheets/1.xml", "xl/worksheets/1.xml"),
            Sheet("Blank", "worksheets/2.xml", "xl/worksheets/2.xml", sheet_xml([])),
        ]
    ).to_bytes(),
    "sheet-without-relationship-id-is-ignored-like-openpyxl": lambda: zip_parts(
        {
            **one_sheet().parts(),
            "xl/workbook.xml": (
                f'<workbook xmlns="{MAIN_NS}" xmlns:r="http://schemas.openxmlformats.org/'
                'officeDocument/2006/relationships"><sheets><sheet name="Data" sheetId="1" '
                'r:id="rId1"/><sheet name="Leftover" sheetId="2"/></sheets></workbook>'
            ).encode(),
        }
    ),
    "shared-strings-at-custom-part": _shared_strings_elsewhere,
    "openpyxl-formulas-and-dates": lambda: _openpyxl_book(_with_formulas_and_dates),
    "openpyxl-sheets-hidden-and-chartsheet": lambda: _openpyxl_book(_many_sheets_and_chartsheet),
    "openpyxl-write-only": _write_only_book,
}


def worker_config(stack: Stack) -> WorkerConfig:
    return WorkerConfig.from_env(
        {
            "TABLE_NAME": stack.table,
            "BUCKET_NAME": stack.bucket,
            "QUEUE_URL": stack.queue_url,
            "RETENTION_HOURS": "24",
        }
    )


def openpyxl_reference(path: Path) -> list[tuple[str, int]]:
    """(title, rows holding any value) for each sheet, as openpyxl alone reads the file."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            return [(sheet.title, _rows_with_values(sheet)) for sheet in workbook.worksheets]
        finally:
            workbook.close()


def _rows_with_values(sheet: Any) -> int:
    rows = sheet.iter_rows(values_only=True)
    return sum(1 for row in rows if any(value not in (None, "") for value in row))


def _cases() -> list[Any]:
    produced = [
        pytest.param(path.read_bytes, id=str(path.relative_to(FIXTURES))) for path in PRODUCED
    ]
    built = [pytest.param(build, id=name) for name, build in HAND_BUILT.items()]
    return produced + built


def test_fixture_corpus_has_every_producer() -> None:
    # Excel (4 versions), WPS, LibreOffice (3 versions), unknown producers: see the README.
    assert len(PRODUCED) >= 15


@pytest.mark.parametrize("build", _cases())
def test_workbook_openpyxl_reads_passes_validation_and_succeeds(
    stack: Stack, build: Callable[[], bytes], tmp_path: Path
) -> None:
    # Given a workbook that openpyxl reads
    data = build()
    path = tmp_path / "workbook.xlsx"
    path.write_bytes(data)
    reference = openpyxl_reference(path)
    assert reference
    # When validated, Then it passes
    validate_workbook_file(path, ValidationLimits())
    # When its upload is processed, Then it SUCCEEDS with openpyxl's sheets and row counts
    task_id = new_task_id()
    task = new_task(
        task_id=task_id,
        status=TaskStatus.QUEUED,
        bucket=stack.bucket,
        key=upload_key(task_id, "book.xlsx"),
        filename="book.xlsx",
        now=NOW,
        ttl=timedelta(hours=48),
    )
    boto3.client("s3").put_object(Bucket=stack.bucket, Key=task.key, Body=data)
    repository = TaskRepository(stack.table)
    assert repository.create(task)
    outcomes = process_message(
        task_message(task_id, task.bucket, task.key),
        1,
        worker_config(stack),
        repository,
        lease_seconds=60,
        now=lambda: NOW,
    )
    assert [outcome.kind for outcome in outcomes] == [OutcomeKind.SUCCEEDED]
    body = boto3.client("s3").get_object(Bucket=stack.bucket, Key=f"results/{task_id}.json")
    result = json.loads(body["Body"].read())
    assert [(sheet["name"], sheet["row_count"]) for sheet in result["sheets"]] == reference
