"""`make test-lanes`: the whole suite split into lanes that run at the same time.

Much of the suite waits on time itself (CloudWatch alarm periods, schedules, timers, visibility
timeouts), so lanes run side by side, each a pytest process with a LocalStack of its own on its own
port (state under `.local/instances/<port>/`): no lane sees another's stacks, queues or Lambda
environments, and a test that breaks its stack on purpose (the stall tests) cannot disturb
another lane.

Every collected test belongs to exactly one lane (`lane_of`): the unit lane takes every test not
marked `localstack`, the table below places the rest by folder, file or test, and anything it does
not name goes to the last lane, so a new test file can never fall outside the run.

    python -m tests.lanes [PYTEST ARGS...]     all lanes; the arguments go to every lane
    pytest --lane NAME                          one lane, as a lane runs it

Each lane's output is kept in `.local/test-lanes/<lane>.log`; a failed lane's is printed whole.
Exit status: 0 when every lane passed, else 1 (a lane that ran no test fails too); 130 after
Ctrl-C.
"""

from __future__ import annotations

import json
import os
import shutil
import signal

# bandit B404: runs pytest, this interpreter's own
import subprocess  # nosec B404
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from stackctl import localstack, paths

UNIT_LANE = "unit"
# Where a lane's pytest writes its wall time per suite (tests/conftest.py), for the total.
SUITE_SECONDS_VARIABLE = "SHEETFLOW_SUITE_SECONDS_FILE"


@dataclass(frozen=True)
class Lane:
    name: str
    # What runs in this lane among the LocalStack tests: folders, files or single tests, as
    # pytest names them ("tests/e2e", "tests/e2e/test_stall.py::test_name").
    tests: tuple[str, ...]


# Balanced by measured wall time (each lane's log ends with its slowest tests). The stall test
# of a disabled trigger waits out CloudWatch periods (about seven minutes) and has a lane to
# itself. The last lane also takes every LocalStack test that no lane names.
DISABLED_TRIGGER_TEST = (
    "tests/e2e/test_stall.py"
    "::test_a_disabled_worker_trigger_is_seen_within_two_minutes_and_recovers"
)
LANES = (
    Lane(UNIT_LANE, ()),
    Lane("stall", (DISABLED_TRIGGER_TEST,)),
    Lane(
        "e2e-faults",
        (
            "tests/e2e/test_stall.py",
            "tests/e2e/test_chaos.py",
            "tests/e2e/test_reliability.py",
            "tests/e2e/test_timers.py",
            "tests/e2e/test_notifications.py",
            "tests/e2e/test_task_events.py",
            "tests/e2e/test_export.py",
            "tests/e2e/test_cancel.py",
        ),
    ),
    Lane("e2e-api", ("tests/e2e", "tests/browser", "tests/worker")),
    Lane("platform", ("tests/localstack", "tests/cli")),
)


def _names(selector: str, nodeid: str) -> bool:
    selector = selector.rstrip("/")
    return nodeid == selector or nodeid.startswith(
        (selector + "/", selector + "::", selector + "[")
    )


def lane_of(nodeid: str, needs_localstack: bool) -> str:
    """The lane a test runs in: the most specific selector that names it wins."""
    if not needs_localstack:
        return UNIT_LANE
    best, best_length = LANES[-1].name, -1
    for lane in LANES:
        for selector in lane.tests:
            if _names(selector, nodeid) and len(selector) > best_length:
                best, best_length = lane.name, len(selector)
    return best


def lane_port(index: int) -> int:
    """Lanes sit just above the LocalStack a developer runs (SHEETFLOW_PORT, default 4566)."""
    return localstack.port() + 1 + index


@dataclass
class Running:
    lane: Lane
    port: int
    log: Path
    process: subprocess.Popen[bytes]
    started: float
    seconds: float = 0.0


