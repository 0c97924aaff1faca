"""The application stack deployed on LocalStack once per session, and clients to drive it."""

from __future__ import annotations

from typing import Any

import pytest

from stackctl.stack import StackOutputs
from tests.support import stacks
from tests.support.e2e import Api, FunctionSettings

# Stall signals scaled down so the stall tests see them within a minute or two: a 30 s threshold;
# the canary exists (its alarm too) but its schedule stays out of the way, the tests invoke it.


@pytest.fixture(scope="session")
def outputs(localstack_endpoint: str) -> StackOutputs:
    """Deploys template.yaml as its own stack, once per session (the browser tests share it)."""
    return stacks.e2e_stack()


@pytest.fixture(scope="session")
def api(outputs: StackOutputs) -> Api:
    return Api.for_stack(outputs)


@pytest.fixture(scope="session")
def function_settings(aws: Any) -> FunctionSettings:
    return FunctionSettings(aws("lambda"))
