"""File names from untrusted sources (API requests, S3 keys of direct uploads), made safe.

Two forms: the *stored* name that becomes the last segment of an S3 key (ASCII letters, digits
and `._ -` only, always ending in .xlsx, at most MAX_STORED_LENGTH characters, never a path),
and the *display* name kept on the task and in results (the user's own spelling, Unicode kept,
but without directories, control or bidirectional-override characters, and length-limited).
"""

from __future__ import annotations

import re
import unicodedata

DEFAULT_FILENAME = "upload.xlsx"
MAX_STORED_LENGTH = 120
MAX_DISPLAY_LENGTH = 255
_UNSAFE_STORED = re.compile(r"[^A-Za-z0-9._ -]+")
_XLSX_SUFFIX = ".xlsx"


def base_name(raw: str | None) -> str:
    """The last path segment, whatever separator the client's system used."""
    return (raw or "").replace("\\", "/").rsplit("/", 1)[-1]


def stored_filename(raw: str | None) -> str:
    """A name safe as the last segment of an S3 key, always ending in .xlsx (the bucket
    notification's filter)."""
    name = _UNSAFE_STORED.sub("_", base_name(raw)).strip(" .")
    if not name.strip("_"):
        return DEFAULT_FILENAME
    stem = name[: -len(_XLSX_SUFFIX)] if name.lower().endswith(_XLSX_SUFFIX) else name
    stem = stem[: MAX_STORED_LENGTH - len(_XLSX_SUFFIX)].rstrip(" .") or "upload"
    return f"{stem}{_XLSX_SUFFIX}"


def display_filename(raw: str | None) -> str:
    """The user's file name as shown back to them: Unicode kept; directories, control, format
    (bidi overrides, zero-width) and unpaired-surrogate characters dropped; whitespace runs
    collapsed; at most MAX_DISPLAY_LENGTH characters, keeping the extension."""
    kept = "".join(
        " " if character.isspace() else character
        for character in unicodedata.normalize("NFC", base_name(raw))
        if unicodedata.category(character) not in {"Cc", "Cf", "Cs", "Co", "Cn"}
        or character.isspace()
    )
    name = " ".join(kept.split()).strip(" .")
    if not name:
        return DEFAULT_FILENAME
    if len(name) <= MAX_DISPLAY_LENGTH:
        return name
    stem, dot, extension = name.rpartition(".")
    if dot and 0 < len(extension) <= 10:
        return f"{stem[: MAX_DISPLAY_LENGTH - len(extension) - 2]}~.{extension}"
    return f"{name[: MAX_DISPLAY_LENGTH - 1]}~"
