"""Throughput of the standalone worker against python-rq, same machine, same workbooks.

Prints figures, asserts nothing. Workloads: 200 workbooks of 100 rows, 20 of 10,000 rows; each
with 1 and 2 workers, for:
- sheetflow: `python -m sheetflow.worker --concurrency N` on LocalStack (its own queue, table and
  bucket); per file the whole pipeline: SQS receive, task claim in DynamoDB, S3 download,
  validation + parsing, result JSON to S3, task SUCCEEDED, message deleted;
- rq Worker (forks a work horse per job) and rq SimpleWorker (runs jobs in its own process), N
  worker processes on a redis-server this script starts; per file the same validation + parsing
  code on a local copy of the workbook and the same result document written to a local file
  (no S3, no DynamoDB, no queue other than Redis).
Both sides have their workers started and idle before the jobs are queued all at once; the
clock runs from queueing to the last result.

Needs LocalStack running (`make up`), redis-server (`apt-get install -y redis-server`) and rq
(`uv pip install rq redis`, in the dev extras).
Usage: python -m benchmarks.worker_vs_rq [--rounds 2]   (each figure: the best of the rounds)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

try:
    from redis import Redis
    from redis.exceptions import ConnectionError as RedisConnectionError
    from rq import Queue, SimpleWorker, Worker

    HAVE_RQ = True
except ImportError:  # told to the user by missing_prerequisites()
    HAVE_RQ = False

from benchmarks.report import BenchmarkReport
from sheetflow.dal import storage
from sheetflow.dal.clients import reset_clients
from sheetflow.dal.tasks import TaskRepository
from sheetflow.logic.messages import task_message
from sheetflow.logic.parsing import ParseLimits, parse_workbook
from sheetflow.logic.summary import result_document
from sheetflow.logic.task import TaskStatus, new_task, new_task_id, upload_key
from sheetflow.logic.validation import ValidationLimits, validate_workbook_file
from stackctl import aws, localstack, paths
from tests.support.worker import (
    Pipeline,
    WorkerProcess,
    create_pipeline,
    delete_pipeline,
    workbook_bytes,
)

ROOT = paths.project_root()
WORKLOADS = [(200, 100), (20, 10_000)]  # (files, rows per file)
WORKER_COUNTS = [1, 2]
RQ_CLASSES = {"default": "rq Worker (fork per job)", "simple": "rq SimpleWorker (no fork)"}
TIMEOUT_SECONDS = 600


# --- the rq job: the worker's parse step on a local file ---------------------------------------


def parse_local_workbook(source: str, result_path: str) -> int:
    """What process_message does between download and upload: validate, parse, build the result
    document; here the document goes to a local file. Returns the rows parsed."""
    path = Path(source)
    facts = validate_workbook_file(path, ValidationLimits())
    stats = parse_workbook(path, ParseLimits())
    document = result_document(
        task_id=path.stem, filename=path.name, size=path.stat().st_size, facts=facts, stats=stats
    )
    Path(result_path).write_text(json.dumps(document, separators=(",", ":"), default=str))
    return stats.total_rows


# --- helpers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    system: str
    files: int
    rows: int
    workers: int
    seconds: float

    @property
    def files_per_second(self) -> float:
        return self.files / self.seconds


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)


def sdk_environment() -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": localstack.endpoint_url(),
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


# --- sheetflow's standalone worker --------------------------------------------------------------


def bench_sheetflow(workbook: bytes, files: int, rows: int, workers: int, logs: Path) -> Run:
    pipeline = create_pipeline(aws.client)
    try:
        messages = _prepare_tasks(pipeline, workbook, files)
        env = {
            **{name: os.environ[name] for name in ("PATH", "HOME") if name in os.environ},
            **sdk_environment(),
            **pipeline.worker_env(),
            "POWERTOOLS_SERVICE_NAME": "sheetflow",
            "POWERTOOLS_METRICS_NAMESPACE": "SheetflowBench",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "PYTHONUNBUFFERED": "1",
        }
        worker = WorkerProcess(env, ["--concurrency", str(workers)], logs / uuid.uuid4().hex)
        try:
            wait_for(
                lambda: (
                    sum(r.get("message") == "Consumer started" for r in worker.log()) == workers
                ),
                60,
                "the consumers to start",
            )
            time.sleep(0.5)  # into their first long poll
            began = time.perf_counter()
            _send_all(pipeline.queue_url, messages)
            wait_for(lambda: _succeeded(worker) >= files, TIMEOUT_SECONDS, "the last result")
            seconds = time.perf_counter() - began
        finally:
            worker.signal(signal.SIGTERM)
            worker.wait(timeout=60)
    finally:
        delete_pipeline(aws.client, pipeline)
    return Run("sheetflow worker", files, rows, workers, seconds)


def _prepare_tasks(pipeline: Pipeline, workbook: bytes, files: int) -> list[str]:
    """Task records QUEUED and objects stored, as the upload API leaves them; messages not sent."""
    tasks = TaskRepository(pipeline.table)
    messages = []
    with _sdk_environment():
        for index in range(files):
            task_id = new_task_id()
            task = new_task(
                task_id=task_id,
                status=TaskStatus.QUEUED,
                bucket=pipeline.bucket,
                key=upload_key(task_id, f"book-{index}.xlsx"),
                filename=f"book-{index}.xlsx",
                now=datetime.now(UTC),
                ttl=timedelta(days=1),
                size=len(workbook),
            )
            tasks.create(task)
            storage.put_upload(task.bucket, task.key, workbook, task.filename)
            messages.append(task_message(task.task_id, task.bucket, task.key))
    return messages


@contextmanager
def _sdk_environment() -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in sdk_environment()}
    os.environ.update(sdk_environment())
    reset_clients()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        reset_clients()


def _send_all(queue_url: str, bodies: list[str]) -> None:
    sqs = aws.client("sqs")
    for start in range(0, len(bodies), 10):
        entries = [
            {"Id": str(index), "MessageBody": body}
            for index, body in enumerate(bodies[start : start + 10])
        ]
        sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)


def _succeeded(worker: WorkerProcess) -> int:
    return worker.stdout_path.read_text().count('"outcome":"SUCCEEDED"')


# --- python-rq ----------------------------------------------------------------------------------


@contextmanager
def redis_server() -> Iterator[str]:
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="bench-redis-")
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:

        def answers() -> bool:
            try:
                return bool(Redis.from_url(url).ping())
            except (OSError, RedisConnectionError):
                return False

        wait_for(answers, 10, "redis-server to answer")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def bench_rq(
    kind: str, redis_url: str, workbook: bytes, *, files: int, rows: int, workers: int
) -> Run:
    connection = Redis.from_url(redis_url)
    connection.flushdb()
    queue_name = f"bench-{uuid.uuid4().hex[:8]}"
    queue = Queue(queue_name, connection=connection)
    workdir = Path(tempfile.mkdtemp(prefix="bench-rq-"))
    for index in range(files):
        (workdir / f"book-{index}.xlsx").write_bytes(workbook)
    results = workdir / "results"
    results.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "benchmarks.worker_vs_rq", "--rq-worker", kind]
    processes = [
        subprocess.Popen(
            [*command, "--redis-url", redis_url, "--queue", queue_name],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    try:
        wait_for(
            lambda: len(Worker.all(connection=connection)) == workers, 60, "rq workers to start"
        )
        time.sleep(0.5)
        began = time.perf_counter()
        queue.enqueue_many(
            [
                Queue.prepare_data(
                    parse_local_workbook,
                    args=(str(workdir / f"book-{index}.xlsx"), str(results / f"{index}.json")),
                )
                for index in range(files)
            ]
        )
        wait_for(
            lambda: (
                sum(1 for _ in results.iterdir()) >= files or queue.failed_job_registry.count > 0
            ),
            TIMEOUT_SECONDS,
            "the last rq result",
        )
        seconds = time.perf_counter() - began
        if queue.failed_job_registry.count:
            raise SystemExit(f"rq jobs failed: {queue.failed_job_registry.get_job_ids()[:3]}")
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)
    return Run(RQ_CLASSES[kind], files, rows, workers, seconds)


def run_rq_worker(kind: str, redis_url: str, queue_name: str) -> None:
    """An rq worker process; the job's module (this one) is imported before any fork."""
    connection = Redis.from_url(redis_url)
    worker_class = SimpleWorker if kind == "simple" else Worker
    worker = worker_class([Queue(queue_name, connection=connection)], connection=connection)
    worker.work(logging_level="WARNING")


