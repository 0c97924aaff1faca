"""The streaming reader against openpyxl: the same statistics, field by field, on a generated
corpus (dates and times with the 1900 leap-year quirk and the 1904 system, booleans, errors,
shared, rich and inline strings, merged cells, empty rows and columns, formulas with and
without cached values, several sheets, sparse cells, very wide sheets)."""

from __future__ import annotations

import datetime as dt
import io
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from openpyxl.chart import BarChart, Reference

from sheetflow.logic.errors import ErrorCode, PermanentError
from sheetflow.logic.parsing import ParseLimits, openpyxl_sheet_stats, parse_workbook
from sheetflow.logic.shared_strings import read_shared_strings
from sheetflow.logic.sheet_reader import UnsupportedFormError, xml_text

from .xlsx_corpus import (
    DATE,
    DATETIME,
    DURATION,
    GENERAL,
    TIME,
    Book,
    cell,
    random_sheet,
    uniform_rows,
)

LIMITS = ParseLimits()
# openpyxl warns for each date out of range; the corpus has them on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:Cell .* is marked as a date:UserWarning")


def reference(path: Path, limits: ParseLimits = LIMITS) -> list[dict[str, Any]]:
    """openpyxl's read-only cells, counted cell by cell."""
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        return [openpyxl_sheet_stats(sheet, limits).to_dict() for sheet in book.worksheets]
    finally:
        book.close()


def assert_same(path: Path, limits: ParseLimits = LIMITS) -> list[dict[str, Any]]:
    expected = reference(path, limits)
    got = parse_workbook(path, limits).sheets
    assert [sheet["name"] for sheet in got] == [sheet["name"] for sheet in expected]
    for mine, theirs in zip(got, expected, strict=True):
        for key in theirs:
            assert mine[key] == theirs[key], f"sheet {theirs['name']!r}, field {key!r}"
        assert mine.keys() == theirs.keys()
    return got


def write(tmp_path: Path, data: bytes, name: str = "book.xlsx") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("seed", range(12))
def test_random_sheets_match_openpyxl(seed: int, tmp_path: Path, openpyxl_calls: list[str]) -> None:
    # Given several sheets of random cells of every kind, sparse and dense, some 1904-based
    rng = random.Random(seed)
    book = Book(date1904=seed % 3 == 0)
    for index in range(3):
        data = random_sheet(
            rng, book, rows=rng.randint(5, 120), columns=rng.randint(1, 12), density=rng.random()
        )
        book.sheets.append((f"S{index}", data))
    book.sheets.append(("Empty", ""))
    path = write(tmp_path, book.to_bytes())
    # When both readers count it, Then every field of every sheet is the same
    assert_same(path)
    # and the streaming reader did it, not openpyxl
    assert openpyxl_calls == []


def test_runs_of_one_shape_match_openpyxl(tmp_path: Path, openpyxl_calls: list[str]) -> None:
    # Given long runs of rows of one shape (the fast path), with a header and a change of shape
    book = Book()
    label = book.string("<t>label</t>")
    columns = [
        ("n", None, "{row}"),
        ("", GENERAL, "{row}.25"),
        ("n", DATE, "4{row}"),
        ("", TIME, "0.{row}"),
        ("", DURATION, "1{row}.5"),
        ("s", None, str(label)),
        ("b", None, "1"),
        ("str", None, "text {row}"),
    ]
    header = "".join(
        cell(column, 1, f"<is><t>h{column}</t></is>", t="inlineStr") for column in range(1, 9)
    )
    data = f'<row r="1">{header}</row>' + uniform_rows(2, 500, columns)
    data += uniform_rows(502, 300, columns[:3]) + uniform_rows(900, 200, columns)
    book.sheets.append(("Runs", data))
    path = write(tmp_path, book.to_bytes())
    # When both readers count it, Then the statistics agree, streamed
    sheet = assert_same(path)[0]
    assert openpyxl_calls == []
    assert sheet["row_count"] == 1001
    assert sheet["columns"]["A"]["numeric"]["count"] == 1000


