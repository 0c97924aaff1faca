"""Submitting a workbook by one of the three ways in: the API, a presigned PUT, or S3 directly."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from sheetflow.logic.task import upload_key
from sheetflow.logic.uploads import XLSX_MEDIA_TYPE
from stackctl import aws, large_uploads
from stackctl.api_client import ApiClient, post_presigned
from stackctl.errors import UserFacingError
from stackctl.progress import TransferProgress
from stackctl.stack import StackOutputs

# The most the API's POST /uploads accepts (MaxApiUploadBytes cannot exceed it).
API_BODY_LIMIT_BYTES = 4 * 1024 * 1024


class UploadRoute(StrEnum):
    API = "api"  # POST /uploads with the bytes
    PRESIGN = "presign"  # POST /uploads/presign, then PUT to the presigned URL
    S3 = "s3"  # put_object into the bucket: the S3 notification is the only trigger


@dataclass(frozen=True)
class SubmittedUpload:
    task_id: str
    route: UploadRoute
    filename: str
    key: str | None = None  # the object's key when we chose it (the API picks its own)


def read_workbook_file(path: Path) -> bytes:
    """The file's bytes; a clear error for a missing file or a name that is not .xlsx."""
    check_workbook_file(path)
    return path.read_bytes()


def check_workbook_file(path: Path) -> int:
    """The file's size; a clear error for a missing file or a name that is not .xlsx."""
    if not path.exists():
        raise UserFacingError(f"{path}: no such file.", "Give the path of an .xlsx workbook.")
    if not path.is_file():
        raise UserFacingError(f"{path}: not a file.", "Give the path of an .xlsx workbook.")
    if path.suffix.lower() != ".xlsx":
        raise UserFacingError(
            f"{path.name}: only .xlsx workbooks are processed "
            f"(got {path.suffix or 'no extension'!r}).",
            "Save the sheet as an Excel workbook (.xlsx) and upload that.",
        )
    return path.stat().st_size


def check_route_takes(path: Path, size: int, route: UploadRoute) -> None:
    """A file too large for the API is refused here: above ~4.7 MB AWS would answer a bare 500
    (Lambda refuses the event), never the API's own 413."""
    if route is UploadRoute.API and size > API_BODY_LIMIT_BYTES:
        raise UserFacingError(
            f"{path.name} is {size:,} bytes; POST /uploads takes at most "
            f"{API_BODY_LIMIT_BYTES:,} bytes (Lambda's 6 MB request limit after base64).",
            f"Upload it with `sheetflow upload {path} --via presign` (or --via s3).",
        )


def submit_file(path: Path, route: UploadRoute, outputs: StackOutputs) -> SubmittedUpload:
    """Upload a file by `route`, streamed from disk with a progress bar for the S3 routes.

    presign: a presigned POST up to the multipart threshold, presigned parts above it;
    s3: boto3's managed transfer (multipart above the same threshold).
    """
    size = check_workbook_file(path)
    check_route_takes(path, size, route)
    if route is UploadRoute.API:
        return submit(path.read_bytes(), path.name, route, outputs)
    api = ApiClient.for_stack(outputs)
    progress = TransferProgress(f"Uploading {path.name}", size)
    try:
        if route is UploadRoute.S3:
            task_id = uuid.uuid4().hex
            # Under the key's own folder: the task is then that client's (docs/security.md).
            key = upload_key(task_id, path.name, api.key_id)
            large_uploads.upload_file_to_bucket(
                aws.client("s3"), path, outputs["BucketName"], key, progress
            )
            return SubmittedUpload(task_id, route, path.name, key)
        if size > large_uploads.MULTIPART_THRESHOLD_BYTES:
            started = api.start_multipart(path.name, size)
            large_uploads.put_parts(api, started, path, progress)
            return SubmittedUpload(str(started["task_id"]), route, path.name, str(started["key"]))
        presigned = api.presign(path.name, size)
        large_uploads.post_form(presigned, path, progress)
        return SubmittedUpload(str(presigned["task_id"]), route, path.name, str(presigned["key"]))
    finally:
        progress.close()


def submit(
    data: bytes,
    filename: str,
    route: UploadRoute,
    outputs: StackOutputs,
    api: ApiClient | None = None,
) -> SubmittedUpload:
    """Upload `data` by `route`, as the client `api` (default: the stack's API with the key
    from SHEETFLOW_API_KEY or the stack's default key)."""
    api = api or ApiClient.for_stack(outputs)
    if route is UploadRoute.API:
        accepted = api.upload(data, filename)
        return SubmittedUpload(str(accepted["task_id"]), route, filename)
    if route is UploadRoute.PRESIGN:
        presigned = api.presign(filename, len(data))
        post_presigned(presigned, data, filename)
        return SubmittedUpload(str(presigned["task_id"]), route, filename, str(presigned["key"]))
    return put_into_bucket(data, filename, outputs, api.key_id)


def put_into_bucket(
    data: bytes, filename: str, outputs: StackOutputs, owner: str | None = None
) -> SubmittedUpload:
    """A file dropped straight into the bucket. The worker takes the task id from a key shaped
    `uploads/[<owner>/]<32 hex>/<name>`, so choosing that id here is what lets us follow the
    task; under `owner`'s folder the task is that client's, so its key can read it."""
    task_id = uuid.uuid4().hex
    key = upload_key(task_id, filename, owner)
    aws.client("s3").put_object(
        Bucket=outputs["BucketName"], Key=key, Body=data, ContentType=XLSX_MEDIA_TYPE
    )
    return SubmittedUpload(task_id, UploadRoute.S3, filename, key)
