"""S3: uploads, downloads, results, presigned URLs."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from sheetflow.dal.clients import s3_client
from sheetflow.dal.errors import dependency_call, error_code
from sheetflow.logic.errors import TransientError
from sheetflow.logic.uploads import XLSX_MEDIA_TYPE

_MISSING_OBJECT_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


class ObjectMissingError(Exception):
    """The object named by a message is not (or no longer) in the bucket."""


DOWNLOAD_CHUNK_BYTES = 1024 * 1024


def download(bucket: str, key: str, destination: Path, accept_size: Callable[[int], None]) -> int:
    """Stream the object to a local file with one GET (never held whole in memory).

    `accept_size` sees the object's size before any byte is read and may raise to refuse it.
    Returns the size. ObjectMissingError for a missing key, TransientError for other failures.
    """
    where = f"s3://{bucket}/{key}"
    with dependency_call(f"GetObject {where}"), _missing_as(bucket, key):
        response = s3_client().get_object(Bucket=bucket, Key=key)
    body = response["Body"]
    try:
        size = int(response["ContentLength"])
        accept_size(size)
        with dependency_call(f"reading {where}"), destination.open("wb") as file:
            while chunk := body.read(DOWNLOAD_CHUNK_BYTES):
                file.write(chunk)
    finally:
        body.close()
    return size


@contextmanager
def _missing_as(bucket: str, key: str) -> Iterator[None]:
    try:
        yield
    except ClientError as exc:
        if error_code(exc) in _MISSING_OBJECT_CODES:
            raise ObjectMissingError(f"s3://{bucket}/{key} does not exist") from exc
        raise


def object_metadata(bucket: str, key: str) -> dict[str, str] | None:
    """The object's user metadata (`x-amz-meta-*`, names without the prefix, lowercase); None
    when the object does not exist."""
    try:
        with dependency_call(f"HeadObject s3://{bucket}/{key}"), _missing_as(bucket, key):
            response = s3_client().head_object(Bucket=bucket, Key=key)
    except ObjectMissingError:
        return None
    return {name.lower(): value for name, value in response.get("Metadata", {}).items()}


def put_upload(bucket: str, key: str, data: bytes, filename: str) -> None:
    with dependency_call(f"PutObject s3://{bucket}/{key}"):
        s3_client().put_object(
            Bucket=bucket,
            Key=key,
            Body=data,
            ContentType=XLSX_MEDIA_TYPE,
            Metadata={"original-filename": filename.encode("ascii", "replace").decode()},
        )


def put_json(bucket: str, key: str, document: dict[str, Any]) -> None:
    body = json.dumps(document, separators=(",", ":"), default=str).encode()
    with dependency_call(f"PutObject s3://{bucket}/{key}"):
        s3_client().put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")


def delete_objects(bucket: str, keys: list[str]) -> int:
    """Delete keys (missing ones count as deleted: deletion is idempotent)."""
    if not keys:
        return 0
    with dependency_call(f"DeleteObjects s3://{bucket}"):
        response = s3_client().delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True}
        )
    errors = response.get("Errors", [])
    if errors:
        first = errors[0]
        raise TransientError(
            f"DeleteObjects s3://{bucket} failed for {len(errors)} keys, first "
            f"{first.get('Key')}: {first.get('Code')} {first.get('Message')}"
        )
    return len(keys)


def presigned_put_url(bucket: str, key: str, expires_in: int) -> str:
    with dependency_call("presign PutObject"):
        return s3_client().generate_presigned_url(
            "put_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_in
        )


def presigned_get_url(bucket: str, key: str, expires_in: int) -> str:
    with dependency_call("presign GetObject"):
        return s3_client().generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_in
        )


def bucket_reachable(bucket: str) -> None:
    """Raise TransientError when the bucket cannot be reached."""
    with dependency_call(f"HeadBucket {bucket}"):
        s3_client().head_bucket(Bucket=bucket)
