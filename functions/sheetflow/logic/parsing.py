"""Statistics of a validated workbook: types, numbers, blanks and error cells per sheet and column.

The workbook's structure (sheets, their order and names, styles, the 1900/1904 date system) is
read by openpyxl; the cells by the streaming reader in `sheet_reader`, with the shared strings
kept compact by `shared_strings`. A sheet whose XML the streaming reader does not handle is read
by openpyxl's read-only worksheet instead, with the same statistics code, so both give the same
result (tests/unit/test_reader_differential.py compares them on a generated corpus).

The workbook's cell and row visits (`cell_span`) are judged on every path: from the streaming
reader's own counts once every sheet is read, or, before openpyxl reads its first sheet, from a
scan of every sheet's references; either way TOO_MANY_CELLS comes before any result.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import reduce
from operator import add
from pathlib import Path
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError  # the stdlib class, re-exported
from openpyxl.reader.excel import ExcelReader
from openpyxl.styles.stylesheet import apply_stylesheet
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._read_only import ReadOnlyWorksheet
from openpyxl.xml.constants import SHARED_STRINGS

from sheetflow.logic.cell_span import CellSpan, SheetSpan, SpanLimits, check_spans
from sheetflow.logic.errors import ErrorCode, PermanentError, StopRequestedError
from sheetflow.logic.shared_strings import SharedStrings, read_shared_strings
from sheetflow.logic.sheet_reader import Context, Plan, UnsupportedFormError, fast_kind, read_sheet

EXCEL_ERRORS = frozenset({"#DIV/0!", "#REF!", "#N/A", "#VALUE!", "#NAME?", "#NUM!", "#NULL!"})
CELL_TYPES = ("number", "string", "bool", "date", "blank", "error")


@dataclass(frozen=True)
class ParseLimits:
    max_sheets: int = 100
    max_columns_reported: int = 200
    max_header_cells: int = 100
    max_text_length: int = 100
    max_error_refs: int = 100
    spans: SpanLimits = field(default_factory=SpanLimits)


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

    def add_numbers(self, values: list[float]) -> None:
        """Several values at once, with the totals `add_number` would reach one by one."""
        self.numeric_count += len(values)
        self.numeric_sum = reduce(add, values, self.numeric_sum)
        low, high = min(values), max(values)
        self.numeric_min = low if self.numeric_min is None else min(self.numeric_min, low)
        self.numeric_max = high if self.numeric_max is None else max(self.numeric_max, high)

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
    context: Context | None = None  # the workbook's styles and strings (fast reader only)
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
        """A row as openpyxl gives it: (value, data_type) for columns 1, 2, ..."""
        self.add_cells(
            row_number,
            [(column, value, data_type) for column, (value, data_type) in enumerate(values, 1)],
        )

    def add_cells(self, row_number: int, cells: list[tuple[int, Any, str]]) -> None:
        """One row's cells as (column number, value, data_type), in column order."""
        row_has_data = False
        header: list[str] = []
        for column_number, value, data_type in cells:
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

    def add_run(
        self, first_row: int, last_row: int, count: int, plan: Plan, columns: list[Any]
    ) -> None:
        """`count` rows after the header, each with a non-blank cell in every slot of `plan`.

        `columns` holds, per slot, the floats of a number slot or the cell count of another:
        the same totals as adding the rows one by one (the sum is a left fold in row order)."""
        self.rows_with_data += count
        self.non_blank_cells += count * len(plan.slots)
        self.min_row = first_row if self.min_row is None else self.min_row
        self.max_row = last_row
        if self.min_col is None or plan.min_column < self.min_col:
            self.min_col = plan.min_column
        self.max_col = max(self.max_col, plan.max_column)
        for slot, column in zip(plan.slots, columns, strict=True):
            if slot.column > self.limits.max_columns_reported:
                self.columns_truncated = True
                continue
            stats = self.columns.setdefault(slot.column, ColumnStats())
            stats.non_blank += count
            if isinstance(column, list):
                stats.counts["number"] += count
                stats.add_numbers(column)
            else:
                if self.context is None:  # runs come only from the streaming reader
                    raise ValueError("a run of cells arrived without the reader's context")
                stats.counts[fast_kind(slot, self.context)] += count

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


