"""The workbook's cell and row visits (TOO_MANY_CELLS) are judged the same whichever reader reads:
the streaming reader counts them from its row shapes, and a scan of the references counts them
before openpyxl reads a sheet."""

from __future__ import annotations

import io
import random
import zipfile
from pathlib import Path

import pytest

from sheetflow.logic.cell_span import (
    MAX_COLUMN,
    ROW_WEIGHT,
    CellSpan,
    SheetSpan,
    SpanLimits,
    check_spans,
)
from sheetflow.logic.errors import ErrorCode, PermanentError
from sheetflow.logic.parsing import ParseLimits, parse_workbook

from .xlsx_corpus import GENERAL, Book, cell, random_sheet, uniform_rows

pytestmark = pytest.mark.filterwarnings("ignore:Cell .* is marked as a date:UserWarning")

# A comment among the rows: a form the streaming reader leaves to openpyxl.
LEFT_TO_OPENPYXL = '<row r="1"><!-- note --><c r="A1"><v>1</v></c></row>'


@pytest.fixture
def judged(monkeypatch: pytest.MonkeyPatch) -> list[list[SheetSpan]]:
    """The sheet spans each verdict of a parse was given."""
    verdicts: list[list[SheetSpan]] = []

    def spy(spans: list[SheetSpan], limits: SpanLimits) -> None:
        verdicts.append(list(spans))
        check_spans(spans, limits)

    monkeypatch.setattr("sheetflow.logic.parsing.check_spans", spy)
    return verdicts


def scanned(path: Path) -> list[SheetSpan]:
    """Each worksheet's span counted from its references, in sheet order."""
    spans = []
    with zipfile.ZipFile(path) as archive:
        names = sorted(
            (name for name in archive.namelist() if name.startswith("xl/worksheets/")),
            key=lambda name: int(name.removeprefix("xl/worksheets/sheet").removesuffix(".xml")),
        )
        for name in names:
            span = CellSpan()
            span.feed(archive.read(name))
            span.finish()
            spans.append(span.sheet_span())
    return spans


def write(tmp_path: Path, book: Book) -> Path:
    path = tmp_path / "book.xlsx"
    path.write_bytes(book.to_bytes())
    return path


def far_apart_rows(first_row: int, rows: int, last_column: int) -> str:
    """Rows holding a cell in column A and one in `last_column`."""
    return "".join(
        f'<row r="{row}">{cell(1, row, "<v>1</v>")}{cell(last_column, row, "<v>2</v>")}</row>'
        for row in range(first_row, first_row + rows)
    )


@pytest.mark.parametrize("seed", range(8))
def test_the_streaming_reader_counts_the_visits_a_reference_scan_counts(
    seed: int, tmp_path: Path, judged: list[list[SheetSpan]], openpyxl_calls: list[str]
) -> None:
    # Given sheets of random cells (sparse and dense, cells without values, self-closing rows),
    # runs of one shape, rows far apart and rows reaching past the last column
    rng = random.Random(seed)
    book = Book()
    for _ in range(2):
        rows, columns = rng.randint(3, 80), rng.randint(1, 14)
        book.sheets.append(
            (f"R{len(book.sheets)}", random_sheet(rng, book, rows, columns, rng.random()))
        )
    book.sheets.append(("Runs", uniform_rows(1, 300, [("", GENERAL, "{row}")] * 4)))
    book.sheets.append(("Far", far_apart_rows(7, 3, rng.randint(30, 200)) + '<row r="90000"/>'))
    book.sheets.append(("Beyond", '<row r="2"><c r="ZZZ2"><v>1</v></c></row>'))
    book.sheets.append(("Empty", ""))
    path = write(tmp_path, book)
    # When the workbook is parsed
    parse_workbook(path, ParseLimits())
    # Then the streaming reader read every sheet and judged the visits a scan counts
    assert openpyxl_calls == []
    assert judged == [scanned(path)]
    assert judged[0][4].visits == MAX_COLUMN + ROW_WEIGHT * 2  # "ZZZ" counts as the last column


