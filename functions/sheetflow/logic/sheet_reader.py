"""A streaming reader of one worksheet's XML that feeds the statistics a run of rows at a time.

Why not openpyxl here: it builds a Python object per cell (about 25k rows/s), and its statistics
then walk every cell again. This reader decompresses the part in chunks and lets regular
expressions (C code) do the per-cell work on a whole chunk:

- the chunk's *shape*: its markup with values, formula text and every digit removed. Rows of a
  data sheet mostly repeat one shape, so each distinct shape is parsed once (by expat,
  strictly) into a plan: which columns and cell types, which cells carry a value and a style;
- the chunk's values (`<v>` and inline `<t>` texts), style numbers and row numbers, as flat
  lists.

A run of rows with the same plan is then counted column by column with list slicing and C-level
builtins (`map(float, ...)`, `min`, `max`, a left fold for the sum, so sums equal a row-by-row
addition). Anything the fast path does not cover in a run (error values, blanks hidden in
values, dates out of range, the header row) goes through `exact_cell`, the same conversion
openpyxl applies, one cell at a time. Anything the plan parser does not know (rich inline
strings, comments, rows without a leading number, rows or cells out of order, another namespace
or encoding) raises `UnsupportedFormError`, and the caller reads that sheet with openpyxl.

The reader also counts the cell and row visits a row-by-row reader would make of the sheet
(`cell_span`), from each shape's cells: `read_sheet` returns them for the workbook's limit.

Safety: the validation in front refuses DTDs and entity declarations; here no parser expands
entities or fetches anything: the expressions do not interpret XML at all, and the expat parser
used for shapes and single values refuses any DOCTYPE, entity declaration, comment or processing
instruction and is never given an external-entity handler.
"""

from __future__ import annotations

import codecs
import datetime as dt
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from itertools import islice
from operator import lt
from typing import IO, Any, Protocol
from xml.parsers import expat

from openpyxl.utils.cell import column_index_from_string
from openpyxl.utils.datetime import from_excel, from_ISO8601

from sheetflow.logic.cell_span import MAX_COLUMN, SheetSpan, visits
from sheetflow.logic.shared_strings import MAIN_NS, SharedStrings

_CHUNK_BYTES = 1 << 20
_ROOT = re.compile(r"<worksheet\b[^>]*?\sxmlns=\"" + re.escape(MAIN_NS) + '"')
_SHEET_DATA = re.compile(r"<sheetData\s*(/?)>")
_SHEET_DATA_END = "</sheetData>"
# A chunk's shape: its text with every value (a <v>, or an inline string's <t>) replaced by an
# empty <v></v>, formula text removed, then every digit removed (row and column numbers, style
# numbers). Splitting on `_VALUE` yields shape pieces and values in one C-level pass; the style
# numbers, which the shape loses, are collected from it beforehand (`_STYLE`).
_VALUE = re.compile(r"<[vt]>([^<]*)</[vt]>")  # an alternation here makes it 3 times slower
_PRESERVE = '<t xml:space="preserve">'  # written as a plain <t> first: same text for openpyxl
_FORMULA_TEXT = re.compile(r"(<f\b[^>]*>)[^<]+")
_STYLE = re.compile(r" s=\"(\d*)\"")
_DIGITS = b"0123456789"
_EMPTY_VALUE = re.compile(rb"<[vt]\s*/>")
# Rows whose number is not their first attribute are not found: the count check at the end of
# a chunk then hands the sheet to openpyxl.
_ROW_NUMBER = re.compile(r"<row r=\"(\d+)\"")
# The plan cache is keyed by shape text, which a very wide row makes long: bound its bytes.
_MAX_PLAN_BYTES = 8 * 1024 * 1024


class UnsupportedFormError(Exception):
    """This sheet's XML has a form the fast reader does not handle; read it with openpyxl."""


@dataclass(frozen=True)
class Cell:
    column: int
    kind: str  # t attribute ('n' when absent)
    style: int  # 0 without an `s` attribute, as openpyxl reads it; else set per row from styles
    has_value: bool
    style_at: int | None = None  # index of its `s` among the piece's `s` attributes


