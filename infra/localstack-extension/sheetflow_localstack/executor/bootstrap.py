"""The Lambda runtime inside one execution environment: a Python process on the host.

Run as a script by the interpreter matching the function's runtime (standard library only). It
imports the handler once, then serves invocations from its parent, the executor in LocalStack:

- commands arrive as frames on the file descriptor named by LOCAL_LAMBDA_CMD_FD,
- results leave as frames on LOCAL_LAMBDA_RES_FD,
- the handler's stdout and stderr go to the log pipe the parent reads; after each invocation a
  marker line tells the parent where that invocation's logs end.

A frame is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON. When the command
pipe closes (the parent stopped the environment, or LocalStack died, even by SIGKILL) the process
exits at once, so no environment outlives LocalStack.

For hot-reloaded code (LOCAL_LAMBDA_HOT_RELOAD=1) the process is a small fork server instead:
the runtime above runs in a child, and a reload re-imports the function's code in a new child
(see "hot reloading" below).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import importlib.machinery
import importlib.util
import json
import logging
import marshal
import os
import queue
import resource
import select
import signal
import struct
import sys
import tempfile
import threading
import time
import traceback
from typing import IO, Any

FRAME_HEADER = struct.Struct(">I")
LOG_END_MARKER = "\x00local-lambda-invocation-end\x00"
# Marks the end of what the runtime printed while importing the handler.
INIT_LOG_ID = "init"


def write_frame(stream: IO[bytes], message: dict[str, Any]) -> None:
    data = json.dumps(message).encode()
    stream.write(FRAME_HEADER.pack(len(data)) + data)
    stream.flush()


def read_frame(stream: IO[bytes]) -> dict[str, Any] | None:
    """Returns the next frame, or None when the other side closed the pipe."""
    header = _read_exactly(stream, FRAME_HEADER.size)
    if header is None:
        return None
    (length,) = FRAME_HEADER.unpack(header)
    body = _read_exactly(stream, length)
    if body is None:
        return None
    message: dict[str, Any] = json.loads(body)
    return message


def _read_exactly(stream: IO[bytes], size: int) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = stream.read(size - len(chunks))
        if not chunk:
            return None
        chunks.extend(chunk)
    return bytes(chunks)


class LambdaContext:
    """The context object AWS's Python runtime passes to a handler."""

    def __init__(self, request_id: str, invoked_function_arn: str, deadline_ms: int) -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_function_arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(self._deadline_ms - int(time.time() * 1000), 0)


class _RequestIdFilter(logging.Filter):
    """Adds the current request id to log records, as AWS's runtime does."""

    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


def error_payload(error: BaseException, error_type: str | None = None) -> dict[str, Any]:
    # The function's frames only: the runtime's own are not the user's concern.
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename != __file__]
    return {
        "errorMessage": str(error),
        "errorType": error_type or type(error).__name__,
        "requestId": _REQUEST_ID_FILTER.request_id,
        "stackTrace": traceback.format_list(frames),
    }


_REQUEST_ID_FILTER = _RequestIdFilter()


def configure_logging() -> None:
    """Root logger as in AWS: tab-separated level, time, request id, message."""
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(_REQUEST_ID_FILTER)
    handler.setFormatter(
        logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
            "%Y-%m-%dT%H:%M:%S",
        )
    )
    logging.Formatter.converter = time.gmtime
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(os.environ.get("AWS_LAMBDA_LOG_LEVEL", "WARNING").upper())


