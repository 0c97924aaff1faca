"""Writing each sheet of a workbook as CSV, row by row (memory bounded by one row)."""

from __future__ import annotations

import csv
import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl

from sheetflow.logic.errors import ErrorCode, PermanentError, RequestRejectedError
from sheetflow.logic.task import RESULT_PREFIX

SUPPORTED_OUTPUTS = frozenset({"csv"})
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class ExportedSheet:
    sheet: str
    path: Path
    rows: int


def parse_outputs(value: str | None) -> list[str]:
    """`outputs=csv` on an upload: the extra stages asked for, checked."""
    if not value:
        return []
    asked = sorted({part.strip().lower() for part in value.split(",") if part.strip()})
    unknown = [name for name in asked if name not in SUPPORTED_OUTPUTS]
    if unknown:
        raise RequestRejectedError(
            "INVALID_OUTPUTS",
            f"Unknown output {', '.join(unknown)!s}: use {', '.join(sorted(SUPPORTED_OUTPUTS))}.",
        )
    return asked


def export_key(task_id: str, index: int, sheet: str) -> str:
    """Beside the result document: results/<task_id>/<n>-<sheet>.csv."""
    safe = _UNSAFE.sub("_", sheet).strip("_") or "sheet"
    return f"{RESULT_PREFIX}{task_id}/{index:02d}-{safe[:60]}.csv"


def _text(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return "" if value is None else value


def export_sheets(workbook_path: Path, out_dir: Path) -> list[ExportedSheet]:
    """One CSV file per worksheet (chartsheets have no cells), written as the rows stream."""
    try:
        book = openpyxl.load_workbook(workbook_path, read_only=True, data_only=True)
    except Exception as exc:  # any failure to open is the file's, never worth a retry
        raise PermanentError(ErrorCode.CORRUPT, f"The workbook cannot be opened: {exc}.") from exc
    exported: list[ExportedSheet] = []
    try:
        for index, sheet in enumerate(book.worksheets, start=1):
            if not hasattr(sheet, "reset_dimensions"):
                continue
            sheet.reset_dimensions()
            path = out_dir / f"{index:02d}.csv"
            rows = 0
            with path.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                for row in sheet.iter_rows(values_only=True):
                    writer.writerow([_text(value) for value in row])
                    rows += 1
            exported.append(ExportedSheet(sheet=str(sheet.title), path=path, rows=rows))
    finally:
        book.close()
    return exported
