"""Benchmarks of the local AWS itself (LocalStack on the host with the local Lambda executor).

Prints figures, asserts nothing:
- seconds from `sheetflow up` to healthy (a private LocalStack on a free port, started 3 times);
- Lambda invoke latency, cold (first invoke of a new function) and warm, measured client-side;
- SQS send -> handler start latency through an event source mapping, warm and after idle;
- LocalStack's CPU use while idle with an event source mapping polling;
- hot reload (what `sheetflow dev` relies on): seconds from saving a changed handler to the first
  invocation that returns the change, for a handler importing what the project's functions import
  (boto3, openpyxl, Powertools), beside that function's cold start in a fresh runtime.

Usage: python -m benchmarks.platform [--idle-seconds 30] [--idle-samples 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.report import BenchmarkReport
from stackctl import aws, dev_dependencies, localstack, paths
from tests.support.lambda_zip import zip_of

SOURCES = Path(__file__).with_name("lambda_sources")
ROLE = "arn:aws:iam::000000000000:role/bench"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def describe(values: list[float], unit: str = "ms", scale: float = 1000) -> str:
    return (
        f"p50 {percentile(values, 0.5) * scale:.1f} {unit}, "
        f"p95 {percentile(values, 0.95) * scale:.1f} {unit}, "
        f"min {min(values) * scale:.1f} {unit} (n={len(values)})"
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def bench_startup(runs: int = 3) -> list[float]:
    """`sheetflow up` on a private home and port: what a user waits for on `make up`."""
    cli = str(paths.venv("dev") / "bin" / "sheetflow")
    seconds = []
    for _ in range(runs):
        home = Path(tempfile.mkdtemp(prefix="sheetflow-bench-"))
        (home / ".local").mkdir()
        (home / ".local" / "venvs").symlink_to(paths.state_dir() / "venvs")
        env = {**os.environ, "SHEETFLOW_HOME": str(home), "SHEETFLOW_PORT": str(free_port())}
        began = time.perf_counter()
        subprocess.run([cli, "up"], env=env, check=True, capture_output=True)
        seconds.append(time.perf_counter() - began)
        subprocess.run([cli, "down"], env=env, check=True, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)
    return seconds


def create_function(module: str, environment: dict[str, str] | None = None) -> str:
    lambda_client = aws.client("lambda")
    name = f"bench-{module.replace('_', '-')}-{uuid.uuid4().hex[:6]}"
    code = zip_of({f"{module}.py": (SOURCES / f"{module}.py").read_text()})
    lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.13",
        Role=ROLE,
        Handler=f"{module}.handler",
        Code={"ZipFile": code},
        Timeout=30,
        MemorySize=256,
        Environment={"Variables": environment or {}},
    )
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
    return name


def bench_invokes(cold_runs: int = 5, warm_runs: int = 300) -> tuple[list[float], list[float]]:
    lambda_client = aws.client("lambda")
    cold, warm = [], []
    for _ in range(cold_runs):
        name = create_function("echo")
        began = time.perf_counter()
        lambda_client.invoke(FunctionName=name, Payload=b'{"n": 0}')
        cold.append(time.perf_counter() - began)
        for n in range(warm_runs // cold_runs):
            began = time.perf_counter()
            lambda_client.invoke(FunctionName=name, Payload=json.dumps({"n": n}).encode())
            warm.append(time.perf_counter() - began)
        lambda_client.delete_function(FunctionName=name)
    return cold, warm


@contextmanager
def latency_rig() -> Iterator[tuple[str, str]]:
    """A queue mapped to the latency probe, and the table where the probe writes."""
    dynamodb, sqs, lambda_client = aws.client("dynamodb"), aws.client("sqs"), aws.client("lambda")
    table = f"bench-latency-{uuid.uuid4().hex[:6]}"
    dynamodb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )
    queue_url = sqs.create_queue(QueueName=f"bench-latency-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    function = create_function("latency_probe", {"LATENCY_TABLE": table})
    mapping = lambda_client.create_event_source_mapping(
        EventSourceArn=queue_arn, FunctionName=function, BatchSize=1
    )["UUID"]
    while lambda_client.get_event_source_mapping(UUID=mapping)["State"] != "Enabled":
        time.sleep(0.1)
    try:
        yield queue_url, table
    finally:
        lambda_client.delete_event_source_mapping(UUID=mapping)
        lambda_client.delete_function(FunctionName=function)
        sqs.delete_queue(QueueUrl=queue_url)
        dynamodb.delete_table(TableName=table)


def measure_one(queue_url: str, table: str) -> float:
    sqs, dynamodb = aws.client("sqs"), aws.client("dynamodb")
    message_id = sqs.send_message(
        QueueUrl=queue_url, MessageBody=json.dumps({"sent_at": time.time()})
    )["MessageId"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        item = dynamodb.get_item(TableName=table, Key={"id": {"S": message_id}}).get("Item")
        if item:
            return float(item["latency"]["S"])
        time.sleep(0.02)
    raise TimeoutError("the probe never recorded the message")


HOT_HANDLER = """
import aws_lambda_powertools
import boto3
import openpyxl

