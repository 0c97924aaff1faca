"""Hand-built OOXML packages: the smallest workbook zips that exercise the format's freedoms.

Producers may name parts as they like, point relationships at absolute or relative targets and
leave out every optional part (styles, shared strings, docProps). `package()` writes exactly the
parts it is given, so a test can also leave out or break a required one.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
CT_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
WORKBOOK_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
WORKSHEET_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
OFFICE_DOCUMENT = f"{REL_NS}/officeDocument"
WORKSHEET_REL = f"{REL_NS}/worksheet"


def sheet_xml(rows: list[list[object]], dimension: str | None = None) -> str:
    """A worksheet with inline strings and numbers; `rows[i]` fills row i+1 from column A."""
    body = []
    for row_number, values in enumerate(rows, start=1):
        cells = []
        for column, value in enumerate(values):
            ref = f"{column_letter(column + 1)}{row_number}"
            if value is None:
                continue
            if isinstance(value, int | float):
                cells.append(f'<c r="{ref}"><v>{value}</v></c>')
            else:
                cells.append(f'<c r="{ref}" t="inlineStr"><is><t>{escape(str(value))}</t></is></c>')
        body.append(f'<row r="{row_number}">{"".join(cells)}</row>')
    dimension_xml = f'<dimension ref="{dimension}"/>' if dimension else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{MAIN_NS}">{dimension_xml}'
        f"<sheetData>{''.join(body)}</sheetData></worksheet>"
    )


def column_letter(number: int) -> str:
    letters = ""
    while number:
        number, remainder = divmod(number - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


@dataclass
class Sheet:
    name: str
    target: str  # as written in the workbook's relationships part
    part: str | None  # the zip entry holding it; None leaves the part out
    xml: str = field(default_factory=lambda: sheet_xml([["name", "amount"], ["a", 1]]))


@dataclass
class Package:
    """The parts of a workbook package, editable before `to_bytes()`."""

    sheets: list[Sheet]
    workbook_part: str = "xl/workbook.xml"
    office_document_target: str | None = None  # defaults to "/" + workbook_part
    with_package_rels: bool = True
    with_content_types: bool = True
    workbook_type: str = WORKBOOK_TYPE
    workbook_ns: str = MAIN_NS
    office_document_type: str = OFFICE_DOCUMENT
    extra_parts: dict[str, bytes] = field(default_factory=dict)
    workbook_rels_extra: str = ""
    compression: int = zipfile.ZIP_DEFLATED

    def parts(self) -> dict[str, bytes]:
        folder, _, name = self.workbook_part.rpartition("/")
        rels_part = f"{folder}/_rels/{name}.rels" if folder else f"_rels/{name}.rels"
        parts: dict[str, bytes] = {}
        if self.with_content_types:
            overrides = [
                f'<Override PartName="/{self.workbook_part}" ContentType="{self.workbook_type}"/>'
            ] + [
                f'<Override PartName="/{sheet.part}" ContentType="{WORKSHEET_TYPE}"/>'
                for sheet in self.sheets
                if sheet.part
            ]
            parts["[Content_Types].xml"] = (
                f'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="{CT_NS}">'
                '<Default Extension="rels" '
                'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                '<Default Extension="xml" ContentType="application/xml"/>'
                f"{''.join(overrides)}</Types>"
            ).encode()
        if self.with_package_rels:
            target = self.office_document_target or f"/{self.workbook_part}"
            parts["_rels/.rels"] = (
                f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PKG_REL_NS}">'
                f'<Relationship Id="rId1" Type="{self.office_document_type}" '
                f"Target={quoteattr(target)}/></Relationships>"
            ).encode()
        sheet_elements = "".join(
            f'<sheet name={quoteattr(sheet.name)} sheetId="{index}" r:id="rId{index}"/>'
            for index, sheet in enumerate(self.sheets, start=1)
        )
        parts[self.workbook_part] = (
            f'<?xml version="1.0" encoding="UTF-8"?>'
            f'<workbook xmlns="{self.workbook_ns}" xmlns:r="{REL_NS}">'
            f"<sheets>{sheet_elements}</sheets></workbook>"
        ).encode()
        relationships = "".join(
            f'<Relationship Id="rId{index}" Type="{WORKSHEET_REL}" '
            f"Target={quoteattr(sheet.target)}/>"
            for index, sheet in enumerate(self.sheets, start=1)
        )
        parts[rels_part] = (
            f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PKG_REL_NS}">'
            f"{relationships}{self.workbook_rels_extra}</Relationships>"
        ).encode()
        for sheet in self.sheets:
            if sheet.part:
                parts[sheet.part] = sheet.xml.encode()
        parts.update(self.extra_parts)
        return parts

    def to_bytes(self, drop: tuple[str, ...] = ()) -> bytes:
        return zip_parts(
            {name: data for name, data in self.parts().items() if name not in drop},
            self.compression,
        )


def zip_parts(parts: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def one_sheet(
    part: str = "xl/worksheets/sheet1.xml",
    target: str = "worksheets/sheet1.xml",
    xml: str | None = None,
    **options: object,
) -> Package:
    sheet = Sheet("Data", target, part) if xml is None else Sheet("Data", target, part, xml)
    return Package(sheets=[sheet], **options)  # type: ignore[arg-type]