def limit_memory() -> None:
    """The function's memory size becomes the process's address-space limit."""
    megabytes = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "0") or 0)
    if megabytes > 0 and os.environ.get("LOCAL_LAMBDA_ENFORCE_MEMORY", "1") == "1":
        limit = megabytes * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def peak_memory_mb() -> int:
    """Peak resident memory since exec (ru_maxrss would include the parent's, from before exec)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    return 0


def load_handler(code_dir: str, handler_spec: str) -> Any:
    """Imports `module.path.function` with the code directory first on sys.path, as in AWS."""
    sys.path[0] = code_dir
    module_name, _, function_name = handler_spec.rpartition(".")
    if not module_name:
        raise LambdaRuntimeError(
            "Runtime.MalformedHandlerName",
            f"Bad handler '{handler_spec}': not enough values to unpack (expected 2, got 1)",
        )
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as error:
        raise LambdaRuntimeError(
            "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {error}"
        ) from error
    except SyntaxError as error:
        raise LambdaRuntimeError(
            "Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {error}"
        ) from error
    handler = getattr(module, function_name, None)
    if handler is None:
        raise LambdaRuntimeError(
            "Runtime.HandlerNotFound",
            f"Handler '{function_name}' missing on module '{module_name}'",
        )
    return handler


class LambdaRuntimeError(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def _commands_from(pipe: IO[bytes]) -> queue.Queue[dict[str, Any]]:
    """Reads commands on a thread, so a closed pipe ends the process even mid-invocation."""
    commands: queue.Queue[dict[str, Any]] = queue.Queue()

    def pump() -> None:
        while (message := read_frame(pipe)) is not None:
            commands.put(message)
        os._exit(0)

    threading.Thread(target=pump, name="command-reader", daemon=True).start()
    return commands


def _end_of_invocation_logs(request_id: str) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.write(1, f"{LOG_END_MARKER}{request_id}\n".encode())


def _run_handler(handler: Any, payload: str, context: LambdaContext) -> dict[str, Any]:
    try:
        response = handler(json.loads(payload) if payload else None, context)
    except Exception as error:
        failure = error_payload(error)
        print(
            f"[ERROR] {failure['errorType']}: {failure['errorMessage']}\n"
            f"Traceback (most recent call last):\n{''.join(failure['stackTrace'])}",
            end="",
            file=sys.stderr,
        )
        return {"ok": False, "payload": json.dumps(failure)}
    try:
        return {"ok": True, "payload": json.dumps(response)}
    except (TypeError, ValueError) as error:
        unmarshallable = LambdaRuntimeError(
            "Runtime.MarshalError", f"Unable to marshal response: {error}"
        )
        return {
            "ok": False,
            "payload": json.dumps(error_payload(unmarshallable, unmarshallable.error_type)),
        }


def serve() -> None:
    results_fd = int(os.environ.pop("LOCAL_LAMBDA_RES_FD"))
    commands_fd = int(os.environ.pop("LOCAL_LAMBDA_CMD_FD"))
    code_dir = os.environ["LAMBDA_TASK_ROOT"]
    os.chdir(code_dir)
    # sys.path[0] is this script's folder: the function must not see the runtime's own files.
    sys.path[0] = code_dir
    limit_memory()
    if os.environ.pop(HOT_RELOAD_VARIABLE, "") == "1":
        _supervise(code_dir, results_fd, commands_fd)
    else:
        _run_runtime(code_dir, results_fd, commands_fd)


def _run_runtime(
    code_dir: str, results_fd: int, commands_fd: int, modules_fd: int | None = None
) -> None:
    """Imports the handler, then serves invocations until the command pipe closes."""
    results = os.fdopen(results_fd, "wb")
    commands = _commands_from(os.fdopen(commands_fd, "rb"))
    configure_logging()

    started = time.perf_counter()
    try:
        handler = load_handler(code_dir, os.environ["_HANDLER"])
    except Exception as error:
        # Import failures and exceptions raised by the module's top-level code, as AWS reports them.
        error_type = error.error_type if isinstance(error, LambdaRuntimeError) else None
        payload = error_payload(error, error_type)
        print(f"[ERROR] {payload['errorType']}: {payload['errorMessage']}", file=sys.stderr)
        _end_of_invocation_logs(INIT_LOG_ID)
        write_frame(results, {"type": "init_error", "error": payload})
        if modules_fd is not None:
            os._exit(INIT_FAILED_EXIT)
        return
    init_ms = (time.perf_counter() - started) * 1000
    if modules_fd is not None:
        _report_modules(code_dir, modules_fd)
    _end_of_invocation_logs(INIT_LOG_ID)
    write_frame(results, {"type": "ready", "init_ms": init_ms})

    while True:
        command = commands.get()
        request_id = command["request_id"]
        _REQUEST_ID_FILTER.request_id = request_id
        os.environ["_X_AMZN_TRACE_ID"] = command.get("trace_id") or ""
        context = LambdaContext(request_id, command["invoked_function_arn"], command["deadline_ms"])
        started = time.perf_counter()
        outcome = _run_handler(handler, command["payload"], context)
        duration_ms = (time.perf_counter() - started) * 1000
        _end_of_invocation_logs(request_id)
        max_rss_mb = peak_memory_mb()
        write_frame(
            results,
            {"type": "result", **outcome, "duration_ms": duration_ms, "max_rss_mb": max_rss_mb},
        )


# --- hot reloading: a fork server -----------------------------------------------------------
#
# A function whose code is a host folder is imported in a child of this process. The parent
# (the supervisor) imports, once, every module the child loaded from outside the code folder
# (the runtime's boto3, the layers' packages, the standard library). When the code changes the
# executor sends SIGUSR1: the supervisor kills the child and forks a new one, which imports only
# the function's own modules, in tens of milliseconds instead of the seconds a fresh interpreter
# needs. The child inherits the command, result and log pipes, so the executor talks to it as
# to any runtime.
#
# Two more costs would otherwise come back with every reload. Creating an SDK client loads the
# service's model files (about half a second for DynamoDB and S3 together): the supervisor
# creates boto3's default session before forking, each child reports the clients and resources
# it creates through it, and the supervisor creates the same ones once, so the next child finds
# their models loaded. And the function's modules are compiled from source: the compiled code is
# kept by the hash of the source, so an unchanged module is not compiled again.

HOT_RELOAD_VARIABLE = "LOCAL_LAMBDA_HOT_RELOAD"
# A child whose handler failed to import exits with this; the supervisor then waits for a fix.
INIT_FAILED_EXIT = 70


def _report_modules(code_dir: str, modules_fd: int) -> None:
    """Tells the supervisor which loaded modules are not the function's own."""
    prefix = os.path.join(os.path.realpath(code_dir), "")
    names = [
        name
        for name, module in list(sys.modules.items())
        if name != "__main__"
        and (path := getattr(module, "__file__", None))
        and not os.path.realpath(path).startswith(prefix)
    ]
    with os.fdopen(modules_fd, "w") as report:
        report.write("\n".join(names))


