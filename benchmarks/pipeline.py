"""Benchmarks of the deployed pipeline on LocalStack. Prints figures, asserts nothing.

- upload -> SUCCEEDED latency for a 100-row workbook, warm and after idle;
- throughput for 200 files of 100 rows and 20 of 10,000 rows, through direct S3 puts (the upload
  trigger) and through the API;
- the floor: the same validation and parsing called directly in one process;
- the AWS calls made per file (counted in LocalStack's request log) and LocalStack's cost per call.

Usage: python -m benchmarks.pipeline [--idle-seconds 30] [--idle-samples 3] [--quick]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from benchmarks.report import BenchmarkReport
from sheetflow.logic.parsing import ParseLimits, parse_workbook
from sheetflow.logic.task import FINISHED_STATUSES, upload_key
from sheetflow.logic.uploads import XLSX_MEDIA_TYPE
from sheetflow.logic.validation import ValidationLimits, validate_workbook_file
from stackctl import api_keys, aws, paths, samples, stack
from stackctl.stack import StackOutputs

REQUEST_LOG = re.compile(r"localstack\.request\.aws\s*: AWS (\w+)\.(\w+) =>")
# 503s retried over the whole run before the benchmark gives up: more means the stack is broken.
UNAVAILABLE_RETRIES = 50


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def describe(values: list[float]) -> str:
    return (
        f"p50 {percentile(values, 0.5):.3f} s, p95 {percentile(values, 0.95):.3f} s, "
        f"max {max(values):.3f} s (n={len(values)})"
    )


class Pipeline:
    def __init__(self, outputs: StackOutputs) -> None:
        self.outputs = outputs
        self.s3 = aws.client("s3")
        self.dynamodb = aws.client("dynamodb")
        self.http = requests.Session()
        # The API wants a key: SHEETFLOW_API_KEY or the stack's default one.
        self.http.headers[api_keys.API_KEY_HEADER] = api_keys.api_key(outputs)
        # API uploads answered 429 (the key's throttle) and retried after Retry-After.
        self.throttled = 0
        # API uploads answered 503 (a storage call failed, "retry shortly") and retried.
        self.unavailable = 0

    def upload_via_api(self, data: bytes) -> str:
        # One key per upload: a retry after a 503 can never create a second task.
        headers = {"Content-Type": XLSX_MEDIA_TYPE, "Idempotency-Key": uuid.uuid4().hex}
        while True:
            response = self.http.post(
                f"{self.outputs.api_base_url}/uploads",
                params={"filename": "bench.xlsx"},
                data=data,
                headers=headers,
                timeout=60,
            )
            if response.status_code == 429:
                # The key's rate (ApiRateLimit): wait as told, and say so in the figures.
                self.throttled += 1
                time.sleep(int(response.headers.get("Retry-After", "1")))
            elif response.status_code == 503 and self.unavailable < UNAVAILABLE_RETRIES:
                self.unavailable += 1
                time.sleep(1)
            else:
                break
        response.raise_for_status()
        return str(response.json()["task_id"])

    def upload_via_s3(self, data: bytes) -> str:
        task_id = uuid.uuid4().hex
        self.s3.put_object(
            Bucket=self.outputs["BucketName"], Key=upload_key(task_id, "bench.xlsx"), Body=data
        )
        return task_id

    def status(self, task_id: str) -> str | None:
        item = self.dynamodb.get_item(
            TableName=self.outputs["TableName"],
            Key={"task_id": {"S": task_id}},
            ProjectionExpression="#s",
            ExpressionAttributeNames={"#s": "status"},
        ).get("Item")
        return item["status"]["S"] if item else None

    def statuses(self, task_ids: list[str]) -> dict[str, str]:
        """Status of each existing task, 100 per BatchGetItem (light on LocalStack)."""
        table, found = self.outputs["TableName"], {}
        for start in range(0, len(task_ids), 100):
            response = self.dynamodb.batch_get_item(
                RequestItems={
                    table: {
                        "Keys": [
                            {"task_id": {"S": task_id}} for task_id in task_ids[start : start + 100]
                        ],
                        "ProjectionExpression": "task_id, #s",
                        "ExpressionAttributeNames": {"#s": "status"},
                    }
                }
            )
            for item in response["Responses"].get(table, []):
                found[item["task_id"]["S"]] = item["status"]["S"]
        return found

    def wait_all(self, task_ids: list[str], timeout: float) -> Counter[str]:
        pending, outcome = set(task_ids), Counter[str]()
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for task_id, status in self.statuses(sorted(pending)).items():
                if status in FINISHED_STATUSES:
                    pending.discard(task_id)
                    outcome[status] += 1
            if pending:
                time.sleep(0.1)
        outcome["unfinished"] = len(pending)
        return outcome


def latency(pipeline: Pipeline, data: bytes) -> float:
    began = time.perf_counter()
    task_id = pipeline.upload_via_api(data)
    while pipeline.status(task_id) not in FINISHED_STATUSES:
        time.sleep(0.02)
    return time.perf_counter() - began


def throughput(
    pipeline: Pipeline, upload: Callable[[bytes], str], data: bytes, count: int
) -> tuple[float, Counter[str]]:
    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=8) as pool:
        task_ids = list(pool.map(lambda _: upload(data), range(count)))
    outcome = pipeline.wait_all(task_ids, timeout=600)
    return count / (time.perf_counter() - began), outcome


def direct_parse(data: bytes, repeat: int) -> float:
    """Seconds per file for validation + parsing in this process: the floor."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "book.xlsx"
        path.write_bytes(data)
        began = time.perf_counter()
        for _ in range(repeat):
            validate_workbook_file(path, ValidationLimits())
            parse_workbook(path, ParseLimits())
        return (time.perf_counter() - began) / repeat


