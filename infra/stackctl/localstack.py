"""Starts, stops and inspects LocalStack on the host (no Docker), with its state in .local/."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket

# bandit B404: starts LocalStack and asks `ss` who holds a port
import subprocess  # nosec B404
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackctl import paths
from stackctl.errors import UserFacingError

HOST = "127.0.0.1"
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 20.0


def port() -> int:
    return int(os.environ.get("SHEETFLOW_PORT", paths.DEFAULT_PORT))


def endpoint_url() -> str:
    return f"http://{HOST}:{port()}"


def runtime_environment() -> dict[str, str]:
    """LocalStack's settings for a host run that works offline and writes only under .local/."""
    state = paths.localstack_dir()
    address = f"{HOST}:{port()}"
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "HOME": str(state / "home"),
        "GATEWAY_LISTEN": address,
        "LOCALSTACK_HOST": address,
        # Docker's marker file exists on some hosts; without this LocalStack believes it runs in a
        # container and uses system-wide folders instead of FILESYSTEM_ROOT.
        "OVERRIDE_IN_DOCKER": "0",
        "FILESYSTEM_ROOT": str(state / "fs"),
        "CONFIG_DIR": str(state / "config"),
        "TMPDIR": str(state / "tmp"),
        # Analytics and DNS need the internet; shutdown hooks hang on them offline.
        "DISABLE_EVENTS": "1",
        "DNS_ADDRESS": "0",
        "SKIP_SSL_CERT_DOWNLOAD": "1",
        "SQS_ENDPOINT_STRATEGY": "path",
        "PROVIDER_OVERRIDE_DYNAMODB": "moto",
        # LocalStack's SQS plus the ApproximateAgeOfOldestMessage metric (stall alarms).
        "PROVIDER_OVERRIDE_SQS": "sheetflow",
        # LocalStack's S3 with object bodies under TMPDIR, not a /tmp folder shared by instances.
        "PROVIDER_OVERRIDE_S3": "sheetflow",
        "LAMBDA_RUNTIME_EXECUTOR": "local",
        "LOCAL_LAMBDA_RUNTIMES_DIR": str(paths.state_dir() / "venvs"),
        # Event source mappings poll often and back off little, so a message reaches its
        # function within a fraction of a second, even after the queue was idle.
        "LAMBDA_EVENT_SOURCE_MAPPING_POLL_INTERVAL_SEC": os.environ.get(
            "LAMBDA_EVENT_SOURCE_MAPPING_POLL_INTERVAL_SEC", "0.05"
        ),
        "LAMBDA_EVENT_SOURCE_MAPPING_MAX_BACKOFF_ON_EMPTY_POLL_SEC": os.environ.get(
            "LAMBDA_EVENT_SOURCE_MAPPING_MAX_BACKOFF_ON_EMPTY_POLL_SEC", "0.5"
        ),
        # Queue depth reaches CloudWatch every 10 s (not 60), so the DLQ alarm reacts in a minute.
        "SQS_CLOUDWATCH_METRICS_REPORT_INTERVAL": "10",
    } | {name: os.environ[name] for name in PASSED_THROUGH if name in os.environ}


# LocalStack settings a user may set for troubleshooting (DEBUG=1 make up).
PASSED_THROUGH = ("DEBUG", "LS_LOG", "LAMBDA_KEEPALIVE_MS", "LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT")


@dataclass
class Status:
    state: str  # "running", "starting", "stopped", "died"
    pid: int | None
    detail: str = ""

    @property
    def log_file(self) -> Path:
        return paths.localstack_log_file()


def health(timeout: float = 1.0) -> dict[str, Any] | None:
    """LocalStack's health document, or None when nothing healthy answers."""
    try:
        # bandit B310: endpoint_url() is always http://127.0.0.1:<port>
        url = f"{endpoint_url()}/_localstack/health"
        with urllib.request.urlopen(url, timeout=timeout) as r:  # nosec B310
            document: dict[str, Any] = json.load(r)
            return document
    except (OSError, ValueError):
        return None


def _recorded_pid() -> int | None:
    try:
        return int(paths.localstack_pid_file().read_text().strip())
    except (OSError, ValueError):
        return None


