"""Checks a downloaded file before any parser touches it.

Order matters: cheap signature checks first (an OLE2 container is named for what it holds), then
the zip directory (sizes, ratios, entry count, encryption flags), then the package structure
(workbook and sheet parts found through the package's relationships, see `package`), then the
prolog of every XML part openpyxl will parse, for DTD/entity declarations. Only a file that
passes all of them reaches a reader. The worksheets' cell positions are judged by the parse
(see `cell_span`): before openpyxl reads any sheet, or by the streaming reader as it goes, whose
time does not grow with the distance between cells.

Nothing here refuses a package openpyxl reads faithfully: the limits are resource limits, and
the structural codes name what openpyxl would fail on or silently get wrong.
"""

from __future__ import annotations

import zipfile
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

from sheetflow.logic import compound_file
from sheetflow.logic.compound_file import OLE2_SIGNATURE, CompoundKind
from sheetflow.logic.errors import ErrorCode, PermanentError
from sheetflow.logic.package import CONTENT_TYPES_PART, WorkbookParts, locate_workbook

ZIP_SIGNATURE = b"PK\x03\x04"
EMPTY_ZIP_SIGNATURE = b"PK\x05\x06"
VBA_PART_SUFFIX = "vbaproject.bin"
_XML_SUFFIXES = (".xml", ".rels", ".vml")


@dataclass(frozen=True)
class ValidationLimits:
    max_file_bytes: int = 10 * 1024 * 1024
    max_uncompressed_bytes: int = 200 * 1024 * 1024
    max_compression_ratio: int = 100
    # Small parts compress well by nature; the ratio check applies above this size.
    ratio_check_min_bytes: int = 1024 * 1024
    max_entries: int = 10_000


@dataclass(frozen=True)
class ArchiveFacts:
    entries: int
    uncompressed_bytes: int
    has_macros: bool
    # Uncompressed XML a parser must read: worksheets and the shared strings (the time budget).
    cell_xml_bytes: int = 0


def check_size(size: int, limits: ValidationLimits) -> None:
    if size == 0:
        raise PermanentError(ErrorCode.EMPTY_FILE, "The file is empty (0 bytes).")
    if size > limits.max_file_bytes:
        raise PermanentError(
            ErrorCode.TOO_LARGE,
            f"The file is {size} bytes; the limit is {limits.max_file_bytes} bytes.",
        )


def validate_workbook_file(path: Path, limits: ValidationLimits) -> ArchiveFacts:
    """Raise PermanentError with the matching code, or return what was learned on the way."""
    check_size(path.stat().st_size, limits)
    with path.open("rb") as stream:
        head = stream.read(8)
        if head.startswith(OLE2_SIGNATURE):
            raise _compound_file_error(compound_file.classify(stream, path.stat().st_size))
    if head.startswith(EMPTY_ZIP_SIGNATURE):
        raise PermanentError(ErrorCode.NOT_XLSX, "The file is an empty zip archive.")
    if not head.startswith(ZIP_SIGNATURE):
        raise PermanentError(
            ErrorCode.NOT_XLSX,
            "The file is not an .xlsx workbook (no zip signature); CSV and other formats must "
            "be saved as .xlsx first.",
        )
    try:
        with zipfile.ZipFile(path) as archive:
            facts = _check_directory(archive, limits)
            parts = locate_workbook(archive, max_sheets=limits.max_entries)
            _check_xml_parts(archive, parts)
            facts = replace(facts, cell_xml_bytes=_cell_xml_bytes(archive, parts))
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise PermanentError(
            ErrorCode.CORRUPT,
            f"The workbook's zip structure is damaged or truncated: {exc}. Save the file "
            "again and upload the new copy.",
        ) from exc
    except NotImplementedError as exc:
        # zipfile's answer to compression methods it cannot read (Deflate64, LZMA variants...).
        raise PermanentError(
            ErrorCode.CORRUPT,
            f"The workbook uses a zip feature that cannot be read: {exc}. Save it from Excel "
            "or LibreOffice as .xlsx and upload again.",
        ) from exc
    return facts


_COMPOUND_FILE_ERRORS = {
    CompoundKind.ENCRYPTED_OOXML: (
        ErrorCode.ENCRYPTED,
        "The workbook is password-protected (encrypted). Remove the password in Excel "
        "(File > Info > Protect Workbook > Encrypt with Password, clear it), save, and upload "
        "again.",
    ),
    CompoundKind.LEGACY_XLS: (
        ErrorCode.LEGACY_XLS,
        "The file is a legacy .xls workbook (Excel 97-2003 binary format), not .xlsx. Open it "
        "in Excel or LibreOffice and save it as Excel Workbook (.xlsx), then upload again.",
    ),
    CompoundKind.LEGACY_DOC: (
        ErrorCode.NOT_XLSX,
        "The file is a legacy Word document (.doc), not a workbook: upload an .xlsx file.",
    ),
    CompoundKind.LEGACY_PPT: (
        ErrorCode.NOT_XLSX,
        "The file is a legacy PowerPoint presentation (.ppt), not a workbook: upload an .xlsx "
        "file.",
    ),
    CompoundKind.UNKNOWN: (
        ErrorCode.NOT_XLSX,
        "The file is an OLE2 compound document holding neither a workbook nor an encrypted "
        "workbook: upload an .xlsx file.",
    ),
}


