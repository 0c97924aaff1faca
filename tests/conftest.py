"""Fixtures shared by the suites that need LocalStack, and the rule that tells unit tests apart.

The session starts LocalStack the way `make up` does, or reuses one that is already healthy, and
stops it at the end only if it started it.

A unit test is any test not marked `localstack`; `make test-unit` runs exactly those
(`pytest -m "not localstack"`), wherever they live under tests/. A test that reaches LocalStack
through a fixture gets the mark here, so a missing mark cannot slip it into the unit run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stackctl import aws as stackctl_aws
from stackctl import localstack
from tests import lanes
from tests.support.aws import AwsClientFactory


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--lane",
        choices=[lane.name for lane in lanes.LANES],
        help="run only this lane's tests (tests/lanes.py; `make test-lanes` runs them all at once)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "localstack_endpoint" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.localstack)
    lane = config.getoption("--lane")
    if lane is None:
        return
    chosen: list[pytest.Item] = []
    others: list[pytest.Item] = []
    for item in items:
        in_lane = lanes.lane_of(item.nodeid, item.get_closest_marker("localstack") is not None)
        (chosen if in_lane == lane else others).append(item)
    if others:
        config.hook.pytest_deselected(items=others)
        items[:] = chosen


@pytest.fixture(scope="session")
def localstack_endpoint() -> Iterator[str]:
    started = localstack.start()
    yield localstack.endpoint_url()
    if not started.reused:
        localstack.stop()


@pytest.fixture(scope="session")
def aws(localstack_endpoint: str) -> AwsClientFactory:
    """boto3 clients bound to the session's LocalStack: `aws("lambda")`."""
    return stackctl_aws.client


# --- wall time per suite, printed at the end of every run ---------------------------------------

_SUITE_SECONDS: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # Setup, call and teardown of each test, session fixtures included (a stack deploy counts
    # towards the suite whose first test needed it).
    parts = report.nodeid.split("/")
    suite = parts[1] if len(parts) > 2 and parts[0] == "tests" else parts[0].split("::")[0]
    _SUITE_SECONDS[suite] = _SUITE_SECONDS.get(suite, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _SUITE_SECONDS:
        return
    if record := os.environ.get(lanes.SUITE_SECONDS_VARIABLE):
        Path(record).write_text(json.dumps(_SUITE_SECONDS))
    terminalreporter.write_sep("-", "wall time per suite")
    for suite, seconds in sorted(_SUITE_SECONDS.items(), key=lambda item: -item[1]):
        terminalreporter.write_line(f"{suite:<12} {seconds:8.1f} s")
    terminalreporter.write_line(f"{'total':<12} {sum(_SUITE_SECONDS.values()):8.1f} s")
