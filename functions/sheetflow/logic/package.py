"""Finds a workbook's parts the way the Open Packaging Conventions define them.

No part is looked for at an assumed path: `_rels/.rels` names the package's main document (the
officeDocument relationship), `[Content_Types].xml` says what that document is, and the
workbook's own relationships part maps each listed sheet to its worksheet part. Producers are
free to name parts as they like (`xl/wb.xml`, `/xl/worksheets/data.xml`, ...).

openpyxl, which parses the workbook afterwards, is the reference for what is readable: it picks
the workbook part by its content type and resolves sheet targets as written here, so a package it
reads passes. What it would silently get wrong is refused with a code instead: a listed sheet
whose part is absent (openpyxl drops the sheet and the task would "succeed" without it), Strict
Open XML whose sheets openpyxl cannot see, and binary (.xlsb) or non-spreadsheet documents.
"""

from __future__ import annotations

import posixpath
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError
from defusedxml.ElementTree import iterparse as _defused_iterparse

from sheetflow.logic.errors import ErrorCode, PermanentError

CONTENT_TYPES_PART = "[Content_Types].xml"
PACKAGE_RELS_PART = "_rels/.rels"

_TRANSITIONAL_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_STRICT_REL = "http://purl.oclc.org/ooxml/officeDocument/relationships"
OFFICE_DOCUMENT = f"{_TRANSITIONAL_REL}/officeDocument"
STRICT_OFFICE_DOCUMENT = f"{_STRICT_REL}/officeDocument"
SPREADSHEET_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
STRICT_SPREADSHEET_NS = "http://purl.oclc.org/ooxml/spreadsheetml/main"
_PACKAGE_RELS_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_CONTENT_TYPES_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
_RELATIONSHIP_ID = f"{{{_TRANSITIONAL_REL}}}id"

# The workbook content types openpyxl opens, in the order it looks for them.
WORKBOOK_TYPES = (
    "application/vnd.ms-excel.template.macroEnabled.main+xml",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml",
    "application/vnd.ms-excel.sheet.macroEnabled.main+xml",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
)
XLSB_TYPE = "application/vnd.ms-excel.sheet.binary.macroEnabled.main"
SHARED_STRINGS_TYPE = (
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
)
_SAVE_AS_XLSX = "open it in Excel or LibreOffice and save it as Excel Workbook (.xlsx)"


def iterparse(source: Any, events: tuple[str, ...]) -> Iterator[tuple[str, Any]]:
    """Streaming parse that refuses DTDs and entities outright."""
    parsed: Iterator[tuple[str, Any]] = _defused_iterparse(source, events=events, forbid_dtd=True)
    return parsed


@dataclass(frozen=True)
class SheetPart:
    name: str
    part: str


@dataclass(frozen=True)
class WorkbookParts:
    workbook: str
    sheets: tuple[SheetPart, ...]
    # Found by its content type, as openpyxl finds it; None when the package has none.
    shared_strings: str | None = None

    @property
    def parsed_parts(self) -> tuple[str, ...]:
        """Parts openpyxl parses as XML beyond the ones found by their suffix."""
        return (self.workbook, *(sheet.part for sheet in self.sheets))


def locate_workbook(archive: zipfile.ZipFile, max_sheets: int) -> WorkbookParts:
    """The workbook part and each listed sheet's part, or PermanentError saying what is wrong."""
    names = set(archive.namelist())
    try:
        content_types = _ContentTypes.read(archive)
        office_document, strict = _office_document(archive, names)
        if office_document is not None:
            _refuse_other_formats(office_document, content_types.type_of(office_document))
        workbook = content_types.workbook_part() or office_document
        if workbook is None:
            raise PermanentError(
                ErrorCode.NOT_XLSX,
                "The file is an Office package but not a workbook: neither _rels/.rels nor "
                f"{CONTENT_TYPES_PART} names a workbook part (a .docx or .pptx renamed?).",
            )
        if workbook not in names:
            raise _missing(f"The workbook part {workbook!r}", names, workbook)
        listed = _listed_sheets(archive, workbook, max_sheets, strict)
        shared_strings = content_types.part_of_type(SHARED_STRINGS_TYPE)
        return WorkbookParts(
            workbook,
            _sheet_parts(archive, names, workbook, listed),
            shared_strings if shared_strings in names else None,
        )
    except DefusedXmlException as exc:
        raise PermanentError(
            ErrorCode.XML_ATTACK, f"A package part declares a DTD or XML entities: {exc}."
        ) from exc
    except ParseError as exc:
        raise PermanentError(
            ErrorCode.CORRUPT, f"A package part is not well-formed XML: {exc}."
        ) from exc


