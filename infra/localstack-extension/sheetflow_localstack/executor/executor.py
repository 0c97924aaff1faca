"""LocalStack runtime executor `local`: Lambda execution environments as host processes.

LocalStack ships only a Docker executor. This one runs each execution environment as a
subprocess of the Python interpreter matching the function's runtime, taken from
LOCAL_LAMBDA_RUNTIMES_DIR/rt-<runtime>/bin/python (a virtualenv holding what AWS's runtime
provides, boto3). LocalStack keeps deciding when environments start, are reused and stop;
this class only makes a process behave like the environment.
"""

from __future__ import annotations

import datetime
import json
import logging
import math
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from localstack import config
from localstack.aws.api.lambda_ import PackageType
from localstack.services.lambda_.invocation.executor_endpoint import StatusErrorException
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.runtime_executor import (
    LambdaRuntimeException,
    RuntimeExecutor,
)

from sheetflow_localstack.executor.code_watch import CodeWatch
from sheetflow_localstack.executor.environment_process import (
    BOOTSTRAP_SCRIPT,
    EnvironmentExitedError,
    EnvironmentProcess,
    EnvironmentStartError,
    InvocationOutput,
    InvocationTimeoutError,
    to_json_bytes,
)
from sheetflow_localstack.payload_limits import response_too_large_error

LOG = logging.getLogger(__name__)

SUPPORTED_RUNTIMES = ("python3.12", "python3.13")
RUNTIMES_DIR_VARIABLE = "LOCAL_LAMBDA_RUNTIMES_DIR"


def runtimes_dir() -> Path:
    return Path(os.environ.get(RUNTIMES_DIR_VARIABLE, "")).expanduser()


def interpreter_for(runtime: str) -> Path:
    return runtimes_dir() / f"rt-{runtime}" / "bin" / "python"


def unsupported_reason(function_version: FunctionVersion) -> str | None:
    """Why this function cannot run here, or None when it can."""
    function_config = function_version.config
    if function_config.package_type != PackageType.Zip:
        return "container image functions need Docker; the local executor runs zip packages"
    runtime = function_config.runtime
    if runtime not in SUPPORTED_RUNTIMES:
        return (
            f"runtime {runtime} is not available locally; "
            f"the local executor runs {', '.join(SUPPORTED_RUNTIMES)}"
        )
    if not interpreter_for(runtime).exists():
        return (
            f"no interpreter for {runtime} at {interpreter_for(runtime)}; "
            "run `make install` to prepare the local runtimes"
        )
    return None


