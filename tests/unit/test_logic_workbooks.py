"""Validation of hostile files and statistics of good ones (no AWS involved)."""

from __future__ import annotations

import io
from pathlib import Path

import openpyxl
import pytest

from sheetflow.logic.errors import ErrorCode, PermanentError
from sheetflow.logic.parsing import ParseLimits, parse_workbook
from sheetflow.logic.validation import ValidationLimits, validate_workbook_file
from stackctl import samples

from .conftest import Kit


@pytest.mark.parametrize(("kind", "code"), samples.BROKEN_KINDS.items())
def test_hostile_files_are_refused_with_their_code(
    kind: str, code: ErrorCode, kit: Kit, tmp_path: Path
) -> None:
    # Given a hostile file on disk
    path = tmp_path / "upload.xlsx"
    path.write_bytes(kit.hostile(kind))
    # When it is validated
    with pytest.raises(PermanentError) as refused:
        validate_workbook_file(path, ValidationLimits())
    # Then the refusal carries the matching code and a readable message
    assert refused.value.code == code
    assert refused.value.message


def test_oversized_file_is_too_large(kit: Kit, tmp_path: Path) -> None:
    path = tmp_path / "upload.xlsx"
    path.write_bytes(kit.workbook())
    with pytest.raises(PermanentError) as refused:
        validate_workbook_file(path, ValidationLimits(max_file_bytes=100))
    assert refused.value.code == ErrorCode.TOO_LARGE


def test_macro_workbook_is_accepted_as_data(kit: Kit, tmp_path: Path) -> None:
    # Given a workbook carrying a VBA project part
    path = tmp_path / "upload.xlsx"
    path.write_bytes(kit.rewrite(kit.workbook(), {"xl/vbaProject.bin": b"\x01" * 64}))
    # When validated, Then it passes and the macros are reported, never run
    assert validate_workbook_file(path, ValidationLimits()).has_macros is True


def test_statistics_cover_types_numbers_blanks_and_errors(tmp_path: Path) -> None:
    # Given a sheet with a header, numbers, a bool, a date, a blank and two error values
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Sales"
    sheet.append(["region", "units", "ok"])
    sheet.append(["north", 4, True])
    sheet.append(["south", 6, "#DIV/0!"])
    sheet["A5"] = "#N/A"
    sheet["B5"] = 1.5
    workbook.create_sheet("Empty")
    buffer = io.BytesIO()
    workbook.save(buffer)
    path = tmp_path / "w.xlsx"
    path.write_bytes(buffer.getvalue())
    # When it is parsed
    stats = parse_workbook(path, ParseLimits())
    sales, empty = stats.sheets
    # Then dimensions, header, counts, numeric stats and error references are right
    assert sales["dimensions"] == "A1:C5"
    assert sales["header"] == ["region", "units", "ok"]
    assert sales["row_count"] == 4 and sales["data_row_count"] == 3
    units = sales["columns"]["B"]
    assert units["types"]["number"] == 3 and units["types"]["string"] == 1
    assert units["numeric"] == {"count": 3, "sum": 11.5, "min": 1.5, "max": 6.0, "mean": 11.5 / 3}
    assert sales["columns"]["C"]["types"]["bool"] == 1
    assert sales["blank_cells"] == 15 - 11
    assert sales["errors"]["by_value"] == {"#DIV/0!": 1, "#N/A": 1}
    assert {ref["cell"] for ref in sales["errors"]["cells"]} == {"C3", "A5"}
    assert empty["row_count"] == 0 and empty["dimensions"] is None
    assert stats.total_rows == 4
