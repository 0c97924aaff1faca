"""Throwaway functions for the platform tests: their sources, role, and what they record."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.aws import AwsClientFactory
from tests.support.lambda_zip import zip_of
from tests.support.waiting import wait_until

SOURCES = Path(__file__).resolve().parents[1] / "localstack" / "lambda_sources"
ROLE = "arn:aws:iam::000000000000:role/lambda-role"

# The `create_function` fixture: keyword settings in, the new function's name out.
FunctionFactory = Callable[..., str]


def source_zip(module: str) -> bytes:
    return zip_of({f"{module}.py": (SOURCES / f"{module}.py").read_text()})


def probe_zip() -> bytes:
    return source_zip("probe")


def recorded(aws: AwsClientFactory, table: str) -> list[dict[str, Any]]:
    """What the recorder function wrote into `table`, one plain dict per item."""
    items = aws("dynamodb").scan(TableName=table)["Items"]
    return [{key: next(iter(value.values())) for key, value in item.items()} for item in items]


def wait_for_state(lambda_client: Any, name: str) -> str:
    def settled() -> str | None:
        state = lambda_client.get_function(FunctionName=name)["Configuration"]["State"]
        return state if state in ("Active", "Failed") else None

    return wait_until(settled, timeout=30, what=f"function {name} to settle")
