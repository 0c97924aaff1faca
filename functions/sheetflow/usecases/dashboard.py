"""What the dashboard reads and does beyond the task routes: the newest tasks across statuses,
the last hour's figures, parked dead letters and their redrive, and the alarms' states."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sheetflow.config import ApiConfig
from sheetflow.dal import alarms, dead_letters, queues
from sheetflow.dal.tasks import TaskRepository
from sheetflow.logic import recent, stats, timeline
from sheetflow.logic.messages import MessageFormatError, parse_message
from sheetflow.logic.task import FINISHED_STATUSES, TaskStatus, isoformat
from sheetflow.logic.tenancy import Caller
from sheetflow.usecases.queries import TaskListing, task_view

STATS_MINUTES = 60
# Finished tasks read for the chart, per outcome: enough for a busy hour, bounded for the API's
# time limit. The figures say how many were read.
STATS_READ_LIMIT = 3000
# Tasks finish after they are created: those created up to this long before the window may
# still have finished inside it.
STATS_LOOKBACK = timedelta(hours=1)
# Tasks created in one microsecond are rare; this bounds the read if many ever are.
SAME_TIME_READ_LIMIT = 100
# The Lambda answers within API Gateway's 29 s; the move task gets most of that.
REDRIVE_WAIT_SECONDS = 20.0


def newest_tasks(
    status_filter: TaskStatus | None,
    limit: int,
    token: str | None,
    tasks: TaskRepository,
    caller: Caller,
) -> TaskListing:
    """The caller's tasks, newest first across statuses."""
    owner = caller.owner
    after = recent.decode_position(token) if token else None
    statuses = [status_filter] if status_filter else list(TaskStatus)
    # Per status, every task after the position, one more than a page (that one tells whether
    # another page exists): those created at the position's very time with a smaller id, then
    # the older ones. The time index cannot compare ids, hence two queries.
    partitions = []
    for status in statuses:
        if after is None:
            partitions.append(tasks.newest(status, limit + 1, owner=owner))
            continue
        same_time = [
            task
            for task in tasks.newest(status, SAME_TIME_READ_LIMIT, at=after.created_at, owner=owner)
            if task.task_id < after.task_id
        ]
        older = tasks.newest(status, limit + 1, before=after.created_at, owner=owner)
        partitions.append(same_time + older)
    page, position = recent.merge_newest(partitions, after, limit)
    return TaskListing(
        items=[task_view(task) for task in page],
        next_token=recent.encode_position(position) if position else None,
    )


def last_hour(tasks: TaskRepository, now: datetime, caller: Caller) -> dict[str, Any]:
    """The caller's tasks finished in the last hour."""
    since = isoformat(now - timedelta(minutes=STATS_MINUTES) - STATS_LOOKBACK)
    outcomes = sorted(status.value for status in FINISHED_STATUSES)
    finished: list[stats.Finished] = []
    truncated = False
    for status in sorted(FINISHED_STATUSES):
        found = tasks.newest(status, STATS_READ_LIMIT, since=since, owner=caller.owner)
        truncated = truncated or len(found) >= STATS_READ_LIMIT
        finished.extend(
            stats.Finished(
                at=timeline.parse_iso(task.updated_at),
                outcome=task.status.value,
                seconds=timeline.processing_seconds(task),
            )
            for task in found
        )
    summary = stats.summarize(finished, now, STATS_MINUTES, outcomes)
    summary["truncated"] = truncated
    return summary


def parked_dead_letters(config: ApiConfig, tasks: TaskRepository, caller: Caller) -> dict[str, Any]:
    """The queue's depth (a count, stack-wide) and the parked letters of the caller's own
    tasks."""
    depth = queues.depth(config.failed_queue_url)
    letters = []
    for letter in dead_letters.peek(config.failed_queue_url):
        task_ids = _task_ids(letter.body)
        task = tasks.get(task_ids[0]) if len(task_ids) == 1 else None
        if task is None or not caller.may_see(task.owner):
            continue
        letters.append(
            {
                "message_id": letter.message_id,
                "sent_at": isoformat(datetime.fromtimestamp(letter.sent_at_ms / 1000, UTC))
                if letter.sent_at_ms
                else None,
                "task_ids": task_ids,
                "filename": task.filename if task else None,
                "task_status": task.status.value if task else None,
                "error": task.error.to_dict() if task and task.error else None,
                "body": letter.body if not task_ids else None,
            }
        )
    return {
        "queue": config.failed_queue_url.rsplit("/", 1)[-1],
        "depth": depth.visible,
        "in_flight": depth.in_flight,
        "items": letters,
    }


def _task_ids(body: str) -> list[str]:
    try:
        return [job.task_id for job in parse_message(body)]
    except MessageFormatError:
        return []


def redrive(config: ApiConfig) -> dict[str, Any]:
    waiting = queues.depth(config.failed_queue_url).visible
    if waiting == 0:
        return {"moved": 0, "method": None, "note": "No dead letter is waiting: nothing to move."}
    result = dead_letters.move_all(config.failed_queue_url, config.queue_url, REDRIVE_WAIT_SECONDS)
    return {"moved": result.moved, "method": result.method, "note": result.note}


def alarm_states(config: ApiConfig) -> dict[str, Any]:
    return {
        "alarms": [
            {
                "name": alarm.name,
                "state": alarm.state,
                "reason": alarm.reason,
                "updated_at": alarm.updated_at,
                "description": alarm.description,
            }
            for alarm in alarms.states(list(config.alarm_names))
        ]
    }