def _start(lane: Lane, index: int, pytest_args: list[str], logs: Path) -> Running:
    port = lane_port(index)
    log = logs / f"{lane.name}.log"
    environment = {
        **os.environ,
        "SHEETFLOW_PORT": str(port),
        SUITE_SECONDS_VARIABLE: str(_suite_seconds_file(log)),
    }
    # The unit lane only computes; the LocalStack lanes' deadlines come first for the CPU.
    command = ["nice", "-n", "10"] if lane.name == UNIT_LANE else []
    command += [
        sys.executable,
        "-m",
        "pytest",
        "--lane",
        lane.name,
        "-p",
        "no:cacheprovider",
        "--durations=8",
        *pytest_args,
    ]
    with log.open("wb") as output:
        # bandit B603: this interpreter's pytest, arguments from the developer
        process = subprocess.Popen(  # nosec B603
            command, stdout=output, stderr=subprocess.STDOUT, env=environment
        )
    return Running(lane, port, log, process, time.monotonic())


def _suite_seconds_file(log: Path) -> Path:
    return log.with_suffix(".suites.json")


def _print_wall_times(running: list[Running], total_seconds: float) -> None:
    suites: dict[str, float] = {}
    for lane in running:
        recorded = _suite_seconds_file(lane.log)
        if recorded.exists():
            for suite, seconds in json.loads(recorded.read_text()).items():
                suites[suite] = suites.get(suite, 0.0) + seconds
    print("\nwall time per suite (summed over the lanes it ran in)")
    for suite, seconds in sorted(suites.items(), key=lambda item: -item[1]):
        print(f"  {suite:<12} {seconds:7.1f} s")
    print(f"wall time per lane (all lanes together: {total_seconds:.1f} s)")
    for lane in sorted(running, key=lambda item: -item.seconds):
        print(f"  {lane.lane.name:<12} {lane.seconds:7.1f} s")


def _summary_line(log: Path) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1].strip("= ") if lines else "(no output)"


def _wait_for(running: list[Running]) -> None:
    pending = list(running)
    while pending:
        time.sleep(1)
        for lane in list(pending):
            if lane.process.poll() is not None:
                lane.seconds = time.monotonic() - lane.started
                pending.remove(lane)
                verdict = "passed" if lane.process.returncode == 0 else "FAILED"
                print(
                    f"lane {lane.lane.name:<11} {verdict} in {lane.seconds:6.1f} s: "
                    f"{_summary_line(lane.log)}",
                    flush=True,
                )


def _end_leftovers(running: list[Running]) -> None:
    """After the lanes (or Ctrl-C): no pytest and no LocalStack of a lane outlives the run.

    A lane's session stops the LocalStack it started; one killed or interrupted may not have.
    """
    for lane in running:
        if lane.process.poll() is None:
            lane.process.send_signal(signal.SIGINT)
    for lane in running:
        try:
            lane.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            lane.process.kill()
            lane.process.wait()
    for lane in running:
        if lane.lane.name != UNIT_LANE:
            # bandit B603: this interpreter's own CLI, fixed arguments
            subprocess.run(  # nosec B603
                [sys.executable, "-m", "stackctl.cli", "down"],
                env={**os.environ, "SHEETFLOW_PORT": str(lane.port)},
                stdout=subprocess.DEVNULL,
                check=False,
            )


def main(pytest_args: list[str]) -> int:
    logs = paths.state_dir() / "test-lanes"
    shutil.rmtree(logs, ignore_errors=True)  # no log of an earlier run or layout to mislead
    logs.mkdir(parents=True)
    began = time.monotonic()
    running = [_start(lane, index, pytest_args, logs) for index, lane in enumerate(LANES)]
    for lane in running:
        print(f"lane {lane.lane.name:<11} port {lane.port}  log {lane.log}", flush=True)
    try:
        _wait_for(running)
    except KeyboardInterrupt:
        print("\ninterrupted: ending the lanes and their LocalStacks …", flush=True)
        return 130
    finally:
        _end_leftovers(running)
    failed = [lane for lane in running if lane.process.returncode != 0]
    for lane in failed:
        print(f"\n{'=' * 30} lane {lane.lane.name} (exit {lane.process.returncode}) {'=' * 30}")
        print(lane.log.read_text(errors="replace"))
    _print_wall_times(running, time.monotonic() - began)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
