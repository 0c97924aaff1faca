"""Presigned multipart uploads: how a declared size is cut into parts, and what a client must
send back to complete the upload.

S3 wants every part but the last to be at least 5 MiB and allows at most 10,000 parts. Each part
URL is signed for one exact length, so on AWS a part of another length is refused by S3; the
completion checks the parts S3 actually holds against the size limit before assembling them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sheetflow.logic.errors import ErrorCode, RequestRejectedError

MIN_PART_BYTES = 5 * 1024 * 1024
DEFAULT_PART_BYTES = 8 * 1024 * 1024  # what the AWS CLI and boto3 use
MAX_PARTS = 10_000
_MIB = 1024 * 1024


@dataclass(frozen=True)
class PartPlan:
    part_number: int
    size: int


@dataclass(frozen=True)
class CompletedPart:
    part_number: int
    etag: str


def part_size_for(total: int, preferred: int = DEFAULT_PART_BYTES) -> int:
    """The preferred part size, grown (in whole MiB) when the file would need too many parts."""
    size = max(preferred, MIN_PART_BYTES)
    if total > size * MAX_PARTS:
        size = -(-total // MAX_PARTS)
        size = -(-size // _MIB) * _MIB
    return size


def plan_parts(total: int, part_size: int) -> list[PartPlan]:
    """Parts 1..n of `part_size` bytes, the last one holding the remainder."""
    count = max(-(-total // part_size), 1)
    return [
        PartPlan(number, min(part_size, total - (number - 1) * part_size))
        for number in range(1, count + 1)
    ]


def declared_size(document: dict[str, Any], max_bytes: int) -> int:
    """The `size` a client declares for its upload: INVALID_SIZE when absent or malformed,
    TOO_LARGE over the limit (no task or URL is made for a file that would be refused)."""
    size = document.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise RequestRejectedError(
            "INVALID_SIZE",
            f"'size' must be the file's length in bytes, a positive integer (got {size!r}).",
        )
    check_s3_upload_size(size, max_bytes)
    return size


def check_s3_upload_size(size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise RequestRejectedError(
            ErrorCode.TOO_LARGE,
            f"The workbook is {size} bytes; uploads through S3 take at most {max_bytes} bytes "
            "(MaxUploadBytes). Split the workbook or ask the operator to raise the limit.",
        )


def completed_parts(document: dict[str, Any]) -> tuple[str, list[CompletedPart]]:
    """`{"upload_id": "...", "parts": [{"part_number": 1, "etag": "..."}, ...]}`, checked."""
    upload_id = document.get("upload_id")
    parts = document.get("parts")
    if not isinstance(upload_id, str) or not upload_id:
        raise _bad_parts("'upload_id' must be the upload id returned by POST /uploads/multipart.")
    if not isinstance(parts, list) or not parts:
        raise _bad_parts("'parts' must list every uploaded part as {part_number, etag}.")
    completed = []
    for index, part in enumerate(parts):
        number = part.get("part_number") if isinstance(part, dict) else None
        etag = part.get("etag") if isinstance(part, dict) else None
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= MAX_PARTS:
            raise _bad_parts(f"parts[{index}].part_number must be 1..{MAX_PARTS}, not {number!r}.")
        if not isinstance(etag, str) or not etag:
            raise _bad_parts(
                f"parts[{index}].etag must be the ETag header S3 returned for that part."
            )
        completed.append(CompletedPart(number, etag))
    numbers = [part.part_number for part in completed]
    if numbers != sorted(set(numbers)):
        raise _bad_parts("'parts' must be in ascending part_number order, each number once.")
    return upload_id, completed


def _bad_parts(message: str) -> RequestRejectedError:
    return RequestRejectedError("INVALID_PARTS", message)
