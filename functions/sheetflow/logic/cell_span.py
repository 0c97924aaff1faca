"""How much work a worksheet's cell positions imply for a row-by-row reader, and the limit on it.

openpyxl's read-only reader pads every row up to its last present column and yields every row
between two present ones, so a few cells far apart cost far more than their bytes: two cells per
row in columns A and XFD make 16,384 cell visits per row; cells at A1 and A1048576 make a million
rows. A workbook whose visits pass `SpanLimits` is refused (TOO_MANY_CELLS) before openpyxl
spends the worker's whole timeout on it.

The streaming reader (`sheet_reader`) counts the same visits from the row shapes it parses
anyway, at no extra pass. `CellSpan` counts them from the `r` references while a part streams
past, with a regular expression over bytes (no XML tree): it runs only when a sheet must go to
openpyxl, over every sheet of the workbook, so the verdict is the same whichever reader reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sheetflow.logic.errors import ErrorCode, PermanentError

# An opening <row ...> or <c ...> tag, with or without a namespace prefix, and its `r`
# reference when it has one (letters: the column of a cell; digits: the row).
_TAG = re.compile(
    rb"<(?:[A-Za-z_][\w.-]*:)?(row|c)(?=[\s/>])(?:[^>]*?\sr\s*=\s*[\"']([A-Za-z]*)(\d*)[\"'])?"
)
MAX_COLUMN = 16_384
MAX_ROW = 1_048_576
# Relative cost of one row yielded (even an empty one) against one padded cell, as measured on
# openpyxl 3.1 read-only: about 2.5 us per empty row, 0.45 us per padded cell.
ROW_WEIGHT = 5


@dataclass(frozen=True)
class SpanLimits:
    """Cell and row visits a row-by-row reader may make: the larger of a fixed budget (seconds
    of parsing) and a multiple of the cells really present, so dense sheets of any size pass and
    only cells absurdly far apart are refused."""

    max_cell_visits: int = 20_000_000
    cell_visit_ratio: int = 8


@dataclass(frozen=True)
class SheetSpan:
    """A worksheet's cells and the visits reading it row by row makes (see `CellSpan.cost`)."""

    cells: int
    visits: int


def visits(padded_cells: int, last_row: int) -> int:
    """The visits of a sheet: every row padded to its last column, every row up to the last."""
    return padded_cells + ROW_WEIGHT * min(last_row, MAX_ROW)


def check_spans(spans: list[SheetSpan], limits: SpanLimits) -> None:
    """Refuse a workbook whose sheets, together, cost more visits than `limits` allow."""
    total = sum(span.visits for span in spans)
    cells = sum(span.cells for span in spans)
    allowed = max(limits.max_cell_visits, limits.cell_visit_ratio * cells)
    if total > allowed:
        raise PermanentError(
            ErrorCode.TOO_MANY_CELLS,
            f"The worksheets hold {cells} cells placed so far apart that reading them row by "
            f"row means {total} cell and row visits (limit {allowed}). Delete the stray cells "
            "far from the data (or the empty rows between), save, and upload again.",
        )


@dataclass
class CellSpan:
    """Running counts for one worksheet part; feed it the part's bytes in order."""

    cells: int = 0
    padded_cells: int = 0
    last_row: int = 0
    _row_last_column: int = 0
    _column: int = 0
    _pending: bytes = b""

    @property
    def cost(self) -> int:
        """Cell visits plus weighted row visits a row-by-row reader makes."""
        return visits(self.padded_cells + self._row_last_column, self.last_row)

    def sheet_span(self) -> SheetSpan:
        return SheetSpan(self.cells, self.cost)

    def feed(self, chunk: bytes) -> None:
        data = self._pending + chunk
        # Only complete tags are read; the tail after the last '<' waits for the next chunk.
        cut = data.rfind(b"<")
        if cut == -1:
            self._pending = b""
            return
        complete, self._pending = data[:cut], data[cut:]
        if len(self._pending) > 64 * 1024:  # a single tag this long is not a row or a cell
            self._pending = self._pending[-1024:]
        # One loop over the matches with local variables: this runs once per cell.
        padded, last_row = self.padded_cells, self.last_row
        row_last, column, cells = self._row_last_column, self._column, self.cells
        for name, letters, digits in _TAG.findall(complete):
            if name == b"row":
                padded += row_last
                row_last = column = 0
                last_row = min(max(int(digits) if digits else 0, last_row + 1), MAX_ROW)
                continue
            cells += 1
            column = min(_column_number(letters) if letters else column + 1, MAX_COLUMN)
            row_last = max(row_last, column)
        self.padded_cells, self.last_row = padded, last_row
        self._row_last_column, self._column, self.cells = row_last, column, cells

    def finish(self) -> None:
        if self._pending:
            self.feed(b"<")
            self._pending = b""


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters.upper()[:3]:
        number = number * 26 + (letter - 64)
    return number
