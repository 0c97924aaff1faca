"""The shared-strings table of a workbook, read in chunks and kept compact.

A workbook of a million rows can hold millions of distinct strings: as Python objects they cost
about 60 bytes each on top of their text. The table keeps each chunk's text as one joined string
with an array of end offsets (4 bytes a string) and a byte per string saying whether it is empty,
so its memory is about the size of the text itself, which validation bounds (uncompressed part
sizes). The statistics need only emptiness for most cells; the text is cut out on demand (the
header row, cells read one by one).

The common element shape `<si><t>text</t></si>` is matched by a regular expression running in C;
any other shape (rich text runs, phonetic runs, entities, carriage returns) is read by
openpyxl's own text model on that one element, parsed by defusedxml, so the text is the one
openpyxl would produce. A table whose root is not in the default main namespace is read
entirely by openpyxl and then compacted.
"""

from __future__ import annotations

import bisect
import codecs
import re
from array import array
from collections.abc import Callable, Iterable
from itertools import accumulate
from operator import not_
from typing import IO

from defusedxml.ElementTree import fromstring
from openpyxl.cell.text import Text
from openpyxl.reader.strings import read_string_table

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_ROOT = re.compile(r"<sst\b[^>]*?\sxmlns=\"" + re.escape(MAIN_NS) + '"')
# One <si>: the plain shape captured as text, any other shape captured whole.
_SI = re.compile(
    r"<si><t(?: xml:space=\"preserve\")?>([^<&\r]*)</t></si>"
    r"|(<si\s*/>|<si(?:\s[^>]*[^/])?>.*?</si>)",
    re.S,
)
_CHUNK_BYTES = 1 << 20
_ESCAPED_UNDERSCORE = "x005F_"  # openpyxl removes this escape from shared strings


class SharedStrings:
    """Indexable like openpyxl's list of shared strings; `empty` flags each string that is ''."""

    def __init__(self) -> None:
        self._texts: list[str] = []  # one joined string per chunk
        self._ends: list[array[int]] = []  # per chunk, each string's end offset in its text
        self._firsts: list[int] = []  # index of each chunk's first string
        self._count = 0
        self.empty = bytearray()

    def extend(self, strings: list[str]) -> None:
        if not strings:
            return
        lengths = list(map(len, strings))
        ends = array("I", accumulate(lengths))
        self._texts.append("".join(strings))
        self._ends.append(ends)
        self._firsts.append(self._count)
        self._count += len(strings)
        self.empty.extend(bytes(map(not_, lengths)))

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: int) -> str:
        if index < 0:
            index += self._count  # a Python list's reading of a negative index, as openpyxl's
        if not 0 <= index < self._count:
            raise IndexError(f"shared string {index} does not exist ({self._count} in the table)")
        chunk = bisect.bisect_right(self._firsts, index) - 1
        local = index - self._firsts[chunk]
        ends = self._ends[chunk]
        start = ends[local - 1] if local else 0
        return self._texts[chunk][start : ends[local]]

    @property
    def text_chars(self) -> int:
        return sum(map(len, self._texts))


def read_shared_strings(open_part: Callable[[], IO[bytes]]) -> SharedStrings:
    """The table from the xl/sharedStrings.xml part, streamed in chunks, never read whole."""
    with open_part() as source:
        try:
            return _read_plain(source)
        except _UnrecognisedError:
            pass
    with open_part() as source:
        strings = read_string_table(source)
    table = SharedStrings()
    for start in range(0, len(strings), 65536):
        table.extend(strings[start : start + 65536])
    return table


def _read_plain(source: IO[bytes]) -> SharedStrings:
    table = SharedStrings()
    decoder = codecs.getincrementaldecoder("utf-8")()
    head = source.read(_CHUNK_BYTES)
    if not _plain_utf8(head):
        raise _UnrecognisedError
    buffer = decoder.decode(head.removeprefix(codecs.BOM_UTF8), final=not head)
    match = _ROOT.search(buffer)
    if match is None or "<!" in buffer[: match.start()]:
        raise _UnrecognisedError  # another namespace, or a declaration the defused parser must see
    buffer = buffer[match.end() :]
    while True:
        data = source.read(_CHUNK_BYTES)
        buffer += decoder.decode(data, final=not data)
        cut = len(buffer) if not data else buffer.rfind("</si>") + len("</si>")
        if cut <= 0 and data:
            continue  # one string longer than a chunk: read on
        segment, buffer = buffer[:cut], buffer[cut:]
        table.extend(_segment_strings(segment))
        if not data:
            return table


def _segment_strings(segment: str) -> list[str]:
    found = _SI.findall(segment)
    if segment.count("<si") != len(found):
        # An <si> of a shape the expression does not know (attributes, spacing): read it all by
        # the element parser, which then decides.
        raise _UnrecognisedError
    strings = [plain if not whole else _element_text(whole) for plain, whole in found]
    if _ESCAPED_UNDERSCORE in segment:
        strings = [text.replace(_ESCAPED_UNDERSCORE, "") for text in strings]
    return strings


def _element_text(element: str) -> str:
    node = fromstring(f'<sst xmlns="{MAIN_NS}">{element}</sst>')[0]
    return str(Text.from_tree(node).content)


class _UnrecognisedError(Exception):
    """The fast path does not know this table's shape; openpyxl reads it."""


def _plain_utf8(head: bytes) -> bool:
    declaration = head[: head.find(b"?>") + 2] if head.startswith(b"<?xml") else b""
    encoding = re.search(rb"encoding=[\"']([^\"']+)", declaration)
    return encoding is None or encoding.group(1).lower() in (b"utf-8", b"utf8")


def compact(strings: Iterable[str]) -> SharedStrings:
    """A table holding the given strings (tests and the openpyxl path)."""
    table = SharedStrings()
    table.extend(list(strings))
    return table
