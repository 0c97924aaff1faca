"""The one LocalStack client factory (stackctl.aws): where its clients point. No server needed:
building a client makes no call."""

from __future__ import annotations

import pytest

from stackctl import aws


@pytest.fixture(autouse=True)
def no_endpoint_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)


def test_clients_aim_at_the_projects_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHEETFLOW_PORT", "4777")
    sqs = aws.client("sqs")
    assert sqs.meta.endpoint_url == "http://127.0.0.1:4777"
    assert sqs.meta.region_name == "us-east-1"


def test_the_default_port_is_localstacks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHEETFLOW_PORT", raising=False)
    assert aws.client("s3").meta.endpoint_url == "http://127.0.0.1:4566"


def test_an_explicit_port_is_for_a_second_localstack(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHEETFLOW_PORT", "4777")
    assert aws.client("lambda", port=4999).meta.endpoint_url == "http://127.0.0.1:4999"


def test_aws_endpoint_url_wins_over_the_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHEETFLOW_PORT", "4777")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://elsewhere.test:1234")
    assert aws.client("dynamodb").meta.endpoint_url == "http://elsewhere.test:1234"
