"""One chaos run against a deployed stack: load, faults, then the verdict.

The Lambda worker (its queue trigger) and a standalone worker (`python -m sheetflow.worker`, as
`sheetflow worker` runs it) consume the same queue. Both inject transient AWS errors
(SHEETFLOW_FAULTS); a saboteur thread kills execution environments and consumers and sends copies
of task messages; the uploads go through the API, presigned POSTs and direct S3 puts. Afterwards
the checker judges what the table, the bus and the queues show.
"""

from __future__ import annotations

import json
import random
import signal
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from benchmarks.chaos.invariants import Observations, Verdict, judge
from benchmarks.chaos.sabotage import Saboteur, injected_faults_logged, worker_settings
from benchmarks.chaos.workload import Submitter, Upload, plan_uploads
from stackctl import aws
from stackctl.commands.worker import worker_environment
from stackctl.stack import StackOutputs
from tests.support.bus_tap import BusTap, tapped
from tests.support.worker import WorkerProcess

FAULTED_SERVICES = ("s3", "dynamodb", "sqs", "events")


@dataclass
class ChaosSettings:
    stack_name: str
    uploads: int = 1000
    seed: int = 1
    hostile_share: float = 0.2
    # Share of AWS call attempts failed on purpose, per faulted service.
    fault_rate: float = 0.05
    # Mean seconds between two kills (a Lambda environment or a consumer) / two duplicates.
    kill_pause: float = 15.0
    duplicate_pause: float = 3.0
    standalone_concurrency: int = 2
    upload_threads: int = 4
    # Every accepted upload must reach its terminal state within this many seconds after the
    # last upload was sent (the pipeline drains its backlog at its own pace: per-task times are
    # figures, p50/p95/max).
    bound_seconds: float = 600.0
    # For the run: the worker function's timeout (its claim's lease), the task queue's
    # visibility timeout (when a killed attempt's message comes back), the standalone worker's.
    worker_timeout: int = 60
    queue_visibility: int = 90
    standalone_visibility: int = 20
    log_dir: Path = field(default_factory=lambda: Path(".local/chaos"))


@dataclass
class ChaosResult:
    verdict: Verdict
    seconds: float

    @property
    def figures(self) -> dict[str, Any]:
        return self.verdict.figures

    @property
    def violations(self) -> list[str]:
        return self.verdict.violations


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


