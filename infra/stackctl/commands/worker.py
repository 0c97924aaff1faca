"""`worker`: run the standalone worker (`python -m sheetflow.worker`) on the deployed stack's queue.

The worker gets the deployed worker function's own environment (table, buckets, limits, retries),
so it processes exactly as the Lambda does, plus LocalStack's endpoint. The command then becomes
the worker process (exec): signals, exit code and output are the worker's own.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from stackctl import aws, localstack, sam, stack
from stackctl.aws_errors import reported_as_user_errors

# Variables the Lambda runtime or the tracer own; a host process must not inherit them.
_LAMBDA_ONLY_PREFIXES = ("AWS_LAMBDA_", "_HANDLER", "LAMBDA_")


def worker_environment(stack_name: str) -> dict[str, str]:
    """The process environment for a worker consuming the stack's queue on LocalStack."""
    outputs = stack.outputs(stack_name)
    function = aws.client("lambda").get_function_configuration(
        FunctionName=outputs["WorkerFunctionName"]
    )
    function_env: dict[str, str] = function.get("Environment", {}).get("Variables", {})
    env = dict(os.environ)
    env.update(
        {
            name: value
            for name, value in function_env.items()
            if not name.startswith(_LAMBDA_ONLY_PREFIXES)
        }
    )
    env.update(
        {
            "QUEUE_URL": outputs["QueueUrl"],
            "TABLE_NAME": outputs["TableName"],
            "BUCKET_NAME": outputs["BucketName"],
            "AWS_ENDPOINT_URL": os.environ.get("AWS_ENDPOINT_URL", localstack.endpoint_url()),
            "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "test"),
            "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
            "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", sam.REGION),
            # X-Ray has no daemon here; the worker logs and emits metrics as the Lambda does.
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
    )
    return env


def worker_arguments(args: argparse.Namespace) -> list[str]:
    flags = {
        "--concurrency": args.concurrency,
        "--grace-seconds": args.grace_seconds,
        "--health-port": args.health_port,
    }
    return [
        part for flag, value in flags.items() if value is not None for part in (flag, str(value))
    ]


@reported_as_user_errors
def cmd_worker(args: argparse.Namespace) -> int:
    name = args.stack or stack.stack_name()
    env = worker_environment(name)
    print(
        f"Standalone worker on stack {name!r}: queue {env['QUEUE_URL']} (Ctrl-C stops it "
        "gracefully, a second Ctrl-C at once).",
        flush=True,
    )
    command = [sys.executable, "-m", "sheetflow.worker", *worker_arguments(args)]
    # bandit B606: becomes the standalone worker: this interpreter, fixed module, no shell
    os.execve(sys.executable, command, env)  # nosec B606
    return 0  # not reached: execve replaces this process


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "worker",
        help="run the standalone worker on the deployed stack's queue (beside the Lambda)",
    )
    parser.add_argument("--stack", help="stack name (default: $SHEETFLOW_STACK or sheetflow)")
    parser.add_argument("--concurrency", type=int, help="consumer processes (default 1)")
    parser.add_argument(
        "--grace-seconds", type=int, help="time to finish messages after SIGTERM (default 30)"
    )
    parser.add_argument(
        "--health-port", type=int, help="port of /healthz and /readyz (default 0: none)"
    )
    parser.set_defaults(handler=cmd_worker)