@dataclass(frozen=True)
class Plan:
    """What one shape (a piece of text ending a row) holds."""

    rows: int  # row elements in the piece (self-closing rows come before the last one)
    slots: tuple[Cell, ...]  # the last row's cells that carry a value, in column order
    styles: int = 0  # `s` attributes in the piece (of rows and cells)
    cells: int = 0  # the last row's cells, with a value or not
    last_column: int = 0  # the last row's last cell's column: a row-by-row reader pads to it

    def styled(self, styles: list[str]) -> Plan:
        """This plan with the style numbers of one row (or of a run that shares them)."""
        slots = tuple(
            slot
            if slot.style_at is None
            else Cell(slot.column, slot.kind, _style(styles[slot.style_at]), True)
            for slot in self.slots
        )
        return replace(self, slots=slots)

    @property
    def min_column(self) -> int:
        return self.slots[0].column

    @property
    def max_column(self) -> int:
        return self.slots[-1].column


@dataclass(frozen=True)
class Context:
    shared: SharedStrings
    epoch: dt.datetime
    date_styles: frozenset[int]
    timedelta_styles: frozenset[int]


class Sink(Protocol):
    """What the reader feeds: the statistics of one sheet (parsing.SheetStats)."""

    header_row: int | None

    def add_cells(self, row_number: int, cells: list[tuple[int, Any, str]]) -> None: ...

    def add_run(
        self, first_row: int, last_row: int, count: int, plan: Plan, columns: list[Any]
    ) -> None: ...


def read_sheet(source: IO[bytes], sink: Sink, context: Context) -> SheetSpan:
    """Feed every row of the worksheet stream to `sink`; the sheet's cells and visits.

    UnsupportedFormError when openpyxl must read the sheet instead (nothing is fed after it)."""
    reader = _Reader(sink, context)
    for segment in _segments(source):
        reader.segment(segment)
    return SheetSpan(reader.cells, visits(reader.padded_cells, reader.last_row))


def _segments(source: IO[bytes]) -> Iterator[str]:
    """The text inside <sheetData>, in pieces that end at a </row>."""
    head = source.read(_CHUNK_BYTES)
    if not _plain_utf8(head):
        raise UnsupportedFormError("not UTF-8")
    decoder = codecs.getincrementaldecoder("utf-8")()
    buffer = decoder.decode(head.removeprefix(codecs.BOM_UTF8), final=not head)
    at_end = not head
    root = _ROOT.search(buffer)
    if root is None:
        raise UnsupportedFormError("root not in the main namespace")
    if "<!" in buffer[: root.start()]:
        raise UnsupportedFormError("a declaration before the root: the defused parser must see it")
    while True:
        start = _SHEET_DATA.search(buffer, root.end())
        if start is not None or at_end:
            break
        data = source.read(_CHUNK_BYTES)
        at_end = not data
        buffer += decoder.decode(data, final=at_end)
    if start is None or start.group(1):
        return  # no rows at all
    buffer = buffer[start.end() :]
    while True:
        end = buffer.find(_SHEET_DATA_END)
        if end >= 0:
            yield buffer[:end]
            return
        if at_end:
            raise UnsupportedFormError("no end of sheetData")
        cut = buffer.rfind("</row>") + len("</row>")
        if cut > len("</row>"):
            yield buffer[:cut]
            buffer = buffer[cut:]
        data = source.read(_CHUNK_BYTES)
        at_end = not data
        buffer += decoder.decode(data, final=at_end)


def _plain_utf8(head: bytes) -> bool:
    declaration = head[: head.find(b"?>") + 2] if head.startswith(b"<?xml") else b""
    encoding = re.search(rb"encoding=[\"']([^\"']+)", declaration)
    return encoding is None or encoding.group(1).lower() in (b"utf-8", b"utf8")


