"""Checks a downloaded file before any parser touches it.

Order matters: cheap signature checks first, then the zip directory (sizes, ratios, entry count,
encryption flags), then the XML parts for DTD/entity declarations. Only a file that passes all of
them is handed to openpyxl, which additionally parses through defusedxml.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from sheetflow.logic.errors import ErrorCode, PermanentError

ZIP_SIGNATURE = b"PK\x03\x04"
EMPTY_ZIP_SIGNATURE = b"PK\x05\x06"
# Compound File Binary (OLE2): encrypted OOXML workbooks are stored in this container, and so
# are legacy .xls files.
OLE2_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
CONTENT_TYPES_PART = "[Content_Types].xml"
WORKBOOK_PART = "xl/workbook.xml"
VBA_PART = "xl/vbaProject.bin"
_XML_SUFFIXES = (".xml", ".rels", ".vml")
_CELL_PARTS = ("xl/worksheets/", "xl/sharedStrings")


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
        raise PermanentError(
            ErrorCode.ENCRYPTED,
            "The file is an OLE2 compound document: a password-protected workbook (or a legacy "
            ".xls). Remove the password or save it as .xlsx, then upload again.",
        )
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
            _check_xml_parts(archive)
    except zipfile.BadZipFile as exc:
        raise PermanentError(
            ErrorCode.CORRUPT, f"The workbook's zip structure is damaged or truncated: {exc}."
        ) from exc
    return facts


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
    if WORKBOOK_PART not in names:
        raise PermanentError(
            ErrorCode.NOT_XLSX,
            f"The file is an Office document but not a workbook (no {WORKBOOK_PART}).",
        )
    return ArchiveFacts(
        entries=len(entries),
        uncompressed_bytes=total,
        has_macros=VBA_PART in names,
        cell_xml_bytes=sum(
            entry.file_size
            for entry in entries
            if entry.filename.startswith(_CELL_PARTS) and entry.filename.endswith(".xml")
        ),
    )


def _check_xml_parts(archive: zipfile.ZipFile) -> None:
    """Reject DTDs and entity declarations: no workbook needs them, entity attacks do.

    XML allows a DTD only in the prolog, before the root element, and entities only inside a
    DTD, so reading each part up to its root element is enough: a 300 MB worksheet is not
    decompressed twice.
    """
    for entry in archive.infolist():
        if not entry.filename.lower().endswith(_XML_SUFFIXES):
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
