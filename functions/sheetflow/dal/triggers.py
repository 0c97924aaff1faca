"""Lambda: the states of a function's event source mappings (is the worker's queue consumed?)."""

from __future__ import annotations

from sheetflow.dal.clients import lambda_client
from sheetflow.dal.errors import dependency_call


def mapping_states(function_name: str) -> list[str]:
    states: list[str] = []
    with dependency_call("ListEventSourceMappings"):
        paginator = lambda_client().get_paginator("list_event_source_mappings")
        for page in paginator.paginate(FunctionName=function_name):
            states += [str(m.get("State", "")) for m in page.get("EventSourceMappings", [])]
    return states
