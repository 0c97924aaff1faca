"""GET /health: three questions answered separately.

- `liveness`: the API process itself answers (always true in a document that was served);
- `checks`: its dependencies are reachable (bucket, table, queues, with queue depths);
- `pipeline`: work is actually being done (see usecases/pipeline_health.py).

The answer is `ok` (200) only when the dependencies are reachable and the pipeline is not stalled;
otherwise `degraded` (503) with `reasons` a person can act on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sheetflow.config import ApiConfig
from sheetflow.dal import queues, storage
from sheetflow.dal.tasks import TaskRepository
from sheetflow.logic.errors import TransientError

ABOUT = {
    "liveness": "the API process answers requests (this document was served)",
    "checks": "the API's dependencies are reachable: bucket, table, task queue, DLQ, parked "
    "dead letters",
    "pipeline": "tasks are actually being processed: the worker's queue trigger consumes, no "
    "queued task waits past the threshold, the canary workbook succeeds",
}


def check_health(
    config: ApiConfig, tasks: TaskRepository, pipeline: dict[str, Any] | None = None
) -> tuple[bool, dict[str, Any]]:
    checks = {
        "bucket": probe_dependency(lambda: storage.bucket_reachable(config.bucket_name)),
        "table": probe_dependency(tasks.check_reachable),
        "queue": probe_dependency(lambda: _depth(config.queue_url)),
        "dlq": probe_dependency(lambda: _depth(config.dlq_url)),
        # Dead letters already recorded as FAILED, waiting for an operator (inspect, redrive).
        "failed": probe_dependency(lambda: _depth(config.failed_queue_url)),
    }
    reasons = [
        f"{name} is unreachable: {check['error']}"
        for name, check in checks.items()
        if not check["ok"]
    ]
    if pipeline is not None:
        reasons += pipeline["reasons"]
    healthy = not reasons
    report: dict[str, Any] = {
        "status": "ok" if healthy else "degraded",
        "reasons": reasons,
        "liveness": {"ok": True},
        "checks": checks,
    }
    if pipeline is not None:
        report["pipeline"] = pipeline
    report["about"] = ABOUT
    return healthy, report


def _depth(queue_url: str) -> dict[str, Any]:
    depth = queues.depth(queue_url)
    return {"depth": depth.visible, "in_flight": depth.in_flight, "delayed": depth.delayed}


def probe_dependency(probe: Callable[[], object]) -> dict[str, Any]:
    """`{"ok": True, **details}` when the probe answered, `{"ok": False, "error"}` when not."""
    try:
        answer = probe()
    except TransientError as exc:
        return {"ok": False, "error": exc.message}
    details = answer if isinstance(answer, dict) else {}
    return {"ok": True, **details}
