"""Readiness: can the worker reach its queue, its task table and its buckets right now?"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sheetflow.dal import queues, storage
from sheetflow.dal.tasks import TaskRepository
from sheetflow.logic.errors import TransientError
from sheetflow.worker.settings import StandaloneSettings


def assess_readiness(settings: StandaloneSettings) -> tuple[bool, dict[str, Any]]:
    config = settings.processing
    checks = {
        "queue": _check(lambda: queues.depth(config.queue_url)),
        "table": _check(TaskRepository(config.table_name).check_reachable),
        "bucket": _check(lambda: storage.bucket_reachable(config.bucket_name)),
    }
    if config.results_bucket != config.bucket_name:
        checks["results_bucket"] = _check(lambda: storage.bucket_reachable(config.results_bucket))
    ready = all(check["ok"] for check in checks.values())
    return ready, {"status": "ready" if ready else "not ready", "checks": checks}


def _check(probe: Callable[[], object]) -> dict[str, Any]:
    try:
        probe()
    except TransientError as exc:
        return {"ok": False, "error": exc.message}
    return {"ok": True}
