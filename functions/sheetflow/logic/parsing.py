"""Reads a validated workbook with openpyxl (read-only, cached values) and computes statistics."""

from __future__ import annotations

import datetime as dt
import math
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openpyxl
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError  # the stdlib class, re-exported
from openpyxl.utils import get_column_letter

from sheetflow.logic.errors import ErrorCode, PermanentError

EXCEL_ERRORS = frozenset({"#DIV/0!", "#REF!", "#N/A", "#VALUE!", "#NAME?", "#NUM!", "#NULL!"})
CELL_TYPES = ("number", "string", "bool", "date", "blank", "error")


@dataclass(frozen=True)
class ParseLimits:
    max_sheets: int = 100
    max_columns_reported: int = 200
    max_header_cells: int = 100
    max_text_length: int = 100
    max_error_refs: int = 100


@dataclass
class ColumnStats:
    non_blank: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CELL_TYPES, 0))
    numeric_count: int = 0
    numeric_sum: float = 0.0
    numeric_min: float | None = None
    numeric_max: float | None = None

    def add_number(self, value: float) -> None:
        self.numeric_count += 1
        self.numeric_sum += value
        self.numeric_min = value if self.numeric_min is None else min(self.numeric_min, value)
        self.numeric_max = value if self.numeric_max is None else max(self.numeric_max, value)

    def to_dict(self, used_rows: int) -> dict[str, Any]:
        counts = dict(self.counts)
        # Blanks are the used-range cells of this column that held nothing.
        counts["blank"] = max(used_rows - self.non_blank, 0)
        numeric = None
        if self.numeric_count:
            numeric = {
                "count": self.numeric_count,
                "sum": self.numeric_sum,
                "min": self.numeric_min,
                "max": self.numeric_max,
                "mean": self.numeric_sum / self.numeric_count,
            }
        return {"types": counts, "numeric": numeric}


@dataclass
class SheetStats:
    name: str
    limits: ParseLimits
    min_row: int | None = None
    max_row: int = 0
    min_col: int | None = None
    max_col: int = 0
    rows_with_data: int = 0
    non_blank_cells: int = 0
    header_row: int | None = None
    header: list[str] = field(default_factory=list)
    columns: dict[int, ColumnStats] = field(default_factory=dict)
    error_counts: dict[str, int] = field(default_factory=dict)
    error_refs: list[dict[str, str]] = field(default_factory=list)
    columns_truncated: bool = False

    def add_row(self, row_number: int, values: Iterable[tuple[Any, str]]) -> None:
        row_has_data = False
        header: list[str] = []
        for column_number, (value, data_type) in enumerate(values, start=1):
            kind = classify(value, data_type)
            if kind == "blank":
                continue
            row_has_data = True
            self.non_blank_cells += 1
            if self.min_col is None or column_number < self.min_col:
                self.min_col = column_number
            self.max_col = max(self.max_col, column_number)
            if self.header_row is None and column_number <= self.limits.max_header_cells:
                header.append(self._text(value))
            if kind == "error":
                self._record_error(str(value), f"{get_column_letter(column_number)}{row_number}")
            self._column(column_number, kind, value)
        if row_has_data:
            self.rows_with_data += 1
            self.min_row = row_number if self.min_row is None else self.min_row
            self.max_row = row_number
            if self.header_row is None:
                self.header_row = row_number
                self.header = header

    def _column(self, column_number: int, kind: str, value: Any) -> None:
        if column_number > self.limits.max_columns_reported:
            self.columns_truncated = True
            return
        stats = self.columns.setdefault(column_number, ColumnStats())
        stats.non_blank += 1
        stats.counts[kind] += 1
        if kind == "number":
            stats.add_number(float(value))

    def _record_error(self, value: str, reference: str) -> None:
        self.error_counts[value] = self.error_counts.get(value, 0) + 1
        if len(self.error_refs) < self.limits.max_error_refs:
            self.error_refs.append({"cell": reference, "value": value})

    def _text(self, value: Any) -> str:
        text = value.isoformat() if isinstance(value, dt.date | dt.time) else str(value)
        return text[: self.limits.max_text_length]

    @property
    def used_rows(self) -> int:
        return 0 if self.min_row is None else self.max_row - self.min_row + 1

    @property
    def used_columns(self) -> int:
        return 0 if self.min_col is None else self.max_col - self.min_col + 1

    @property
    def dimensions(self) -> str | None:
        if self.min_row is None or self.min_col is None:
            return None
        first = f"{get_column_letter(self.min_col)}{self.min_row}"
        return f"{first}:{get_column_letter(self.max_col)}{self.max_row}"

    def to_dict(self) -> dict[str, Any]:
        used_rows = self.used_rows
        return {
            "name": self.name,
            "dimensions": self.dimensions,
            "header": self.header,
            "header_row": self.header_row,
            "row_count": self.rows_with_data,
            "data_row_count": max(self.rows_with_data - 1, 0),
            "column_count": self.used_columns,
            "non_blank_cells": self.non_blank_cells,
            "blank_cells": used_rows * self.used_columns - self.non_blank_cells,
            "columns": {
                get_column_letter(number): stats.to_dict(used_rows)
                for number, stats in sorted(self.columns.items())
            },
            "columns_truncated": self.columns_truncated,
            "errors": {
                "count": sum(self.error_counts.values()),
                "by_value": dict(sorted(self.error_counts.items())),
                "cells": self.error_refs,
                "cells_truncated": sum(self.error_counts.values()) > len(self.error_refs),
            },
        }


