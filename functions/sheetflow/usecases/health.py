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
        "bucket": _check(lambda: storage.bucket_reachable(config.bucket_name)),
        "table": _check(tasks.check_reachable),
        "queue": _check(lambda: _depth(config.queue_url)),
        "dlq": _check(lambda: _depth(config.dlq_url)),
        # Dead letters already recorded as FAILED, waiting for an operator (inspect, redrive).
        "failed": _check(lambda: _depth(config.failed_queue_url)),
    }
    healthy = all(check["ok"] for check in checks.values())
    return healthy, {"status": "ok" if healthy else "degraded", "checks": checks}


def _depth(queue_url: str) -> dict[str, Any]:
    depth = queues.depth(queue_url)
    return {"depth": depth.visible, "in_flight": depth.in_flight, "delayed": depth.delayed}


def _check(probe: Callable[[], dict[str, Any] | None]) -> dict[str, Any]:
    try:
        details = probe() or {}
    except TransientError as exc:
        return {"ok": False, "error": exc.message}
    return {"ok": True, **details}
