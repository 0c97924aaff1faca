"""Schemathesis against the deployed API: requests generated from GET /openapi.json, valid
(positive) and invalid (negative) ones, bounded per operation. Zero 5xx; every answer's status,
content type, headers and body as the document says; wrong methods answered 405; invalid
requests refused with 4xx.

Driven through Hypothesis directly: Schemathesis's own pytest integration (`from_fixture`)
fails under pytest 9 (it sets a private attribute of the test item)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from sheetflow.logic.openapi import OPERATIONS, XLSX_MEDIA_TYPE, Operation
from tests.support.e2e import Api

pytestmark = [pytest.mark.localstack, pytest.mark.e2e]

# Examples per operation and mode (positive for 14 operations, negative for the 9 with inputs):
# about 115 requests.
MAX_EXAMPLES = 5

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    unsupported_method,
]


# POST /uploads takes the workbook's bytes: sent as any binary body is.
schemathesis.serializer.alias(XLSX_MEDIA_TYPE, "application/octet-stream")


def _negatable(operation: Operation) -> bool:
    """Whether a request can break the document at all (an operation without parameters or
    body has no invalid form to generate)."""
    return bool(operation.query or operation.body or operation.raw_body or "{" in operation.path)


CASES = [
    pytest.param(
        operation.method,
        operation.path,
        mode,
        id=f"{operation.method} {operation.path} {mode.value}",
    )
    for operation in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE or _negatable(operation)
]


@dataclass(frozen=True)
class Contract:
    schema: Any
    server: str  # the document's own `servers` entry: where the requests go


@pytest.fixture(scope="module")
def contract(api: Api) -> Contract:
    """The document as the deployed API serves it (its server: the address it was fetched at)."""
    response = api.http.get(f"{api.base_url}/openapi.json", headers=api.headers, timeout=60)
    assert response.status_code == 200, response.text
    document = response.json()
    schema = schemathesis.openapi.from_dict(document)
    # The key, if any, comes from Api.headers; generated ones would only test the gateway.
    schema.config.generation.update(with_security_parameters=False)
    return Contract(schema, document["servers"][0]["url"])


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_the_api_keeps_its_contract(
    contract: Contract, api: Api, method: str, path: str, mode: GenerationMode
) -> None:
    operation = contract.schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def exchange(case: Any) -> None:
        case.call_and_validate(
            base_url=contract.server, headers=dict(api.headers), checks=CHECKS, timeout=30
        )

    exchange()
