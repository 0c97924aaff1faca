"""Transient AWS failures injected into the SDK on purpose, for chaos runs.

A botocore `before-send` hook sits where the SDK is about to send one HTTP attempt. When a plan
is enabled (SHEETFLOW_FAULTS, parsed by `config`), each attempt to a planned service fails with
its rate: the hook answers with a throttling or server-error response, or raises the SDK's read
timeout, instead of sending. Everything after that is the SDK's and the application's ordinary
handling (the standard retry mode, then `dependency_call`, then a message retried later), which is
exactly what a chaos run means to exercise. No plan, the default, registers no hook at all.
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.compat import HTTPHeaders
from botocore.exceptions import ReadTimeoutError

from sheetflow.logic.faults import FaultKind, FaultPlan


@dataclass(frozen=True)
class InjectedFault:
    service: str
    operation: str
    kind: FaultKind


FaultListener = Callable[[InjectedFault], None]


class _Body:
    """What AWSResponse reads its content from (a urllib3 response in real life)."""

    def __init__(self, content: bytes) -> None:
        self._content = content

    def stream(self) -> Iterator[bytes]:
        yield self._content


# botocore's service ids (in event names) that differ from the client names plans use.
_CLIENT_NAMES = {"eventbridge": "events"}

# Error codes that botocore's retry handlers know as throttling / transient, per wire protocol.
_THROTTLING = {"s3": (503, "SlowDown"), "json": (400, "ThrottlingException")}
_SERVER_ERROR = {"s3": (500, "InternalError"), "json": (500, "InternalServerError")}


def _response(request: AWSPreparedRequest, service: str, kind: FaultKind) -> AWSResponse:
    protocol = "s3" if service == "s3" else "json"
    table = _THROTTLING if kind is FaultKind.THROTTLING else _SERVER_ERROR
    status, code = table[protocol]
    message = f"Injected by SHEETFLOW_FAULTS ({kind})"
    if protocol == "s3":
        body = (
            f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
            f"<Message>{message}</Message></Error>"
        ).encode()
        headers = {"Content-Type": "application/xml"}
    else:
        # DynamoDB, SQS (JSON protocol) and EventBridge read `__type`; SQS, compatible with its
        # older query protocol, prefers the x-amzn-query-error header.
        body = json.dumps({"__type": code, "message": message}).encode()
        headers = {
            "Content-Type": "application/x-amz-json-1.0",
            "x-amzn-query-error": f"{code};Sender" if status < 500 else f"{code};Receiver",
        }
    http_headers = HTTPHeaders()
    for name, value in headers.items():
        http_headers[name] = value
    return AWSResponse(request.url, status, http_headers, _Body(body))


class FaultInjector:
    """Draws, per attempt, whether to fail it; thread-safe (clients are shared by threads)."""

    def __init__(self, plan: FaultPlan, listener: FaultListener | None = None) -> None:
        self.plan = plan
        self.injected: Counter[str] = Counter()
        self._listener = listener
        # bandit B311: fault scheduling, not security
        self._random = random.Random(plan.seed)  # nosec B311
        self._lock = threading.Lock()

    def draw(self, service: str) -> FaultKind | None:
        rate = self.plan.rate(service)
        if rate <= 0:
            return None
        with self._lock:
            if self._random.random() >= rate:
                return None
            return self._random.choice(self.plan.kinds)

    def before_send(self, request: AWSPreparedRequest, event_name: str, **_: Any) -> Any:
        # event_name: before-send.<service id>.<operation>; plans name services as boto3 does.
        _event, service_id, operation = event_name.split(".", 2)
        service = _CLIENT_NAMES.get(service_id, service_id)
        kind = self.draw(service)
        if kind is None:
            return None
        fault = InjectedFault(service, operation, kind)
        with self._lock:
            self.injected[service] += 1
        if self._listener is not None:
            self._listener(fault)
        if kind is FaultKind.TIMEOUT:
            raise ReadTimeoutError(endpoint_url=request.url)
        return _response(request, service, kind)

    def instrument(self, events: Any) -> None:
        """Registers the hook on one client's event emitter (`client.meta.events`), first: an
        injected answer wins over any other handler's (a stubber's, moto's)."""
        events.register_first("before-send", self.before_send, unique_id="sheetflow-faults")


# The process's injector while a plan is enabled (one per process, like the cached clients).
_enabled: list[FaultInjector] = []


def enable(plan: FaultPlan | None, listener: FaultListener | None = None) -> FaultInjector | None:
    """Clients created from now on fail by `plan` (None: no faults). Returns the injector."""
    _enabled.clear()
    if plan is not None:
        _enabled.append(FaultInjector(plan, listener))
    return active()


def active() -> FaultInjector | None:
    return _enabled[0] if _enabled else None


def instrument[ClientT](client: ClientT) -> ClientT:
    """The client, with the fault hook when a plan is enabled."""
    injector = active()
    if injector is not None:
        injector.instrument(cast(Any, client).meta.events)
    return client
