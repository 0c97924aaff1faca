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
    # Per-key throttle: generous for the tests' polling (every 0.1 s, some in two threads); the
    # throttle test narrows the function's copy of these figures for its own key.
    "ApiRateLimit": "50",
    "ApiBurstLimit": "100",
}


@cache
def e2e_stack() -> StackOutputs:
    """Deploys template.yaml as its own stack (a no-op deploy when it is already up to date)."""
    return stack.deploy(name=E2E_STACK, parameters=E2E_PARAMETERS)