class _Reader:
    def __init__(self, sink: Sink, context: Context) -> None:
        self.sink = sink
        self.context = context
        self.plans: dict[bytes, Plan] = {}
        self.plan_bytes = 0
        self.last_row = 0
        self.cells = 0
        self.padded_cells = 0

    def segment(self, text: str) -> None:
        numbers = list(map(int, _ROW_NUMBER.findall(text)))
        if "<f" in text:
            text = _FORMULA_TEXT.sub(r"\1", text)
        if _PRESERVE in text:
            text = text.replace(_PRESERVE, "<t>")
        parts = _VALUE.split(text)
        values = parts[1::2]
        shape = "<v></v>".join(parts[0::2])
        del parts
        styles = _STYLE.findall(shape)
        # bytes.translate deletes in C at memory speed; str.translate does not
        pieces = shape.encode().translate(None, _DIGITS).split(b"</row>")
        tail = pieces.pop()  # after the last </row>: whitespace or self-closing rows
        runs: list[tuple[Plan, int]] = []
        previous = None
        plan = None
        count = 0
        plans = self.plans
        for piece in pieces:  # consecutive rows of one shape make a run
            if piece == previous:
                count += 1
                continue
            if plan is not None:
                runs.append((plan, count))
            plan = plans.get(piece)
            if plan is None:
                plan = self._plan(piece, closed=True)
            previous, count = piece, 1
        if plan is not None:
            runs.append((plan, count))
        if tail.strip():
            runs.append((self._plan(tail, closed=False), 1))
        value_at = row_at = style_at = 0
        for plan, count in runs:
            row_end = row_at + plan.rows * count
            value_end = value_at + len(plan.slots) * count
            style_end = style_at + plan.styles * count
            if row_end > len(numbers) or value_end > len(values) or style_end > len(styles):
                raise UnsupportedFormError("rows or values not where the shape says")
            self._run(
                plan,
                count,
                numbers=numbers[row_at:row_end],
                values=values,
                at=value_at,
                styles=styles[style_at:style_end],
            )
            row_at, value_at, style_at = row_end, value_end, style_end
            self.cells += plan.cells * count
            self.padded_cells += plan.last_column * count
        if row_at != len(numbers) or value_at != len(values) or style_at != len(styles):
            raise UnsupportedFormError("rows or values not where the shape says")

    def _plan(self, piece: bytes, *, closed: bool) -> Plan:
        plan = _parse_plan(piece + b"</row>" if closed else piece)
        if self.plan_bytes + len(piece) > _MAX_PLAN_BYTES:
            self.plans.clear()  # a sheet of ever-new shapes: keep the cache bounded
            self.plan_bytes = 0
        self.plans[piece] = plan
        self.plan_bytes += len(piece)
        return plan

    def _run(
        self,
        plan: Plan,
        count: int,
        *,
        numbers: list[int],
        values: list[str],
        at: int,
        styles: list[str],
    ) -> None:
        if numbers:
            if numbers[0] <= self.last_row or not all(map(lt, numbers, islice(numbers, 1, None))):
                raise UnsupportedFormError("rows out of order")
            self.last_row = numbers[-1]
        if not plan.slots:
            return  # rows without values: nothing to count
        width = len(plan.slots)
        data_rows = numbers[plan.rows - 1 :: plan.rows]
        done = 0
        while self.sink.header_row is None and done < count:
            self._exact_row(plan, data_rows[done], values, at + done * width, styles, row=done)
            done += 1
        if done == count:
            return
        shared = _shared_styles(plan, styles, done)
        if shared is not None:
            start = at + done * width
            end = at + count * width
            columns = self._fast_columns(shared, values, start, end)
            if columns is not None:
                self.sink.add_run(data_rows[done], data_rows[-1], count - done, shared, columns)
                return
        for index in range(done, count):
            self._exact_row(plan, data_rows[index], values, at + index * width, styles, row=index)

    def _exact_row(
        self,
        plan: Plan,
        row_number: int,
        values: list[str],
        at: int,
        styles: list[str],
        *,
        row: int,
    ) -> None:
        if plan.styles:
            plan = plan.styled(styles[row * plan.styles : (row + 1) * plan.styles])
        cells = [
            (slot.column, *exact_cell(slot, values[at + index], self.context))
            for index, slot in enumerate(plan.slots)
        ]
        self.sink.add_cells(row_number, cells)

    def _fast_columns(
        self, plan: Plan, values: list[str], start: int, end: int
    ) -> list[Any] | None:
        """Per slot, what the statistics need for the run; None if a cell needs exact reading.

        A number slot gives its floats; every other kind gives its cell count."""
        width = len(plan.slots)
        columns: list[Any] = []
        context = self.context
        for index, slot in enumerate(plan.slots):
            raw = values[start + index : end : width]
            kind = slot.kind
            try:
                if kind == "n":
                    numbers = list(map(float, raw))
                    if not math.isfinite(sum(numbers)):
                        return None  # non-finite values are errors, or a corrupt cell
                    if slot.style in context.date_styles:
                        as_timedelta = slot.style in context.timedelta_styles
                        from_excel(min(numbers), context.epoch, timedelta=as_timedelta)
                        from_excel(max(numbers), context.epoch, timedelta=as_timedelta)
                        columns.append(len(raw))
                    else:
                        columns.append(numbers)
                elif kind == "s":
                    empty = context.shared.empty
                    if any(map(empty.__getitem__, map(int, raw))):
                        return None  # an empty string is a blank cell
                    columns.append(len(raw))
                elif kind in ("str", "inlineStr"):
                    if "" in raw:
                        return None
                    columns.append(len(raw))
                elif kind == "b":
                    if raw.count("0") + raw.count("1") != len(raw):
                        return None
                    columns.append(len(raw))
                else:
                    return None  # errors, ISO dates and unknown types: cell by cell
            except (ValueError, IndexError, OverflowError):
                return None
        return columns


