"""The end-to-end stack, deployed once per test session whichever suite asks first."""

from __future__ import annotations

from functools import cache

from stackctl import stack
from stackctl.stack import StackOutputs
from tests.support.e2e import E2E_STACK

# Stall detection within seconds, and a canary that stays out of the tests' way unless invoked.
E2E_PARAMETERS = {
    "StallThresholdSeconds": "30",
    "CanaryIntervalMinutes": "60",
    "CanaryDeadlineSeconds": "20",
}


@cache
def e2e_stack() -> StackOutputs:
    """Deploys template.yaml as its own stack (a no-op deploy when it is already up to date)."""
    return stack.deploy(name=E2E_STACK, parameters=E2E_PARAMETERS)
