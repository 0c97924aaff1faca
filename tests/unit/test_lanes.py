"""`make test`'s lanes: every test runs in exactly one, chosen by its most specific selector."""

from __future__ import annotations

import pytest

from tests import lanes


@pytest.mark.parametrize(
    ("nodeid", "needs_localstack", "expected"),
    [
        ("tests/e2e/test_uploads.py::test_x", False, lanes.UNIT_LANE),
        ("tests/unit/test_reader.py::test_x[case]", False, lanes.UNIT_LANE),
        (lanes.DISABLED_TRIGGER_TEST, True, "stall"),
        ("tests/e2e/test_stall.py::test_a_lost_message_is_requeued", True, "e2e-faults"),
        ("tests/e2e/test_chaos.py::test_x", True, "e2e-faults"),
        ("tests/e2e/test_uploads.py::test_x[api]", True, "e2e-api"),
        ("tests/browser/test_dashboard.py::test_x", True, "e2e-api"),
        ("tests/localstack/test_lifecycle.py::test_x", True, "platform"),
        # A LocalStack test in a folder no lane names runs in the last lane, never in none.
        ("tests/newsuite/test_x.py::test_y", True, lanes.LANES[-1].name),
    ],
)
def test_a_test_runs_in_the_lane_of_its_most_specific_selector(
    nodeid: str, needs_localstack: bool, expected: str
) -> None:
    assert lanes.lane_of(nodeid, needs_localstack) == expected


def test_a_selector_names_its_tests_not_others_that_share_a_prefix() -> None:
    # "tests/e2e/test_stall.py" must not name "tests/e2e/test_stall_extra.py".
    assert lanes.lane_of("tests/e2e/test_stall_extra.py::test_x", True) == "e2e-api"


def test_lanes_have_distinct_names_and_ports() -> None:
    names = [lane.name for lane in lanes.LANES]
    assert len(set(names)) == len(names)
    ports = {lanes.lane_port(index) for index in range(len(lanes.LANES))}
    assert len(ports) == len(lanes.LANES)