def _shared_styles(plan: Plan, styles: list[str], first: int) -> Plan | None:
    """The plan with the style numbers its rows from `first` on share; None if they differ."""
    if not plan.styles:
        return plan
    width = plan.styles
    for index in range(width):
        column = styles[first * width + index :: width]
        if column.count(column[0]) != len(column):
            return None
    return plan.styled(styles[first * width : (first + 1) * width])


def _style(number: str) -> int:
    # openpyxl keeps s="" as '' (no date style); -1 is in no style set either.
    return int(number) if number else -1


# What a cell of a fast kind counts as in the statistics.
FAST_KIND = {"n": "number", "s": "string", "str": "string", "inlineStr": "string", "b": "bool"}


def fast_kind(slot: Cell, context: Context) -> str:
    if slot.kind == "n" and slot.style in context.date_styles:
        return "date"
    return FAST_KIND[slot.kind]


def exact_cell(slot: Cell, raw: str, context: Context) -> tuple[Any, str]:
    """(value, data_type) exactly as openpyxl's read-only parser gives it with data_only."""
    value: Any = xml_text(raw) if ("&" in raw or "\r" in raw) else raw
    value = value or None
    data_type = slot.kind
    if value is None:
        return None, data_type
    if data_type == "n":
        value = float(value) if ("." in value or "E" in value or "e" in value) else int(value)
        if slot.style in context.date_styles:
            data_type = "d"
            try:
                value = from_excel(
                    value, context.epoch, timedelta=slot.style in context.timedelta_styles
                )
            except (OverflowError, ValueError):
                return "#VALUE!", "e"
    elif data_type == "s":
        value = context.shared[int(value)]
    elif data_type == "b":
        value = bool(int(value))
    elif data_type in ("str", "inlineStr"):
        data_type = "s"
    elif data_type == "d":
        value = from_ISO8601(value)
    return value, data_type


def xml_text(raw: str) -> str:
    """The character data of raw element text (entities resolved, line ends normalised)."""
    parts: list[str] = []
    parser = _strict_parser()
    parser.CharacterDataHandler = parts.append
    try:
        parser.Parse(f"<v>{raw}</v>", True)
    except expat.ExpatError as exc:  # an undefined entity, say: openpyxl's parser decides
        raise UnsupportedFormError(f"value text not well-formed: {exc}") from exc
    return "".join(parts)


