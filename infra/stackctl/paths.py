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


def localstack_dir() -> Path:
    return state_dir() / "localstack"


def localstack_pid_file() -> Path:
    return localstack_dir() / "localstack.pid"


def localstack_log_file() -> Path:
    return localstack_dir() / "localstack.log"
