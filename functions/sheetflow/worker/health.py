"""The standalone worker's health: what consumers report, how liveness and readiness are judged,
and the HTTP endpoints that serve both.

- Consumers report into a `StatusBoard` in shared memory: the time of their last completed poll,
  since when they have been busy with a message (0 when idle), the last tick of their heartbeat
  thread, and what they have done (processed, failed, retried, messages held).
- Liveness (`assess_liveness`, pure: no I/O, no clock): healthy when the supervisor's loop is
  ticking and every consumer process is alive and making progress. An idle consumer must have
  completed a poll within the long-poll time plus a margin; a busy one (a large file takes long)
  must have had a heartbeat tick within the heartbeat interval plus the margin. A consumer that
  fails this is hung (stopped, deadlocked, stuck in a call): the supervisor replaces it.
- Readiness (`assess_readiness`): the queue, the task table and the buckets answer right now.
- `HealthServer`, on a daemon thread of the supervisor: GET /healthz is liveness (200 or 503),
  for restart decisions; GET /readyz is readiness, for traffic and rollout decisions.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.context import SpawnContext
from multiprocessing.sharedctypes import Synchronized, SynchronizedArray
from typing import Any

from sheetflow.config import StandaloneConfig
from sheetflow.dal import queues, storage
from sheetflow.dal.tasks import TaskRepository
from sheetflow.usecases.health import probe_dependency

# The supervisor ticks every 0.2 s; allow for a busy machine.
SUPERVISOR_STALE_SECONDS = 10.0
# Per consumer slot, in shared memory: times are epoch seconds, counts are whole numbers.
_LAST_POLL, _BUSY_SINCE, _LAST_BEAT, _PROCESSED, _FAILED, _RETRIED, _HELD = range(7)
_FIELDS = 7

Probe = Callable[[], tuple[bool, dict[str, Any]]]


class StatusBoard:
    """What each consumer process reports to the supervisor, in shared memory."""

    def __init__(self, values: SynchronizedArray[float], supervisor_tick: Synchronized[float]):
        self._values = values
        self._tick = supervisor_tick

    @classmethod
    def create(cls, context: SpawnContext, slots: int) -> StatusBoard:
        return cls(context.Array("d", slots * _FIELDS), context.Value("d", time.time()))

    def reset(self, slot: int) -> None:
        """A (re)started consumer counts as having just polled and beaten; its counts stay."""
        now = time.time()
        self._set(slot, _LAST_POLL, now)
        self._set(slot, _LAST_BEAT, now)
        self._set(slot, _BUSY_SINCE, 0.0)
        self._set(slot, _HELD, 0)

    def record_poll(self, slot: int) -> None:
        self._set(slot, _LAST_POLL, time.time())

    def record_beat(self, slot: int) -> None:
        self._set(slot, _LAST_BEAT, time.time())

    def set_busy(self, slot: int, busy: bool) -> None:
        self._set(slot, _BUSY_SINCE, time.time() if busy else 0.0)

    def set_held(self, slot: int, messages: int) -> None:
        self._set(slot, _HELD, messages)

    def count(self, slot: int, *, processed: int = 0, failed: int = 0, retried: int = 0) -> None:
        with self._values.get_lock():
            self._values[slot * _FIELDS + _PROCESSED] += processed
            self._values[slot * _FIELDS + _FAILED] += failed
            self._values[slot * _FIELDS + _RETRIED] += retried

    def state(self, slot: int, pid: int | None, alive: bool, restarts: int) -> ConsumerState:
        def value(field: int) -> float:
            return float(self._values[slot * _FIELDS + field])

        return ConsumerState(
            slot=slot,
            pid=pid,
            alive=alive,
            last_poll=value(_LAST_POLL),
            busy_since=value(_BUSY_SINCE),
            last_beat=value(_LAST_BEAT),
            restarts=restarts,
            processed=int(value(_PROCESSED)),
            failed=int(value(_FAILED)),
            retried=int(value(_RETRIED)),
            held=int(value(_HELD)),
        )

    def _set(self, slot: int, field: int, value: float) -> None:
        self._values[slot * _FIELDS + field] = value

    def tick(self) -> None:
        self._tick.value = time.time()

    @property
    def last_tick(self) -> float:
        return float(self._tick.value)


@dataclass(frozen=True)
class ConsumerState:
    slot: int
    pid: int | None
    alive: bool
    last_poll: float
    busy_since: float
    last_beat: float
    restarts: int
    processed: int = 0
    failed: int = 0
    retried: int = 0
    held: int = 0


@dataclass(frozen=True)
class ProgressDeadlines:
    """How long a live consumer may go without a sign of progress, in seconds."""

    # Idle: a long poll returns within WaitTimeSeconds, whatever the queue holds.
    poll: float
    # Busy with a message: the heartbeat thread ticks every heartbeat interval.
    beat: float


@dataclass(frozen=True)
class Liveness:
    healthy: bool
    document: dict[str, Any]
    # Consumers alive but making no progress: to be replaced.
    hung: list[int]


def hung_reason(consumer: ConsumerState, now: float, deadlines: ProgressDeadlines) -> str | None:
    """Why a live consumer counts as hung, or None while it makes progress."""
    if consumer.busy_since > 0:
        beat_age = now - consumer.last_beat
        if beat_age > deadlines.beat:
            return (
                f"busy for {now - consumer.busy_since:.0f} s, heartbeat silent for {beat_age:.0f} s"
            )
        return None
    poll_age = now - consumer.last_poll
    if poll_age > deadlines.poll:
        return f"no poll completed for {poll_age:.0f} s"
    return None


def assess_liveness(
    now: float,
    supervisor_tick: float,
    consumers: list[ConsumerState],
    deadlines: ProgressDeadlines,
) -> Liveness:
    problems: list[str] = []
    hung: list[int] = []
    if now - supervisor_tick > SUPERVISOR_STALE_SECONDS:
        problems.append(f"supervisor loop silent for {now - supervisor_tick:.0f} s")
    reports = []
    for consumer in consumers:
        busy = consumer.busy_since > 0
        if not consumer.alive:
            problems.append(f"consumer {consumer.slot} is not running")
        elif (reason := hung_reason(consumer, now, deadlines)) is not None:
            problems.append(f"consumer {consumer.slot} is hung: {reason}")
            hung.append(consumer.slot)
        reports.append(
            {
                "slot": consumer.slot,
                "pid": consumer.pid,
                "alive": consumer.alive,
                "last_poll_age_seconds": round(max(now - consumer.last_poll, 0.0), 1),
                "last_beat_age_seconds": round(max(now - consumer.last_beat, 0.0), 1),
                "busy_seconds": round(now - consumer.busy_since, 1) if busy else None,
                "restarts": consumer.restarts,
                "processed": consumer.processed,
                "failed": consumer.failed,
                "retried": consumer.retried,
                "held": consumer.held,
            }
        )
    return Liveness(
        healthy=not problems,
        document={
            "status": "ok" if not problems else "unhealthy",
            "problems": problems,
            "consumers": reports,
        },
        hung=hung,
    )


def assess_readiness(config: StandaloneConfig) -> tuple[bool, dict[str, Any]]:
    worker = config.worker
    checks = {
        "queue": probe_dependency(lambda: queues.depth(worker.queue_url)),
        "table": probe_dependency(TaskRepository(worker.table_name).check_reachable),
        "bucket": probe_dependency(lambda: storage.bucket_reachable(worker.bucket_name)),
    }
    if worker.results_bucket != worker.bucket_name:
        checks["results_bucket"] = probe_dependency(
            lambda: storage.bucket_reachable(worker.results_bucket)
        )
    ready = all(check["ok"] for check in checks.values())
    return ready, {"status": "ready" if ready else "not ready", "checks": checks}


class HealthServer:
    def __init__(self, port: int, liveness: Probe, readiness: Probe) -> None:
        # Readiness calls AWS; one at a time keeps a burst of probes from piling up calls.
        readiness_lock = threading.Lock()

        def ready() -> tuple[bool, dict[str, Any]]:
            with readiness_lock:
                return readiness()

        routes: dict[str, Probe] = {"/healthz": liveness, "/readyz": ready}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                probe = routes.get(self.path.split("?", 1)[0])
                if probe is None:
                    self._answer(404, {"error": f"no such path {self.path}"})
                    return
                ok, document = probe()
                self._answer(200 if ok else 503, document)

            def _answer(self, status: int, document: dict[str, Any]) -> None:
                body = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # probes every few seconds would drown the worker's own log

        # All interfaces: container orchestrators probe from outside the container.
        self._server = ThreadingHTTPServer(("", port), Handler)
        self._server.daemon_threads = True

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        threading.Thread(target=self._server.serve_forever, name="health", daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