def _strict_parser() -> Any:
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.UnparsedEntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse
    parser.CommentHandler = _refuse
    parser.ProcessingInstructionHandler = _refuse
    parser.StartCdataSectionHandler = _refuse
    return parser


def _refuse(*_: object) -> Any:
    raise UnsupportedFormError("a declaration, comment, CDATA or processing instruction")


def _parse_plan(piece: bytes) -> Plan:
    # A self-closing <v/> (or inline <t/>) holds nothing: blank, as openpyxl reads it, and
    # invisible to `_VALUE`, so it is no slot either.
    piece = _EMPTY_VALUE.sub(b"", piece)
    builder = _PlanBuilder()
    parser = _strict_parser()
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    try:
        parser.Parse(b"<sheetData>" + piece + b"</sheetData>", True)
    except expat.ExpatError as exc:
        raise UnsupportedFormError(f"shape not well-formed: {exc}") from exc
    except ValueError as exc:
        raise UnsupportedFormError(str(exc)) from exc
    slots = tuple(cell for cell in builder.cells if cell.has_value)
    last_column = min(builder.cells[-1].column, MAX_COLUMN) if builder.cells else 0
    return Plan(builder.rows, slots, builder.styles, len(builder.cells), last_column)


class _PlanBuilder:
    """Expat handlers that accept only rows, cells, values, inline strings and formulas."""

    def __init__(self) -> None:
        self.rows = 0
        self.cells: list[Cell] = []
        self.stack: list[str] = []
        self.column = 0
        self.styles = 0

    def end(self, _name: str) -> None:
        self.stack.pop()

    def start(self, name: str, attributes: dict[str, str]) -> None:
        parent = self.stack[-1] if self.stack else None
        self.stack.append(name)
        cells = self.cells
        if parent is None and name == "sheetData":
            return  # the wrapper given to the parser
        if name == "row" and parent == "sheetData":
            if "r" not in attributes:
                raise UnsupportedFormError("a row without its number")
            self.rows += 1
            cells.clear()
            self.column = 0
            self.styles += "s" in attributes
        elif name == "c" and parent == "row":
            self._cell(attributes)
        elif name == "v" and parent == "c" and cells[-1].kind != "inlineStr":
            _add_value(cells, attributes, {})
        elif name == "is" and parent == "c" and cells[-1].kind == "inlineStr" and not attributes:
            pass
        elif name == "v" and parent == "is":
            _add_value(cells, attributes, {})  # an inline <t> as the shape writes it
        elif name == "f" and parent == "c":
            pass  # the cached value is what counts (data_only)
        else:
            raise UnsupportedFormError(f"element {name} in {parent}")

    def _cell(self, attributes: dict[str, str]) -> None:
        reference = attributes.get("r")
        column = _column(reference) if reference is not None else self.column + 1
        if column <= self.column:
            raise UnsupportedFormError("cells out of order")
        self.column = column
        style_at = None
        if "s" in attributes:
            style_at = self.styles
            self.styles += 1
        self.cells.append(Cell(column, attributes.get("t", "n"), 0, False, style_at))


def _add_value(cells: list[Cell], attributes: dict[str, str], allowed: dict[str, str]) -> None:
    """Mark the current cell as carrying a value captured by `_VALUE` (one per cell)."""
    last = cells[-1]
    if last.has_value or attributes not in ({}, allowed):
        raise UnsupportedFormError("a value element of unusual form")
    cells[-1] = Cell(last.column, last.kind, last.style, True, last.style_at)


def _column(reference: str) -> int:
    reference = reference.rstrip("0123456789")  # digits are left when r is not first
    if not reference.isalpha() or not reference.isupper():
        raise UnsupportedFormError(f"cell reference {reference!r}")
    try:
        return int(column_index_from_string(reference))
    except ValueError as exc:
        raise UnsupportedFormError(f"cell reference {reference!r}") from exc
