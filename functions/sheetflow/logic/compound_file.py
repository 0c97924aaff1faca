"""Names what an OLE2 compound file (Compound File Binary, `D0 CF 11 E0 ...`) contains.

Three different uploads share this container: a legacy .xls workbook (a `Workbook` or `Book`
stream), a password-protected .xlsx/.xlsm (the encrypted package is wrapped in `EncryptionInfo`
and `EncryptedPackage` streams), and other legacy Office documents. Only the directory's entry
names are read, never a stream: enough to tell the user what they uploaded and what to do.

The reader is bounded for hostile input: it follows at most as many sectors as the file holds,
detects loops, and gives up (None) on anything it does not understand.
"""

from __future__ import annotations

import struct
from enum import StrEnum
from typing import BinaryIO

OLE2_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_HEADER_BYTES = 512
_HEADER_DIFAT_ENTRIES = 109
_DIRECTORY_ENTRY_BYTES = 128
_LAST_REGULAR_SECTOR = 0xFFFFFFFA  # sector ids above this are markers (end of chain, free, ...)
_VALID_SECTOR_SHIFTS = (9, 12)  # 512-byte (version 3) and 4096-byte (version 4) sectors


class CompoundKind(StrEnum):
    ENCRYPTED_OOXML = "ENCRYPTED_OOXML"
    LEGACY_XLS = "LEGACY_XLS"
    LEGACY_DOC = "LEGACY_DOC"
    LEGACY_PPT = "LEGACY_PPT"
    UNKNOWN = "UNKNOWN"


def classify(stream: BinaryIO, size: int) -> CompoundKind | None:
    """What the compound file holds, or None when its directory cannot be read (damaged)."""
    names = directory_names(stream, size)
    if names is None:
        return None
    if {"EncryptionInfo", "EncryptedPackage"} <= names:
        return CompoundKind.ENCRYPTED_OOXML
    if names & {"Workbook", "Book"}:
        return CompoundKind.LEGACY_XLS
    if "WordDocument" in names:
        return CompoundKind.LEGACY_DOC
    if "PowerPoint Document" in names:
        return CompoundKind.LEGACY_PPT
    return CompoundKind.UNKNOWN


def directory_names(stream: BinaryIO, size: int) -> set[str] | None:
    """The names of every directory entry, or None if the structure is not readable."""
    stream.seek(0)
    header = stream.read(_HEADER_BYTES)
    if len(header) < _HEADER_BYTES or not header.startswith(OLE2_SIGNATURE):
        return None
    sector_shift = struct.unpack_from("<H", header, 0x1E)[0]
    if sector_shift not in _VALID_SECTOR_SHIFTS:
        return None
    sector_size = 1 << sector_shift
    sector_count = max((size - sector_size) // sector_size, 0)
    reader = _SectorReader(stream, sector_size, sector_count)
    fat_sectors = _fat_sector_ids(header, reader)
    if fat_sectors is None:
        return None
    fat = reader.fat(fat_sectors)
    first_directory_sector = struct.unpack_from("<I", header, 0x30)[0]
    chain = reader.chain(first_directory_sector, fat)
    if not chain:
        return None
    names: set[str] = set()
    for sector in chain:
        data = reader.sector(sector)
        if data is None:
            return None
        for offset in range(0, sector_size, _DIRECTORY_ENTRY_BYTES):
            name = _entry_name(data[offset : offset + _DIRECTORY_ENTRY_BYTES])
            if name:
                names.add(name)
    return names


def _fat_sector_ids(header: bytes, reader: _SectorReader) -> list[int] | None:
    """Where the allocation table lives: 109 ids in the header, the rest in the DIFAT chain."""
    fat_count = struct.unpack_from("<I", header, 0x2C)[0]
    if fat_count > reader.sector_count:
        return None
    ids = [
        sector
        for sector in struct.unpack_from(f"<{_HEADER_DIFAT_ENTRIES}I", header, 0x4C)
        if sector <= _LAST_REGULAR_SECTOR
    ]
    next_difat = struct.unpack_from("<I", header, 0x44)[0]
    per_sector = reader.sector_size // 4 - 1  # the last id of a DIFAT sector links the next one
    seen: set[int] = set()
    while next_difat <= _LAST_REGULAR_SECTOR and len(ids) < fat_count:
        if next_difat in seen:
            return None
        seen.add(next_difat)
        data = reader.sector(next_difat)
        if data is None:
            return None
        entries = struct.unpack_from(f"<{per_sector + 1}I", data)
        ids.extend(sector for sector in entries[:per_sector] if sector <= _LAST_REGULAR_SECTOR)
        next_difat = entries[per_sector]
    return ids[:fat_count]


def _entry_name(entry: bytes) -> str | None:
    if len(entry) < _DIRECTORY_ENTRY_BYTES or entry[0x42] == 0:  # type 0: unused entry
        return None
    length = struct.unpack_from("<H", entry, 0x40)[0]
    if not 2 <= length <= 64 or length % 2:
        return None
    # The length counts the terminating NUL character.
    return entry[: length - 2].decode("utf-16-le", errors="replace")


class _SectorReader:
    def __init__(self, stream: BinaryIO, sector_size: int, sector_count: int) -> None:
        self.stream = stream
        self.sector_size = sector_size
        self.sector_count = sector_count

    def sector(self, sector_id: int) -> bytes | None:
        if sector_id >= self.sector_count:
            return None
        self.stream.seek((sector_id + 1) * self.sector_size)
        data = self.stream.read(self.sector_size)
        return data if len(data) == self.sector_size else None

    def fat(self, fat_sectors: list[int]) -> list[int]:
        table: list[int] = []
        for sector_id in fat_sectors:
            data = self.sector(sector_id)
            if data is None:
                break
            table.extend(struct.unpack(f"<{self.sector_size // 4}I", data))
        return table

    def chain(self, start: int, fat: list[int]) -> list[int]:
        """The sectors of a chain, in order; empty if it leaves the file or loops."""
        sectors: list[int] = []
        seen: set[int] = set()
        while start <= _LAST_REGULAR_SECTOR:
            if start >= len(fat) or start in seen:
                return []
            seen.add(start)
            sectors.append(start)
            start = fat[start]
        return sectors
