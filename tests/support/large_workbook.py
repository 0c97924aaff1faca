"""Very large workbooks written straight as OOXML, with the statistics the worker must report.

openpyxl's writer manages ~30k rows/s; a million-row proof needs something faster, and the
statistics are computed while writing, from the very values written, so a test compares the
worker's result with numbers it did not get from any reader. Files are cached under
`.local/large-workbooks/` (generation takes tens of seconds) with their statistics beside them.
"""

from __future__ import annotations

import io
import json
import random
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

CACHE_DIR = Path(__file__).resolve().parents[2] / ".local" / "large-workbooks"
FORMAT_VERSION = 1  # bump when the layout below changes: cached files are then regenerated

HEADER = [
    "order",
    "customer",
    "quantity",
    "unit_price",
    "ordered_on",
    "paid",
    "region",
    "amount",
    "discount",
    "score",
]
CUSTOMERS = ["Avery", "Blake", "Casey", "Devon", "Emery", "Finley", "Harper", "Jordan"]
REGIONS = ["north", "south", "east", "west", "central"]
SHARED_STRINGS = HEADER + CUSTOMERS + REGIONS
BLANK_CUSTOMER_EVERY = 17
ERROR_EVERY = 50_000
FIRST_DATE_SERIAL = 46023  # 2026-01-01
NUMERIC_COLUMNS = ("A", "C", "D", "H", "I", "J")

_XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_SPREADSHEET = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_PACKAGE_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
_RELATION = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_CONTENT_TYPES = (
    _XML_HEAD + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    + "".join(
        f'<Override PartName="/xl/{part}" ContentType="{_SPREADSHEET}.{kind}+xml"/>'
        for part, kind in (
            ("workbook.xml", "sheet.main"),
            ("worksheets/sheet1.xml", "worksheet"),
            ("styles.xml", "styles"),
            ("sharedStrings.xml", "sharedStrings"),
        )
    )
    + "</Types>"
)
_ROOT_RELS = (
    _XML_HEAD + f'<Relationships xmlns="{_PACKAGE_RELS}">'
    f'<Relationship Id="rId1" Type="{_RELATION}/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
_WORKBOOK = (
    _XML_HEAD + '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    f'xmlns:r="{_RELATION}">'
    '<sheets><sheet name="Orders" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    _XML_HEAD
    + f'<Relationships xmlns="{_PACKAGE_RELS}">'
    + "".join(
        f'<Relationship Id="rId{number}" Type="{_RELATION}/{kind}" Target="{target}"/>'
        for number, kind, target in (
            (1, "worksheet", "worksheets/sheet1.xml"),
            (2, "styles", "styles.xml"),
            (3, "sharedStrings", "sharedStrings.xml"),
        )
    )
    + "</Relationships>"
)
# Style 1 is the built-in date format 14, which readers turn into dates.
_STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="1"><fill><patternFill patternType="none"/></fill></fills>'
    '<borders count="1"><border/></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    "</cellXfs>"
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)


@dataclass
class NumericColumn:
    count: int = 0
    total: float = 0.0
    low: float | None = None
    high: float | None = None

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.low = value if self.low is None else min(self.low, value)
        self.high = value if self.high is None else max(self.high, value)


@dataclass
class LargeWorkbookStats:
    """What the worker must report for the sheet (header row included in `rows`)."""

    rows: int = 1
    blank_customers: int = 0
    dates: int = 0
    booleans: int = 0
    strings_in_region: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    numeric: dict[str, NumericColumn] = field(
        default_factory=lambda: {letter: NumericColumn() for letter in NUMERIC_COLUMNS}
    )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> LargeWorkbookStats:
        numeric = {key: NumericColumn(**value) for key, value in document.pop("numeric").items()}
        errors = [(cell, value) for cell, value in document.pop("errors")]
        return cls(**document, numeric=numeric, errors=errors)


def _shared_strings() -> str:
    items = "".join(f"<si><t>{text}</t></si>" for text in SHARED_STRINGS)
    count = len(SHARED_STRINGS)
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        f'count="{count}" uniqueCount="{count}">{items}</sst>'
    )


