"""Keeps this LocalStack's S3 objects in its own folder.

LocalStack stores object bodies under one fixed `/tmp/localstack-s3-storage/<bucket>`, whatever
TMPDIR says. Two LocalStacks on one host (a second checkout's, or `make test`'s parallel lanes)
that hold a bucket of the same name (SAM's managed deployment bucket, at least) then share its
folder, and deleting the bucket in one removes the other's objects. Registered as an
`on_infra_start` hook, this points the store at the instance's temporary folder (TMPDIR, which
stackctl sets per instance) before the S3 provider is created.
"""

from __future__ import annotations

import os
import tempfile

from localstack.runtime import hooks


@hooks.on_infra_start()  # type: ignore[untyped-decorator]
def keep_s3_objects_in_this_instance() -> None:
    from localstack.services.s3 import provider  # noqa: PLC0415

    provider.DEFAULT_S3_TMP_DIR = os.path.join(tempfile.gettempdir(), "localstack-s3-storage")