@dataclass(frozen=True)
class _Sheet:
    title: str
    part: str  # path of its XML in the archive


# How many bytes of a part are read at a time when only its end or its references matter.
_SCAN_CHUNK = 64 * 1024
# How many rows between two calls of a parse's `on_rows`.
PROGRESS_EVERY_ROWS = 500
# A sheet's stored size: `<dimension ref="A1:F501"/>`, near the start of its XML.
_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\s+ref="[A-Z]*\d*:?[A-Z]*(\d+)"')
_DIMENSION_WINDOW = 4096


def _no_progress(rows_read: int, declared_rows: int | None) -> None:
    return None


def parse_workbook(
    path: Path,
    limits: ParseLimits,
    should_stop: Callable[[], bool] = lambda: False,
    on_rows: Callable[[int, int | None], None] = _no_progress,
) -> WorkbookStats:
    """Statistics of every worksheet; PermanentError CORRUPT or XML_ATTACK on a bad file.

    `should_stop` is asked before each sheet; StopRequestedError when it says yes.
    `on_rows(rows_read, declared_rows)` is told every PROGRESS_EVERY_ROWS rows or so how many
    rows were read so far, and how many the workbook declares (its sheets' stored dimensions;
    None when a sheet declares none).
    """
    with _unreadable_as_permanent("The workbook cannot be opened"):
        reader, sheets, context = _open_structure(path)
    try:
        with _unreadable_as_permanent("A worksheet cannot be read"):
            parsed = sheets[: limits.max_sheets]
            counter = _RowCounter(on_rows, _declared_rows(reader, parsed))
            stats = []
            spans: list[SheetSpan] | None = []  # None once a scan has judged every sheet
            for sheet in parsed:
                if should_stop():
                    raise StopRequestedError(f"stopped before sheet {sheet.title!r}")
                try:
                    streamed, span = _streamed_sheet_stats(reader, sheet, context, limits, counter)
                except UnsupportedFormError:
                    if spans is not None:
                        check_spans(_scanned_spans(reader.archive, parsed), limits.spans)
                        spans = None
                    streamed = _openpyxl_fallback(reader, sheet, context, limits, counter)
                else:
                    if spans is not None:
                        spans.append(span)
                stats.append(streamed.to_dict())
            if spans is not None:
                check_spans(spans, limits.spans)
        return WorkbookStats(sheets=stats, sheets_truncated=len(sheets) > limits.max_sheets)
    finally:
        reader.archive.close()


class _RowCounter:
    """Counts rows across sheets and reports about every PROGRESS_EVERY_ROWS of them."""

    def __init__(self, report: Callable[[int, int | None], None], declared: int | None) -> None:
        self.report, self.declared = report, declared
        self.rows = self._next = 0

    def add(self, rows: int) -> None:
        self.rows += rows
        if self.rows >= self._next + PROGRESS_EVERY_ROWS:
            self._next = self.rows - self.rows % PROGRESS_EVERY_ROWS
            self.report(self.rows, self.declared)


class _CountingSink:
    """The sheet's statistics, with every row fed to them also counted for progress."""

    def __init__(self, stats: SheetStats, counter: _RowCounter) -> None:
        self._stats, self._counter = stats, counter

    @property
    def header_row(self) -> int | None:
        return self._stats.header_row

    @header_row.setter
    def header_row(self, value: int | None) -> None:
        self._stats.header_row = value

    def add_cells(self, row_number: int, cells: list[tuple[int, Any, str]]) -> None:
        self._stats.add_cells(row_number, cells)
        self._counter.add(1)

    def add_run(
        self, first_row: int, last_row: int, count: int, plan: Plan, columns: list[Any]
    ) -> None:
        self._stats.add_run(first_row, last_row, count, plan, columns)
        self._counter.add(count)


def _declared_rows(reader: ExcelReader, sheets: list[_Sheet]) -> int | None:
    """The rows the sheets say they hold (their stored `<dimension>`), from the start of each
    sheet's XML; None when one does not say. Only for progress: the parse counts what is there."""
    total = 0
    for sheet in sheets:
        with reader.archive.open(sheet.part) as source:
            found = _DIMENSION.search(source.read(_DIMENSION_WINDOW))
        if found is None:
            return None
        total += int(found.group(1))
    return total


