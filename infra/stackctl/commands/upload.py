"""`upload FILE [--via api|presign|s3] [--wait] [--timeout S]`: send a workbook in, optionally
wait for its outcome."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sheetflow.logic.task import TaskStatus
from stackctl import stack, task_report
from stackctl.api_client import ApiClient
from stackctl.aws_errors import reported_as_user_errors
from stackctl.progress import ProgressDisplay
from stackctl.task_waiting import WatchedTask, wait_for_tasks
from stackctl.uploading import (
    UploadRoute,
    check_route_takes,
    check_workbook_file,
    submit_file,
)

EXIT_FAILED = 1
EXIT_TIMED_OUT = 124  # as coreutils `timeout` does
DEFAULT_TIMEOUT_SECONDS = 60.0


@reported_as_user_errors
def cmd_upload(args: argparse.Namespace) -> int:
    path = Path(args.file)
    route = UploadRoute(args.via)
    # Before any AWS call: a typo or a file too big for the route needs no LocalStack.
    size = check_workbook_file(path)
    check_route_takes(path, size, route)
    outputs = stack.outputs()
    submitted = submit_file(path, route, outputs)
    where = f" as {submitted.key}" if submitted.key else ""
    print(f"Uploaded {path.name} ({size:,} bytes) via {route}{where}.")
    print(f"Task {submitted.task_id}")
    if not args.wait:
        print(f"Follow it with `sheetflow status {submitted.task_id}`.")
        return 0

    api = ApiClient.for_stack(outputs)
    result = wait_for_tasks(
        [WatchedTask(path.name, submitted.task_id)], api.task, args.timeout, ProgressDisplay()
    )
    task = result.tasks[submitted.task_id]
    if not result.all_finished:
        print(task_report.outcome_line(path.name, task))
        print(
            f"Gave up waiting after {args.timeout:.0f} s; "
            f"check later with `sheetflow status {submitted.task_id}`."
        )
        return EXIT_TIMED_OUT
    if task is None:  # finished implies it exists; this narrows the type
        raise RuntimeError(f"task {submitted.task_id} finished but could not be read")
    _print_outcome(path.name, task, outputs["BucketName"])
    return 0 if task.get("status") == TaskStatus.SUCCEEDED else EXIT_FAILED


def _print_outcome(label: str, task: dict[str, Any], results_bucket: str) -> None:
    print(task_report.outcome_line(label, task))
    if task.get("summary"):
        print("\n".join(task_report.sheet_lines(task["summary"])))
    for line in task_report.result_lines(task, results_bucket):
        print(line)


def _positive_seconds(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number of seconds")
    return value


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "upload",
        help="upload a workbook (API, presigned URL or straight into S3); --wait for the result",
    )
    parser.add_argument("file", metavar="FILE", help="an .xlsx workbook")
    parser.add_argument(
        "--via",
        choices=[route.value for route in UploadRoute],
        default=UploadRoute.API.value,
        help="api: POST /uploads (default, up to 4 MiB); presign: a presigned POST, or presigned "
        "multipart parts above 8 MiB; s3: put the object into the bucket (multipart above "
        "8 MiB); the S3 notification starts the task",
    )
    parser.add_argument(
        "--wait", action="store_true", help="wait for the task to finish and print its outcome"
    )
    parser.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=DEFAULT_TIMEOUT_SECONDS,
        metavar="S",
        help=f"seconds to wait with --wait (default {DEFAULT_TIMEOUT_SECONDS:.0f})",
    )
    parser.set_defaults(handler=cmd_upload)