def _preload(names: list[str]) -> None:
    """Imports what the runtime imported outside the code folder; their output is discarded."""
    saved = os.dup(1), os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    try:
        for name in names:
            if name not in sys.modules:
                try:
                    importlib.import_module(name)
                except BaseException:  # the child then imports it itself and reports the error
                    continue
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


def _await_reload(state: dict[str, int | bool], commands_fd: int) -> None:
    """Waits for the executor to ask for a reload; exits when its end of the pipe closes."""
    pipe = select.poll()
    pipe.register(commands_fd, select.POLLIN)
    while not state["reload"]:
        events = dict(pipe.poll(50))
        if events.get(commands_fd, 0) & select.POLLHUP:
            os._exit(0)


class _FreshSourceLoader(importlib.machinery.SourceFileLoader):
    """Loads a module of the function's folder by its source's content, never by its stamps.

    Python's bytecode cache is trusted when the source's size and whole-second time match: a
    change saved within the same second, same size, would run the old code. This loader keys
    compiled code by a hash of the path and the source instead, in a folder of the runtime's
    own temporary directory, and leaves the working tree untouched.
    """

    def get_code(self, fullname: str) -> Any:
        path = self.get_filename(fullname)
        source = self.get_data(path)
        key = hashlib.sha256(path.encode() + b"\0" + source).hexdigest()
        cached = os.path.join(_compiled_code_dir(), key)
        with (
            contextlib.suppress(OSError, EOFError, ValueError, TypeError),
            open(cached, "rb") as file,
        ):
            # bandit B302: code this runtime compiled itself, read back from its own temporary
            # folder; whoever can write there can edit the function's source as well
            return marshal.load(file)  # nosec B302
        code = self.source_to_code(source, path)
        with contextlib.suppress(OSError):
            partial = f"{cached}.{os.getpid()}"
            with open(partial, "wb") as file:
                marshal.dump(code, file)
            os.replace(partial, cached)
        return code


@functools.cache
def _compiled_code_dir() -> str:
    folder = os.path.join(tempfile.gettempdir(), "hot-reload-code")
    os.makedirs(folder, exist_ok=True)
    return folder