def test_far_apart_cells_are_refused_without_openpyxl_reading_them(
    tmp_path: Path, openpyxl_calls: list[str]
) -> None:
    # Given 2,000 rows each holding cells in columns A and XFD (the streaming reader's form):
    # 2,000 x 16,384 padded cells and 5 per row
    book = Book()
    book.sheets.append(("Wide", far_apart_rows(1, 2000, MAX_COLUMN)))
    path = write(tmp_path, book)
    # When it is parsed, Then it is refused for its cell visits, and openpyxl never read it
    with pytest.raises(PermanentError) as refused:
        parse_workbook(path, ParseLimits())
    assert refused.value.code == ErrorCode.TOO_MANY_CELLS
    assert "32778000 cell and row visits" in refused.value.message
    assert openpyxl_calls == []


def test_a_sheet_left_to_openpyxl_is_judged_before_openpyxl_reads_anything(
    tmp_path: Path, openpyxl_calls: list[str]
) -> None:
    # Given a sheet openpyxl must read, after one whose cells lie a million rows apart
    book = Book()
    book.sheets.append(("Tall", far_apart_rows(1, 1, 1) + far_apart_rows(1_048_576, 1, 1)))
    book.sheets.append(("Plain", LEFT_TO_OPENPYXL))
    path = write(tmp_path, book)
    # When it is parsed, Then it is refused before openpyxl read the sheet left to it
    with pytest.raises(PermanentError) as refused:
        parse_workbook(path, ParseLimits(spans=SpanLimits(max_cell_visits=1_000_000)))
    assert refused.value.code == ErrorCode.TOO_MANY_CELLS
    assert openpyxl_calls == []


@pytest.mark.parametrize("left_to_openpyxl", [False, True], ids=["streamed", "openpyxl"])
def test_the_limit_is_the_same_on_both_paths(
    left_to_openpyxl: bool, tmp_path: Path, openpyxl_calls: list[str]
) -> None:
    # Given a sheet of 10 rows padded to column 40 (400 cell visits + 5 per row: 450), alone or
    # beside a sheet openpyxl must read (one cell in one row: 1 + 5 more)
    book = Book()
    book.sheets.append(("Padded", far_apart_rows(1, 10, 40)))
    if left_to_openpyxl:
        book.sheets.append(("Other", LEFT_TO_OPENPYXL))
    path = write(tmp_path, book)
    visits = 456 if left_to_openpyxl else 450
    # When the limit is exactly the visits, Then the workbook passes; one less, it is refused
    exact = ParseLimits(spans=SpanLimits(max_cell_visits=visits, cell_visit_ratio=1))
    assert len(parse_workbook(path, exact).sheets) == len(book.sheets)
    below = ParseLimits(spans=SpanLimits(max_cell_visits=visits - 1, cell_visit_ratio=1))
    with pytest.raises(PermanentError) as refused:
        parse_workbook(path, below)
    assert refused.value.code == ErrorCode.TOO_MANY_CELLS
    assert openpyxl_calls == (["Other"] if left_to_openpyxl else [])


def test_a_sheet_damaged_after_its_rows_is_corrupt(tmp_path: Path) -> None:
    # Given a sheet stored uncompressed, its rows longer than one read of the streaming reader
    # (1 MiB) and the part longer still, whose last bytes changed: its CRC fails
    merged = "".join(f'<mergeCell ref="F{row}:G{row}"/>' for row in range(1, 40_001))
    book = Book(after_sheet_data=f'<mergeCells count="40000">{merged}</mergeCells>')
    book.sheets.append(("Data", uniform_rows(1, 15_000, [("", GENERAL, "{row}")] * 3)))
    stored = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(book.to_bytes())) as source,
        zipfile.ZipFile(stored, "w", zipfile.ZIP_STORED) as target,
    ):
        for info in source.infolist():
            target.writestr(info.filename, source.read(info.filename))
    damaged = stored.getvalue().replace(b'ref="F40000:G40000"', b'ref="F40000:H40000"')
    assert damaged != stored.getvalue()
    with zipfile.ZipFile(io.BytesIO(damaged)) as archive:
        sheet = archive.getinfo("xl/worksheets/sheet1.xml")
        assert sheet.file_size > 2 * 1024 * 1024 and sheet.compress_type == zipfile.ZIP_STORED
    path = tmp_path / "book.xlsx"
    path.write_bytes(damaged)
    # When it is parsed, Then the damage is found (the part is read to its end, where zipfile
    # checks the CRC), not a result computed from damaged bytes
    with pytest.raises(PermanentError) as refused:
        parse_workbook(path, ParseLimits())
    assert refused.value.code == ErrorCode.CORRUPT
    assert "CRC" in refused.value.message
