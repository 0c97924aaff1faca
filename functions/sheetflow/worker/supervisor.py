"""The worker's main process: starts the consumers, watches them, serves health, stops them.

Concurrency model: each consumer is a process that polls the queue on its own. SQS already is a
dispatcher with competing consumers, so a parent dispatching messages would add a hop, a local
buffer of messages nobody renews, and a single point that every message passes through. The
supervisor only restarts a consumer that died, serves /healthz and /readyz, and turns signals
into a stop:

- first SIGTERM or SIGINT: no more polls; consumers finish the message in hand, hand back the
  ones not started, and exit; the worker exits 0 (1 if the grace period ran out and the
  stragglers had to be killed);
- second signal: consumers are killed at once; their messages reappear after the visibility
  timeout, and the task's lease lets the redelivery claim it.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from dataclasses import dataclass
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType

from sheetflow.config import StandaloneConfig
from sheetflow.observability import logger
from sheetflow.worker.consumer import consumer_main
from sheetflow.worker.health import (
    HealthServer,
    Liveness,
    ProgressDeadlines,
    StatusBoard,
    assess_liveness,
    assess_readiness,
)

_TICK_SECONDS = 0.2
# A consumer that dies sooner than this after starting is restarted only after this pause.
_RESTART_PAUSE_SECONDS = 1.0
# A consumer dying this many times in a row, each time within a minute of its start, is broken
# (bad configuration, a bug): the worker exits rather than crash-loop behind a healthy facade.
_CRASH_LOOP_LIMIT = 5
_QUICK_DEATH_SECONDS = 60.0


class StartupError(RuntimeError):
    """The worker cannot start; the message says why and what to do."""


@dataclass
class _Slot:
    process: BaseProcess
    started_at: float
    restarts: int = 0
    quick_deaths: int = 0


class Supervisor:
    def __init__(self, config: StandaloneConfig) -> None:
        self._config = config
        # Spawn, not fork: the supervisor runs threads (health server) and holds SDK clients.
        self._context = multiprocessing.get_context("spawn")
        self._board = StatusBoard.create(self._context, config.concurrency)
        self._stop_request = self._context.Event()
        self._slots: dict[int, _Slot] = {}
        self._signals: list[int] = []

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        server = self._start_health_server()
        for slot in range(self._config.concurrency):
            self._start(slot)
        logger.info(
            "Worker started",
            extra={
                "queue_url": self._config.queue_url,
                "concurrency": self._config.concurrency,
                "visibility_seconds": self._config.visibility_seconds,
                "health_port": server.port if server else None,
                "pid": os.getpid(),
            },
        )
        try:
            return self._supervise()
        finally:
            if server is not None:
                server.stop()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._signals.append(signum)

    def _start_health_server(self) -> HealthServer | None:
        if not self._config.health_port:
            return None
        try:
            server = HealthServer(
                self._config.health_port,
                liveness=lambda: _as_probe(self.liveness()),
                readiness=lambda: assess_readiness(self._config),
            )
        except OSError as exc:
            raise StartupError(
                f"cannot serve health checks on port {self._config.health_port}: {exc.strerror}"
            ) from None
        server.start()
        return server

    def _start(self, slot: int) -> None:
        previous = self._slots.get(slot)
        self._board.reset(slot)
        process = self._context.Process(
            target=consumer_main,
            args=(self._config, self._board, slot, self._stop_request, os.getpid()),
            name=f"sheetflow-consumer-{slot}",
        )
        process.start()
        if previous is None:
            self._slots[slot] = _Slot(process, time.monotonic())
            return
        quick = time.monotonic() - previous.started_at < _QUICK_DEATH_SECONDS
        self._slots[slot] = _Slot(
            process,
            time.monotonic(),
            restarts=previous.restarts + 1,
            quick_deaths=previous.quick_deaths + 1 if quick else 0,
        )

    def _supervise(self) -> int:
        stop_deadline: float | None = None
        next_status = time.monotonic() + self._config.status_log_seconds
        while True:
            self._board.tick()
            if self._config.status_log_seconds and time.monotonic() >= next_status:
                self._log_status()
                next_status = time.monotonic() + self._config.status_log_seconds
            if len(self._signals) >= 2:
                self._kill_all()
                logger.warning("Second signal: stopped at once; unfinished messages will reappear")
                return 128 + self._signals[-1]
            if self._signals and stop_deadline is None:
                stop_deadline = time.monotonic() + self._config.grace_seconds
                self._stop_request.set()
                logger.info(
                    "Stopping: finishing messages in hand",
                    extra={"grace_seconds": self._config.grace_seconds},
                )
            if stop_deadline is None:
                self._replace_hung()
                if not self._restart_dead():
                    self._kill_all()
                    logger.error("A consumer keeps dying at start; stopping the worker")
                    return 1
            elif not self._alive():
                failed = [s.process.exitcode for s in self._slots.values() if s.process.exitcode]
                logger.info("Worker stopped", extra={"consumer_failures": failed})
                return 0 if not failed else 1
            elif time.monotonic() > stop_deadline:
                self._kill_all()
                logger.warning("Grace period over: unfinished messages will reappear")
                return 1
            wait([slot.process.sentinel for slot in self._alive()], timeout=_TICK_SECONDS)

    def _alive(self) -> list[_Slot]:
        return [slot for slot in self._slots.values() if slot.process.is_alive()]

    def _restart_dead(self) -> bool:
        """Restart dead consumers; False when one is crash-looping."""
        for index, slot in list(self._slots.items()):
            if slot.process.is_alive():
                continue
            if time.monotonic() - slot.started_at < _RESTART_PAUSE_SECONDS:
                continue
            logger.error(
                "Consumer died; restarting it",
                extra={"slot": index, "exitcode": slot.process.exitcode},
            )
            if slot.quick_deaths + 1 >= _CRASH_LOOP_LIMIT:
                return False
            self._start(index)
        return True

    def _replace_hung(self) -> None:
        """Kill consumers that are alive but make no progress; `_restart_dead` starts new ones.

        What a hung consumer held reappears after its visibility timeout, and the task's lease
        lapses, so another delivery processes it: nothing is lost, nothing is done twice.
        """
        liveness = self.liveness()
        for index in liveness.hung:
            slot = self._slots[index]
            report = liveness.document["consumers"][index]
            logger.error(
                "Consumer hung; replacing it",
                extra={
                    "slot": index,
                    "replaced_pid": slot.process.pid,
                    "problems": liveness.document["problems"],
                    "last_poll_age_seconds": report["last_poll_age_seconds"],
                    "last_beat_age_seconds": report["last_beat_age_seconds"],
                },
            )
            slot.process.kill()
            slot.process.join(timeout=5)

    def _log_status(self) -> None:
        """One line with what the consumers have done so far and what they hold now."""
        document = self.liveness().document
        consumers = document["consumers"]
        logger.info(
            "Worker status",
            extra={
                "status": document["status"],
                "processed": sum(c["processed"] for c in consumers),
                "failed": sum(c["failed"] for c in consumers),
                "retried": sum(c["retried"] for c in consumers),
                "in_flight": sum(c["held"] for c in consumers),
                "consumers_alive": sum(c["alive"] for c in consumers),
                "restarts": sum(c["restarts"] for c in consumers),
            },
        )

    def _kill_all(self) -> None:
        for slot in self._alive():
            slot.process.kill()
        for slot in self._slots.values():
            slot.process.join(timeout=5)

    def liveness(self) -> Liveness:
        # Every configured slot counts, started or not: the health server answers while the
        # consumers are still being started, and a missing one must not look healthy.
        consumers = []
        for index in range(self._config.concurrency):
            slot = self._slots.get(index)
            consumers.append(
                self._board.state(
                    index,
                    pid=slot.process.pid if slot else None,
                    alive=slot.process.is_alive() if slot else False,
                    restarts=slot.restarts if slot else 0,
                )
            )
        margin = self._config.health_margin_seconds
        deadlines = ProgressDeadlines(
            poll=self._config.wait_seconds + margin, beat=self._config.heartbeat_seconds + margin
        )
        return assess_liveness(time.time(), self._board.last_tick, consumers, deadlines)


def _as_probe(liveness: Liveness) -> tuple[bool, dict[str, object]]:
    return liveness.healthy, liveness.document
