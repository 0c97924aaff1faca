"""The uploads of a chaos run: good workbooks whose statistics are known before they are sent,
hostile files with the error code they must end with, and the three ways in.

Good workbooks are order sheets of varied sizes (1 to 2,000 rows, some Excel error values); the
expected statistics come from the rows generated here, not from the product. Hostile files are
the generated corpus of `tests/support/hostile.py` (the cases that must FAIL, small enough for
the API). Every upload is named `<run prefix>-<number>.xlsx`, so the checker can find every task
the run created in the table, and only those.
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from sheetflow.logic.task import upload_key
from stackctl import aws, samples
from stackctl.api_client import ApiClient, post_presigned
from stackctl.errors import UserFacingError
from stackctl.stack import StackOutputs
from tests.support.hostile import CASES

ROUTES = ("api", "presign", "s3")
GOOD_ROWS = (1, 20, 150, 600, 2000)
# Hostile files go through the API and straight into the bucket. Through a presigned POST an
# empty or refused file would leave its task waiting for an upload that never comes (the
# watchdog fails it after the URL's 15 minutes), which is not what this run measures.
HOSTILE_ROUTES = ("api", "s3")
MAX_HOSTILE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Expected:
    """What a file must end as: SUCCEEDED with these statistics, or FAILED with `code`."""

    status: str
    code: str | None = None
    total_rows: int | None = None
    total_errors: int | None = None
    kind: str = "good"  # "good", or the hostile case id


@dataclass(frozen=True)
class Payload:
    data: bytes
    expected: Expected


@dataclass
class Upload:
    number: int
    route: str
    filename: str
    payload: Payload
    task_id: str | None = None
    key: str | None = None
    submitted_at: float = 0.0  # wall clock (time.time()), to compare with the task's timestamps
    refused: str | None = None  # why the way in refused it (nothing accepted)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        return self.task_id is not None and self.refused is None


def good_payloads(rng: random.Random, variants: int = 15) -> list[Payload]:
    payloads = []
    for index in range(variants):
        count = GOOD_ROWS[index % len(GOOD_ROWS)]
        rows = samples.order_rows(
            count, seed=rng.randrange(1 << 30), errors_every=rng.choice([0, 7])
        )
        errors = sum(1 for row in rows if row[3] in samples.EXCEL_ERROR_VALUES)
        payloads.append(
            Payload(
                samples.workbook_bytes(rows),
                Expected("SUCCEEDED", total_rows=count + 1, total_errors=errors),
            )
        )
    return payloads


def hostile_payloads() -> list[Payload]:
    payloads = []
    for case in CASES:
        if case.status != "FAILED" or case.heavy:
            continue
        data = case.build()
        if 0 < len(data) <= MAX_HOSTILE_BYTES:
            payloads.append(Payload(data, Expected("FAILED", code=case.code, kind=case.case_id)))
    return payloads


def plan_uploads(count: int, prefix: str, rng: random.Random, hostile_share: float) -> list[Upload]:
    good, hostile = good_payloads(rng), hostile_payloads()
    uploads = []
    for number in range(count):
        if rng.random() < hostile_share:
            payload, route = rng.choice(hostile), rng.choice(HOSTILE_ROUTES)
        else:
            payload, route = rng.choice(good), rng.choice(ROUTES)
        uploads.append(Upload(number, route, f"{prefix}-{number:05d}.xlsx", payload))
    return uploads


class Submitter:
    """Sends one upload by its route: the API client of `stackctl`, or an S3 put."""

    def __init__(self, outputs: StackOutputs) -> None:
        self.api = ApiClient.for_stack(outputs)
        self.bucket = outputs["BucketName"]
        self.s3 = aws.client("s3")

    def submit(self, upload: Upload) -> Upload:
        upload.submitted_at = time.time()
        data = upload.payload.data
        try:
            if upload.route == "api":
                upload.task_id = str(self.api.upload(data, upload.filename)["task_id"])
            elif upload.route == "presign":
                presigned = self.api.presign(upload.filename, size=len(data))
                upload.task_id, upload.key = str(presigned["task_id"]), str(presigned["key"])
                post_presigned(presigned, data, upload.filename)
            else:
                upload.task_id = uuid.uuid4().hex
                upload.key = upload_key(upload.task_id, upload.filename)
                self.s3.put_object(Bucket=self.bucket, Key=upload.key, Body=data)
        except UserFacingError as refused:
            # The API (or S3 for a presigned POST) answered with an error: nothing was accepted,
            # unless a presigned task exists without its file, which the checker reports.
            upload.refused = str(refused)
        return upload
