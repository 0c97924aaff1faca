"""`up`, `down` and `status` as a user runs them, on a second LocalStack of their own.

Each test runs the real CLI against a private project home (its own .local/ state, the shared
virtualenvs linked in) and a free port, so it never disturbs the session's LocalStack.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stackctl import aws, paths
from tests.support.lambdas import ROLE, probe_zip
from tests.support.waiting import wait_until

pytestmark = pytest.mark.localstack

CLI = paths.venv("dev") / "bin" / "sheetflow"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PrivateStack:
    def __init__(self, home: Path, port: int) -> None:
        self.home, self.port = home, port
        (home / ".local").mkdir(parents=True)
        (home / ".local" / "venvs").symlink_to(paths.state_dir() / "venvs")

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        environment = {
            **os.environ,
            "SHEETFLOW_HOME": str(self.home),
            "SHEETFLOW_PORT": str(self.port),
        }
        return subprocess.run(
            [str(CLI), *args],
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def pid(self) -> int:
        instance = self.home / ".local" / "instances" / str(self.port)
        return int((instance / "localstack" / "localstack.pid").read_text())

    def lambda_environment_pids(self) -> set[int]:
        """Runtime processes whose code lives under this stack's state folder."""
        found = set()
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                environ = (proc / "environ").read_bytes()
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if b"bootstrap.py" in cmdline and str(self.home).encode() in environ:
                found.add(int(proc.name))
        return found

    def lambda_client(self) -> Any:
        return aws.client("lambda", port=self.port)

    def start_a_lambda_environment(self, timeout: int = 10) -> Any:
        client = self.lambda_client()
        client.create_function(
            FunctionName="probe",
            Runtime="python3.13",
            Role=ROLE,
            Handler="probe.handler",
            Code={"ZipFile": probe_zip()},
            Timeout=timeout,
        )
        client.get_waiter("function_active_v2").wait(FunctionName="probe")
        response = client.invoke(FunctionName="probe", Payload=json.dumps({"action": "echo"}))
        assert "FunctionError" not in response
        return client


@pytest.fixture
def private_stack(tmp_path: Path) -> Iterator[PrivateStack]:
    stack = PrivateStack(tmp_path / "home", free_port())
    yield stack
    stack.run("down")


def process_exists(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_up_twice_reuses_and_down_leaves_no_process(private_stack: PrivateStack) -> None:
    first = private_stack.run("up")
    assert first.returncode == 0, first.stderr
    assert "LocalStack is up" in first.stdout
    pid = private_stack.pid()

    second = private_stack.run("up")
    assert second.returncode == 0
    assert f"already running at http://127.0.0.1:{private_stack.port} (pid {pid})" in second.stdout

    private_stack.start_a_lambda_environment()
    environments = private_stack.lambda_environment_pids()
    assert environments, "the invocation should have started a runtime process"

    down = private_stack.run("down")
    assert down.returncode == 0
    assert f"pid {pid}" in down.stdout
    assert not process_exists(pid)
    wait_until(
        lambda: not any(process_exists(p) for p in environments),
        timeout=5,
        what="the Lambda environments to exit",
    )


def test_environments_die_with_a_killed_localstack_and_status_says_so(
    private_stack: PrivateStack,
) -> None:
    assert private_stack.run("up").returncode == 0
    private_stack.start_a_lambda_environment()
    environments = private_stack.lambda_environment_pids()
    assert environments

    os.kill(private_stack.pid(), signal.SIGKILL)

    wait_until(
        lambda: not any(process_exists(p) for p in environments),
        timeout=5,
        what="the Lambda environments to exit after LocalStack was killed",
    )
    status = private_stack.run("status")
    assert status.returncode == 1
    assert "LocalStack died" in status.stderr
    assert "localstack.log" in status.stderr
    assert "Traceback" not in status.stderr


def test_down_when_nothing_runs_says_so(private_stack: PrivateStack) -> None:
    result = private_stack.run("down")
    assert result.returncode == 0
    assert "not running" in result.stdout
    assert private_stack.run("status").returncode == 3


def test_a_port_held_by_another_program_is_reported(private_stack: PrivateStack) -> None:
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", private_stack.port))
        squatter.listen()
        began = time.monotonic()
        result = private_stack.run("up")
    assert result.returncode == 1
    assert f"Port {private_stack.port} on 127.0.0.1 is already in use" in result.stderr
    assert "SHEETFLOW_PORT" in result.stderr
    assert "Traceback" not in result.stderr
    # (waiting for the invocation would take 100 s, and LocalStack's stop timeout 20 s)
    assert time.monotonic() - began < 18


def test_missing_python_is_explained(tmp_path: Path) -> None:
    finder = paths.project_root() / "infra" / "find-python.sh"
    result = subprocess.run(
        ["/bin/bash", str(finder)],
        env={"PATH": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "Python 3.13 was not found" in result.stderr
    assert "pyenv install 3.13" in result.stderr


def test_down_does_not_wait_for_a_running_invocation(private_stack: PrivateStack) -> None:
    # Given a function busy with a long invocation
    assert private_stack.run("up").returncode == 0
    client = private_stack.start_a_lambda_environment(timeout=120)
    client.invoke(
        FunctionName="probe",
        InvocationType="Event",
        Payload=json.dumps({"action": "sleep", "seconds": 100}),
    )
    environments = private_stack.lambda_environment_pids()
    assert environments
    # When LocalStack is stopped
    began = time.monotonic()
    down = private_stack.run("down")
    # Then it stops at once, not after the invocation or the stop timeout, and leaves nothing
    assert down.returncode == 0
    # (waiting for the invocation would take 100 s, and LocalStack's stop timeout 20 s)
    assert time.monotonic() - began < 18
    wait_until(
        lambda: not any(process_exists(p) for p in environments),
        timeout=5,
        what="the busy Lambda environment to exit",
    )
