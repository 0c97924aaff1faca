"""How much work a worksheet's cell positions imply for a row-by-row reader, counted cheaply.

openpyxl's read-only reader pads every row up to its last present column and yields every row
between two present ones, so a few cells far apart cost far more than their bytes: two cells per
row in columns A and XFD make 16,384 cell visits per row; cells at A1 and A1048576 make a million
rows. This module counts those visits from the `r` references while the XML streams past, with
regular expressions over bytes (no XML tree), so validation can refuse absurd spans before a
parser spends the worker's whole timeout on them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
        return self.padded_cells + self._row_last_column + ROW_WEIGHT * self.last_row

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
