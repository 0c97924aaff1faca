"""The faults of a chaos run, other than the injected AWS errors: killed Lambda execution
environments and standalone consumers, duplicate task messages; and the worker settings the run
changes for its duration (and puts back).

Lambda execution environments are host processes started by the project's LocalStack executor
(`bootstrap.py`); the worker's are recognised by their environment (the function's name and this
LocalStack's endpoint), so no other process on the machine is ever signalled.
"""

from __future__ import annotations

import functools
import json
import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sheetflow.logic.messages import task_message
from stackctl import aws, localstack
from tests.support.e2e import set_visibility_timeout
from tests.support.waiting import wait_until


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {key.decode(errors="replace"): value.decode(errors="replace") for key, value in pairs}


def lambda_environment_pids(function_name: str) -> list[int]:
    """The live execution environments of `function_name` on this project's LocalStack."""
    endpoint = localstack.endpoint_url()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if b"bootstrap.py" not in (proc / "cmdline").read_bytes():
                continue
            environ = _environ(int(proc.name))
        except OSError:
            continue
        if environ.get("AWS_LAMBDA_FUNCTION_NAME") == function_name and environ.get(
            "AWS_ENDPOINT_URL", ""
        ).startswith(endpoint):
            found.append(int(proc.name))
    return found


def child_pids(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            children.append(int(stat.parent.name))
    return children


def busy(pid: int) -> bool:
    """Running on a CPU right now (mid-file, most likely), not sleeping in a poll."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "R"
    except (OSError, IndexError):
        return False


# How long the owed kills wait for a process that is in the middle of a file.
OWED_MID_FILE_SECONDS = 10.0


class Saboteur:
    """A thread that, at random moments until stopped, kills a worker environment or consumer
    (preferring one that is mid-file) and sends copies of task messages already sent."""

    def __init__(
        self,
        *,
        rng: random.Random,
        worker_function: str,
        standalone_pid: Callable[[], int | None],
        queue_url: str,
        bucket: str,
        accepted: Callable[[], list[tuple[str, str]]],
        kill_pause: float,
        duplicate_pause: float,
    ) -> None:
        self.rng = rng
        self.worker_function = worker_function
        self.standalone_pid = standalone_pid
        self.queue_url = queue_url
        self.bucket = bucket
        self.accepted = accepted
        # Mean seconds between two kills (of either kind) / two duplicate messages.
        self.kill_pause, self.duplicate_pause = kill_pause, duplicate_pause
        self.counts: Counter[str] = Counter()
        self.duplicated: Counter[str] = Counter()  # task id -> copies sent
        self._sqs = aws.client("sqs")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-saboteur", daemon=True)

    def __enter__(self) -> Saboteur:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        tick = 0.25
        kills = (self.kill_lambda_environment, self.kill_standalone_consumer)
        # One kill of each kind is owed from the start, so that a run that drains within
        # seconds (a fast, quiet machine) has both: of a process in the middle of a file when
        # one shows up within OWED_MID_FILE_SECONDS, else of any.
        owed = list(kills)
        started = time.monotonic()
        while not self._stop.wait(tick):
            mid_file = time.monotonic() - started < OWED_MID_FILE_SECONDS
            if owed and self._act(functools.partial(owed[0], mid_file=mid_file)):
                owed.pop(0)
            # Two independent streams of random moments (Poisson, drawn per tick).
            actions: list[Callable[[], bool]] = []
            if self.rng.random() < tick / self.kill_pause:
                actions.append(self.rng.choice(kills))
            if self.rng.random() < tick / self.duplicate_pause:
                actions.append(self.duplicate)
            for action in actions:
                self._act(action)

    def _act(self, action: Callable[[], bool]) -> bool:
        """Whether the action did its harm (a process killed, a copy sent)."""
        try:
            return action()
        except Exception as error:  # one failed action must not end the faults
            self.counts["sabotage_errors"] += 1
            name = getattr(action, "__name__", repr(action))
            print(f"  sabotage {name} failed: {error}", flush=True)
            return False

    @staticmethod
    def _pick(pids: list[int], rng: random.Random, mid_file: bool) -> int | None:
        # Prefer a process that is running (in the middle of a file) over an idle one; wait a
        # little for one to become busy. `mid_file`: only a running one.
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            running = [pid for pid in pids if busy(pid)]
            if running:
                return rng.choice(running)
            time.sleep(0.02)
        return rng.choice(pids) if pids and not mid_file else None

    def kill_lambda_environment(self, mid_file: bool = False) -> bool:
        pid = self._pick(lambda_environment_pids(self.worker_function), self.rng, mid_file)
        if pid is None or not _kill(pid):
            return False
        self.counts["lambda_kills"] += 1
        return True

    def kill_standalone_consumer(self, mid_file: bool = False) -> bool:
        supervisor = self.standalone_pid()
        if supervisor is None:
            return False
        # The supervisor's consumer processes (spawned), not multiprocessing's resource tracker.
        consumers = [pid for pid in child_pids(supervisor) if _is_consumer(pid)]
        pid = self._pick(consumers, self.rng, mid_file)
        if pid is None or not _kill(pid):
            return False
        self.counts["consumer_kills"] += 1
        return True

    def duplicate(self) -> bool:
        accepted = self.accepted()
        if not accepted:
            return False
        task_id, key = self.rng.choice(accepted)
        self._sqs.send_message(
            QueueUrl=self.queue_url, MessageBody=task_message(task_id, self.bucket, key)
        )
        self.counts["duplicates"] += 1
        self.duplicated[task_id] += 1
        return True


def _is_consumer(pid: int) -> bool:
    try:
        return b"multiprocessing.spawn" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _kill(pid: int) -> bool:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    return True


@contextmanager
def worker_settings(
    function_name: str, queue_url: str, variables: dict[str, str], timeout: int, visibility: int
) -> Iterator[None]:
    """The worker function with extra environment variables and `timeout`, and the task queue
    with `visibility`, for the duration; put back as they were afterwards.

    A killed attempt is redelivered after the queue's visibility timeout, and only claimed again
    once the killed attempt's lease (the invocation's time limit) has lapsed: a short timeout
    and a visibility above it bring a redelivery within a minute instead of twelve.
    """
    lambda_client, sqs = aws.client("lambda"), aws.client("sqs")
    original = lambda_client.get_function_configuration(FunctionName=function_name)
    original_visibility = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["VisibilityTimeout"]
    )["Attributes"]["VisibilityTimeout"]

    def configure(env: dict[str, str], seconds: int) -> None:
        lambda_client.update_function_configuration(
            FunctionName=function_name, Timeout=seconds, Environment={"Variables": env}
        )
        wait_until(
            lambda: (
                lambda_client.get_function_configuration(FunctionName=function_name)[
                    "LastUpdateStatus"
                ]
                == "Successful"
            ),
            timeout=60,
            what=f"the configuration update of {function_name}",
        )

    env = original.get("Environment", {}).get("Variables", {})
    configure({**env, **variables}, timeout)
    # Through a probe: a receive begun before the change would hide a message for the old time.
    set_visibility_timeout(sqs, queue_url, visibility)
    try:
        yield
    finally:
        sqs.set_queue_attributes(
            QueueUrl=queue_url, Attributes={"VisibilityTimeout": original_visibility}
        )
        configure(env, int(original["Timeout"]))


def injected_faults_logged(lines: list[str]) -> Counter[str]:
    """Injected faults per service, from JSON log lines (the worker's `injected_fault` field)."""
    found: Counter[str] = Counter()
    for line in lines:
        try:
            record: Any = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("injected_fault"), dict):
            found[str(record["injected_fault"].get("service"))] += 1
    return found
