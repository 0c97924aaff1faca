"""The plan of injected AWS faults: which services fail, how often, and how.

Written as `SHEETFLOW_FAULTS="s3=0.05,dynamodb=0.05,sqs=0.05"` (a share of calls per service,
each attempt drawn on its own) and `SHEETFLOW_FAULTS_SEED` (an integer: the same seed gives each
process the same sequence of draws). Unset means no plan at all: nothing is injected.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FaultKind(StrEnum):
    """What an injected fault looks like to the SDK."""

    THROTTLING = "throttling"  # the service says slow down (S3 503 SlowDown, 400 Throttling...)
    SERVER_ERROR = "server_error"  # HTTP 500 InternalError
    TIMEOUT = "timeout"  # no answer in time: the SDK's read timeout


# The services whose adapters may be made to fail (the task path: objects, tasks, messages and
# the finish events).
FAULTABLE_SERVICES = ("s3", "dynamodb", "sqs", "events")


class FaultPlanError(ValueError):
    """The fault specification cannot be read."""


@dataclass(frozen=True)
class FaultPlan:
    rates: dict[str, float]
    seed: int | None = None
    kinds: tuple[FaultKind, ...] = tuple(FaultKind)

    def rate(self, service: str) -> float:
        return self.rates.get(service, 0.0)


def parse_fault_plan(spec: str, seed: str = "") -> FaultPlan | None:
    """`s3=0.05,dynamodb=0.1` into a plan; an empty spec is no plan; anything else is an error
    naming the bad part."""
    spec, seed = spec.strip(), seed.strip()
    if not spec:
        return None
    rates: dict[str, float] = {}
    for part in spec.split(","):
        service, equals, raw = part.strip().partition("=")
        service = service.strip().lower()
        if not equals or service not in FAULTABLE_SERVICES:
            raise FaultPlanError(
                f"fault specification part {part.strip()!r} must be SERVICE=RATE with SERVICE one "
                f"of {', '.join(FAULTABLE_SERVICES)} (for example s3=0.05)"
            )
        try:
            rate = float(raw)
        except ValueError:
            raise FaultPlanError(
                f"fault rate {raw.strip()!r} of {service} must be a number between 0 and 1"
            ) from None
        if not 0.0 <= rate <= 1.0:
            raise FaultPlanError(f"fault rate of {service} must be between 0 and 1, not {rate}")
        rates[service] = rate
    try:
        seed_value = int(seed) if seed else None
    except ValueError:
        raise FaultPlanError(f"fault seed {seed!r} must be an integer") from None
    return FaultPlan(rates=rates, seed=seed_value)
