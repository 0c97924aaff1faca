"""Is work being done? The pipeline half of /health (the other half: dependencies reachable).

Three signals, each with a reason a person can act on: the worker's queue trigger is not
consuming, the oldest QUEUED task waited longer than the threshold, the canary missed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sheetflow.config import PipelineWatchConfig
from sheetflow.dal import triggers
from sheetflow.dal.canary_runs import CanaryRuns
from sheetflow.dal.tasks import TaskRepository
from sheetflow.logic.errors import TransientError
from sheetflow.logic.stall import (
    PipelineSignals,
    mapping_problem,
    oldest_queued_seconds,
    stall_reasons,
)
from sheetflow.logic.task import TaskStatus
from sheetflow.usecases.canary import latest_verdict

# QUEUED tasks read to find the longest wait (presigned tasks are indexed by creation, not by
# when they were queued, so the first one is not always the longest waiting).
QUEUED_SAMPLE = 25


def check_pipeline(
    config: PipelineWatchConfig, tasks: TaskRepository, runs: CanaryRuns, now: datetime
) -> dict[str, Any]:
    unreadable: list[str] = []
    document: dict[str, Any] = {"stall_threshold_seconds": config.stall_threshold_seconds}

    problem: str | None = None
    try:
        states = triggers.mapping_states(config.worker_function_name)
        problem = mapping_problem(config.worker_function_name, states)
        document["worker_trigger"] = {"states": states}
    except TransientError as exc:
        unreadable.append(f"the worker's queue trigger ({exc.message})")

    oldest: float | None = None
    try:
        queued = tasks.page(TaskStatus.QUEUED, QUEUED_SAMPLE, newest_first=False).tasks
        oldest = oldest_queued_seconds(queued, now)
        document["oldest_queued_seconds"] = round(oldest) if oldest is not None else None
    except TransientError as exc:
        unreadable.append(f"the queued tasks ({exc.message})")

    canary_problem: str | None = None
    try:
        judged = latest_verdict(config, tasks, runs, now)
        if judged is None:
            document["canary"] = {"state": "OFF" if not config.canary_enabled else "NOT_RUN_YET"}
        else:
            run, verdict = judged
            document["canary"] = {"state": verdict.state.value, "task_id": run.task_id}
            canary_problem = verdict.reason if verdict.missed else None
    except TransientError as exc:
        unreadable.append(f"the canary ({exc.message})")

    reasons = stall_reasons(
        PipelineSignals(
            threshold_seconds=config.stall_threshold_seconds,
            oldest_queued_seconds=oldest,
            mapping_problem=problem,
            canary_problem=canary_problem,
            unreadable=unreadable,
        )
    )
    return {"ok": not reasons, "reasons": reasons, **document}
