"""Submitting a workbook by one of the three ways in: the API, a presigned PUT, or S3 directly."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from sheetflow.logic.task import upload_key
from sheetflow.logic.uploads import XLSX_MEDIA_TYPE
from stackctl import aws
from stackctl.api_client import ApiClient, put_presigned
from stackctl.errors import UserFacingError
from stackctl.stack import StackOutputs


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
    return path.read_bytes()


def submit(
    data: bytes, filename: str, route: UploadRoute, outputs: StackOutputs
) -> SubmittedUpload:
    if route is UploadRoute.API:
        accepted = ApiClient(outputs.api_base_url).upload(data, filename)
        return SubmittedUpload(str(accepted["task_id"]), route, filename)
    if route is UploadRoute.PRESIGN:
        presigned = ApiClient(outputs.api_base_url).presign(filename)
        put_presigned(str(presigned["upload_url"]), data)
        return SubmittedUpload(str(presigned["task_id"]), route, filename, str(presigned["key"]))
    return put_into_bucket(data, filename, outputs)


def put_into_bucket(data: bytes, filename: str, outputs: StackOutputs) -> SubmittedUpload:
    """A file dropped straight into the bucket. The worker takes the task id from a key shaped
    `uploads/<32 hex>/<name>`, so choosing that id here is what lets us follow the task."""
    task_id = uuid.uuid4().hex
    key = upload_key(task_id, filename)
    aws.client("s3").put_object(
        Bucket=outputs["BucketName"], Key=key, Body=data, ContentType=XLSX_MEDIA_TYPE
    )
    return SubmittedUpload(task_id, UploadRoute.S3, filename, key)
