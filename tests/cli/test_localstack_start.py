"""`make up` waits for the LocalStack it started, even in the moment before that child has
exec'd LocalStack (its command line is still the CLI's)."""

from __future__ import annotations

import subprocess  # nosec B404
import sys
from pathlib import Path
from typing import Any

import pytest

from stackctl import localstack, paths
from stackctl.errors import UserFacingError

# The folders start() creates from LocalStack's environment before it runs it.
FOLDERS = ("HOME", "FILESYSTEM_ROOT", "CONFIG_DIR", "TMPDIR")
REAL_POPEN = subprocess.Popen


@pytest.fixture
def project_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A project home with a LocalStack interpreter, and a port nothing answers on yet."""
    monkeypatch.setenv("SHEETFLOW_HOME", str(tmp_path))
    interpreter = paths.venv("localstack") / "bin" / "python"
    interpreter.parent.mkdir(parents=True)
    interpreter.symlink_to(sys.executable)
    paths.localstack_dir().mkdir(parents=True)
    monkeypatch.setattr(localstack, "_port_is_free", lambda: True)
    monkeypatch.setattr(
        localstack,
        "runtime_environment",
        lambda: {name: str(tmp_path / name.lower()) for name in FOLDERS},
    )
    return tmp_path


def test_a_started_localstack_is_waited_for_before_its_command_line_names_it(
    monkeypatch: pytest.MonkeyPatch, project_home: Path
) -> None:
    # Given a project home with a LocalStack interpreter, and a port nothing answers on yet
    # And a child that runs, but whose command line never names LocalStack (as between fork and
    # exec), which answers health checks only after a few probes
    started: list[subprocess.Popen[bytes]] = []

    def child(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        process = REAL_POPEN(  # nosec B603: this interpreter, a fixed script
            [sys.executable, "-c", "import time; time.sleep(30)"],
            stdout=kwargs["stdout"],
            stderr=subprocess.STDOUT,
        )
        started.append(process)
        return process

    probes = iter([None, None, None])
    monkeypatch.setattr(subprocess, "Popen", child)
    monkeypatch.setattr(localstack, "health", lambda timeout=1.0: next(probes, {"ok": True}))
    try:
        # When it is started, Then the start waits for the child and reports it
        result = localstack.start(timeout=30)
        assert result.pid == started[0].pid and not result.reused
    finally:
        for process in started:
            process.kill()
            process.wait()


def test_a_child_that_exits_while_starting_is_reported_with_its_log(
    monkeypatch: pytest.MonkeyPatch, project_home: Path
) -> None:
    # Given a LocalStack that exits at once, having written why

    def failing(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        return REAL_POPEN(  # nosec B603: this interpreter, a fixed script
            [sys.executable, "-c", "print('no licence for this port'); raise SystemExit(3)"],
            stdout=kwargs["stdout"],
            stderr=subprocess.STDOUT,
        )

    monkeypatch.setattr(subprocess, "Popen", failing)
    monkeypatch.setattr(localstack, "health", lambda timeout=1.0: None)
    # When it is started, Then the error says it exited and quotes its log
    with pytest.raises(UserFacingError, match="exited while starting") as refused:
        localstack.start(timeout=30)
    assert "no licence for this port" in str(refused.value)
    assert not paths.localstack_pid_file().exists()
