"""S3: uploads, downloads, results, presigned URLs."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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


@dataclass
class OpenedObject:
    """An object whose GET has answered: its size and metadata are known, its body is unread."""

    where: str
    size: int
    # User metadata (`x-amz-meta-*`), names without the prefix, lowercase.
    metadata: dict[str, str]
    body: Any

    def save(self, destination: Path, accept_size: Callable[[int], None]) -> int:
        """Stream the body to a local file (never held whole in memory); returns the size.

        `accept_size` sees the size before any byte is read and may raise to refuse it."""
        accept_size(self.size)
        with dependency_call(f"reading {self.where}"), destination.open("wb") as file:
            while chunk := self.body.read(DOWNLOAD_CHUNK_BYTES):
                file.write(chunk)
        return self.size


@contextmanager
def opened(bucket: str, key: str) -> Iterator[OpenedObject]:
    """One GET of the object, its body closed on leaving whether it was read or not.

    ObjectMissingError for a missing key, TransientError for other failures."""
    where = f"s3://{bucket}/{key}"
    with dependency_call(f"GetObject {where}"), _missing_as(bucket, key):
        response = s3_client().get_object(Bucket=bucket, Key=key)
    body = response["Body"]
    try:
        metadata = {name.lower(): value for name, value in response.get("Metadata", {}).items()}
        yield OpenedObject(where, int(response["ContentLength"]), metadata, body)
    finally:
        body.close()


def download(bucket: str, key: str, destination: Path, accept_size: Callable[[int], None]) -> int:
    """Stream the object to a local file with one GET (see `OpenedObject.save`)."""
    with opened(bucket, key) as found:
        return found.save(destination, accept_size)


@contextmanager
def _missing_as(bucket: str, key: str) -> Iterator[None]:
    try:
        yield
    except ClientError as exc:
        if error_code(exc) in _MISSING_OBJECT_CODES:
            raise ObjectMissingError(f"s3://{bucket}/{key} does not exist") from exc
        raise


def upload_file(bucket: str, key: str, path: Path, content_type: str) -> None:
    """Stream a local file to S3 (the SDK's managed transfer: multipart for large files)."""
    with dependency_call(f"upload of s3://{bucket}/{key}"):
        s3_client().upload_file(str(path), bucket, key, ExtraArgs={"ContentType": content_type})


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


@dataclass(frozen=True)
class PresignedPost:
    """A form upload to S3: POST `url` as multipart/form-data with `fields`, then the file."""

    url: str
    fields: dict[str, str]


def presigned_post(bucket: str, key: str, max_bytes: int, expires_in: int) -> PresignedPost:
    """S3 itself refuses a file outside 1..max_bytes (EntityTooLarge), before storing it."""
    with dependency_call("presign PostObject"):
        post = s3_client().generate_presigned_post(
            bucket,
            key,
            Conditions=[["content-length-range", 1, max_bytes]],
            ExpiresIn=expires_in,
        )
    return PresignedPost(url=post["url"], fields=dict(post["fields"]))


class MultipartRejectedError(Exception):
    """S3 refused to complete a multipart upload because of what the client sent."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


# Completion errors that are the client's doing (wrong ETag, missing part, tiny part, unknown id).
_CLIENT_MULTIPART_CODES = frozenset(
    {"InvalidPart", "InvalidPartOrder", "EntityTooSmall", "NoSuchUpload", "MalformedXML"}
)


@contextmanager
def _client_multipart_errors() -> Iterator[None]:
    try:
        yield
    except ClientError as exc:
        code = error_code(exc)
        if code in _CLIENT_MULTIPART_CODES:
            message = str(exc.response.get("Error", {}).get("Message", "")) or code
            raise MultipartRejectedError(code, message) from exc
        raise


def create_multipart_upload(bucket: str, key: str, filename: str) -> str:
    with dependency_call(f"CreateMultipartUpload s3://{bucket}/{key}"):
        response = s3_client().create_multipart_upload(
            Bucket=bucket,
            Key=key,
            ContentType=XLSX_MEDIA_TYPE,
            Metadata={"original-filename": filename.encode("ascii", "replace").decode()},
        )
    return response["UploadId"]


def presigned_part_url(
    bucket: str, key: str, upload_id: str, part_number: int, *, size: int, expires_in: int
) -> str:
    """An UploadPart URL signed for exactly `size` bytes (Content-Length is a signed header)."""
    with dependency_call("presign UploadPart"):
        return s3_client().generate_presigned_url(
            "upload_part",
            Params={
                "Bucket": bucket,
                "Key": key,
                "UploadId": upload_id,
                "PartNumber": part_number,
                "ContentLength": size,
            },
            ExpiresIn=expires_in,
        )


def uploaded_bytes(bucket: str, key: str, upload_id: str) -> int:
    """Total size of the parts S3 holds for a multipart upload."""
    total = 0
    with dependency_call(f"ListParts s3://{bucket}/{key}"), _client_multipart_errors():
        paginator = s3_client().get_paginator("list_parts")
        for page in paginator.paginate(Bucket=bucket, Key=key, UploadId=upload_id):
            total += sum(int(part.get("Size", 0)) for part in page.get("Parts", []))
    return total


def complete_multipart_upload(
    bucket: str, key: str, upload_id: str, parts: list[tuple[int, str]]
) -> None:
    """Assemble the object; S3 then sends ObjectCreated:CompleteMultipartUpload."""
    with (
        dependency_call(f"CompleteMultipartUpload s3://{bucket}/{key}"),
        _client_multipart_errors(),
    ):
        s3_client().complete_multipart_upload(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={
                "Parts": [{"PartNumber": number, "ETag": etag} for number, etag in parts]
            },
        )


def abort_multipart_upload(bucket: str, key: str, upload_id: str) -> None:
    with dependency_call(f"AbortMultipartUpload s3://{bucket}/{key}"), _client_multipart_errors():
        s3_client().abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)


def presigned_get_url(bucket: str, key: str, expires_in: int) -> str:
    with dependency_call("presign GetObject"):
        return s3_client().generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_in
        )


def bucket_reachable(bucket: str) -> None:
    """Raise TransientError when the bucket cannot be reached."""
    with dependency_call(f"HeadBucket {bucket}"):
        s3_client().head_bucket(Bucket=bucket)