def test_numeric_edge_values_match_openpyxl(tmp_path: Path, openpyxl_calls: list[str]) -> None:
    # Given runs holding an overflowing sum, an infinite number, dates out of range and an
    # empty shared string inside runs that otherwise take the fast path
    book = Book()
    empty = book.string("<t></t>")
    full = book.string("<t>x</t>")
    rows = [f'<row r="1">{cell(1, 1, "<is><t>h</t></is>", t="inlineStr")}</row>']
    for row in range(2, 40):
        big = "1e308" if row < 6 else "1"
        infinite = "1e999" if row == 20 else "2"
        date = "3000000" if row == 30 else "45000"
        shared = empty if row == 33 else full
        cells = (
            cell(1, row, f"<v>{big}</v>")
            + cell(2, row, f"<v>{infinite}</v>")
            + cell(3, row, f"<v>{date}</v>", s=DATETIME)
            + cell(4, row, f"<v>{shared}</v>", t="s")
        )
        rows.append(f'<row r="{row}">{cells}</row>')
    book.sheets.append(("Edges", "".join(rows)))
    path = write(tmp_path, book.to_bytes())
    # Then the statistics agree (an infinite number is an error; a bad date is #VALUE!)
    sheet = assert_same(path)[0]
    assert openpyxl_calls == []
    assert sheet["errors"]["by_value"] == {"#VALUE!": 1, "inf": 1}
    assert sheet["columns"]["A"]["numeric"]["sum"] == float("inf")


def test_wide_sparse_sheet_matches_openpyxl(tmp_path: Path, openpyxl_calls: list[str]) -> None:
    # Given a sheet reaching column XFD with a few cells far apart, and column truncation
    book = Book()
    rows = [
        f'<row r="3">{cell(2, 3, "<v>1</v>")}{cell(700, 3, "<v>2</v>")}'
        f"{cell(16384, 3, '<v>3</v>')}</row>",
        f'<row r="9000">{cell(16384, 9000, "<v>4</v>")}</row>',
    ]
    rows += [f'<row r="{row}">{cell(300, row, "<v>5</v>")}</row>' for row in range(9001, 9050)]
    book.sheets.append(("Wide", "".join(rows)))
    path = write(tmp_path, book.to_bytes())
    sheet = assert_same(path)[0]
    assert openpyxl_calls == []
    assert sheet["dimensions"] == "B3:XFD9049"
    assert sheet["columns_truncated"] is True


def test_limits_on_errors_and_headers_match_openpyxl(tmp_path: Path) -> None:
    # Given more error cells and header cells than the limits report
    book = Book()
    header = "".join(cell(column, 1, "<v>1</v>") for column in range(1, 8))
    rows = [f'<row r="1">{header}</row>']
    rows += [f'<row r="{row}">{cell(1, row, "<v>#N/A</v>", t="e")}</row>' for row in range(2, 30)]
    book.sheets.append(("Errors", "".join(rows)))
    path = write(tmp_path, book.to_bytes())
    limits = ParseLimits(max_header_cells=3, max_error_refs=5, max_columns_reported=4)
    sheet = assert_same(path, limits)[0]
    assert sheet["errors"]["cells_truncated"] is True
    assert sheet["header"] == ["1", "1", "1"]


