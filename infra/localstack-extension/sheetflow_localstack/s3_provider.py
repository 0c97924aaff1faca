"""S3 that keeps this LocalStack's object bodies in its own folder.

LocalStack's S3 provider stores object bodies under one fixed `/tmp/localstack-s3-storage/<bucket>`,
whatever TMPDIR says. Two LocalStacks on one host (a second checkout's, or `make test`'s parallel
lanes) that hold a bucket of the same name (SAM's managed deployment bucket, at least) then share
its folder, and deleting the bucket in one removes the other's objects. This provider is
LocalStack's own with its store in the instance's temporary folder (TMPDIR, which stackctl sets
per instance). Selected with PROVIDER_OVERRIDE_S3=sheetflow; loaded, like the default, on the
first S3 request.
"""

from __future__ import annotations

import os
import tempfile

from localstack.services.plugins import Service, aws_provider


@aws_provider(api="s3", name="sheetflow")  # type: ignore[untyped-decorator]
def s3_sheetflow() -> Service:
    from localstack.services.s3.provider import S3Provider  # noqa: PLC0415
    from localstack.services.s3.storage.ephemeral import EphemeralS3ObjectStore  # noqa: PLC0415

    store = EphemeralS3ObjectStore(os.path.join(tempfile.gettempdir(), "localstack-s3-storage"))
    return Service.for_provider(S3Provider(storage_backend=store))