def _refuse_other_formats(part: str, content_type: str | None) -> None:
    kind = (content_type or "").lower()
    if kind == XLSB_TYPE.lower() or (content_type is None and part.lower().endswith(".bin")):
        raise PermanentError(
            ErrorCode.XLSB,
            f"The file is an Excel binary workbook (.xlsb, main part {part!r}), which is not "
            f"read here: {_SAVE_AS_XLSX}, then upload again.",
        )
    for marker, what in (
        ("wordprocessingml", "a Word document (.docx)"),
        ("ms-word", "a Word document (.docm)"),
        ("presentationml", "a PowerPoint presentation (.pptx)"),
        ("ms-powerpoint", "a PowerPoint presentation (.pptm)"),
    ):
        if marker in kind:
            raise PermanentError(
                ErrorCode.NOT_XLSX, f"The file is {what}, not a workbook: upload an .xlsx file."
            )


def _office_document(archive: zipfile.ZipFile, names: set[str]) -> tuple[str | None, bool]:
    """The target of the package's officeDocument relationship, if `_rels/.rels` has one, and
    whether that relationship is Strict Open XML's.

    openpyxl does not read `_rels/.rels`, so a package without it is still readable: None.
    """
    if PACKAGE_RELS_PART not in names:
        return None, False
    for attributes in _elements(archive, PACKAGE_RELS_PART, "Relationship"):
        kind = attributes.get("Type", "")
        if kind in (OFFICE_DOCUMENT, STRICT_OFFICE_DOCUMENT) and (
            attributes.get("TargetMode") != "External"
        ):
            return _resolve("", attributes.get("Target", "")), kind == STRICT_OFFICE_DOCUMENT
    return None, False


def _listed_sheets(
    archive: zipfile.ZipFile, workbook: str, max_sheets: int, strict: bool
) -> list[tuple[str, str]]:
    """(name, relationship id) of every sheet the workbook lists, in order.

    Elements are matched by local name and ids by the transitional relationship namespace, as
    openpyxl does. A sheet element without such an id is skipped, as openpyxl does (older .xlsm
    files carry such leftovers); a workbook left with no sheet at all is refused, and named
    Strict Open XML when it is one (its ids are in Strict's namespace, which openpyxl ignores).
    """
    listed: list[tuple[str, str]] = []
    with archive.open(workbook) as source:
        root: Any = None
        for event, element in iterparse(source, events=("start", "end")):
            if root is None:
                root = element
                strict = strict or element.tag.startswith(f"{{{STRICT_SPREADSHEET_NS}}}")
                continue
            if event != "end":
                continue
            tag = element.tag.rsplit("}", 1)[-1]
            if tag == "sheet" and element.get(_RELATIONSHIP_ID):
                listed.append((element.get("name", ""), element.get(_RELATIONSHIP_ID, "")))
                if len(listed) > max_sheets:
                    raise PermanentError(
                        ErrorCode.TOO_MANY_ENTRIES,
                        f"The workbook lists more than {max_sheets} sheets.",
                    )
            elif tag == "sheets":
                break  # everything needed is read; the rest may be large (defined names)
            root.clear()
    if not listed and strict:
        raise _strict()
    if not listed:
        raise PermanentError(
            ErrorCode.CORRUPT,
            f"The workbook part {workbook!r} lists no sheets; a workbook has at least one. "
            "Open the file in Excel or LibreOffice and save it again.",
        )
    return listed


