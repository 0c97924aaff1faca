"""Security settings users rely on: short-lived presigned URLs and a TLS-only bucket."""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from sheetflow.config import ApiConfig, ConfigError
from sheetflow.handlers import api

from .conftest import FakeLambdaContext, Kit, Stack

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
FIFTEEN_MINUTES = 900


def test_presigned_upload_url_expires_within_fifteen_minutes(
    stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    # Given the default settings, When a presigned upload is requested
    response = api.handler(copy.deepcopy(kit.event("api-presign.json")), context)
    body = json.loads(response["body"])
    # Then both the answer and the URL's own signature say at most 15 minutes
    assert response["statusCode"] == 201 and body["expires_in"] <= FIFTEEN_MINUTES
    query = parse_qs(urlparse(body["upload_url"]).query)
    assert int(query["X-Amz-Expires"][0]) <= FIFTEEN_MINUTES


@pytest.mark.parametrize("name", ["PRESIGN_EXPIRY_SECONDS", "RESULT_URL_EXPIRY_SECONDS"])
def test_presigned_url_lifetimes_are_bounded_to_fifteen_minutes(stack: Stack, name: str) -> None:
    environment = dict(os.environ)
    assert getattr(ApiConfig.from_env(environment), name.lower()) <= FIFTEEN_MINUTES
    environment[name] = str(FIFTEEN_MINUTES)
    assert getattr(ApiConfig.from_env(environment), name.lower()) == FIFTEEN_MINUTES
    environment[name] = str(FIFTEEN_MINUTES + 1)
    with pytest.raises(ConfigError, match=name):
        ApiConfig.from_env(environment)


def test_uploads_bucket_policy_denies_requests_without_tls() -> None:
    template = TEMPLATE.read_text()
    policy = re.search(r"^  UploadsBucketPolicy:\n((?:    .*\n|\n)*?)(?=^  \w)", template, re.M)
    assert policy, "template.yaml has no UploadsBucketPolicy"
    text = policy.group(1)
    assert "Bucket: !Ref UploadsBucket" in text
    assert re.search(r"Effect: Deny\s+Principal: \"\*\"\s+Action: \"s3:\*\"", text)
    assert "!GetAtt UploadsBucket.Arn" in text and '!Sub "${UploadsBucket.Arn}/*"' in text
    assert re.search(r'Bool:\s+aws:SecureTransport: "false"', text)
