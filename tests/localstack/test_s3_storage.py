"""Each LocalStack keeps its S3 objects in its own folder: two instances with a bucket of the same
name (SAM's deployment bucket, in every stack) must not share, or delete, each other's objects."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from stackctl import paths
from tests.support.aws import AwsClientFactory

pytestmark = pytest.mark.localstack

# LocalStack's own default folder, which must stay unused.
SHARED_FOLDER = Path("/tmp/localstack-s3-storage")


def test_a_bucket_is_stored_under_its_own_instance_not_a_folder_shared_by_all(
    aws: AwsClientFactory,
) -> None:
    s3 = aws("s3")
    bucket = f"storage-probe-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    try:
        s3.put_object(Bucket=bucket, Key="object", Body=b"kept apart")
        assert s3.get_object(Bucket=bucket, Key="object")["Body"].read() == b"kept apart"
        own = paths.localstack_dir() / "tmp" / "localstack-s3-storage" / bucket
        assert own.is_dir()
        assert not (SHARED_FOLDER / bucket).exists()
    finally:
        s3.delete_object(Bucket=bucket, Key="object")
        s3.delete_bucket(Bucket=bucket)
    assert not own.exists()
