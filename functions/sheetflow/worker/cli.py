"""`python -m sheetflow.worker`: parse the configuration once, check the queue, run.

Before starting, one check: is the endpoint reachable and does the queue exist? A failure
becomes one line for the person (or orchestrator log) that started the worker.

Exit codes: 0 stopped gracefully; 1 stopped with unfinished work (grace period over, or a
consumer failed); 2 cannot start (configuration, endpoint, queue, health port), reported as one
line on stderr; 128+N stopped at once by a second signal N.
"""

from __future__ import annotations

import argparse
import os
import sys

from sheetflow.config import ConfigError, StandaloneConfig
from sheetflow.dal.queues import QueueUnusableError, check_usable
from sheetflow.worker.supervisor import StartupError, Supervisor

EXIT_CANNOT_START = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sheetflow.worker",
        description=(
            "Poll the task queue and process workbooks outside Lambda. Configuration comes from "
            "environment variables (see docs/worker.md); these flags override them."
        ),
    )
    parser.add_argument(
        "--concurrency", type=int, help="consumer processes (WORKER_CONCURRENCY, default 1)"
    )
    parser.add_argument(
        "--grace-seconds",
        type=int,
        help="time to finish messages in hand after SIGTERM (WORKER_GRACE_SECONDS, default 30)",
    )
    parser.add_argument(
        "--health-port",
        type=int,
        help="port of /healthz and /readyz, 0 for none (WORKER_HEALTH_PORT, default 0)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = StandaloneConfig.from_env(os.environ).with_overrides(
            concurrency=args.concurrency,
            grace_seconds=args.grace_seconds,
            health_port=args.health_port,
        )
        check_usable(config.queue_url)
        return Supervisor(config).run()
    except (ConfigError, QueueUnusableError, StartupError) as error:
        print(f"sheetflow worker: {error}", file=sys.stderr)
        return EXIT_CANNOT_START