def request_log_offset() -> int:
    return paths.localstack_log_file().stat().st_size


def calls_since(offset: int) -> Counter[str]:
    with paths.localstack_log_file().open("rb") as log:
        log.seek(offset)
        text = log.read().decode(errors="replace")
    return Counter(f"{m[0]}.{m[1]}" for m in REQUEST_LOG.findall(text))


def call_costs(pipeline: Pipeline) -> dict[str, float]:
    """Median client-side milliseconds of single calls LocalStack serves for the pipeline."""
    bucket, table = pipeline.outputs["BucketName"], pipeline.outputs["TableName"]
    sqs, lambda_client = aws.client("sqs"), aws.client("lambda")
    body = samples.orders_workbook(100)
    scratch = aws.client("sqs").create_queue(QueueName=f"bench-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    key = f"bench/{uuid.uuid4().hex}"
    probes: dict[str, Callable[[], Any]] = {
        "S3 PutObject (100-row file)": lambda: pipeline.s3.put_object(
            Bucket=bucket, Key=key, Body=body
        ),
        "S3 GetObject (100-row file)": lambda: pipeline.s3.get_object(  # noqa: PLW0108
            Bucket=bucket, Key=key
        )["Body"].read(),
        "SQS SendMessage": lambda: sqs.send_message(QueueUrl=scratch, MessageBody="{}"),
        "DynamoDB PutItem": lambda: pipeline.dynamodb.put_item(
            TableName=table,
            Item={
                "task_id": {"S": "bench-probe"},
                "status": {"S": "PROBE"},
                "created_at": {"S": "0"},
            },
        ),
        "DynamoDB GetItem": lambda: pipeline.dynamodb.get_item(
            TableName=table, Key={"task_id": {"S": "bench-probe"}}
        ),
        "Lambda Invoke (health, warm)": lambda: lambda_client.invoke(
            FunctionName=pipeline.outputs["ApiFunctionName"],
            Payload=(paths.project_root() / "events" / "api-health.json").read_bytes(),
        ),
    }
    costs = {}
    for name, probe in probes.items():
        probe()
        timings = []
        for _ in range(30):
            began = time.perf_counter()
            probe()
            timings.append((time.perf_counter() - began) * 1000)
        costs[name] = statistics.median(timings)
    pipeline.dynamodb.delete_item(TableName=table, Key={"task_id": {"S": "bench-probe"}})
    pipeline.s3.delete_object(Bucket=bucket, Key=key)
    sqs.delete_queue(QueueUrl=scratch)
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--idle-samples", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="smaller counts, for a smoke run")
    args = parser.parse_args()
    small_count, large_count = (40, 4) if args.quick else (200, 20)

    outputs = stack.outputs()
    pipeline = Pipeline(outputs)
    report = BenchmarkReport("pipeline")
    print(
        f"machine: {os.cpu_count()} cores; stack {stack.stack_name()}; API {outputs.api_base_url}"
    )
    small, large = samples.orders_workbook(100), samples.orders_workbook(10_000)

    latency(pipeline, small)  # warms the API and worker environments
    warm = [latency(pipeline, small) for _ in range(20)]
    print(f"upload -> SUCCEEDED, 100 rows, warm:   {describe(warm)}")
    report.record("upload -> SUCCEEDED, 100 rows, warm, p50", percentile(warm, 0.5), "s")
    idle = []
    for _ in range(args.idle_samples):
        time.sleep(args.idle_seconds)
        idle.append(latency(pipeline, small))
    print(f"upload -> SUCCEEDED, after {args.idle_seconds:.0f} s idle: {describe(idle)}")

    floor_small, floor_large = direct_parse(small, 50), direct_parse(large, 3)
    print(
        f"direct parse in one process: 100 rows {floor_small * 1000:.1f} ms/file "
        f"({1 / floor_small:.0f} files/s); 10k rows {floor_large:.2f} s/file"
    )
    report.record("direct parse, 100 rows", 1 / floor_small, "files/s")
    report.record("direct parse, 10k rows", floor_large, "s/file")

    for label, upload in (("S3 put", pipeline.upload_via_s3), ("API", pipeline.upload_via_api)):
        offset = request_log_offset()
        rate, outcome = throughput(pipeline, upload, small, small_count)
        calls = calls_since(offset)
        print(
            f"throughput via {label}, {small_count} x 100 rows: {rate:.1f} files/s {dict(outcome)}"
        )
        if pipeline.throttled:
            print(f"  429 answers waited out so far (the key's ApiRateLimit): {pipeline.throttled}")
        if pipeline.unavailable:
            print(f"  503 answers retried so far (a storage call failed): {pipeline.unavailable}")
        per_file = ", ".join(f"{op} {n / small_count:.1f}" for op, n in calls.most_common())
        print(f"  AWS calls per file (LocalStack request log): {per_file}")
        report.record(f"via {label}, 100 rows", rate, "files/s", f"calls per file: {per_file}")
        report.record(
            f"via {label}, 100 rows, ÷ direct parse", rate * floor_small, "ratio", "same run"
        )
        rate, outcome = throughput(pipeline, upload, large, large_count)
        report.record(
            f"via {label}, 10k rows, s/file ÷ direct parse", 1 / rate / floor_large, "ratio"
        )
        print(
            f"throughput via {label}, {large_count} x 10k rows: {rate:.2f} files/s "
            f"= {1 / rate:.2f} s/file, {1 / rate / floor_large:.2f} x the direct parse "
            f"{dict(outcome)}"
        )

    print("LocalStack's cost per call (median, client-side):")
    for name, milliseconds in call_costs(pipeline).items():
        print(f"  {name}: {milliseconds:.1f} ms")
        report.record(f"LocalStack call, {name}, median", milliseconds, "ms")
    print(f"report: {report.save()}")


if __name__ == "__main__":
    main()