def _compile_code_folder_from_source(code_dir: str) -> None:
    real_code_dir = os.path.realpath(code_dir)
    finder = importlib.machinery.FileFinder.path_hook(
        (importlib.machinery.ExtensionFileLoader, importlib.machinery.EXTENSION_SUFFIXES),
        (_FreshSourceLoader, importlib.machinery.SOURCE_SUFFIXES),
    )

    def hook(path: str) -> Any:
        real = os.path.realpath(path or ".")
        if real == real_code_dir or real.startswith(os.path.join(real_code_dir, "")):
            return finder(path)
        raise ImportError("not in the function's folder")  # the next hook takes it

    sys.path_hooks.insert(0, hook)
    sys.path_importer_cache.clear()


def _shared_sdk_session(code_dir: str) -> Any:
    """boto3's default session, created here so that children inherit it; None without boto3.

    A boto3 in the function's own folder is the function's code, reloaded with it: not shared.
    """
    try:
        spec = importlib.util.find_spec("boto3")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    if os.path.realpath(spec.origin).startswith(os.path.join(os.path.realpath(code_dir), "")):
        return None
    try:
        import boto3  # noqa: PLC0415

        boto3.setup_default_session()
    except Exception:  # the child imports it itself and reports the error
        return None
    return boto3.DEFAULT_SESSION


def _report_sdk_objects(session: Any, report_fd: int) -> None:
    """In a child: tells the supervisor each kind of client or resource the function creates
    through the shared session (as "client dynamodb"), once each."""
    report = os.fdopen(report_fd, "w", buffering=1)
    reported: set[str] = set()

    def recording(kind: str, create: Any) -> Any:
        def create_and_report(*args: Any, **kwargs: Any) -> Any:
            created = create(*args, **kwargs)
            service = kwargs.get("service_name", args[0] if args else None)
            line = f"{kind} {service}"
            if isinstance(service, str) and line not in reported:
                reported.add(line)
                with contextlib.suppress(OSError):
                    report.write(line + "\n")
            return created

        return create_and_report

    session.client = recording("client", session.client)
    session.resource = recording("resource", session.resource)


def _warm_sdk_models(session: Any, report_fd: int) -> threading.Thread:
    """In the supervisor: creates what the child reports, once, so that the next child finds
    the service models loaded. Ends when the child does (its end of the pipe closes)."""

    def warm() -> None:
        with os.fdopen(report_fd) as report:
            for line in report:
                kind, _, service = line.strip().partition(" ")
                with contextlib.suppress(Exception):  # a failure only leaves the model unloaded
                    (session.client if kind == "client" else session.resource)(service)

    thread = threading.Thread(target=warm, name="sdk-model-warmer", daemon=True)
    thread.start()
    return thread


def _supervise(code_dir: str, results_fd: int, commands_fd: int) -> None:
    _compile_code_folder_from_source(code_dir)
    session = _shared_sdk_session(code_dir)
    state = {"child": 0, "reload": False}

    def reload(_signal: int, _frame: object) -> None:
        state["reload"] = True
        if state["child"]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(state["child"], signal.SIGKILL)

    signal.signal(signal.SIGUSR1, reload)
    while True:
        state["reload"] = False
        modules_read, modules_write = os.pipe()
        sdk_read, sdk_write = os.pipe()
        # Forked with no other thread running: the last child's warmer has been joined.
        child = os.fork()
        if child == 0:
            signal.signal(signal.SIGUSR1, signal.SIG_DFL)
            os.close(modules_read)
            os.close(sdk_read)
            if session is not None:
                _report_sdk_objects(session, sdk_write)
            else:
                os.close(sdk_write)
            importlib.invalidate_caches()
            _run_runtime(code_dir, results_fd, commands_fd, modules_write)
            os._exit(0)
        state["child"] = child
        os.close(modules_write)
        os.close(sdk_write)
        warmer = _warm_sdk_models(session, sdk_read) if session is not None else None
        if warmer is None:
            os.close(sdk_read)
        with os.fdopen(modules_read) as report:
            names = [name for name in report.read().split("\n") if name]
        _preload(names)
        _, status = os.waitpid(child, 0)
        state["child"] = 0
        if warmer is not None:
            warmer.join()
        if state["reload"]:
            continue
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == INIT_FAILED_EXIT:
            _await_reload(state, commands_fd)
            continue
        # The runtime ended by itself (command pipe closed, exit, crash): end the same way.
        if os.WIFSIGNALED(status):
            signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
            os.kill(os.getpid(), os.WTERMSIG(status))
        os._exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    serve()
