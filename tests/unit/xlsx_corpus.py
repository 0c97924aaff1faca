"""Workbooks written part by part, for the reader's differential tests.

openpyxl writes every string inline and never stores a formula's cached value, so the shapes
other producers write (Excel's shared strings and rich text, cached formula results, the 1904
date system, cells without references, self-closing rows) are written here as raw XML."""

from __future__ import annotations

import io
import random
import zipfile
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"

# Styles (cellXfs index → number format): what a cell's `s` attribute picks.
GENERAL, DATE, DATETIME, TIME, DURATION, PERCENT, TEXT = range(7)
_CELL_XFS = (0, 14, 164, 21, 46, 10, 49)
_STYLES = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="{MAIN}">
<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd hh:mm:ss"/></numFmts>
<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>
<fills count="1"><fill><patternFill patternType="none"/></fill></fills>
<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>
<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>
<cellXfs count="{len(_CELL_XFS)}">{
    "".join(
        f'<xf numFmtId="{fmt}" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
        for fmt in _CELL_XFS
    )
}</cellXfs>
<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>
</styleSheet>"""


@dataclass
class Book:
    """Sheets as raw <sheetData> content, shared strings as raw <si> content."""

    sheets: list[tuple[str, str]] = field(default_factory=list)  # (name, sheetData inner XML)
    shared: list[str] = field(default_factory=list)
    date1904: bool = False
    sheet_prefix: str = ""  # e.g. "x:" to write the worksheets with a namespace prefix
    after_sheet_data: str = ""  # e.g. <mergeCells>

    def string(self, si_inner: str) -> int:
        """Index of a new shared string whose <si> holds `si_inner` (raw XML)."""
        self.shared.append(si_inner)
        return len(self.shared) - 1

    def to_bytes(self) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("[Content_Types].xml", self._content_types())
            archive.writestr(
                "_rels/.rels",
                f'<Relationships xmlns="{PKG_REL}"><Relationship Id="rId1" '
                f'Type="{REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
            )
            archive.writestr("xl/workbook.xml", self._workbook())
            archive.writestr("xl/_rels/workbook.xml.rels", self._workbook_rels())
            archive.writestr("xl/styles.xml", _STYLES)
            if self.shared:
                items = "".join(f"<si>{inner}</si>" for inner in self.shared)
                archive.writestr(
                    "xl/sharedStrings.xml",
                    f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                    f'<sst xmlns="{MAIN}" count="{len(self.shared)}" '
                    f'uniqueCount="{len(self.shared)}">{items}</sst>',
                )
            for index, (_, data) in enumerate(self.sheets, start=1):
                archive.writestr(f"xl/worksheets/sheet{index}.xml", self._sheet(data))
        return out.getvalue()

    def _sheet(self, data: str) -> str:
        p = self.sheet_prefix
        declaration = f'xmlns:{p[:-1]}="{MAIN}"' if p else f'xmlns="{MAIN}"'
        return (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<{p}worksheet {declaration} xmlns:r="{REL}"><{p}sheetData>{data}</{p}sheetData>'
            f"{self.after_sheet_data}</{p}worksheet>"
        )

    def _workbook(self) -> str:
        sheets = "".join(
            f'<sheet name="{escape(name)}" sheetId="{index}" r:id="rId{index}"/>'
            for index, (name, _) in enumerate(self.sheets, start=1)
        )
        properties = '<workbookPr date1904="1"/>' if self.date1904 else "<workbookPr/>"
        return (
            f'<workbook xmlns="{MAIN}" xmlns:r="{REL}">{properties}'
            f"<sheets>{sheets}</sheets></workbook>"
        )

    def _workbook_rels(self) -> str:
        count = len(self.sheets)
        items = [
            f'<Relationship Id="rId{index}" Type="{REL}/worksheet" '
            f'Target="worksheets/sheet{index}.xml"/>'
            for index in range(1, count + 1)
        ]
        items.append(f'<Relationship Id="rId{count + 1}" Type="{REL}/styles" Target="styles.xml"/>')
        if self.shared:
            items.append(
                f'<Relationship Id="rId{count + 2}" Type="{REL}/sharedStrings" '
                'Target="sharedStrings.xml"/>'
            )
        return f'<Relationships xmlns="{PKG_REL}">{"".join(items)}</Relationships>'

    def _content_types(self) -> str:
        ct = "application/vnd.openxmlformats-officedocument.spreadsheetml"
        overrides = [
            f'<Override PartName="/xl/workbook.xml" ContentType="{ct}.sheet.main+xml"/>',
            f'<Override PartName="/xl/styles.xml" ContentType="{ct}.styles+xml"/>',
        ]
        overrides += [
            f'<Override PartName="/xl/worksheets/sheet{index}.xml" '
            f'ContentType="{ct}.worksheet+xml"/>'
            for index in range(1, len(self.sheets) + 1)
        ]
        if self.shared:
            overrides.append(
                f'<Override PartName="/xl/sharedStrings.xml" ContentType="{ct}.sharedStrings+xml"/>'
            )
        return (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f"{''.join(overrides)}</Types>"
        )


def column_letters(number: int) -> str:
    letters = ""
    while number:
        number, remainder = divmod(number - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def cell(column: int, row: int, body: str = "", *, t: str = "", s: int | None = None) -> str:
    """A <c> with its reference; `body` is its raw children (<v>, <f>, <is>)."""
    attributes = f' r="{column_letters(column)}{row}"'
    if s is not None:
        attributes += f' s="{s}"'
    if t:
        attributes += f' t="{t}"'
    return f"<c{attributes}>{body}</c>" if body else f"<c{attributes}/>"


# Values a random cell can take: (t, s, body), body may use {si} for a shared-string index.
ERRORS = ("#DIV/0!", "#REF!", "#N/A", "#VALUE!", "#NAME?", "#NUM!", "#NULL!")
DATE_SERIALS = ("1", "59", "60", "61", "0", "0.5", "0.999999", "45292.75", "-1", "2958465")
BAD_DATE_SERIALS = ("3000000", "-700000")


def random_cell(rng: random.Random, book: Book, column: int, row: int) -> str:
    kind = rng.choice(
        (
            "int", "float", "exp", "date", "time", "duration", "percent", "bool", "error",
            "shared", "shared_rich", "shared_empty", "inline", "formula_num", "formula_str",
            "formula_none", "formula_err", "empty_value", "styled_blank", "bad_date",
        )
    )  # fmt: skip
    if kind == "int":
        return cell(column, row, f"<v>{rng.randint(-(10**6), 10**12)}</v>", t=rng.choice(("", "n")))
    if kind == "float":
        return cell(column, row, f"<v>{rng.uniform(-1e6, 1e6)!r}</v>")
    if kind == "exp":
        return cell(column, row, f"<v>{rng.choice(('1E3', '2.5e-7', '1.0', '-0', '007'))}</v>")
    if kind == "date":
        style = rng.choice((DATE, DATETIME))
        return cell(column, row, f"<v>{rng.choice(DATE_SERIALS)}</v>", s=style)
    if kind == "time":
        return cell(column, row, f"<v>{rng.random()!r}</v>", s=TIME)
    if kind == "duration":
        return cell(column, row, f"<v>{rng.uniform(0, 40)!r}</v>", s=DURATION)
    if kind == "percent":
        return cell(column, row, f"<v>{rng.random()!r}</v>", s=PERCENT)
    if kind == "bool":
        return cell(column, row, f"<v>{rng.randint(0, 1)}</v>", t="b")
    if kind == "error":
        return cell(column, row, f"<v>{rng.choice(ERRORS)}</v>", t="e")
    if kind == "shared":
        text = rng.choice(("north", "  spaced  ", "a &amp; b", "x005F_x", "#N/A", "line&#13;end"))
        preserve = ' xml:space="preserve"' if text.startswith(" ") else ""
        index = book.string(f"<t{preserve}>{text}</t>")
        return cell(column, row, f"<v>{index}</v>", t="s")
    if kind == "shared_rich":
        index = book.string(
            '<r><rPr><b/></rPr><t>bold</t></r><r><t xml:space="preserve"> plain</t></r>'
            '<rPh sb="0" eb="1"><t>ignored</t></rPh>'
        )
        return cell(column, row, f"<v>{index}</v>", t="s")
    if kind == "shared_empty":
        index = book.string(rng.choice(("<t></t>", "<t/>", "")))
        return cell(column, row, f"<v>{index}</v>", t="s")
    if kind == "inline":
        text = rng.choice(("inline", "", "&lt;tag&gt;", "two words", "  padded "))
        preserve = ' xml:space="preserve"' if text.startswith(" ") else ""
        return cell(column, row, f"<is><t{preserve}>{text}</t></is>", t="inlineStr")
    if kind == "formula_num":
        return cell(column, row, f"<f>SUM(A1:A{row})</f><v>{rng.randint(0, 99)}</v>")
    if kind == "formula_str":
        text = rng.choice(("result", ""))
        return cell(column, row, f'<f>IF(1,"{text}","")</f><v>{text}</v>', t="str")
    if kind == "formula_none":
        return cell(column, row, "<f>NOW()</f>")
    if kind == "formula_err":
        return cell(column, row, "<f>1/0</f><v>#DIV/0!</v>", t="e")
    if kind == "empty_value":
        return cell(column, row, "<v></v>")
    if kind == "styled_blank":
        return cell(column, row, s=rng.choice((GENERAL, DATE)))
    return cell(column, row, f"<v>{rng.choice(BAD_DATE_SERIALS)}</v>", s=DATE)


def random_sheet(rng: random.Random, book: Book, rows: int, columns: int, density: float) -> str:
    """Rows with gaps, cells with gaps, a header row, and some runs of repeated row shapes."""
    out = []
    row = rng.randint(1, 3)
    header = "".join(
        cell(column, row, f"<is><t>col {column}</t></is>", t="inlineStr")
        for column in range(1, columns + 1)
    )
    out.append(f'<row r="{row}">{header}</row>')
    template = [rng.random() < density for _ in range(columns)]
    for _ in range(rows):
        row += rng.choice((1, 1, 1, 1, 2, 5))
        if rng.random() < 0.1:
            out.append(f'<row r="{row}"/>')
            continue
        if rng.random() < 0.3:
            template = [rng.random() < density for _ in range(columns)]
        cells = "".join(
            random_cell(rng, book, column, row)
            for column in range(1, columns + 1)
            if template[column - 1]
        )
        out.append(f'<row r="{row}" spans="1:{columns}">{cells}</row>')
    return "".join(out)


def uniform_rows(first_row: int, rows: int, cells: list[tuple[str, int | None, str]]) -> str:
    """Rows of one shape (the fast path's runs): cells as (t, s, value text) per column."""
    out = []
    for row in range(first_row, first_row + rows):
        body = "".join(
            cell(column, row, f"<v>{value.format(row=row)}</v>", t=t, s=s)
            for column, (t, s, value) in enumerate(cells, start=1)
        )
        out.append(f'<row r="{row}">{body}</row>')
    return "".join(out)