def _sheet_parts(
    archive: zipfile.ZipFile, names: set[str], workbook: str, listed: list[tuple[str, str]]
) -> tuple[SheetPart, ...]:
    rels_part = rels_part_of(workbook)
    if rels_part not in names:
        raise _missing(
            f"The workbook lists {len(listed)} sheet(s) but its relationships part {rels_part!r}",
            names,
            rels_part,
        )
    wanted = {rel_id for _, rel_id in listed}
    targets: dict[str, dict[str, str]] = {}
    for attributes in _elements(archive, rels_part, "Relationship"):
        rel_id = attributes.get("Id", "")
        if rel_id in wanted and rel_id not in targets:
            targets[rel_id] = attributes
    sheets = []
    folder = posixpath.dirname(workbook)
    for name, rel_id in listed:
        relationship = targets.get(rel_id)
        if relationship is None:
            raise PermanentError(
                ErrorCode.MISSING_PART,
                f"The sheet {name!r} refers to relationship {rel_id!r}, which {rels_part!r} "
                "does not define: the workbook is damaged. Open it in Excel or LibreOffice "
                "and save it again.",
            )
        if relationship.get("TargetMode") == "External":
            raise PermanentError(
                ErrorCode.MISSING_PART,
                f"The sheet {name!r} points outside the package "
                f"({relationship.get('Target', '')!r}): its data is not in the file.",
            )
        part = _resolve(folder, relationship.get("Target", ""))
        if part not in names:
            raise _missing(f"The sheet {name!r} is listed but its part {part!r}", names, part)
        if archive.getinfo(part).file_size == 0:
            raise PermanentError(
                ErrorCode.CORRUPT, f"The sheet {name!r} has an empty part {part!r}."
            )
        sheets.append(SheetPart(name, part))
    return tuple(sheets)


def rels_part_of(part: str) -> str:
    folder, name = posixpath.split(part)
    return posixpath.join(folder, "_rels", f"{name}.rels")


def _resolve(source_folder: str, target: str) -> str:
    """A relationship target as a zip entry name (absolute from the package root, or relative
    to the source part's folder), normalised the way openpyxl does it."""
    if target.startswith("/"):
        return target[1:]
    return posixpath.normpath(posixpath.join(source_folder, target))


def _missing(what: str, names: set[str], part: str) -> PermanentError:
    near = next((name for name in names if name.lower() == part.lower()), None)
    hint = f" (a part {near!r} exists, differing only in letter case)" if near else ""
    return PermanentError(
        ErrorCode.MISSING_PART,
        f"{what} is absent from the package{hint}: the file is incomplete or damaged. Open it "
        "in Excel or LibreOffice and save it again, then upload the new file.",
    )


def _strict() -> PermanentError:
    return PermanentError(
        ErrorCode.STRICT_OOXML,
        "The workbook is saved as Strict Open XML, which is not read here: "
        f"{_SAVE_AS_XLSX} (not 'Strict Open XML Spreadsheet'), then upload again.",
    )


def _elements(archive: zipfile.ZipFile, part: str, local_name: str) -> Iterator[dict[str, str]]:
    """The attributes of every element called `local_name` in a part, in constant memory."""
    with archive.open(part) as source:
        root: Any = None
        for event, element in iterparse(source, events=("start", "end")):
            if root is None:
                root = element
            if event == "end" and element.tag.rsplit("}", 1)[-1] == local_name:
                yield dict(element.attrib)
                root.clear()


@dataclass(frozen=True)
class _ContentTypes:
    defaults: dict[str, str]
    overrides: dict[str, str]

    @classmethod
    def read(cls, archive: zipfile.ZipFile) -> _ContentTypes:
        defaults: dict[str, str] = {}
        overrides: dict[str, str] = {}
        with archive.open(CONTENT_TYPES_PART) as source:
            root: Any = None
            for event, element in iterparse(source, events=("start", "end")):
                if root is None:
                    root = element
                if event != "end":
                    continue
                tag = element.tag.rsplit("}", 1)[-1]
                if tag == "Default":
                    extension = element.get("Extension", "").lower()
                    defaults.setdefault(extension, element.get("ContentType", ""))
                elif tag == "Override":
                    overrides.setdefault(
                        element.get("PartName", ""), element.get("ContentType", "")
                    )
                root.clear()
        return cls(defaults, overrides)

    def type_of(self, part: str) -> str | None:
        overridden = self.overrides.get(f"/{part}")
        if overridden is not None:
            return overridden
        return self.defaults.get(posixpath.splitext(part)[1].lstrip(".").lower())

    def part_of_type(self, content_type: str) -> str | None:
        """The first part overridden with `content_type` (how openpyxl finds shared strings)."""
        for part_name, declared in self.overrides.items():
            if declared == content_type:
                return part_name[1:]
        return None

    def workbook_part(self) -> str | None:
        """The part openpyxl opens: the first override with a workbook type, else
        xl/workbook.xml when a default maps an extension to a workbook type."""
        for workbook_type in WORKBOOK_TYPES:
            for part_name, content_type in self.overrides.items():
                if content_type == workbook_type:
                    return part_name[1:]
        if set(self.defaults.values()) & set(WORKBOOK_TYPES):
            return "xl/workbook.xml"
        return None
