"""One execution environment as a host process: spawn it, talk to it, collect its logs, end it."""

from __future__ import annotations

import contextlib
import io
import json
import os
import queue
import signal

# bandit B404: this executor exists to start environment processes
import subprocess  # nosec B404
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from sheetflow_localstack.executor.bootstrap import (
    HOT_RELOAD_VARIABLE,
    INIT_LOG_ID,
    LOG_END_MARKER,
    read_frame,
    write_frame,
)

BOOTSTRAP_SCRIPT = Path(__file__).with_name("bootstrap.py")
# get_logs() keeps the tail of an environment's output, like a container's log buffer.
MAX_RETAINED_LOG_CHARS = 1_000_000


class EnvironmentStartError(Exception):
    """The function failed while initialising; `payload` is the error as AWS reports it."""

    def __init__(self, message: str, payload: dict[str, Any]) -> None:
        super().__init__(message)
        self.payload = payload


@dataclass
class InvocationOutput:
    ok: bool
    payload: str
    logs: str
    duration_ms: float
    max_rss_mb: int
    first: bool  # the runtime's first invocation (a cold start)


class InvocationTimeoutError(Exception):
    def __init__(self, logs: str) -> None:
        super().__init__("invocation timed out")
        self.logs = logs


class EnvironmentExitedError(Exception):
    def __init__(self, logs: str, exit_status: str) -> None:
        super().__init__(exit_status)
        self.logs = logs
        self.exit_status = exit_status


class LogCollector:
    """Reads the environment's stdout/stderr and splits it per invocation at the end markers."""

    def __init__(self, pipe: io.BufferedReader) -> None:
        self._pipe = pipe
        self._pending = ""
        self._finished: dict[str, str] = {}
        self._history = ""
        self._closed = False
        self._changed = threading.Condition()
        threading.Thread(target=self._pump, name="lambda-log-reader", daemon=True).start()

    def _pump(self) -> None:
        while chunk := self._pipe.read1(65536):
            text = chunk.decode(errors="replace")
            with self._changed:
                self._history = (self._history + text)[-MAX_RETAINED_LOG_CHARS:]
                self._pending += text
                self._split_finished()
                self._changed.notify_all()
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def _split_finished(self) -> None:
        while (start := self._pending.find(LOG_END_MARKER)) >= 0:
            line_end = self._pending.find("\n", start)
            if line_end < 0:
                return
            request_id = self._pending[start + len(LOG_END_MARKER) : line_end]
            self._finished[request_id] = self._pending[:start]
            self._pending = self._pending[line_end + 1 :]

    def logs_of(self, request_id: str, timeout: float = 2.0) -> str:
        """The output an invocation produced; waits briefly for the reader to catch up."""
        with self._changed:
            self._changed.wait_for(
                lambda: request_id in self._finished or self._closed, timeout=timeout
            )
            return self._finished.pop(request_id, None) or self.take_unfinished()

    def take_unfinished(self) -> str:
        with self._changed:
            text, self._pending = self._pending, ""
            return text

    def history(self) -> str:
        with self._changed:
            return self._history.replace(LOG_END_MARKER, "")