def test_openpyxl_written_workbook_matches(tmp_path: Path, openpyxl_calls: list[str]) -> None:
    # Given a workbook as openpyxl writes it: merged cells, dates, times, durations, the 1900
    # leap-year quirk, booleans, error strings, formulas (no cached values), empty rows/columns
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Mixed"
    sheet.append(["name", "when", "time", "took", "ok", "formula", None, "note"])
    sheet.append(["a", dt.datetime(1900, 2, 28), dt.time(12, 30), dt.timedelta(hours=30), True])
    sheet.append(["b", dt.datetime(1900, 3, 1), dt.time(0, 0, 1), dt.timedelta(0), False])
    sheet.append(["c", dt.date(2024, 2, 29), None, None, None, "=SUM(B2:B3)", None, "#REF!"])
    sheet.append([])
    sheet.append([None, None, 3.5, 7, "#DIV/0!"])
    sheet.merge_cells("A10:C12")
    sheet["A10"] = "merged"
    other = workbook.create_sheet("Other")
    for row in range(1, 60):
        other.append([row, row * 0.5, f"r{row}", row % 3 == 0])
    workbook.create_sheet("Blank")
    chart = BarChart()
    chart.add_data(Reference(other, min_col=1, min_row=1, max_row=10))
    workbook.create_chartsheet("Chart").add_chart(chart)
    buffer = io.BytesIO()
    workbook.save(buffer)
    path = write(tmp_path, buffer.getvalue())
    sheets = assert_same(path)
    assert openpyxl_calls == []
    assert sheets[0]["columns"]["B"]["types"]["date"] == 3
    assert [sheet["name"] for sheet in sheets] == ["Mixed", "Other", "Blank"]  # no chartsheet


def test_formula_shapes_and_cells_without_references_match(
    tmp_path: Path, openpyxl_calls: list[str]
) -> None:
    # Given shared formulas, cells without `r`, `r` not first, and rows of one shape after them
    book = Book(after_sheet_data='<mergeCells count="1"><mergeCell ref="A1:B1"/></mergeCells>')
    rows = [
        '<row r="1" spans="1:3"><c><v>1</v></c><c t="b"><v>0</v></c><c s="1" r="E1"><v>2</v></c>'
        "</row>",
        '<row r="2"><c r="A2"><f t="shared" ref="A2:A9" si="0">B2*2</f><v>4</v></c></row>',
    ]
    rows += [
        f'<row r="{row}"><c r="A{row}"><f t="shared" si="0"/><v>{row}</v></c></row>'
        for row in range(3, 10)
    ]
    book.sheets.append(("Formulas", "".join(rows)))
    path = write(tmp_path, book.to_bytes())
    sheet = assert_same(path)[0]
    assert openpyxl_calls == []
    assert sheet["dimensions"] == "A1:E9"


@pytest.mark.parametrize(
    ("case", "data", "prefix"),
    [
        ("rich inline string", '<row r="1"><c r="A1" t="inlineStr"><is><r><t>a</t></r></is></c>'
         "</row>", ""),
        ("comment in the data", '<row r="1"><!-- note --><c r="A1"><v>1</v></c></row>', ""),
        ("rows out of order", '<row r="5"><c r="A5"><v>1</v></c></row>'
         '<row r="2"><c r="A2"><v>2</v></c></row>', ""),
        ("cells out of order", '<row r="1"><c r="C1"><v>1</v></c><c r="A1"><v>2</v></c></row>',
         ""),
        ("row number not first", '<row spans="1:1" r="1"><c r="A1"><v>1</v></c></row>', ""),
        ("row without a number", '<row><c r="A1"><v>1</v></c></row><row><c><v>2</v></c></row>',
         ""),
        ("namespace prefix", '<x:row r="1"><x:c r="A1"><x:v>1</x:v></x:c></x:row>', "x:"),
        ("pretty-printed", '<row r="1">\n  <c r="A1">\n    <v>1</v>\n  </c>\n</row>\n', ""),
    ],
)  # fmt: skip
def test_forms_left_to_openpyxl_give_its_result(
    case: str, data: str, prefix: str, tmp_path: Path, openpyxl_calls: list[str]
) -> None:
    # Given a sheet in a form the streaming reader does not handle itself
    book = Book(sheet_prefix=prefix)
    book.sheets.append((case[:30], data))
    book.sheets.append(("Plain", uniform_rows(1, 20, [("", None, "{row}")])))
    path = write(tmp_path, book.to_bytes())
    # Then that sheet alone is read by openpyxl, and the result is openpyxl's
    assert_same(path)
    if case == "pretty-printed":
        assert openpyxl_calls == []  # whitespace between elements is still the fast path
    elif prefix:
        assert openpyxl_calls == [case[:30], "Plain"]  # both sheets carry the prefix
    else:
        assert openpyxl_calls == [case[:30]]