def _is_our_localstack(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"localstack.runtime.main" in cmdline and _process_state(pid) != "Z"


def _process_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def status() -> Status:
    pid = _recorded_pid()
    if pid is None:
        return Status("stopped", None)
    if not _is_our_localstack(pid):
        return Status(
            "died", pid, "LocalStack is not running, but it was not stopped with `make down`"
        )
    if health() is None:
        return Status("starting", pid, "the process runs but does not answer health checks yet")
    return Status("running", pid)


def _port_is_free() -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port()))
        except OSError:
            return False
    return True


def _who_listens() -> str:
    try:
        # bandit B603 B607: `ss` from PATH, fixed arguments, diagnostics only
        out = subprocess.run(  # nosec B603 B607
            ["ss", "-H", "-ltnp", f"sport = :{port()}"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.splitlines()[0] if out else ""


def _log_tail(lines: int = 15) -> str:
    try:
        text = paths.localstack_log_file().read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class StartResult:
    pid: int
    reused: bool
    seconds: float


def start(timeout: float = START_TIMEOUT_SECONDS) -> StartResult:
    began = time.monotonic()
    current = status()
    if current.state in ("running", "starting") and current.pid is not None:
        pid = current.pid
        _wait_healthy(pid, lambda: _is_our_localstack(pid), began, timeout)
        return StartResult(pid, reused=True, seconds=time.monotonic() - began)
    if current.state == "died":
        paths.localstack_pid_file().unlink(missing_ok=True)
    if not _port_is_free():
        _raise_port_taken()

    interpreter = paths.venv("localstack") / "bin" / "python"
    if not interpreter.exists():
        raise UserFacingError(
            "LocalStack is not installed in this project yet.", "Run `make install` first."
        )
    environment = runtime_environment()
    for folder in ("HOME", "FILESYSTEM_ROOT", "CONFIG_DIR", "TMPDIR"):
        Path(environment[folder]).mkdir(parents=True, exist_ok=True)
    with paths.localstack_log_file().open("ab") as log:
        # bandit B603: the venv interpreter, fixed module, no shell
        process = subprocess.Popen(  # nosec B603
            [str(interpreter), "-m", "localstack.runtime.main"],
            env=environment,
            cwd=paths.localstack_dir(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # survives the terminal that started it; stopped by `down`
        )
    paths.localstack_pid_file().write_text(f"{process.pid}\n")
    # Asked of the child itself: until it has exec'd, its command line is still this program's,
    # so the check `make up` uses on a recorded pid would call a starting LocalStack dead.
    _wait_healthy(process.pid, lambda: process.poll() is None, began, timeout)
    return StartResult(process.pid, reused=False, seconds=time.monotonic() - began)


def _raise_port_taken() -> None:
    if health() is not None:
        raise UserFacingError(
            f"Another LocalStack, not started by this project, answers on {endpoint_url()}.",
            "Stop it (its functions would need Docker), or set SHEETFLOW_PORT to a free port.",
        )
    holder = _who_listens()
    raise UserFacingError(
        f"Port {port()} on {HOST} is already in use by another program"
        + (f": {holder}" if holder else "."),
        "Stop that program, or set SHEETFLOW_PORT to a free port.",
    )


def _wait_healthy(pid: int, running: Callable[[], bool], began: float, timeout: float) -> None:
    while time.monotonic() - began < timeout:
        if health(timeout=0.5) is not None:
            return
        if not running():
            paths.localstack_pid_file().unlink(missing_ok=True)
            raise UserFacingError(
                f"LocalStack exited while starting. Last lines of {paths.localstack_log_file()}:\n"
                + _log_tail(),
                "Fix the cause above and run `make up` again.",
            )
        time.sleep(0.05)
    raise UserFacingError(
        f"LocalStack did not become healthy within {timeout:.0f} s (pid {pid}).",
        f"See its log: {paths.localstack_log_file()}; stop it with `make down`.",
    )


def stop(timeout: float = STOP_TIMEOUT_SECONDS) -> int | None:
    """Stops the recorded LocalStack and its process group; returns its pid, None if none ran."""
    pid = _recorded_pid()
    if pid is None or not _is_our_localstack(pid):
        paths.localstack_pid_file().unlink(missing_ok=True)
        return None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _is_our_localstack(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    # Whatever is left in its session (a Lambda environment mid-shutdown) goes too.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    paths.localstack_pid_file().unlink(missing_ok=True)
    return pid