def _compound_file_error(kind: CompoundKind | None) -> PermanentError:
    if kind is None:
        return PermanentError(
            ErrorCode.CORRUPT,
            "The file starts like a legacy Office (OLE2) document but its directory cannot be "
            "read: it is damaged or truncated. An .xlsx file is expected.",
        )
    code, message = _COMPOUND_FILE_ERRORS[kind]
    return PermanentError(code, message)


def _check_directory(archive: zipfile.ZipFile, limits: ValidationLimits) -> ArchiveFacts:
    entries = archive.infolist()
    if len(entries) > limits.max_entries:
        raise PermanentError(
            ErrorCode.TOO_MANY_ENTRIES,
            f"The archive has {len(entries)} entries; the limit is {limits.max_entries}.",
        )
    total = 0
    for entry in entries:
        if entry.flag_bits & 0x1:
            raise PermanentError(
                ErrorCode.ENCRYPTED, f"The archive entry {entry.filename!r} is encrypted."
            )
        total += entry.file_size
        if total > limits.max_uncompressed_bytes:
            raise PermanentError(
                ErrorCode.ZIP_BOMB,
                f"The archive expands to more than {limits.max_uncompressed_bytes} bytes.",
            )
        if entry.file_size > limits.ratio_check_min_bytes:
            ratio = entry.file_size / max(entry.compress_size, 1)
            if ratio > limits.max_compression_ratio:
                raise PermanentError(
                    ErrorCode.ZIP_BOMB,
                    f"The archive entry {entry.filename!r} expands {ratio:.0f}x "
                    f"(limit {limits.max_compression_ratio}x).",
                )
    names = {entry.filename for entry in entries}
    if CONTENT_TYPES_PART not in names:
        raise PermanentError(
            ErrorCode.NOT_XLSX,
            f"The file is a zip archive but not an Office document (no {CONTENT_TYPES_PART}).",
        )
    return ArchiveFacts(
        entries=len(entries),
        uncompressed_bytes=total,
        has_macros=any(name.lower().endswith(VBA_PART_SUFFIX) for name in names),
    )


def _check_xml_parts(archive: zipfile.ZipFile, parts: WorkbookParts) -> None:
    """Reject DTDs and entity declarations: no workbook needs them, entity attacks do.

    XML allows a DTD only in the prolog, before the root element, and entities only inside a
    DTD, so reading each part up to its root element is enough: a 300 MB worksheet is not
    decompressed twice for this. Parts openpyxl parses whatever their name (a sheet part
    called `xl/sheets/one`) are scanned like the `.xml` ones.
    """
    parsed = set(parts.parsed_parts)
    for entry in archive.infolist():
        if not (entry.filename.lower().endswith(_XML_SUFFIXES) or entry.filename in parsed):
            continue
        with archive.open(entry) as part:
            head = part.read(PROLOG_SCAN_BYTES)
        verdict = _prolog_verdict(_decode_head(head), complete=len(head) < PROLOG_SCAN_BYTES)
        if verdict == _DECLARES_DTD:
            raise PermanentError(
                ErrorCode.XML_ATTACK,
                f"The part {entry.filename!r} declares a DTD or XML entities, which "
                "workbooks never need (entity-expansion attack).",
            )
        if verdict == _PROLOG_TOO_LONG:
            raise PermanentError(
                ErrorCode.XML_ATTACK,
                f"The part {entry.filename!r} has more than {PROLOG_SCAN_BYTES} bytes before "
                "its first element, where only a DTD could hide; workbooks never do this.",
            )


def _cell_xml_bytes(archive: zipfile.ZipFile, parts: WorkbookParts) -> int:
    """Uncompressed size of the XML the parser reads: the sheets and the shared strings."""
    read = {sheet.part for sheet in parts.sheets}
    if parts.shared_strings is not None:
        read.add(parts.shared_strings)
    return sum(archive.getinfo(name).file_size for name in read)


PROLOG_SCAN_BYTES = 64 * 1024
_DECLARES_DTD, _PROLOG_TOO_LONG, _CLEAN = "dtd", "long", "clean"


def _decode_head(head: bytes) -> str:
    """The start of a part as text, whatever its encoding (UTF-8, or UTF-16 with or without a
    byte-order mark); undecodable bytes are dropped, only markup matters here."""
    if head.startswith((b"\xff\xfe", b"<\x00")):
        return head[: len(head) // 2 * 2].decode("utf-16-le", errors="ignore").lstrip("\ufeff")
    if head.startswith((b"\xfe\xff", b"\x00<")):
        return head[: len(head) // 2 * 2].decode("utf-16-be", errors="ignore").lstrip("\ufeff")
    return head.decode("utf-8", errors="ignore").lstrip("\ufeff")


def _prolog_verdict(text: str, *, complete: bool) -> str:
    """Walk the prolog (declaration, processing instructions, comments, whitespace)."""
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            return _CLEAN if complete else _PROLOG_TOO_LONG
        for opener, closer in (("<?", "?>"), ("<!--", "-->")):
            if text.startswith(opener, position):
                end = text.find(closer, position + len(opener))
                if end < 0:
                    return _CLEAN if complete else _PROLOG_TOO_LONG
                position = end + len(closer)
                break
        else:
            # `<!DOCTYPE`, `<!ENTITY` or any other declaration before the root is refused; the
            # root element (or anything else) ends the prolog and is the parser's business.
            return _DECLARES_DTD if text.startswith("<!", position) else _CLEAN