def classify(value: Any, data_type: str) -> str:
    """One of CELL_TYPES for a cached cell value."""
    if value is None or value == "":
        return "blank"
    if data_type == "e" or (isinstance(value, str) and data_type != "s" and value in EXCEL_ERRORS):
        return "error"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number" if math.isfinite(value) else "error"
    if isinstance(value, dt.datetime | dt.date | dt.time | dt.timedelta):
        return "date"
    return "string"


@dataclass(frozen=True)
class WorkbookStats:
    sheets: list[dict[str, Any]]
    sheets_truncated: bool

    @property
    def total_rows(self) -> int:
        return sum(int(sheet["row_count"]) for sheet in self.sheets)

    @property
    def total_errors(self) -> int:
        return sum(int(sheet["errors"]["count"]) for sheet in self.sheets)


def parse_workbook(path: Path, limits: ParseLimits) -> WorkbookStats:
    """Statistics of every worksheet; PermanentError CORRUPT or XML_ATTACK if openpyxl fails."""
    with _unreadable_as_permanent("The workbook cannot be opened"):
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        with _unreadable_as_permanent("A worksheet cannot be read"):
            worksheets = workbook.worksheets
            sheets = [
                _sheet_stats(worksheet, limits).to_dict()
                for worksheet in worksheets[: limits.max_sheets]
            ]
        return WorkbookStats(sheets=sheets, sheets_truncated=len(worksheets) > limits.max_sheets)
    finally:
        workbook.close()


@contextmanager
def _unreadable_as_permanent(what: str) -> Iterator[None]:
    """openpyxl's failures on a bad file become XML_ATTACK or CORRUPT, never a retry."""
    try:
        yield
    except DefusedXmlException as exc:
        raise _xml_attack(exc) from exc
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, ParseError, OSError) as exc:
        raise PermanentError(ErrorCode.CORRUPT, f"{what}: {type(exc).__name__}: {exc}.") from exc


def _sheet_stats(worksheet: Any, limits: ParseLimits) -> SheetStats:
    stats = SheetStats(name=str(worksheet.title), limits=limits)
    if not hasattr(worksheet, "reset_dimensions"):
        return stats  # a chartsheet: no cells
    # The stored dimension may be missing or wrong; read the cells that are really there.
    worksheet.reset_dimensions()
    for row_number, row in enumerate(worksheet.iter_rows(), start=1):
        stats.add_row(row_number, ((cell.value, cell.data_type) for cell in row))
    return stats


def _xml_attack(exc: Exception) -> PermanentError:
    return PermanentError(
        ErrorCode.XML_ATTACK, f"The workbook's XML was refused by the safe parser: {exc}."
    )
