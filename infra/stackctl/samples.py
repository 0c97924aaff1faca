"""Sample workbooks, good and broken, generated on demand (no binary files in the repository).

Used by the demo, the benchmarks and the tests. The broken ones each provoke one of the worker's
permanent error codes.
"""

from __future__ import annotations

import datetime as dt
import io
import random
import struct
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
    # bandit B311: reproducible sample data, not security
    rng = random.Random(seed)  # nosec B311
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


_END_OF_CHAIN = 0xFFFFFFFE
_FREE_SECTOR = 0xFFFFFFFF
_FAT_SECTOR = 0xFFFFFFFD
_SECTOR = 512


def compound_file(streams: dict[str, bytes]) -> bytes:
    """A minimal OLE2 compound file (version 3, 512-byte sectors) holding the named streams.

    Enough structure for a reader of the directory: one FAT sector, one directory sector (up to
    three streams besides the root), each stream padded to at least the 4096-byte mini-stream
    cutoff so it lives in regular sectors.
    """
    if len(streams) > 3:
        raise ValueError("at most three streams fit this minimal layout")
    chains: list[tuple[str, int, int]] = []  # name, first sector, size
    next_sector = 2  # 0: FAT, 1: directory
    fat = [_FAT_SECTOR, _END_OF_CHAIN]
    data = b""
    for name, content in streams.items():
        padded = content.ljust(max(len(content), 4096), b"\0")
        padded = padded.ljust(-(-len(padded) // _SECTOR) * _SECTOR, b"\0")
        count = len(padded) // _SECTOR
        chains.append((name, next_sector, len(content)))
        fat.extend([*range(next_sector + 1, next_sector + count), _END_OF_CHAIN])
        next_sector += count
        data += padded
    if len(fat) > _SECTOR // 4:
        raise ValueError("the streams do not fit one FAT sector")
    header = bytearray(_SECTOR)
    header[0:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    struct.pack_into("<HHHHH", header, 0x18, 0x3E, 3, 0xFFFE, 9, 6)
    struct.pack_into("<IIII", header, 0x2C, 1, 1, 0, 4096)
    struct.pack_into("<IIII", header, 0x3C, _END_OF_CHAIN, 0, _END_OF_CHAIN, 0)
    struct.pack_into("<109I", header, 0x4C, 0, *([_FREE_SECTOR] * 108))
    fat_sector = struct.pack(f"<{_SECTOR // 4}I", *fat, *([_FREE_SECTOR] * (128 - len(fat))))
    entries = [_directory_entry("Root Entry", 5, _END_OF_CHAIN, 0, child=1 if chains else None)]
    for index, (name, first, size) in enumerate(chains, start=1):
        sibling = index + 1 if index < len(chains) else None
        entries.append(_directory_entry(name, 2, first, size, sibling=sibling))
    directory = b"".join(entries).ljust(_SECTOR, b"\0")
    return bytes(header) + fat_sector + directory + data


def _directory_entry(
    name: str,
    kind: int,
    first: int,
    size: int,
    *,
    child: int | None = None,
    sibling: int | None = None,
) -> bytes:
    entry = bytearray(128)
    encoded = name.encode("utf-16-le") + b"\0\0"
    entry[: len(encoded)] = encoded
    struct.pack_into("<HBB", entry, 0x40, len(encoded), kind, 1)
    none = _FREE_SECTOR
    struct.pack_into("<III", entry, 0x44, none, sibling if sibling else none, child or none)
    struct.pack_into("<IQ", entry, 0x74, first, size)
    return bytes(entry)


def broken_file(kind: str) -> bytes:
    """A file the worker must refuse; `kind` is one of BROKEN_KINDS."""
    good = orders_workbook(3)
    if kind == "empty":
        return b""
    if kind == "csv":
        return b"order,customer,quantity\nORD-1,Avery,3\n"
    if kind == "encrypted":
        # Password-protected workbooks are OLE2 compound files wrapping the encrypted package
        # (here: random bytes standing in for the ciphertext).
        # bandit B311: sample bytes
        ciphertext = random.Random(11).randbytes(len(good))  # nosec B311
        return compound_file(
            {"EncryptionInfo": b"\x04\x00\x04\x00\x40\x00\x00\x00", "EncryptedPackage": ciphertext}
        )
    if kind == "legacy_xls":
        # Excel 97-2003 keeps its BIFF records in a stream named Workbook (a BOF record first).
        return compound_file({"Workbook": b"\x09\x08\x10\x00\x00\x06\x05\x00"})
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
    "legacy_xls": ErrorCode.LEGACY_XLS,
    "truncated": ErrorCode.CORRUPT,
    "zip_bomb": ErrorCode.ZIP_BOMB,
    "entity_expansion": ErrorCode.XML_ATTACK,
    "too_many_entries": ErrorCode.TOO_MANY_ENTRIES,
    "not_a_workbook": ErrorCode.NOT_XLSX,
    "word_document": ErrorCode.NOT_XLSX,
}
