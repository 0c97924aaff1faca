"""The API's OpenAPI document: valid OpenAPI 3.1, in step with the resolver's routes and the
template's API events, and enforced: unknown query parameters, unknown or mistyped JSON body
fields and unsupported methods get 4xx JSON."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from jsonschema import Draft202012Validator
from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR

from sheetflow.handlers import api
from sheetflow.logic import listing, openapi
from sheetflow.logic.errors import RequestRejectedError
from stackctl.template_file import load_template

from .conftest import FakeLambdaContext, Kit, Stack

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """template.yaml with its CloudFormation tags (!Ref, !Sub, ...) read as plain values."""


_CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def _template_api_events() -> set[tuple[str, str]]:
    template = yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)
    events = set()
    for resource in template["Resources"].values():
        for event in (resource.get("Properties") or {}).get("Events", {}).values():
            if event["Type"] == "Api":
                events.add((event["Properties"]["Method"].upper(), event["Properties"]["Path"]))
    return events


def _same_form(path: str) -> str:
    """/tasks/<task_id> (Powertools) and /tasks/{id} (API Gateway) compare equal."""
    return re.sub(r"<[^>]+>|\{[^}]+\}", "{}", path)


def _documented() -> set[tuple[str, str]]:
    document = openapi.document("https://example.com")
    return {
        (method.upper(), _same_form(path))
        for path, item in document["paths"].items()
        for method in item
    }


def test_document_is_valid_openapi_3_1() -> None:
    document = openapi.document("https://abc.execute-api.us-east-1.amazonaws.com/Prod")
    assert [error.message for error in OPENAPI_31_VALIDATOR.iter_errors(document)] == []
    assert document["openapi"] == "3.1.0"


def test_document_and_resolver_have_the_same_routes() -> None:
    routes = api.app._static_routes + api.app._dynamic_routes
    registered = {(route.method, _same_form(route.path)) for route in routes}
    assert registered == _documented()


def test_document_and_template_have_the_same_routes() -> None:
    events = _template_api_events()
    explicit = {(method, _same_form(path)) for method, path in events if method != "ANY"}
    assert explicit == _documented()
    # And every documented path also routes its other methods to the function (405 there).
    catch_all = {_same_form(path) for method, path in events if method == "ANY"}
    assert catch_all == {path for _, path in _documented()}


def test_every_route_but_health_and_the_document_needs_an_api_key() -> None:
    document = openapi.document("https://example.com")
    assert document["security"] == [{openapi.API_KEY_SCHEME: []}]
    assert document["components"]["securitySchemes"][openapi.API_KEY_SCHEME] == {
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
    }
    public = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if operation.get("security") == []
    }
    assert public == {("GET", "/health"), ("GET", "/openapi.json"), ("GET", "/dashboard")}
    # And exactly the routes the template serves without a key (Auth: ApiKeyRequired: false)
    events = load_template()["Resources"]["ApiFunction"]["Properties"]["Events"]
    keyless = {
        (event["Properties"]["Method"].upper(), event["Properties"]["Path"])
        for event in events.values()
        if event["Properties"].get("Auth", {}).get("ApiKeyRequired") is False
        and event["Properties"]["Method"] != "any"
    }
    assert keyless == public
    # And every keyed route documents the refusals of a missing key and of a spent throttle
    for path, item in document["paths"].items():
        for method, operation in item.items():
            keyed = operation.get("security") != []
            assert ("403" in operation["responses"]) is keyed, (method, path)
            assert ("429" in operation["responses"]) is keyed, (method, path)


def test_links_name_operations_that_exist() -> None:
    document = openapi.document("https://example.com")
    operation_ids = {
        operation["operationId"]
        for item in document["paths"].values()
        for operation in item.values()
    }
    linked = {
        link["operationId"]
        for item in document["paths"].values()
        for operation in item.values()
        for response in operation["responses"].values()
        for link in response.get("links", {}).values()
    }
    assert linked and linked <= operation_ids


# --- served by the API ---------------------------------------------------------------------------


def _event(kit: Kit, method: str, path: str, **changes: Any) -> dict[str, Any]:
    event = copy.deepcopy(kit.event("api-presign.json"))
    resource = changes.pop("resource", path)
    event.update(
        httpMethod=method,
        path=path,
        resource=resource,
        body=None,
        queryStringParameters=None,
        multiValueQueryStringParameters=None,
    )
    event["requestContext"].update(httpMethod=method, path=f"/Prod{path}", resourcePath=resource)
    query = changes.pop("query", None)
    if query:
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = {name: [value] for name, value in query.items()}
    event.update(changes)
    return event


def _call(event: dict[str, Any], context: FakeLambdaContext) -> tuple[int, dict[str, Any]]:
    response = api.handler(event, context)
    return response["statusCode"], json.loads(response["body"])


def test_the_document_is_served_with_the_callers_address_as_server(
    stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    status, document = _call(_event(kit, "GET", "/openapi.json"), context)
    assert status == 200
    assert document["servers"] == [
        {"url": "https://abc123defg.execute-api.us-east-1.amazonaws.com/Prod"}
    ]
    assert set(document["paths"]) >= {"/uploads", "/tasks/{id}", "/health", "/openapi.json"}


@pytest.mark.parametrize(
    "case",
    [
        ('["book.xlsx"]', "INVALID_JSON", None),
        ("42", "INVALID_JSON", None),
        ('"book.xlsx"', "INVALID_JSON", None),
        ("{not json", "INVALID_JSON", None),
        ('{"filename": 42}', "INVALID_BODY", "filename"),
        ('{"filename": ["a.xlsx"]}', "INVALID_BODY", "filename"),
        ('{"filename": "a.xlsx", "size": true}', "INVALID_SIZE", "size"),
        ('{"filename": "a.xlsx", "size": "12"}', "INVALID_SIZE", "size"),
        ('{"filename": "a.xlsx", "outputs": [1]}', "INVALID_BODY", "outputs[0]"),
        ('{"filename": "a.xlsx", "notify": {"to": "x"}}', "INVALID_BODY", "notify"),
        ('{"filename": "a.xlsx", "file_name": "b.xlsx"}', "INVALID_BODY", "file_name"),
    ],
)
def test_presign_takes_only_a_json_object_of_the_documented_types(
    stack: Stack, kit: Kit, context: FakeLambdaContext, case: tuple[str, str, str | None]
) -> None:
    body, code, field = case
    # Given a presign request whose body is not the documented object
    event = _event(kit, "POST", "/uploads/presign", body=body)
    # When handled, Then 400 names the field that is wrong and no task is created
    status, answer = _call(event, context)
    assert (status, answer["error"]["code"]) == (400, code)
    assert answer["error"].get("field") == field
    if field:
        assert field in answer["error"]["message"]
    assert boto3.resource("dynamodb").Table(stack.table).scan()["Count"] == 0


def test_a_documented_presign_body_is_accepted(
    stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    body = json.dumps({"filename": "a.xlsx", "size": 10, "outputs": ["csv"], "delay_seconds": 60})
    status, answer = _call(_event(kit, "POST", "/uploads/presign", body=body), context)
    assert status == 201 and answer["status"] == "AWAITING_UPLOAD" and answer["run_at"]


@pytest.mark.parametrize(
    "case",
    [
        ("GET", "/tasks", "/tasks", {"stat": "QUEUED"}, "stat"),
        ("GET", "/health", "/health", {"verbose": "1"}, "verbose"),
        ("POST", "/uploads/presign", "/uploads/presign", {"file": "a.xlsx"}, "file"),
        ("GET", "/tasks/" + "a" * 32, "/tasks/{id}", {"expand": "all"}, "expand"),
    ],
)
def test_unknown_query_parameters_are_refused_by_name(
    stack: Stack, kit: Kit, context: FakeLambdaContext, case: tuple[str, str, str, Any, str]
) -> None:
    method, path, resource, query, parameter = case
    event = _event(kit, method, path, resource=resource, query=query)
    status, answer = _call(event, context)
    assert (status, answer["error"]["code"]) == (400, "UNKNOWN_PARAMETER")
    assert answer["error"]["parameter"] == parameter
    assert repr(parameter) in answer["error"]["message"]


def test_documented_query_parameters_pass(
    stack: Stack, kit: Kit, context: FakeLambdaContext
) -> None:
    event = _event(kit, "GET", "/tasks", query={"status": "QUEUED", "limit": "5"})
    status, answer = _call(event, context)
    assert status == 200 and answer == {"items": [], "next": None}


def listing_parameter(name: str) -> dict[str, Any]:
    """The document's entry for one query parameter of `GET /tasks`."""
    document = openapi.document("https://example.com")
    (parameter,) = [
        parameter
        for parameter in document["paths"]["/tasks"]["get"]["parameters"]
        if parameter["name"] == name
    ]
    return dict(parameter)


