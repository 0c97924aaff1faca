"""Sample workbooks, good and broken, generated on demand (no binary files in the repository).

Used by the demo, the benchmarks and the tests. The broken ones each provoke one of the worker's
permanent error codes.
"""

from __future__ import annotations

import datetime as dt
import io
import random
import zipfile
from typing import Any

import openpyxl

from sheetflow.logic.errors import ErrorCode

HEADER = ["order", "customer", "quantity", "unit_price", "ordered_on", "paid"]
CUSTOMERS = ["Avery", "Blake", "Casey", "Devon", "Emery", "Finley", "Harper", "Jordan"]
EXCEL_ERROR_VALUES = ["#DIV/0!", "#N/A", "#REF!", "#VALUE!"]


def order_rows(count: int, seed: int = 7, errors_every: int = 0) -> list[list[Any]]:
    """Rows of an order sheet with text, integers, decimals, dates, booleans and some blanks.

    With `errors_every` > 0, every n-th row carries an Excel error value in `unit_price`.
    """
    rng = random.Random(seed)
    start = dt.datetime(2026, 1, 1)
    rows: list[list[Any]] = []
    for index in range(1, count + 1):
        price: Any = round(rng.uniform(1, 500), 2)
        if errors_every and index % errors_every == 0:
            price = EXCEL_ERROR_VALUES[(index // errors_every) % len(EXCEL_ERROR_VALUES)]
        rows.append(
            [
                f"ORD-{index:06d}",
                rng.choice(CUSTOMERS) if index % 17 else None,  # an occasional blank cell
                rng.randint(1, 40),
                price,
                start + dt.timedelta(days=rng.randint(0, 300)),
                rng.random() < 0.8,
            ]
        )
    return rows


def workbook_bytes(
    rows: list[list[Any]], header: list[str] | None = None, sheet_title: str = "Orders"
) -> bytes:
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet(sheet_title)
    sheet.append(header or HEADER)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def orders_workbook(count: int, seed: int = 7, errors_every: int = 0) -> bytes:
    return workbook_bytes(order_rows(count, seed, errors_every))


def rewrite_parts(source: bytes, replacements: dict[str, bytes]) -> bytes:
    """A copy of a zip with some parts replaced or added."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(source)) as original,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as copy,
    ):
        for entry in original.infolist():
            if entry.filename not in replacements:
                copy.writestr(entry.filename, original.read(entry.filename))
        for name, data in replacements.items():
            copy.writestr(name, data)
    return out.getvalue()


_ENTITY_EXPANSION = b"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1">
<si><t>&lol3;</t></si></sst>"""


def _zip_of(parts: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def broken_file(kind: str) -> bytes:
    """A file the worker must refuse; `kind` is one of BROKEN_KINDS."""
    good = orders_workbook(3)
    if kind == "empty":
        return b""
    if kind == "csv":
        return b"order,customer,quantity\nORD-1,Avery,3\n"
    if kind == "encrypted":
        # Password-protected workbooks are OLE2 compound files, not zips.
        return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504
    if kind == "truncated":
        return good[: len(good) // 2]
    if kind == "zip_bomb":
        # 50 MB of zeros deflate to about 50 KB: far beyond any real worksheet's ratio.
        return rewrite_parts(good, {"xl/worksheets/sheet2.xml": b"\0" * (50 * 1024 * 1024)})
    if kind == "entity_expansion":
        return rewrite_parts(good, {"xl/sharedStrings.xml": _ENTITY_EXPANSION})
    if kind == "too_many_entries":
        return rewrite_parts(good, {f"padding/{index}.txt": b"x" for index in range(10_001)})
    if kind == "not_a_workbook":
        return _zip_of({"readme.txt": "just a zip"})
    if kind == "word_document":
        return _zip_of({"[Content_Types].xml": "<Types/>", "word/document.xml": "<document/>"})
    raise ValueError(f"unknown broken file kind {kind!r}; choose from {', '.join(BROKEN_KINDS)}")


# Each kind of broken file, and the error code the worker must fail its task with.
BROKEN_KINDS: dict[str, ErrorCode] = {
    "empty": ErrorCode.EMPTY_FILE,
    "csv": ErrorCode.NOT_XLSX,
    "encrypted": ErrorCode.ENCRYPTED,
    "truncated": ErrorCode.CORRUPT,
    "zip_bomb": ErrorCode.ZIP_BOMB,
    "entity_expansion": ErrorCode.XML_ATTACK,
    "too_many_entries": ErrorCode.TOO_MANY_ENTRIES,
    "not_a_workbook": ErrorCode.NOT_XLSX,
    "word_document": ErrorCode.NOT_XLSX,
}