VERSION = {version}


def handler(event, context):
    return {{"version": VERSION}}
"""


def bench_hot_reload(runs: int = 5) -> tuple[float, list[float]]:
    """Cold start of a hot-reloaded function, then save -> effect for `runs` saved changes."""
    lambda_client = aws.client("lambda")
    runtime = "python3.13"
    dev_dependencies.install(runtime)
    layer = lambda_client.publish_layer_version(
        LayerName=f"bench-dev-dependencies-{uuid.uuid4().hex[:6]}",
        Content={
            "S3Bucket": "hot-reload",
            "S3Key": str(dev_dependencies.layer_folder(runtime)),
        },
    )["LayerVersionArn"]
    folder = Path(tempfile.mkdtemp(prefix="sheetflow-bench-hot-"))
    source = folder / "app.py"
    source.write_text(HOT_HANDLER.format(version=0))
    name = f"bench-hot-{uuid.uuid4().hex[:6]}"
    lambda_client.create_function(
        FunctionName=name,
        Runtime=runtime,
        Role=ROLE,
        Handler="app.handler",
        Code={"S3Bucket": "hot-reload", "S3Key": str(folder)},
        Layers=[layer],
        Timeout=30,
        MemorySize=512,
    )
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
    try:
        began = time.perf_counter()
        lambda_client.invoke(FunctionName=name, Payload=b"{}")
        cold = time.perf_counter() - began
        save_to_effect = []
        for version in range(1, runs + 1):
            saved = time.perf_counter()
            source.write_text(HOT_HANDLER.format(version=version))
            while True:
                response = lambda_client.invoke(FunctionName=name, Payload=b"{}")
                if json.loads(response["Payload"].read()).get("version") == version:
                    break
            save_to_effect.append(time.perf_counter() - saved)
        return cold, save_to_effect
    finally:
        lambda_client.delete_function(FunctionName=name)
        shutil.rmtree(folder, ignore_errors=True)


def process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime and stime are the 12th and 13th fields after the command name.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--idle-samples", type=int, default=5)
    parser.add_argument("--warm-samples", type=int, default=40)
    args = parser.parse_args()
    localstack.start()
    report = BenchmarkReport("platform")
    print(f"machine: {os.cpu_count()} cores; LocalStack at {localstack.endpoint_url()}")

    startup = bench_startup()
    print(f"up -> healthy:              {describe(startup, 's', 1)}")
    report.record("up -> healthy, p50", percentile(startup, 0.5), "s")

    cold, warm = bench_invokes()
    print(f"invoke, cold (new function): {describe(cold)}")
    print(f"invoke, warm:                {describe(warm)}")
    report.record("invoke, cold, p50", percentile(cold, 0.5) * 1000, "ms")
    report.record("invoke, warm, p50", percentile(warm, 0.5) * 1000, "ms", "target 10 ms")

    hot_cold, save_to_effect = bench_hot_reload()
    print(f"hot reload, cold start (boto3 + openpyxl + Powertools): {hot_cold:.2f} s")
    print(f"hot reload, save -> effect:  {describe(save_to_effect)}")
    report.record(
        "hot reload, save -> effect, p50", percentile(save_to_effect, 0.5), "s", "target 1 s"
    )

    with latency_rig() as (queue_url, table):
        measure_one(queue_url, table)  # starts the environment
        warm_latency = [measure_one(queue_url, table) for _ in range(args.warm_samples)]
        print(f"SQS -> handler, warm:        {describe(warm_latency)}")
        report.record("SQS -> handler, warm, p50", percentile(warm_latency, 0.5) * 1000, "ms")

        pid = localstack.status().pid
        assert pid is not None
        before = process_cpu_seconds(pid)
        time.sleep(10)
        idle_cpu = (process_cpu_seconds(pid) - before) / 10
        print(f"LocalStack idle CPU with one mapping polling: {idle_cpu * 100:.1f}% of one core")
        report.record("LocalStack idle CPU", idle_cpu * 100, "% of a core")

        after_idle = []
        for _ in range(args.idle_samples):
            time.sleep(args.idle_seconds)
            after_idle.append(measure_one(queue_url, table))
        print(f"SQS -> handler, after {args.idle_seconds:.0f} s idle: {describe(after_idle)}")
        report.record("SQS -> handler after idle, p50", percentile(after_idle, 0.5) * 1000, "ms")
    print(f"report: {report.save()}")


if __name__ == "__main__":
    main()