# --- main ---------------------------------------------------------------------------------------


def missing_prerequisites() -> list[str]:
    missing = []
    if shutil.which("redis-server") is None:
        missing.append(
            "redis-server is not installed: `apt-get install -y redis-server` (Debian/Ubuntu) "
            "or `brew install redis` (macOS)"
        )
    if not HAVE_RQ:
        missing.append("python-rq is not installed: `make install` (dev extras: rq, redis)")
    if localstack.health() is None:
        missing.append(f"LocalStack is not running at {localstack.endpoint_url()}: `make up`")
    return missing


def best_of(runs: list[Run]) -> list[Run]:
    """The fastest run of each case, in the order the cases first ran."""
    best: dict[tuple[str, int, int, int], Run] = {}
    for run in runs:
        case = (run.system, run.files, run.rows, run.workers)
        if case not in best or run.seconds < best[case].seconds:
            best[case] = run
    return list(best.values())


def print_report(runs: list[Run]) -> None:
    report = BenchmarkReport("worker_vs_rq")
    print()
    print(f"{'system':<28} {'files':>5} {'rows':>6} {'workers':>7} {'seconds':>8} {'files/s':>8}")
    for run in runs:
        print(
            f"{run.system:<28} {run.files:>5} {run.rows:>6} {run.workers:>7} "
            f"{run.seconds:>8.2f} {run.files_per_second:>8.2f}"
        )
    print()
    print("ratios (sheetflow files/s ÷ rq files/s):")
    for files, rows in WORKLOADS:
        for workers in WORKER_COUNTS:
            same = {
                run.system: run.files_per_second
                for run in runs
                if (run.files, run.rows, run.workers) == (files, rows, workers)
            }
            ours = same["sheetflow worker"]
            report.record(
                f"standalone ÷ rq Worker, {files} x {rows} rows, {workers} worker(s)",
                ours / same[RQ_CLASSES["default"]],
                "ratio",
                "files/s, same run",
            )
            print(
                f"  {files} x {rows} rows, {workers} worker(s): "
                f"ours/rq Worker {ours / same[RQ_CLASSES['default']]:.2f}, "
                f"ours/rq SimpleWorker {ours / same[RQ_CLASSES['simple']]:.2f}"
            )
    print(f"report: {report.save()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument(
        "--rounds", type=int, default=1, help="runs of each case; the fastest one is reported"
    )
    parser.add_argument("--rq-worker", choices=sorted(RQ_CLASSES), help=argparse.SUPPRESS)
    parser.add_argument("--redis-url", help=argparse.SUPPRESS)
    parser.add_argument("--queue", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rq_worker:
        run_rq_worker(args.rq_worker, args.redis_url, args.queue)
        return 0
    missing = missing_prerequisites()
    if missing:
        for line in missing:
            print(f"cannot run the benchmark: {line}", file=sys.stderr)
        return 1
    print(__doc__)
    print(f"machine: {os.cpu_count()} CPUs; LocalStack runs on the same machine.")
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="bench-worker-") as scratch, redis_server() as url:
        logs = Path(scratch) / "logs"
        for files, rows in WORKLOADS:
            workbook = workbook_bytes(Path(scratch) / f"book-{rows}.xlsx", rows)
            for workers in WORKER_COUNTS:
                for _ in range(args.rounds):
                    # Interleaved, so a burst of load elsewhere on the machine hits every side.
                    for run in (
                        bench_sheetflow(workbook, files, rows, workers, logs),
                        bench_rq("default", url, workbook, files=files, rows=rows, workers=workers),
                        bench_rq("simple", url, workbook, files=files, rows=rows, workers=workers),
                    ):
                        runs.append(run)
                        print(
                            f"  {run.system}: {files} x {rows} rows, {workers} worker(s): "
                            f"{run.seconds:.2f} s, {run.files_per_second:.2f} files/s",
                            flush=True,
                        )
    print_report(best_of(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