def write_large_workbook(path: Path, data_rows: int, seed: int = 1) -> LargeWorkbookStats:
    """An order sheet of `data_rows` rows x 10 columns below a header; returns its statistics."""
    rng = random.Random(seed)
    stats = LargeWorkbookStats(rows=data_rows + 1)
    customer_index = {name: SHARED_STRINGS.index(name) for name in CUSTOMERS}
    region_index = {name: SHARED_STRINGS.index(name) for name in REGIONS}
    numeric = stats.numeric
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for name, text in (
            ("[Content_Types].xml", _CONTENT_TYPES),
            ("_rels/.rels", _ROOT_RELS),
            ("xl/workbook.xml", _WORKBOOK),
            ("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS),
            ("xl/styles.xml", _STYLES),
            ("xl/sharedStrings.xml", _shared_strings()),
        ):
            archive.writestr(name, text)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(
                (
                    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                    f'<dimension ref="A1:J{data_rows + 1}"/><sheetData>'
                    '<row r="1">'
                    + "".join(
                        f'<c r="{chr(65 + index)}1" t="s"><v>{index}</v></c>'
                        for index in range(len(HEADER))
                    )
                    + "</row>"
                ).encode()
            )
            chunk: list[str] = []
            for index in range(1, data_rows + 1):
                r = index + 1
                quantity = rng.randint(1, 40)
                price = round(rng.uniform(1, 500), 2)
                amount = round(quantity * price, 2)
                discount = round(rng.random() * 0.3, 4)
                score = rng.randint(0, 1000)
                region = rng.choice(REGIONS)
                paid = rng.random() < 0.8
                cells = [f'<row r="{r}"><c r="A{r}"><v>{index}</v></c>']
                numeric["A"].add(index)
                if index % BLANK_CUSTOMER_EVERY:
                    customer = customer_index[rng.choice(CUSTOMERS)]
                    cells.append(f'<c r="B{r}" t="s"><v>{customer}</v></c>')
                else:
                    stats.blank_customers += 1
                cells.append(f'<c r="C{r}"><v>{quantity}</v></c>')
                numeric["C"].add(quantity)
                if index % ERROR_EVERY:
                    cells.append(f'<c r="D{r}"><v>{price}</v></c>')
                    numeric["D"].add(price)
                else:
                    cells.append(f'<c r="D{r}" t="e"><v>#N/A</v></c>')
                    stats.errors.append((f"D{r}", "#N/A"))
                cells.append(
                    f'<c r="E{r}" s="1"><v>{FIRST_DATE_SERIAL + index % 300}</v></c>'
                    f'<c r="F{r}" t="b"><v>{int(paid)}</v></c>'
                    f'<c r="G{r}" t="s"><v>{region_index[region]}</v></c>'
                    f'<c r="H{r}"><v>{amount}</v></c>'
                    f'<c r="I{r}"><v>{discount}</v></c>'
                    f'<c r="J{r}"><v>{score}</v></c></row>'
                )
                stats.dates += 1
                stats.booleans += 1
                stats.strings_in_region += 1
                numeric["H"].add(amount)
                numeric["I"].add(discount)
                numeric["J"].add(score)
                chunk.append("".join(cells))
                if len(chunk) == 5000:
                    sheet.write("".join(chunk).encode())
                    chunk.clear()
            sheet.write(("".join(chunk) + "</sheetData></worksheet>").encode())
    return stats


def cached_large_workbook(data_rows: int, seed: int = 1) -> tuple[Path, LargeWorkbookStats]:
    """The workbook and its statistics, generated once per (rows, seed, format version)."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    stem = f"orders-{data_rows}-rows-seed{seed}-v{FORMAT_VERSION}"
    path, facts = CACHE_DIR / f"{stem}.xlsx", CACHE_DIR / f"{stem}.json"
    if path.exists() and facts.exists():
        return path, LargeWorkbookStats.from_json(json.loads(facts.read_text()))
    partial = path.with_suffix(".partial")
    stats = write_large_workbook(partial, data_rows, seed)
    facts.write_text(json.dumps(stats.to_json()))
    partial.replace(path)  # only a complete file is ever found in the cache
    return path, stats


def padded_workbook(path: Path, total_bytes: int, rows: int = 50) -> None:
    """A real workbook of `rows` order rows made `total_bytes` long by an embedded binary part
    (as a picture would be): big to upload, quick to parse."""
    from stackctl import samples

    small = samples.orders_workbook(rows)
    padding = max(total_bytes - len(small) - 200, 0)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        with zipfile.ZipFile(io.BytesIO(small)) as source:
            for entry in source.infolist():
                archive.writestr(entry.filename, source.read(entry.filename))
        # Random bytes do not compress: the file ends up as large as asked.
        archive.writestr(
            zipfile.ZipInfo("xl/media/padding.bin"),
            random.Random(total_bytes).randbytes(padding),
            compress_type=zipfile.ZIP_STORED,
        )