class TaskTable:
    """The task table, read from outside (the checker trusts no function's answer)."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.dynamodb = aws.client("dynamodb")
        self._types = TypeDeserializer()

    def _item(self, raw: dict[str, Any]) -> dict[str, Any]:
        return {key: _plain(self._types.deserialize(value)) for key, value in raw.items()}

    def statuses(self, task_ids: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for start in range(0, len(task_ids), 100):
            keys = [{"task_id": {"S": task_id}} for task_id in task_ids[start : start + 100]]
            response = self.dynamodb.batch_get_item(
                RequestItems={
                    self.table: {
                        "Keys": keys,
                        "ProjectionExpression": "task_id, #s",
                        "ExpressionAttributeNames": {"#s": "status"},
                    }
                }
            )
            for raw in response["Responses"].get(self.table, []):
                found[raw["task_id"]["S"]] = raw["status"]["S"]
        return found

    def key_of(self, task_id: str) -> str | None:
        raw = self.dynamodb.get_item(TableName=self.table, Key={"task_id": {"S": task_id}}).get(
            "Item"
        )
        return raw["key"]["S"] if raw and "key" in raw else None

    def tasks_named(self, prefix: str) -> dict[str, dict[str, Any]]:
        """Every task whose filename starts with `prefix`."""
        found: dict[str, dict[str, Any]] = {}
        pages = self.dynamodb.get_paginator("scan").paginate(
            TableName=self.table,
            FilterExpression="begins_with(filename, :prefix)",
            ExpressionAttributeValues={":prefix": {"S": prefix}},
        )
        for page in pages:
            for raw in page["Items"]:
                item = self._item(raw)
                found[str(item["task_id"])] = item
        return found


def _queue_depths(urls: dict[str, str]) -> dict[str, int]:
    sqs, depths = aws.client("sqs"), {}
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    for name, url in urls.items():
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        depths[name] = sum(int(attributes.get(attribute, "0")) for attribute in names)
    return depths


def _max_receive_count(queue_url: str) -> int:
    attributes = aws.client("sqs").get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["RedrivePolicy"]
    )["Attributes"]
    return int(json.loads(attributes["RedrivePolicy"])["maxReceiveCount"])


def _worker_log_lines(function_name: str, since: float) -> list[str]:
    logs, lines, token = aws.client("logs"), [], None
    group = f"/aws/lambda/{function_name}"
    while True:
        page = logs.filter_log_events(
            logGroupName=group,
            startTime=int(since * 1000),
            **({"nextToken": token} if token else {}),
        )
        lines += [event["message"] for event in page["events"]]
        token = page.get("nextToken")
        if not token:
            return lines


def _wait(condition: Callable[[], bool], deadline: float, pause: float = 1.0) -> bool:
    while True:
        if condition():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(pause)


class ChaosRun:
    def __init__(
        self,
        outputs: StackOutputs,
        settings: ChaosSettings,
        say: Callable[[str], None] = print,
    ) -> None:
        self.outputs, self.settings, self.say = outputs, settings, say
        self.rng = random.Random(settings.seed)
        self.prefix = f"chaos-{uuid.uuid4().hex[:8]}"
        self.table = TaskTable(outputs["TableName"])
        self.uploads: list[Upload] = []
        self.standalone: WorkerProcess | None = None
        # Wall-clock time by which every task must have ended (set when the uploads are sent).
        self.deadline = 0.0

    def run(self) -> ChaosResult:
        began, began_wall = time.monotonic(), time.time()
        settings, outputs = self.settings, self.outputs
        worker = outputs["WorkerFunctionName"]
        faults = ",".join(f"{service}={settings.fault_rate}" for service in FAULTED_SERVICES)
        variables = {
            "SHEETFLOW_FAULTS": faults,
            "SHEETFLOW_FAULTS_SEED": str(settings.seed),
            # Transient failures come back within seconds, not the production 30 s and up.
            "RETRY_BASE_SECONDS": "1",
            "RETRY_MAX_SECONDS": "8",
        }
        self.uploads = plan_uploads(settings.uploads, self.prefix, self.rng, settings.hostile_share)
        self.say(
            f"chaos run {self.prefix}: {len(self.uploads)} uploads on stack "
            f"{settings.stack_name!r}, faults {faults}"
        )
        with (
            tapped(aws.client, outputs["EventBusName"], {"source": ["sheetflow"]}) as tap,
            worker_settings(
                worker,
                outputs["QueueUrl"],
                variables,
                settings.worker_timeout,
                settings.queue_visibility,
            ),
        ):
            self._start_standalone()
            try:
                saboteur = self._load_under_faults()
            finally:
                self._stop_standalone()
            verdict = self._judge(tap, saboteur, worker, began_wall)
        return ChaosResult(verdict, time.monotonic() - began)

    def _start_standalone(self) -> None:
        env = worker_environment(self.settings.stack_name)
        env.update(
            {
                "WORKER_VISIBILITY_SECONDS": str(self.settings.standalone_visibility),
                "WORKER_STATUS_LOG_SECONDS": "0",
                # A consumer that has not polled within its long poll plus this is replaced as
                # hung; a loaded machine needs longer than the default to start one.
                "WORKER_HEALTH_MARGIN_SECONDS": "60",
            }
        )
        log_dir = self.settings.log_dir / self.prefix
        self.standalone = WorkerProcess(
            env, ["--concurrency", str(self.settings.standalone_concurrency)], log_dir
        )
        self.say(f"standalone worker pid {self.standalone.pid}, log in {log_dir}")

    def _stop_standalone(self) -> None:
        if self.standalone is None:
            return
        if self.standalone.running():
            self.standalone.signal(signal.SIGTERM)
            try:
                self.standalone.wait(timeout=60)
            except Exception:
                self.standalone.kill()

    def _standalone_pid(self) -> int | None:
        worker = self.standalone
        return worker.pid if worker is not None and worker.running() else None

    def _accepted_with_key(self) -> list[tuple[str, str]]:
        accepted = [upload for upload in self.uploads if upload.accepted]
        if not accepted:
            return []
        upload = self.rng.choice(accepted)
        key = self.table.key_of(str(upload.task_id))
        return [(str(upload.task_id), key)] if key else []

    def _load_under_faults(self) -> Saboteur:
        settings = self.settings
        submitter = Submitter(self.outputs)
        saboteur = Saboteur(
            rng=random.Random(settings.seed + 1),
            worker_function=self.outputs["WorkerFunctionName"],
            standalone_pid=self._standalone_pid,
            queue_url=self.outputs["QueueUrl"],
            bucket=self.outputs["BucketName"],
            accepted=self._accepted_with_key,
            kill_pause=settings.kill_pause,
            duplicate_pause=settings.duplicate_pause,
        )
        with saboteur:
            started = time.monotonic()
            with ThreadPoolExecutor(settings.upload_threads) as pool:
                for done, _ in enumerate(pool.map(submitter.submit, self.uploads), 1):
                    if done % 100 == 0:
                        self.say(f"  {done} uploads sent ({time.monotonic() - started:.0f} s)")
            self.say(f"all uploads sent in {time.monotonic() - started:.0f} s; faults continue")
            self.deadline = time.time() + settings.bound_seconds
            bound = time.monotonic() + settings.bound_seconds
            # Faults go on while most work remains, so kills land mid-file.
            self._wait_terminal(bound, share=0.9)
        self._wait_terminal(bound, share=1.0)
        return saboteur

    def _wait_terminal(self, deadline: float, share: float) -> None:
        ids = [str(upload.task_id) for upload in self.uploads if upload.accepted]

        def enough() -> bool:
            statuses = self.table.statuses(ids)
            finished = sum(status in ("SUCCEEDED", "FAILED") for status in statuses.values())
            return finished >= share * len(ids)

        _wait(enough, deadline, pause=2.0)

    def _judge(self, tap: BusTap, saboteur: Saboteur, worker: str, since: float) -> Verdict:
        outputs = self.outputs
        queues = {"TasksQueue": outputs["QueueUrl"], "TasksDLQ": outputs["DlqUrl"]}
        tasks = self.table.tasks_named(self.prefix)
        finished = {
            task_id
            for task_id, task in tasks.items()
            if task.get("status") in ("SUCCEEDED", "FAILED") and not task.get("event_pending")
        }

        def announced() -> bool:
            seen = {str(event["detail"].get("task_id")) for event in tap.drain()}
            return finished <= seen

        # Each finished task's event, and an empty queue (copies and retries consumed).
        deadline = time.monotonic() + 90
        _wait(announced, deadline)
        _wait(lambda: not any(_queue_depths(queues).values()), deadline)
        tasks = self.table.tasks_named(self.prefix)
        events = [event for event in tap.drain() if str(event["detail"].get("task_id")) in tasks]
        seen = Observations(
            uploads=self.uploads,
            tasks=tasks,
            events=events,
            max_receive_count=_max_receive_count(outputs["QueueUrl"]),
            duplicated=saboteur.duplicated,
            queue_depths=_queue_depths(queues),
            deadline=self.deadline,
        )
        verdict = judge(seen)
        self._keep(seen, verdict)
        injected = injected_faults_logged(_worker_log_lines(worker, since))
        standalone_lines = (
            self.standalone.stdout_path.read_text().splitlines() if self.standalone else []
        )
        injected_standalone = injected_faults_logged(standalone_lines)
        verdict.figures.update(
            {
                "lambda_environments_killed": saboteur.counts["lambda_kills"],
                "standalone_consumers_killed": saboteur.counts["consumer_kills"],
                "duplicates_sent": saboteur.counts["duplicates"],
                "sabotage_actions_failed": saboteur.counts["sabotage_errors"],
                "injected_faults_lambda": sum(injected.values()),
                "injected_faults_standalone": sum(injected_standalone.values()),
                "injected_faults_by_service": dict(injected + injected_standalone),
                "processed_by_standalone": _standalone_outcomes(standalone_lines),
            }
        )
        return verdict

    def _keep(self, seen: Observations, verdict: Verdict) -> None:
        """What the verdict was made of, for a person looking into a broken invariant."""
        folder = self.settings.log_dir / self.prefix
        folder.mkdir(parents=True, exist_ok=True)
        document = {
            "violations": verdict.violations,
            "figures": verdict.figures,
            "uploads": [
                {
                    "filename": upload.filename,
                    "route": upload.route,
                    "task_id": upload.task_id,
                    "submitted_at": upload.submitted_at,
                    "refused": upload.refused,
                    "expected": upload.payload.expected.__dict__,
                }
                for upload in seen.uploads
            ],
            "tasks": seen.tasks,
            "events": seen.events,
            "duplicated": dict(seen.duplicated),
        }
        (folder / "observations.json").write_text(json.dumps(document, indent=1, default=str))
        self.say(f"observations kept in {folder / 'observations.json'}")


def _standalone_outcomes(lines: list[str]) -> int:
    count = Counter[str]()
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and "outcome" in record and "task_id" in record:
            count[str(record["outcome"])] += 1
    return count["SUCCEEDED"] + count["FAILED"]