def _open_structure(path: Path) -> tuple[ExcelReader, list[_Sheet], Context]:
    """openpyxl's reading of everything but the cells, with our compact shared strings.

    The steps of openpyxl's `ExcelReader.read`, except that worksheets are only listed: its
    read-only worksheet would parse a whole sheet to find its size when the sheet does not
    declare one."""
    reader = ExcelReader(path, read_only=True, data_only=True)
    try:
        reader.read_manifest()
        strings = reader.package.find(SHARED_STRINGS)
        shared = SharedStrings()
        if strings is not None:
            part = strings.PartName[1:]
            shared = read_shared_strings(lambda: reader.archive.open(part))
        reader.shared_strings = shared
        reader.read_workbook()
        reader.read_properties()
        reader.read_custom()
        reader.read_theme()
        apply_stylesheet(reader.archive, reader.wb)
        sheets = []
        for sheet, relation in reader.parser.find_sheets():
            if relation.target not in reader.valid_files:
                continue
            if "chartsheet" in relation.Type:
                # Read as openpyxl does (a broken one fails the same way), but it has no cells
                # and, as in openpyxl's `worksheets`, no statistics.
                reader.read_chartsheet(sheet, relation)
                continue
            sheets.append(_Sheet(str(sheet.name), relation.target))
    except BaseException:
        reader.archive.close()
        raise
    workbook = reader.wb
    context = Context(
        shared=shared,
        epoch=workbook.epoch,
        date_styles=frozenset(workbook._date_formats),
        timedelta_styles=frozenset(workbook._timedelta_formats),
    )
    return reader, sheets, context


@contextmanager
def _unreadable_as_permanent(what: str) -> Iterator[None]:
    """openpyxl's failures on a bad file become XML_ATTACK or CORRUPT, never a retry."""
    try:
        yield
    except DefusedXmlException as exc:
        raise _xml_attack(exc) from exc
    except (
        zipfile.BadZipFile,
        KeyError,
        IndexError,
        ValueError,
        TypeError,
        OverflowError,
        ParseError,
        OSError,
        # Damage deeper in a part than validation reads: garbled deflate data, a cut stream, a
        # compression method zipfile does not implement.
        zlib.error,
        EOFError,
        NotImplementedError,
    ) as exc:
        raise PermanentError(ErrorCode.CORRUPT, f"{what}: {type(exc).__name__}: {exc}.") from exc


def _streamed_sheet_stats(
    reader: ExcelReader, sheet: _Sheet, context: Context, limits: ParseLimits, counter: _RowCounter
) -> tuple[SheetStats, SheetSpan]:
    """The sheet through the streaming reader; UnsupportedFormError leaves it to openpyxl."""
    stats = SheetStats(name=sheet.title, limits=limits, context=context)
    counted = counter.rows
    with reader.archive.open(sheet.part) as source:
        try:
            span = read_sheet(source, _CountingSink(stats, counter), context)
        except UnsupportedFormError:
            counter.rows = counted  # openpyxl counts this sheet again
            raise
        # The rest of the part, after its rows, is read too: reaching its end checks its CRC.
        while source.read(_SCAN_CHUNK):
            pass
    return stats, span


def _openpyxl_fallback(
    reader: ExcelReader, sheet: _Sheet, context: Context, limits: ParseLimits, counter: _RowCounter
) -> SheetStats:
    worksheet = ReadOnlyWorksheet(reader.wb, sheet.title, sheet.part, context.shared)
    stats = openpyxl_sheet_stats(worksheet, limits)
    # Progress counts this sheet once, when openpyxl is done with it.
    counter.add(stats.rows_with_data)
    return stats


def _scanned_spans(archive: zipfile.ZipFile, sheets: list[_Sheet]) -> list[SheetSpan]:
    """Every sheet's visits from its references (`CellSpan`), for the check before openpyxl."""
    spans = []
    for part in sorted({sheet.part for sheet in sheets}):
        span = CellSpan()
        with archive.open(part) as source:
            while chunk := source.read(_SCAN_CHUNK):
                span.feed(chunk)
        span.finish()
        spans.append(span.sheet_span())
    return spans


def openpyxl_sheet_stats(worksheet: Any, limits: ParseLimits) -> SheetStats:
    """The statistics of an openpyxl read-only worksheet, cell by cell."""
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