def test_shared_strings_match_openpyxl_reading(tmp_path: Path) -> None:
    # Given shared strings of every shape: plain, spaced, entities, carriage returns, escapes,
    # rich runs with phonetic text, empty in three spellings, non-ASCII
    book = Book()
    items = [
        "<t>plain</t>",
        '<t xml:space="preserve">  spaced  </t>',
        "<t>a &amp; b &lt;c&gt; &#233;</t>",
        "<t>one&#13;\ntwo\r\nthree</t>",
        "<t>_x005F_x000D_ kept</t>",
        '<r><rPr><b/></rPr><t>rich</t></r><r><t xml:space="preserve"> text</t></r>'
        '<rPh sb="0" eb="1"><t>phonetic</t></rPh>',
        "<t></t>",
        "<t/>",
        "",
        "<t>Ünïcödé ✓ 漢字</t>",
    ]
    for item in items:
        book.string(item)
    book.sheets.append(("S", ""))
    path = write(tmp_path, book.to_bytes())
    import zipfile

    from openpyxl.reader.strings import read_string_table

    with zipfile.ZipFile(path) as archive:
        expected = read_string_table(archive.open("xl/sharedStrings.xml"))
        table = read_shared_strings(lambda: archive.open("xl/sharedStrings.xml"))
    assert [table[index] for index in range(len(table))] == expected
    assert list(table.empty) == [int(text == "") for text in expected]
    assert table[-1] == expected[-1]
    with pytest.raises(IndexError):
        table[len(expected)]


def test_value_text_never_expands_entities() -> None:
    # A value text is parsed by expat with no DTD: predefined entities resolve, others refuse
    assert xml_text("a &amp; b&#10;c\r\nd") == "a & b\nc\nd"
    with pytest.raises(UnsupportedFormError):
        xml_text("&custom;")


@pytest.mark.parametrize("part", ["sheet", "strings"])
def test_entity_declarations_reach_the_defused_parser(
    part: str, tmp_path: Path, make_attack: Callable[[str], bytes]
) -> None:
    # Given a workbook with an entity declared in a part (validation would refuse it first;
    # the reader must not read it either)
    path = write(tmp_path, make_attack(part))
    # When parsed, Then it is refused as an XML attack, never expanded
    with pytest.raises(PermanentError) as refused:
        parse_workbook(path, LIMITS)
    assert refused.value.code == ErrorCode.XML_ATTACK


@pytest.fixture
def make_attack() -> Callable[[str], bytes]:
    declaration = '<!DOCTYPE x [<!ENTITY boom "BOOM">]>'

    def make(part: str) -> bytes:
        book = Book()
        if part == "sheet":
            body = '<c r="A1" t="inlineStr"><is><t>&boom;</t></is></c>'
        else:
            body = f'<c r="A1" t="s"><v>{book.string("<t>&boom;</t>")}</v></c>'
        book.sheets.append(("S", f'<row r="1">{body}</row>'))
        data = book.to_bytes()
        name = "xl/worksheets/sheet1.xml" if part == "sheet" else "xl/sharedStrings.xml"
        import zipfile

        out = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as copy:
            for entry in source.infolist():
                content = source.read(entry.filename)
                if entry.filename == name:
                    text = content.decode()
                    head, _, rest = text.partition("?>\n")
                    content = f"{head}?>\n{declaration}{rest}".encode()
                copy.writestr(entry.filename, content)
        return out.getvalue()

    return make
