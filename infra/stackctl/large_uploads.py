"""Uploads of any size straight to S3, streamed from the file with a progress bar.

Three ways, matching the API's routes: a presigned POST (one request, its policy caps the size),
a presigned multipart upload (part URLs from POST /uploads/multipart, then POST .../complete),
and boto3's managed transfer into the bucket (multipart above the same threshold, as the AWS CLI).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from boto3.s3.transfer import TransferConfig

from sheetflow.logic.uploads import XLSX_MEDIA_TYPE
from stackctl.api_client import ApiClient, http_request
from stackctl.errors import UserFacingError
from stackctl.progress import TransferProgress

# Above this a file goes in parts: what the AWS CLI and boto3 do by default.
MULTIPART_THRESHOLD_BYTES = 8 * 1024 * 1024
STREAM_CHUNK_BYTES = 1024 * 1024
# One part is in flight at a time per request; several parts go at once.
TRANSFER_CONFIG = TransferConfig(
    multipart_threshold=MULTIPART_THRESHOLD_BYTES,
    multipart_chunksize=MULTIPART_THRESHOLD_BYTES,
    max_concurrency=4,
)


def _file_chunks(
    path: Path, start: int, length: int, progress: TransferProgress
) -> Iterator[bytes]:
    with path.open("rb") as file:
        file.seek(start)
        left = length
        while left > 0:
            chunk = file.read(min(STREAM_CHUNK_BYTES, left))
            if not chunk:
                raise UserFacingError(f"{path} shrank while it was being uploaded.")
            left -= len(chunk)
            progress.advance(len(chunk))
            yield chunk


def post_form(presigned: dict[str, Any], path: Path, progress: TransferProgress) -> None:
    """The presigned POST: form fields first, the file last, streamed."""
    upload = presigned["upload"]
    boundary = f"sheetflow-{uuid.uuid4().hex}"
    head = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in upload["fields"].items()
    )
    head += (
        f"--{boundary}\r\nContent-Disposition: form-data; "
        f'name="{upload["file_field"]}"; filename="{path.name}"\r\n'
        f"Content-Type: {XLSX_MEDIA_TYPE}\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = path.stat().st_size

    def body() -> Iterator[bytes]:
        yield head
        yield from _file_chunks(path, 0, size, progress)
        yield tail

    response = http_request(
        "POST",
        upload["url"],
        body(),  # type: ignore[arg-type]  # urllib sends an iterable body chunk by chunk
        {
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(len(head) + size + len(tail)),
        },
        timeout=300,
    )
    if not response.ok:
        raise UserFacingError(
            f"S3 refused the upload of {path.name}: HTTP {response.status}, "
            f"{response.body.decode(errors='replace').strip()[:500]}",
            f"The largest accepted file is {presigned.get('max_bytes')} bytes.",
        )


def put_parts(
    api: ApiClient, started: dict[str, Any], path: Path, progress: TransferProgress
) -> None:
    """PUT every part to its URL (each signed for its exact length), then complete."""
    completed = []
    offset = 0
    for part in started["parts"]:
        size = int(part["size"])
        response = http_request(
            "PUT",
            part["url"],
            _file_chunks(path, offset, size, progress),  # type: ignore[arg-type]
            {"Content-Length": str(size)},
            timeout=300,
        )
        if not response.ok:
            raise UserFacingError(
                f"S3 refused part {part['part_number']} of {path.name}: HTTP {response.status}, "
                f"{response.body.decode(errors='replace').strip()[:500]}"
            )
        etag = next((v for k, v in response.headers.items() if k.lower() == "etag"), None)
        if not etag:
            raise UserFacingError(f"S3 returned no ETag for part {part['part_number']}.")
        completed.append({"part_number": part["part_number"], "etag": etag})
        offset += size
    api.complete_multipart(started["complete_path"], started["upload_id"], completed)


def upload_file_to_bucket(
    s3: Any, path: Path, bucket: str, key: str, progress: TransferProgress
) -> None:
    """boto3's managed upload: multipart above the threshold, parts in parallel."""
    s3.upload_file(
        str(path),
        bucket,
        key,
        ExtraArgs={"ContentType": XLSX_MEDIA_TYPE},
        Config=TRANSFER_CONFIG,
        Callback=progress.advance,
    )