class LocalRuntimeExecutor(RuntimeExecutor):
    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        self._process: EnvironmentProcess | None = None
        self._environment: dict[str, str] = {}
        self._scratch_dir = Path(tempfile.gettempdir()) / "lambda-environments" / id
        # LocalStack sends one invocation at a time to an environment; the lock keeps a restart
        # after a timeout from racing a stop.
        self._lock = threading.Lock()
        self._stopped = False
        self._code_watch = CodeWatch(
            [self._code_dir()] if function_version.config.code.is_hot_reloading() else [],
            [path for path, hot in self._layer_dirs() if hot],
        )

    # --- lifecycle -------------------------------------------------------------------------

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        reason = unsupported_reason(function_version)
        if reason:
            raise LambdaRuntimeException(reason)
        function_version.config.code.prepare_for_execution()
        for layer in function_version.config.layers:
            layer.code.prepare_for_execution()

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        """Nothing beyond LocalStack's own unzipped code is prepared per version."""

    @classmethod
    def validate_environment(cls) -> bool:
        if not runtimes_dir().is_dir():
            LOG.warning(
                "%s is not set to the folder of the local Lambda runtimes", RUNTIMES_DIR_VARIABLE
            )
            return False
        return True

    def start(self, env_vars: dict[str, str]) -> None:
        self._environment = self._process_environment(env_vars)
        with self._lock:
            try:
                self._process = self._spawn()
            except EnvironmentStartError as error:
                raise StatusErrorException(
                    str(error), payload=to_json_bytes(error.payload)
                ) from error

    def stop(self) -> None:
        # Not under the lock: a stop (keep-alive expiry, shutdown) must not wait for a running
        # invocation; that invocation ends with Runtime.ExitError and no new runtime starts.
        self._stopped = True
        process = self._process
        if process is not None:
            process.stop()
        shutil.rmtree(self._scratch_dir, ignore_errors=True)

    def _spawn(self) -> EnvironmentProcess:
        self._scratch_dir.mkdir(parents=True, exist_ok=True)
        # Before the runtime imports anything: a save during its start shows at the next invoke.
        self._code_watch.mark()
        return EnvironmentProcess.spawn(
            interpreter=interpreter_for(str(self.function_version.config.runtime)),
            code_dir=self._code_dir(),
            environment=self._environment,
            startup_timeout=float(config.LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT),
            reloadable=self.function_version.config.code.is_hot_reloading(),
        )

    def _code_dir(self) -> Path:
        return Path(self.function_version.config.code.get_unzipped_code_location())

    def _layer_dirs(self) -> list[tuple[Path, bool]]:
        """Each layer's folder (AWS's /opt) in the function's order, and whether it hot-reloads."""
        return [
            (Path(layer.code.get_unzipped_code_location()), layer.code.is_hot_reloading())
            for layer in self.function_version.config.layers
        ]

    def _layer_python_path(self) -> str:
        """AWS's /opt/python and its site-packages, per layer; a later layer wins, as in /opt."""
        runtime = str(self.function_version.config.runtime)
        entries: list[str] = []
        for folder, _ in reversed(self._layer_dirs()):
            entries += [str(folder / "python" / "lib" / runtime / "site-packages")]
            entries += [str(folder / "python")]
        return os.pathsep.join(entries)

    def _process_environment(self, env_vars: dict[str, Any]) -> dict[str, str]:
        """AWS's variables from LocalStack, adjusted to where things are on this host."""
        environment = {key: str(value) for key, value in env_vars.items()}
        interpreter = interpreter_for(str(self.function_version.config.runtime))
        environment.update(
            {
                "LAMBDA_TASK_ROOT": str(self._code_dir()),
                "LAMBDA_RUNTIME_DIR": str(BOOTSTRAP_SCRIPT.parent),
                "PATH": f"{interpreter.parent}:/usr/local/bin:/usr/bin:/bin",
                "LANG": "en_US.UTF-8",
                # Each environment has a /tmp of its own, as in AWS.
                "HOME": str(self._scratch_dir),
                "TMPDIR": str(self._scratch_dir),
            }
        )
        if layers_path := self._layer_python_path():
            # After the code folder (sys.path[0]), before the runtime's boto3, as in AWS.
            environment["PYTHONPATH"] = layers_path
        # The function's own variables win, as LocalStack applied them last.
        environment.update(
            {k: str(v) for k, v in (self.function_version.config.environment or {}).items()}
        )
        return environment

    # --- addresses (the environment shares the host's network) -----------------------------

    def get_address(self) -> str:
        return "127.0.0.1"

    def get_endpoint_from_executor(self) -> str:
        host = config.GATEWAY_LISTEN[0].host
        # bandit B104: compares the configured listen address; nothing is bound here
        return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # nosec B104

    def get_runtime_endpoint(self) -> str:
        # Results travel over pipes; LocalStack still puts this value into the environment.
        port = config.GATEWAY_LISTEN[0].port
        return f"http://{self.get_endpoint_from_executor()}:{port}/_localstack_lambda/{self.id}"

    # --- invocations -----------------------------------------------------------------------

    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        request_id = payload["invoke-id"]
        timeout = float(self.function_version.config.timeout)
        with self._lock:
            try:
                process = self._running_process()
            except EnvironmentStartError as error:
                return self._result(
                    request_id,
                    error.payload,
                    is_error=True,
                    logs=self._framed(request_id, "", error_logs=str(error)),
                )
            command = {
                "request_id": request_id,
                "invoked_function_arn": payload.get("invoked-function-arn", ""),
                "payload": payload.get("payload", ""),
                "trace_id": payload.get("trace-id", ""),
                "deadline_ms": int((time.time() + timeout) * 1000),
            }
            try:
                output = process.invoke(command, timeout=timeout)
            except InvocationTimeoutError as timed_out:
                self._process = None  # the next invocation starts a fresh runtime, as in AWS
                message = f"Task timed out after {timeout:.2f} seconds"
                logs = f"{timed_out.logs}{_timestamp()} {request_id} {message}\n"
                return self._result(
                    request_id,
                    {
                        "errorType": "Sandbox.Timedout",
                        "errorMessage": f"RequestId: {request_id} Error: {message}",
                    },
                    is_error=True,
                    logs=self._framed(request_id, logs, duration_ms=timeout * 1000),
                )
            except EnvironmentExitedError as exited:
                self._process = None
                message = f"Runtime exited with error: {exited.exit_status}"
                return self._result(
                    request_id,
                    {
                        "errorType": "Runtime.ExitError",
                        "errorMessage": f"RequestId: {request_id} Error: {message}",
                    },
                    is_error=True,
                    logs=self._framed(request_id, f"{exited.logs}{message}\n"),
                )
        # The first invocation of a runtime reports its initialisation, as a cold start in AWS does.
        init_logs = process.init_logs if output.first else ""
        init_ms = process.init_ms if output.first else None
        response = output.payload.encode()
        body = output.logs
        is_error = not output.ok
        if too_large := response_too_large_error(len(response)):
            # AWS's runtime API refuses the result; the caller gets this error instead.
            response = json.dumps(too_large).encode()
            is_error = True
            body = _with_line(body, f"{too_large['errorType']}: {too_large['errorMessage']}")
        return InvocationResult(
            request_id=request_id,
            payload=response,
            is_error=is_error,
            logs=init_logs + self._framed(request_id, body, output, init_ms=init_ms),
        )

    def _running_process(self) -> EnvironmentProcess:
        if self._stopped:
            raise EnvironmentStartError(
                "environment stopped",
                {"errorType": "Runtime.Stopped", "errorMessage": "The environment was stopped"},
            )
        process = self._process
        if process is not None and process.is_alive() and self._code_watch:
            # Hot-reloaded code changed: this invocation is a cold start on the new code.
            layers_changed = self._code_watch.layers_changed()
            code_changed = self._code_watch.code_changed()
            if layers_changed or (code_changed and not process.reloadable):
                # A new interpreter: the packages a fork server preloaded were replaced.
                process.stop()
                self._process = None
            elif code_changed or process.init_failed:
                self._code_watch.mark()
                process.reload(float(config.LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT))
        if self._process is None or not self._process.is_alive():
            self._process = self._spawn()
        return self._process

    def _result(
        self, request_id: str, payload: dict[str, Any], *, is_error: bool, logs: str
    ) -> InvocationResult:
        return InvocationResult(
            request_id=request_id,
            payload=json.dumps(payload).encode(),
            is_error=is_error,
            logs=logs,
        )

    def _framed(
        self,
        request_id: str,
        body: str,
        output: InvocationOutput | None = None,
        *,
        duration_ms: float | None = None,
        init_ms: float | None = None,
        error_logs: str = "",
    ) -> str:
        """The handler's output between AWS's START, END and REPORT lines."""
        version = self.function_version.id.qualifier
        memory = self.function_version.config.memory_size
        duration = output.duration_ms if output else (duration_ms or 0.0)
        report = (
            f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms\t"
            f"Billed Duration: {math.ceil(duration)} ms\tMemory Size: {memory} MB"
        )
        if output:
            report += f"\tMax Memory Used: {output.max_rss_mb} MB"
        if init_ms is not None:
            report += f"\tInit Duration: {init_ms:.2f} ms"
        if body and not body.endswith("\n"):
            body += "\n"
        if error_logs:
            body += f"{error_logs}\n"
        return (
            f"START RequestId: {request_id} Version: {version}\n{body}"
            f"END RequestId: {request_id}\n{report}\n"
        )

    def get_logs(self) -> str:
        return self._process.logs.history() if self._process else ""


def _with_line(text: str, line: str) -> str:
    if text and not text.endswith("\n"):
        text += "\n"
    return f"{text}{line}\n"


def _timestamp() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
