"""Counting the cell and row visits a row-by-row reader makes, from the XML's references."""

from __future__ import annotations

import pytest

from sheetflow.logic.cell_span import ROW_WEIGHT, CellSpan

DENSE = (
    b'<sheetData><row r="1" spans="1:3"><c r="A1"><v>1</v></c><c r="B1" t="s"><v>0</v></c>'
    b'<c r="C1"/></row><row r="2"><c r="A2"><v>2</v></c></row></sheetData>'
)


@pytest.mark.parametrize("chunk_size", [1, 7, 64, len(DENSE)])
def test_counts_do_not_depend_on_where_the_stream_is_cut(chunk_size: int) -> None:
    span = CellSpan()
    for start in range(0, len(DENSE), chunk_size):
        span.feed(DENSE[start : start + chunk_size])
    span.finish()
    # Row 1 pads to column C (3 visits), row 2 to column A (1 visit); 2 rows.
    assert (span.cells, span.last_row, span.cost) == (4, 2, 3 + 1 + ROW_WEIGHT * 2)


def test_far_apart_cells_cost_what_a_reader_would_visit() -> None:
    span = CellSpan()
    span.feed(
        b'<x:row r="3"><x:c\tr="XFD3" s="1"><x:v>1</x:v></x:c></x:row>'
        b"<x:row r='1048576'><x:c r='B1048576'/></x:row>"
    )
    span.finish()
    assert span.cells == 2 and span.last_row == 1_048_576
    assert span.cost == 16_384 + 2 + ROW_WEIGHT * 1_048_576


def test_cells_and_rows_without_references_count_in_sequence() -> None:
    span = CellSpan()
    span.feed(b"<row><c><v>1</v></c><c><v>2</v></c></row><row><c/></row><cols><col min='1'/>")
    span.finish()
    assert (span.cells, span.last_row, span.cost) == (3, 2, 2 + 1 + ROW_WEIGHT * 2)