@pytest.mark.parametrize(
    "value", ["", "1", "50", "0", "9999", "-1", "1.5", " 5", "many", "\uff15", "\u00b2"]
)
def test_a_limit_the_listing_accepts_is_one_the_document_allows(value: str) -> None:
    # The contract fuzz test sends invalid values (`limit=` once): none may be taken as valid.
    try:
        listing.parse_limit(value)
    except RequestRejectedError:
        return  # refused: whatever the document says, the contract holds
    assert Draft202012Validator(listing_parameter("limit")["schema"]).is_valid(value)


@pytest.mark.parametrize(
    "value", ["", "QUEUED", "queued", "Queued", "FAILED", "failed", "\u017fucceeded", "DONE", " "]
)
def test_a_status_the_listing_accepts_is_one_the_document_allows(value: str) -> None:
    # Upper and lower case are both documented; anything else the API takes would fail the
    # contract fuzz test's negative run.
    allowed = Draft202012Validator(listing_parameter("status")["schema"]).is_valid(value)
    try:
        listing.parse_status(value)
    except RequestRejectedError:
        assert not allowed
    else:
        assert allowed


@pytest.mark.parametrize(
    "case",
    [
        ("PUT", "/uploads", "/uploads", "POST"),
        ("GET", "/uploads/presign", "/uploads/presign", "POST"),
        ("PATCH", "/tasks/" + "a" * 32, "/tasks/{id}", "DELETE, GET"),
        ("DELETE", "/health", "/health", "GET"),
        ("POST", "/openapi.json", "/openapi.json", "GET"),
    ],
)
def test_unsupported_methods_get_405_with_the_allowed_ones(
    stack: Stack, kit: Kit, context: FakeLambdaContext, case: tuple[str, str, str, str]
) -> None:
    method, path, resource, allowed = case
    # Given a method the path does not take (routed to the function by the template's `any`)
    response = api.handler(_event(kit, method, path, resource=resource), context)
    answer = json.loads(response["body"])
    # Then 405, the Allow header and a message naming the method and the accepted ones
    assert response["statusCode"] == 405
    assert answer["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert answer["error"]["method"] == method
    assert response["multiValueHeaders"]["Allow"] == [allowed]
    assert method in answer["error"]["message"]
    assert all(name in answer["error"]["message"] for name in allowed.split(", "))
