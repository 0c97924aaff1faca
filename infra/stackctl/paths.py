"""Where the project keeps everything it installs and runs: one folder, `.local/`, never outside."""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    override = os.environ.get("SHEETFLOW_HOME")
    return Path(override).resolve() if override else Path(__file__).resolve().parents[2]


def state_dir() -> Path:
    return project_root() / ".local"


def venv(name: str) -> Path:
    return state_dir() / "venvs" / name


# LocalStack's port unless SHEETFLOW_PORT says otherwise (stackctl.localstack reads the same).
DEFAULT_PORT = 4566


def instance_dir() -> Path:
    """What belongs to one LocalStack: its own state and the stacks built for it.

    The default port keeps the familiar `.local/`; another port (a second checkout's stack, or one
    of `make test`'s parallel lanes) gets `.local/instances/<port>/`, so two LocalStacks started
    from one project never share a pid file, a build folder or stored objects.
    """
    port = os.environ.get("SHEETFLOW_PORT", str(DEFAULT_PORT))
    return state_dir() if port == str(DEFAULT_PORT) else state_dir() / "instances" / port


def localstack_dir() -> Path:
    return instance_dir() / "localstack"


def localstack_pid_file() -> Path:
    return localstack_dir() / "localstack.pid"


def localstack_log_file() -> Path:
    return localstack_dir() / "localstack.log"