class EnvironmentProcess:
    def __init__(
        self,
        process: subprocess.Popen[bytes],
        commands: IO[bytes],
        results: IO[bytes],
        logs: LogCollector,
        init_ms: float = 0.0,
    ) -> None:
        self._process = process
        self._commands = commands
        self._results: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.logs = logs
        self.init_ms = init_ms
        self.init_logs = ""
        self.invocations = 0
        self.reloadable = False
        self.init_failed = False
        threading.Thread(
            target=self._pump_results, args=(results,), name="lambda-result-reader", daemon=True
        ).start()

    @classmethod
    def spawn(
        cls,
        interpreter: Path,
        code_dir: Path,
        environment: dict[str, str],
        startup_timeout: float,
        *,
        reloadable: bool = False,
    ) -> EnvironmentProcess:
        """Starts the runtime and blocks until the handler is imported (or fails to import).

        A `reloadable` runtime is a fork server (see bootstrap.py): `reload()` re-imports the
        function's code in a fresh child without restarting the interpreter.
        """
        command_read, command_write = os.pipe()
        result_read, result_write = os.pipe()
        log_read, log_write = os.pipe()
        environment = {
            **environment,
            "LOCAL_LAMBDA_CMD_FD": str(command_read),
            "LOCAL_LAMBDA_RES_FD": str(result_write),
        }
        if reloadable:
            environment[HOT_RELOAD_VARIABLE] = "1"
        try:
            # bandit B603: fixed argv: interpreter + bootstrap
            process = subprocess.Popen(  # nosec B603
                [str(interpreter), "-u", str(BOOTSTRAP_SCRIPT)],
                env=environment,
                cwd=code_dir,
                stdin=subprocess.DEVNULL,
                stdout=log_write,
                stderr=log_write,
                pass_fds=(command_read, result_write),
                # Own process group: a timeout kills whatever the handler started, too.
                start_new_session=True,
            )
        finally:
            for child_end in (command_read, result_write, log_write):
                os.close(child_end)
        environment_process = cls(
            process,
            os.fdopen(command_write, "wb"),
            os.fdopen(result_read, "rb"),
            LogCollector(os.fdopen(log_read, "rb")),
        )
        environment_process.reloadable = reloadable
        environment_process._await_ready(startup_timeout)
        return environment_process

    def reload(self, timeout: float) -> None:
        """A fresh import of the function's code in a reloadable runtime; blocks until ready.

        On an import error the runtime stays up, waiting for the next reload (the fix).
        """
        self.init_failed = True
        self.invocations = 0  # the next invocation reports the new initialisation
        os.kill(self._process.pid, signal.SIGUSR1)
        self._await_ready(timeout, kill_on_error=False)

    def _pump_results(self, results: IO[bytes]) -> None:
        while (frame := read_frame(results)) is not None:
            self._results.put(frame)
        self._results.put(None)

    def _await_ready(self, timeout: float, *, kill_on_error: bool = True) -> None:
        try:
            frame = self._results.get(timeout=timeout)
        except queue.Empty:
            self.kill()
            raise EnvironmentStartError(
                "runtime did not start in time",
                {
                    "errorType": "Runtime.StartupTimeout",
                    "errorMessage": f"The runtime did not become ready within {timeout:.0f} s",
                },
            ) from None
        if frame is not None and frame["type"] == "ready":
            self.init_ms = float(frame["init_ms"])
            self.init_logs = self.logs.logs_of(INIT_LOG_ID)
            self.init_failed = False
            return
        self.init_logs = self.logs.logs_of(INIT_LOG_ID, timeout=0.5)
        if frame is None:
            error = {
                "errorType": "Runtime.ExitError",
                "errorMessage": f"Runtime exited with error: {self.exit_status()}",
            }
        else:
            error = frame["error"]
        if kill_on_error or frame is None:
            self.kill()
        raise EnvironmentStartError(error["errorMessage"], error)

    def invoke(self, command: dict[str, Any], timeout: float) -> InvocationOutput:
        request_id = command["request_id"]
        self.invocations += 1
        write_frame(self._commands, {"type": "invoke", **command})
        try:
            frame = self._results.get(timeout=timeout)
        except queue.Empty:
            self.kill()
            raise InvocationTimeoutError(self.logs.take_unfinished()) from None
        if frame is None:
            exit_status = self.exit_status()
            self.kill()
            raise EnvironmentExitedError(self.logs.take_unfinished(), exit_status)
        return InvocationOutput(
            ok=bool(frame["ok"]),
            payload=str(frame["payload"]),
            logs=self.logs.logs_of(request_id),
            duration_ms=float(frame["duration_ms"]),
            max_rss_mb=int(frame["max_rss_mb"]),
            first=self.invocations == 1,
        )

    def is_alive(self) -> bool:
        return self._process.poll() is None

    def exit_status(self) -> str:
        try:
            code = self._process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return "still running"
        if code < 0:
            return f"signal: {signal.Signals(-code).name.removeprefix('SIG').lower()}"
        return f"exit status {code}"

    def stop(self, grace_seconds: float = 2.0) -> None:
        """Closing the command pipe asks the runtime to exit; a kill follows if it does not."""
        with contextlib.suppress(OSError):
            self._commands.close()
        try:
            self._process.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait()


def to_json_bytes(value: dict[str, Any]) -> bytes:
    return json.dumps(value).encode()
