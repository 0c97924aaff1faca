"""Reachability of the API's dependencies and the depth of the task, dead-letter and parked
queues."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sheetflow.config import ApiConfig
from sheetflow.dal import queues, storage
from sheetflow.dal.tasks import TaskRepository
from sheetflow.logic.errors import TransientError


def check_health(config: ApiConfig, tasks: TaskRepository) -> tuple[bool, dict[str, Any]]:
    checks = {
        "bucket": probe_dependency(lambda: storage.bucket_reachable(config.bucket_name)),
        "table": probe_dependency(tasks.check_reachable),
        "queue": probe_dependency(lambda: _depth(config.queue_url)),
        "dlq": probe_dependency(lambda: _depth(config.dlq_url)),
        # Dead letters already recorded as FAILED, waiting for an operator (inspect, redrive).
        "failed": probe_dependency(lambda: _depth(config.failed_queue_url)),
    }
    healthy = all(check["ok"] for check in checks.values())
    return healthy, {"status": "ok" if healthy else "degraded", "checks": checks}


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
