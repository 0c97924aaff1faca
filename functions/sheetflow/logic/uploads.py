"""Upload request rules: content type, body decoding, size and file name."""

from __future__ import annotations

import base64
import binascii

from sheetflow.logic.errors import ErrorCode, RequestRejectedError
from sheetflow.logic.filenames import stored_filename

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
OCTET_STREAM = "application/octet-stream"
ACCEPTED_MEDIA_TYPES = frozenset({XLSX_MEDIA_TYPE, OCTET_STREAM})

# POST /uploads carries the workbook inside the Lambda event. AWS caps a synchronous invocation's
# request payload at 6 MB (6,291,456 bytes), API Gateway base64-encodes a binary body (4 bytes
# for every 3) and the event adds headers, multiValueHeaders and requestContext (a few KB, at
# most ~20 KB with API Gateway's 10 KB header limit counted twice). So the raw body must stay
# under (6,291,456 - 20,480) * 3/4 = 4,703,232 bytes; 4 MiB leaves ~700 KB of base64 for the
# envelope. Larger files go to S3 directly (POST /uploads/presign or /uploads/multipart).
LAMBDA_PAYLOAD_LIMIT_BYTES = 6 * 1024 * 1024
MAX_API_UPLOAD_BYTES = 4 * 1024 * 1024


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
        f"The body is larger than {max_bytes} bytes, the most POST /uploads takes (a Lambda "
        "request is limited to 6 MB after API Gateway's base64 encoding). Upload larger "
        "workbooks straight to S3: POST /uploads/presign for a presigned POST, or POST "
        "/uploads/multipart for part URLs (`sheetflow upload --via presign` does this).",
    )


def safe_filename(requested: str | None) -> str:
    """A file name safe to use in an S3 key, always ending in .xlsx (the notification filter):
    see `sheetflow.logic.filenames.stored_filename`."""
    return stored_filename(requested)
