"""Upload request rules: content type, body decoding, size and file name."""

from __future__ import annotations

import base64
import binascii
import re

from sheetflow.logic.errors import ErrorCode, RequestRejectedError

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
OCTET_STREAM = "application/octet-stream"
ACCEPTED_MEDIA_TYPES = frozenset({XLSX_MEDIA_TYPE, OCTET_STREAM})
DEFAULT_FILENAME = "upload.xlsx"
MAX_FILENAME_LENGTH = 120
_UNSAFE_CHARACTERS = re.compile(r"[^A-Za-z0-9._ -]+")


def media_type(content_type: str | None) -> str:
    """`Application/Octet-Stream; charset=x` -> `application/octet-stream`."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def decode_body(
    body: str | None, is_base64_encoded: bool, content_type: str | None, max_bytes: int
) -> bytes:
    """The uploaded bytes, or RequestRejectedError: MISSING_BODY, UNSUPPORTED_MEDIA_TYPE,
    INVALID_BASE64 or TOO_LARGE.

    API Gateway hands over binary bodies base64-encoded and flags them; a body that is valid
    UTF-8 may arrive as plain text with the flag off, so the flag alone decides the decoding.
    """
    if not body:
        raise RequestRejectedError("MISSING_BODY", "The request has no body: send the workbook.")
    received = media_type(content_type)
    if received not in ACCEPTED_MEDIA_TYPES:
        raise RequestRejectedError(
            "UNSUPPORTED_MEDIA_TYPE",
            f"Content-Type {received or '(none)'!r} is not accepted: "
            f"use {XLSX_MEDIA_TYPE} or {OCTET_STREAM}.",
        )
    if is_base64_encoded:
        # Base64 is 4/3 of the payload: reject obviously oversized bodies before decoding.
        if len(body) > (max_bytes + 2) // 3 * 4 + 4:
            raise _too_large(max_bytes)
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise RequestRejectedError(
                "INVALID_BASE64", f"The body is flagged base64 but does not decode: {exc}."
            ) from exc
    else:
        data = body.encode("utf-8", errors="surrogatepass")
    if not data:
        raise RequestRejectedError("MISSING_BODY", "The request body is empty.")
    if len(data) > max_bytes:
        raise _too_large(max_bytes)
    return data


def _too_large(max_bytes: int) -> RequestRejectedError:
    return RequestRejectedError(
        ErrorCode.TOO_LARGE,
        f"The workbook exceeds the {max_bytes} byte limit: upload a smaller file.",
    )


def safe_filename(requested: str | None) -> str:
    """A file name safe to use in an S3 key, always ending in .xlsx (the notification filter)."""
    name = (requested or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_CHARACTERS.sub("_", name).strip(" .")
    if not name:
        return DEFAULT_FILENAME
    stem = name[:-5] if name.lower().endswith(".xlsx") else name
    stem = stem[: MAX_FILENAME_LENGTH - 5].rstrip(" .") or "upload"
    return f"{stem}.xlsx"
