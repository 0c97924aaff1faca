"""The standalone worker as a real process (`python -m sheetflow.worker`) against LocalStack."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from sheetflow.dal.queues import send
from sheetflow.logic.messages import task_message
from sheetflow.logic.task import Task, TaskStatus
from stackctl import localstack
from tests.support.aws import AwsClientFactory
from tests.support.e2e import queue_counts, wait_queue_drained
from tests.support.waiting import wait_until
from tests.support.worker import Pipeline, StartWorker, WorkerProcess, submit

pytestmark = pytest.mark.localstack


def current(pipeline: Pipeline, task_id: str) -> Task:
    task = pipeline.tasks().get(task_id)
    assert task is not None, f"task {task_id} vanished"
    return task


def all_succeeded(pipeline: Pipeline, task_ids: list[str]) -> bool:
    return all(current(pipeline, task_id).status is TaskStatus.SUCCEEDED for task_id in task_ids)


def succeeded_per_task(*workers: WorkerProcess) -> Counter[str]:
    return Counter(
        str(record["task_id"]) for worker in workers for record in worker.outcomes("SUCCEEDED")
    )


def processing(pipeline: Pipeline, task_id: str) -> bool:
    return current(pipeline, task_id).status is TaskStatus.PROCESSING


def child_pids(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def is_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get_json(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
    except OSError:
        return 0, {}


def healthy_document(url: str) -> dict[str, Any] | None:
    status, document = get_json(url)
    return document if status == 200 else None


def test_two_workers_process_every_task_once(
    pipeline: Pipeline, start_worker: StartWorker, small_workbook: bytes, aws: AwsClientFactory
) -> None:
    # Given 20 queued tasks, half of them with a duplicate message (SQS delivers at least once)
    tasks = submit(pipeline.api_config(), small_workbook, count=20)
    for task in tasks[:10]:
        send(pipeline.queue_url, task_message(task.task_id, task.bucket, task.key))
    task_ids = [task.task_id for task in tasks]
    # When two workers (one with two consumer processes) consume the queue
    first = start_worker(pipeline.worker_env(), "--concurrency", "2")
    second = start_worker(pipeline.worker_env())
    wait_until(lambda: all_succeeded(pipeline, task_ids), timeout=60, what="all tasks to succeed")
    # (a duplicate that meets its task while the first delivery still publishes the finish event
    # waits until that publisher's 30 s lease has lapsed, then is skipped: allow for that)
    wait_queue_drained(aws("sqs"), pipeline.queue_url, timeout=120)
    # (a task is SUCCEEDED before its worker writes the outcome line: wait for the lines)
    wait_until(
        lambda: len(first.outcomes()) + len(second.outcomes()) >= 30, 30, what="30 outcome lines"
    )
    # Then every task was processed exactly once, by one claim
    assert succeeded_per_task(first, second) == Counter(task_ids)
    assert {current(pipeline, task_id).attempts for task_id in task_ids} == {1}
    # and every message was consumed: the duplicates as skipped deliveries
    assert len(first.outcomes()) + len(second.outcomes()) == 30
    skipped = [r["task_id"] for w in (first, second) for r in w.outcomes("SKIPPED")]
    assert sorted(skipped) == sorted(task_ids[:10])
    # and both workers took part
    assert first.outcomes() and second.outcomes()


def test_sigterm_mid_file_finishes_it_and_exits_zero(
    pipeline: Pipeline,
    start_worker: StartWorker,
    slow_workbook: bytes,
    aws: AwsClientFactory,
) -> None:
    # Given a worker busy with a slow file, and a second task waiting behind it
    slow, waiting = submit(pipeline.api_config(), slow_workbook, count=2)
    # (a grace period long enough for the file on a slow machine: finishing it is the point)
    env = {"WORKER_VISIBILITY_SECONDS": "10", "WORKER_GRACE_SECONDS": "300"}
    worker = start_worker({**pipeline.worker_env(), **env})
    busy = wait_until(
        lambda: [t for t in (slow, waiting) if processing(pipeline, t.task_id)],
        timeout=30,
        what="a task to be processing",
    )
    in_hand, other = (slow, waiting) if busy[0].task_id == slow.task_id else (waiting, slow)
    # When it receives SIGTERM
    worker.signal(signal.SIGTERM)
    # Then it finishes that file and exits 0
    assert worker.wait(timeout=300) == 0
    assert current(pipeline, in_hand.task_id).status is TaskStatus.SUCCEEDED
    assert succeeded_per_task(worker) == Counter([in_hand.task_id])
    # and the task it had not started is untouched, its message back in the queue at once
    assert current(pipeline, other.task_id).status is TaskStatus.QUEUED
    assert queue_counts(aws("sqs"), pipeline.queue_url) == (1, 0)


def test_sigkill_mid_file_message_returns_and_is_processed_once(
    pipeline: Pipeline, start_worker: StartWorker, slow_workbook: bytes
) -> None:
    # Given a worker (two consumer processes) busy with a slow file
    (task,) = submit(pipeline.api_config(), slow_workbook, count=1)
    env = {**pipeline.worker_env(), "WORKER_VISIBILITY_SECONDS": "4"}
    killed = start_worker(env, "--concurrency", "2")
    wait_until(lambda: processing(pipeline, task.task_id), timeout=120, what="processing")
    consumers = wait_until(lambda: child_pids(killed.pid), timeout=5, what="consumers")
    # When it is killed outright
    killed.signal(signal.SIGKILL)
    killed.wait(timeout=10)
    # Then its consumer processes die with it
    wait_until(lambda: not any(is_running(pid) for pid in consumers), 10, what="consumers gone")
    assert current(pipeline, task.task_id).status is TaskStatus.PROCESSING
    # and after the visibility timeout another worker gets the message and processes it once
    rescuer = start_worker(env)
    wait_until(lambda: all_succeeded(pipeline, [task.task_id]), timeout=120, what="success")
    assert current(pipeline, task.task_id).attempts == 2
    assert succeeded_per_task(killed) == Counter()
    (only,) = wait_until(rescuer.outcomes, timeout=120, what="the rescuer's outcome line")
    assert (only["outcome"], only["task_id"]) == ("SUCCEEDED", task.task_id)
    # A redelivery, not the first receive (a long poll the killed consumer left open on the
    # server may take one more delivery before the rescuer's)
    assert only["receive_count"] >= 2


def test_slow_file_keeps_its_message_invisible_and_is_processed_once(
    pipeline: Pipeline, start_worker: StartWorker, slow_workbook: bytes, aws: AwsClientFactory
) -> None:
    # Given two idle workers whose visibility timeout (3 s) is far shorter than the file takes
    # (the heartbeat extends it every second: a beat may be two seconds late on a loaded machine)
    env = {**pipeline.worker_env(), "WORKER_VISIBILITY_SECONDS": "3"}
    workers = [start_worker(env), start_worker(env)]
    wait_until(lambda: all(w.started() for w in workers), 120, what="workers up")
    # When a slow file is queued
    (task,) = submit(pipeline.api_config(), slow_workbook, count=1)
    wait_until(lambda: all_succeeded(pipeline, [task.task_id]), timeout=60, what="success")
    # Then it was processed by one claim, for well over the visibility timeout
    assert current(pipeline, task.task_id).attempts == 1
    # (the task is SUCCEEDED before the worker writes its outcome line: wait for the line itself)
    wait_until(
        lambda: [record for worker in workers for record in worker.outcomes()],
        timeout=30,
        what="the worker's outcome line",
    )
    # and both workers stopped, so no later line can be missed below
    for worker in workers:
        worker.signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
    (success,) = [record for worker in workers for record in worker.outcomes()]
    assert (success["outcome"], success["task_id"]) == ("SUCCEEDED", task.task_id)
    assert success["duration_ms"] > 2 * 3000
    # and its message was received once and deleted: no worker saw it again
    assert success["receive_count"] == 1
    wait_queue_drained(aws("sqs"), pipeline.queue_url, timeout=10)


def test_second_signal_exits_at_once(
    pipeline: Pipeline, start_worker: StartWorker, slow_workbook: bytes
) -> None:
    # Given a worker busy with a slow file that got SIGTERM
    (task,) = submit(pipeline.api_config(), slow_workbook, count=1)
    worker = start_worker({**pipeline.worker_env(), "WORKER_VISIBILITY_SECONDS": "10"})
    wait_until(lambda: processing(pipeline, task.task_id), timeout=120, what="processing")
    worker.signal(signal.SIGTERM)
    wait_until(worker.stopping, 5, what="the worker to acknowledge the first signal")
    # When a second signal comes
    worker.signal(signal.SIGINT)
    # Then it exits at once, without finishing the file (which a redelivery will process)
    assert worker.wait(timeout=5) == 128 + signal.SIGINT
    assert current(pipeline, task.task_id).status is TaskStatus.PROCESSING
    assert succeeded_per_task(worker) == Counter()


def test_health_endpoints(
    pipeline: Pipeline, start_worker: StartWorker, small_workbook: bytes
) -> None:
    # Given a worker with two consumers serving health checks
    port = free_port()
    worker = start_worker(pipeline.worker_env(), "--concurrency", "2", "--health-port", str(port))
    base = f"http://127.0.0.1:{port}"
    # When it is up, liveness reports both consumers polling, and readiness every dependency
    health = wait_until(lambda: healthy_document(f"{base}/healthz"), 30, what="healthz")
    assert [c["alive"] for c in health["consumers"]] == [True, True]
    assert all(c["last_poll_age_seconds"] < 25 for c in health["consumers"])
    status, ready = get_json(f"{base}/readyz")
    assert status == 200
    assert {name: check["ok"] for name, check in ready["checks"].items()} == {
        "queue": True,
        "table": True,
        "bucket": True,
    }
    # and it processes work meanwhile
    (task,) = submit(pipeline.api_config(), small_workbook, count=1)
    wait_until(lambda: all_succeeded(pipeline, [task.task_id]), timeout=120, what="success")
    # When a SIGTERM comes while both consumers sit in a 20 s long poll
    started = time.monotonic()
    worker.signal(signal.SIGTERM)
    # Then the worker leaves the polls and exits 0, well before a 20 s poll could have ended
    assert worker.wait(timeout=30) == 0
    assert time.monotonic() - started < 15


def test_readiness_fails_when_a_dependency_is_missing(
    pipeline: Pipeline, start_worker: StartWorker
) -> None:
    # Given a worker configured with a bucket that does not exist
    port = free_port()
    env = {**pipeline.worker_env(), "BUCKET_NAME": "no-such-bucket-for-worker-tests"}
    start_worker(env, "--health-port", str(port))
    # Then it is alive but not ready, and says which dependency is missing
    wait_until(lambda: get_json(f"http://127.0.0.1:{port}/healthz")[0] == 200, 30, what="up")
    status, ready = get_json(f"http://127.0.0.1:{port}/readyz")
    assert status == 503
    assert ready["checks"]["bucket"]["ok"] is False
    assert ready["checks"]["queue"]["ok"] is True


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"QUEUE_URL": f"{localstack.endpoint_url()}/000000000000/no-such-worker-queue"},
            "does not exist",
        ),
        ({"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}, "cannot reach http://127.0.0.1:9"),
        ({"TABLE_NAME": ""}, "TABLE_NAME is required"),
    ],
    ids=["missing-queue", "unreachable-endpoint", "missing-setting"],
)
def test_cannot_start_gives_one_line_and_exit_2(
    start_worker: StartWorker, env: dict[str, str], expected: str
) -> None:
    base = {
        "QUEUE_URL": f"{localstack.endpoint_url()}/000000000000/irrelevant",
        "TABLE_NAME": "tasks",
        "BUCKET_NAME": "bucket",
        "EVENT_BUS_NAME": "events",
    }
    worker = start_worker({**base, **env})
    assert worker.wait(timeout=30) == 2
    lines = worker.stderr().splitlines()
    assert len(lines) == 1, lines
    assert expected in lines[0]
    assert "Traceback" not in worker.stderr()


def test_a_stopped_consumer_is_detected_replaced_and_work_goes_on(
    pipeline: Pipeline, start_worker: StartWorker, small_workbook: bytes
) -> None:
    # Given a worker with two consumers, short long polls and a short progress margin
    port = free_port()
    env = {
        **pipeline.worker_env(),
        "WORKER_WAIT_SECONDS": "2",
        "WORKER_HEALTH_MARGIN_SECONDS": "3",
        "WORKER_STATUS_LOG_SECONDS": "1",
    }
    worker = start_worker(env, "--concurrency", "2", "--health-port", str(port))
    healthz = f"http://127.0.0.1:{port}/healthz"
    health = wait_until(lambda: healthy_document(healthz), 30, what="healthz")
    frozen_pid = health["consumers"][0]["pid"]
    # When one consumer is frozen (SIGSTOP: alive, but never polls again)
    os.kill(frozen_pid, signal.SIGSTOP)
    try:
        # Then liveness finds it hung, and the supervisor replaces it with a new process (the
        # window in which /healthz answers 503 lasts one supervisor tick, so the log is read)
        replaced = wait_until(
            lambda: [r for r in worker.log() if r.get("replaced_pid") == frozen_pid],
            30,
            what="the frozen consumer to be replaced",
        )
        assert replaced[0]["slot"] == 0
        assert any("consumer 0 is hung" in problem for problem in replaced[0]["problems"])
        health = wait_until(lambda: healthy_document(healthz), 30, what="healthz after replacing")
        assert health["consumers"][0]["pid"] != frozen_pid
        assert health["consumers"][0]["restarts"] == 1
        assert not is_running(frozen_pid)
    finally:
        if is_running(frozen_pid):
            os.kill(frozen_pid, signal.SIGKILL)
    # and the worker keeps processing, and its status line counts what it did
    (task,) = submit(pipeline.api_config(), small_workbook, count=1)
    wait_until(lambda: all_succeeded(pipeline, [task.task_id]), timeout=120, what="success")
    status = wait_until(
        lambda: [r for r in worker.log() if r.get("processed") == 1 and "in_flight" in r],
        10,
        what="a status line counting the processed file",
    )
    assert status[-1]["failed"] == 0 and status[-1]["restarts"] == 1
