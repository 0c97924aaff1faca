"""The generated hostile corpus: each case is a file and the state the worker must leave it in.

Every case is built from code here (or a committed fixture), so the corpus documents itself: the
id says what is wrong, `code` what the user is told. Cases whose expected status is SUCCEEDED are
hostile in shape but legitimate in content (absurd declared dimensions, huge single cells):
refusing them would be a false rejection.
"""

from __future__ import annotations

import io
import random
import string
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stackctl import samples

from .packages import (
    MAIN_NS,
    REL_NS,
    Package,
    Sheet,
    one_sheet,
    zip_parts,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "workbooks"
STRICT_MAIN_NS = "http://purl.oclc.org/ooxml/spreadsheetml/main"
STRICT_OFFICE_DOCUMENT = "http://purl.oclc.org/ooxml/officeDocument/relationships/officeDocument"
XLSB_TYPE = "application/vnd.ms-excel.sheet.binary.macroEnabled.main"


@dataclass(frozen=True)
class HostileCase:
    case_id: str
    build: Callable[[], bytes]
    status: str  # the task's terminal status: FAILED or SUCCEEDED
    code: str | None = None  # the error code when FAILED
    heavy: bool = False  # large enough that peak memory is measured


def _failed(
    case_id: str, code: str, build: Callable[[], bytes], heavy: bool = False
) -> HostileCase:
    return HostileCase(case_id, build, "FAILED", code, heavy)


def _succeeded(case_id: str, build: Callable[[], bytes], heavy: bool = False) -> HostileCase:
    return HostileCase(case_id, build, "SUCCEEDED", None, heavy)


# --- package structure ---------------------------------------------------------------------------


def _two_sheets(second_part: str | None, second_target: str = "worksheets/b.xml") -> bytes:
    return Package(
        sheets=[
            Sheet("A", "worksheets/a.xml", "xl/worksheets/a.xml"),
            Sheet("B", second_target, second_part),
        ]
    ).to_bytes()


def _replace_in_part(data: bytes, part: str, old: bytes, new: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    parts[part] = parts[part].replace(old, new)
    return zip_parts(parts)


def _with_part(part: str, content: bytes, base: Package | None = None) -> bytes:
    package = base or one_sheet()
    parts = package.parts()
    parts[part] = content
    return zip_parts(parts)


def _damaged_member(mode: str) -> bytes:
    """A package whose sheet part has a wrong checksum, or garbled deflate data."""
    sheet_part = "xl/worksheets/sheet1.xml"
    data = one_sheet().to_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(sheet_part)
    if mode == "crc":
        # zipfile checks the data against the central directory's CRC.
        return _patch_central_crc(data, sheet_part.encode(), info.CRC ^ 1)
    damaged = bytearray(data)
    name_length, extra_length = struct.unpack_from("<HH", damaged, info.header_offset + 26)
    payload = info.header_offset + 30 + name_length + extra_length
    for offset in range(payload + 2, payload + min(info.compress_size, 40)):
        damaged[offset] ^= 0x5A
    return bytes(damaged)


def _patch_central_crc(data: bytes, name: bytes, crc: int) -> bytes:
    buffer = bytearray(data)
    position = 0
    while (position := buffer.find(b"PK\x01\x02", position)) != -1:
        length = struct.unpack_from("<H", buffer, position + 28)[0]
        if buffer[position + 46 : position + 46 + length] == name:
            struct.pack_into("<I", buffer, position + 16, crc)
        position += 4
    return bytes(buffer)


def _unsupported_compression() -> bytes:
    """The sheet part claims compression method 9 (Deflate64), which zipfile cannot read."""
    data = bytearray(one_sheet().to_bytes())
    name = b"xl/worksheets/sheet1.xml"
    position = 0
    while (position := data.find(b"PK\x03\x04", position)) != -1:
        length = struct.unpack_from("<H", data, position + 26)[0]
        if data[position + 30 : position + 30 + length] == name:
            struct.pack_into("<H", data, position + 8, 9)
        position += 4
    position = 0
    while (position := data.find(b"PK\x01\x02", position)) != -1:
        length = struct.unpack_from("<H", data, position + 28)[0]
        if data[position + 46 : position + 46 + length] == name:
            struct.pack_into("<H", data, position + 10, 9)
        position += 4
    return bytes(data)


def _too_many_sheets() -> bytes:
    """10,001 sheets listed, all pointing at one part (the zip itself stays small)."""
    sheets = "".join(
        f'<sheet name="s{index}" sheetId="{index}" r:id="rId1"/>' for index in range(1, 10_002)
    )
    workbook = (
        f'<workbook xmlns="{MAIN_NS}" xmlns:r="{REL_NS}"><sheets>{sheets}</sheets></workbook>'
    ).encode()
    return _with_part("xl/workbook.xml", workbook)


def _no_sheets() -> bytes:
    return _with_part(
        "xl/workbook.xml",
        f'<workbook xmlns="{MAIN_NS}" xmlns:r="{REL_NS}"><sheets/></workbook>'.encode(),
    )


def _strict_package() -> bytes:
    """Strict Open XML as Excel writes it: Strict relationship types and namespaces."""
    package = one_sheet(workbook_ns=STRICT_MAIN_NS, office_document_type=STRICT_OFFICE_DOCUMENT)
    parts = package.parts()
    parts["xl/workbook.xml"] = parts["xl/workbook.xml"].replace(
        REL_NS.encode(), b"http://purl.oclc.org/ooxml/officeDocument/relationships"
    )
    return zip_parts(parts)


def _xlsb_package() -> bytes:
    package = one_sheet(workbook_part="xl/workbook.bin", workbook_type=XLSB_TYPE)
    parts = package.parts()
    parts["xl/workbook.bin"] = b"\x83\x01\x00\x9c\x01\x00"  # BrtBeginBook, binary records
    return zip_parts(parts)


def _office_package(kind: str) -> bytes:
    main = {
        "docx": (
            "word/document.xml",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
        ),
        "pptx": (
            "ppt/presentation.xml",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
        ),
    }[kind]
    part, content_type = main
    return zip_parts(
        {
            "[Content_Types].xml": (
                '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                f'<Override PartName="/{part}" ContentType="{content_type}"/></Types>'
            ).encode(),
            "_rels/.rels": (
                '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
                'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org'
                f'/officeDocument/2006/relationships/officeDocument" Target="{part}"/>'
                "</Relationships>"
            ).encode(),
            part: b"<document/>",
        }
    )


def _encrypted_zip_entry() -> bytes:
    data = bytearray(one_sheet().to_bytes())
    position = 0
    while (position := data.find(b"PK\x01\x02", position)) != -1:
        flags = struct.unpack_from("<H", data, position + 8)[0]
        struct.pack_into("<H", data, position + 8, flags | 0x1)
        position += 4
    return bytes(data)


# --- OLE2 containers -----------------------------------------------------------------------------


def _ole2_directory_loop() -> bytes:
    data = bytearray(samples.compound_file({"Workbook": b"\x09\x08"}))
    # FAT entry of the directory sector (sector 1) points back to itself.
    struct.pack_into("<I", data, 512 + 4, 1)
    return bytes(data)


def _ole2_bad_sector_size() -> bytes:
    data = bytearray(samples.compound_file({"Workbook": b"\x09\x08"}))
    struct.pack_into("<H", data, 0x1E, 30)
    return bytes(data)


# --- cells and strings -----------------------------------------------------------------------


def _sheet_xml(body: str, dimension: str | None = None) -> str:
    dimension_xml = f'<dimension ref="{dimension}"/>' if dimension else ""
    return f'<worksheet xmlns="{MAIN_NS}">{dimension_xml}<sheetData>{body}</sheetData></worksheet>'


def _sheet(body: str, dimension: str | None = None) -> bytes:
    return one_sheet(xml=_sheet_xml(body, dimension)).to_bytes()


def _random_text(length: int, seed: int = 3) -> str:
    rng = random.Random(seed)
    return "".join(rng.choices(string.ascii_letters + string.digits, k=length))


def _big_cell(length: int, text: str | None = None) -> bytes:
    value = text if text is not None else _random_text(length)
    return _sheet(f'<row r="1"><c r="A1" t="inlineStr"><is><t>{value}</t></is></c></row>')


def _shared_strings(count: int, declared: int | None = None) -> bytes:
    items = "".join(f"<si><t>s{index}-{index * 7919 % 104729}</t></si>" for index in range(count))
    declared_count = declared if declared is not None else count
    table = (
        f'<sst xmlns="{MAIN_NS}" count="{declared_count}" uniqueCount="{declared_count}">'
        f"{items}</sst>"
    ).encode()
    rows = "".join(
        f'<row r="{row}"><c r="A{row}" t="s"><v>{row - 1}</v></c></row>'
        for row in range(1, min(count, 1000) + 1)
    )
    xml = f'<worksheet xmlns="{MAIN_NS}"><sheetData>{rows}</sheetData></worksheet>'
    package = one_sheet(
        xml=xml,
        extra_parts={"xl/sharedStrings.xml": table},
        workbook_rels_extra=(
            '<Relationship Id="rIdS" Type="http://schemas.openxmlformats.org/officeDocument/'
            '2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
        ),
    )
    parts = package.parts()
    parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(
        b"</Types>",
        b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
        b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
    )
    return zip_parts(parts)


def _wide_row(columns: int) -> bytes:
    cells = "".join(
        f'<c r="{_letters(column)}1"><v>{column}</v></c>' for column in range(1, columns + 1)
    )
    return _sheet(f'<row r="1">{cells}</row>')


def _letters(number: int) -> str:
    letters = ""
    while number:
        number, remainder = divmod(number - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def _sparse_corners() -> bytes:
    return _sheet(
        '<row r="1"><c r="A1"><v>1</v></c></row>'
        '<row r="1048576"><c r="XFD1048576"><v>2</v></c></row>'
    )


def _sparse_wide_rows(rows: int) -> bytes:
    """Each row has a cell in A and one in XFD, the last column: openpyxl pads the gap."""
    return _sheet(
        "".join(
            f'<row r="{row}"><c r="A{row}"><v>1</v></c><c r="XFD{row}"><v>2</v></c></row>'
            for row in range(1, rows + 1)
        )
    )


def _far_rows_sheets() -> bytes:
    """100 sheets, each with one cell in row 1 and one in the last row (under 10 KB zipped)."""
    xml = _sheet_xml(
        '<row r="1"><c r="A1"><v>1</v></c></row><row r="1048576"><c r="A1048576"><v>2</v></c></row>'
    )
    sheets = [
        Sheet(f"S{index}", f"worksheets/s{index}.xml", f"xl/worksheets/s{index}.xml", xml)
        for index in range(100)
    ]
    return Package(sheets=sheets).to_bytes()


def _fixture(relative: str) -> Callable[[], bytes]:
    return (FIXTURES / relative).read_bytes


def _broken(kind: str) -> Callable[[], bytes]:
    return lambda: samples.broken_file(kind)


MIB = 1024 * 1024

CASES: list[HostileCase] = [
    # The long-standing broken files (samples.BROKEN_KINDS).
    _failed("empty-file", "EMPTY_FILE", _broken("empty")),
    _failed("csv-renamed", "NOT_XLSX", _broken("csv")),
    _failed("encrypted-synthetic", "ENCRYPTED", _broken("encrypted")),
    _failed("legacy-xls-synthetic", "LEGACY_XLS", _broken("legacy_xls")),
    _failed("truncated-zip", "CORRUPT", _broken("truncated")),
    _failed("zip-bomb-zeros", "ZIP_BOMB", _broken("zip_bomb"), heavy=True),
    _failed("entity-expansion", "XML_ATTACK", _broken("entity_expansion")),
    _failed("too-many-entries", "TOO_MANY_ENTRIES", _broken("too_many_entries")),
    _failed("zip-not-office", "NOT_XLSX", _broken("not_a_workbook")),
    _failed("zip-word-like", "NOT_XLSX", _broken("word_document")),
    # Legacy and foreign formats, named as what they are.
    _failed("legacy-xls-libreoffice", "LEGACY_XLS", _fixture("libreoffice/orders-legacy.xls")),
    _failed(
        "password-protected-real", "ENCRYPTED", _fixture("libreoffice/password-protected.xlsx")
    ),
    _failed("legacy-doc", "NOT_XLSX", lambda: samples.compound_file({"WordDocument": b"\xec\xa5"})),
    _failed(
        "legacy-ppt", "NOT_XLSX", lambda: samples.compound_file({"PowerPoint Document": b"\0"})
    ),
    _failed("ole2-unknown-streams", "NOT_XLSX", lambda: samples.compound_file({"Data": b"x"})),
    _failed("ole2-header-only", "CORRUPT", lambda: samples.compound_file({})[:512]),
    _failed("ole2-directory-loop", "CORRUPT", _ole2_directory_loop),
    _failed("ole2-bad-sector-size", "CORRUPT", _ole2_bad_sector_size),
    _failed("xlsb-package", "XLSB", _xlsb_package),
    _failed("strict-ooxml", "STRICT_OOXML", _strict_package),
    _failed("docx-package", "NOT_XLSX", lambda: _office_package("docx")),
    _failed("pptx-package", "NOT_XLSX", lambda: _office_package("pptx")),
    _failed("zip-entry-encrypted-flag", "ENCRYPTED", _encrypted_zip_entry),
    # Parts the workbook lists but the package lacks or cannot give.
    _failed("sheet-part-absent", "MISSING_PART", lambda: _two_sheets(None)),
    _failed(
        "only-sheet-part-absent",
        "MISSING_PART",
        lambda: one_sheet().to_bytes(drop=("xl/worksheets/sheet1.xml",)),
    ),
    _failed(
        "workbook-rels-absent",
        "MISSING_PART",
        lambda: one_sheet().to_bytes(drop=("xl/_rels/workbook.xml.rels",)),
    ),
    _failed(
        "workbook-part-absent",
        "MISSING_PART",
        lambda: one_sheet().to_bytes(drop=("xl/workbook.xml",)),
    ),
    _failed(
        "sheet-rel-id-undefined",
        "MISSING_PART",
        lambda: _replace_in_part(
            one_sheet().to_bytes(), "xl/workbook.xml", b'r:id="rId1"', b'r:id="rId99"'
        ),
    ),
    _failed(
        "sheet-target-external",
        "MISSING_PART",
        lambda: _replace_in_part(
            one_sheet().to_bytes(),
            "xl/_rels/workbook.xml.rels",
            b'Target="worksheets/sheet1.xml"',
            b'Target="https://example.com/sheet1.xml" TargetMode="External"',
        ),
    ),
    _failed(
        "sheet-target-traversal",
        "MISSING_PART",
        lambda: _two_sheets("xl/worksheets/b.xml", "../../../../etc/passwd"),
    ),
    _failed(
        "sheet-target-case-mismatch",
        "MISSING_PART",
        lambda: one_sheet(target="worksheets/Sheet1.xml").to_bytes(),
    ),
    _failed("sheet-part-empty", "CORRUPT", lambda: _with_part("xl/worksheets/sheet1.xml", b"")),
    _failed(
        "sheet-part-not-xml",
        "CORRUPT",
        lambda: _with_part("xl/worksheets/sheet1.xml", b"\x00\x01binary garbage\xff"),
    ),
    _failed("sheet-part-bad-crc", "CORRUPT", lambda: _damaged_member("crc")),
    _failed("sheet-part-garbled-deflate", "CORRUPT", lambda: _damaged_member("deflate")),
    _failed("sheet-part-deflate64", "CORRUPT", _unsupported_compression),
    _failed("workbook-lists-no-sheets", "CORRUPT", _no_sheets),
    _failed(
        "workbook-xml-malformed", "CORRUPT", lambda: _with_part("xl/workbook.xml", b"<workbook")
    ),
    _failed(
        "content-types-malformed",
        "CORRUPT",
        lambda: _with_part("[Content_Types].xml", b"<Types><Default"),
    ),
    _failed(
        "dtd-in-workbook-rels",
        "XML_ATTACK",
        lambda: _replace_in_part(
            one_sheet().to_bytes(),
            "xl/_rels/workbook.xml.rels",
            b"<Relationships",
            b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><Relationships',
        ),
    ),
    _failed("too-many-sheets-listed", "TOO_MANY_ENTRIES", _too_many_sheets),
    # Absurd sizes, declared or present.
    _succeeded(
        "dimension-whole-sheet-on-one-cell",
        lambda: _sheet('<row r="1"><c r="A1"><v>1</v></c></row>', "A1:XFD1048576"),
    ),
    _succeeded("cells-at-opposite-corners", _sparse_corners, heavy=True),
    _succeeded("rows-spanning-every-column", lambda: _sparse_wide_rows(60), heavy=True),
    _failed("2000-rows-spanning-every-column", "TOO_MANY_CELLS", lambda: _sparse_wide_rows(2000)),
    _failed("100-sheets-with-cells-a-million-rows-apart", "TOO_MANY_CELLS", _far_rows_sheets),
    _succeeded("one-row-16384-columns", lambda: _wide_row(16_384), heavy=True),
    _succeeded("shared-strings-declared-2-billion", lambda: _shared_strings(3, 2_000_000_000)),
    _succeeded("shared-strings-100k", lambda: _shared_strings(100_000), heavy=True),
    _succeeded("single-cell-5-mib", lambda: _big_cell(5 * MIB), heavy=True),
    _failed(
        "single-cell-64-mib-repetitive",
        "ZIP_BOMB",
        lambda: _big_cell(0, "a" * 64 * MIB),
        heavy=True,
    ),
    _failed(
        "file-over-size-limit",
        "TOO_LARGE",
        lambda: _with_part("xl/media/noise.bin", random.Random(5).randbytes(10 * MIB + 1024)),
        heavy=True,
    ),
]
