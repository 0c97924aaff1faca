"""`demo`: the whole flow on the deployed stack: two good workbooks (one through the API, one put
straight into the bucket) and one broken file, waited for and reported."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from sheetflow.logic.task import TaskStatus
from stackctl import api_keys, paths, samples, stack, task_report
from stackctl.api_client import ApiClient
from stackctl.aws_errors import reported_as_user_errors
from stackctl.commands.dashboard import dashboard_url
from stackctl.progress import ProgressDisplay
from stackctl.stack import StackOutputs
from stackctl.task_waiting import WaitResult, WatchedTask, wait_for_tasks
from stackctl.uploading import SubmittedUpload, UploadRoute, submit

DEMO_ROWS = 500
# The name of the demo's API key (created on first run, reused after).
DEMO_CLIENT = "demo"
DEFAULT_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class DemoUpload:
    label: str
    filename: str
    data: bytes
    route: UploadRoute
    expected: TaskStatus  # the status the flow must end in


def demo_uploads(rows: int) -> list[DemoUpload]:
    orders = samples.orders_workbook(rows)
    return [
        DemoUpload("API upload", "orders-api.xlsx", orders, UploadRoute.API, TaskStatus.SUCCEEDED),
        DemoUpload("S3 put", "orders-s3.xlsx", orders, UploadRoute.S3, TaskStatus.SUCCEEDED),
        # A CSV renamed .xlsx: the worker must refuse it as a permanent error.
        DemoUpload(
            "broken file",
            "not-really.xlsx",
            samples.broken_file("csv"),
            UploadRoute.API,
            TaskStatus.FAILED,
        ),
    ]


@reported_as_user_errors
def cmd_demo(args: argparse.Namespace) -> int:
    outputs = stack.outputs()
    uploads = demo_uploads(args.rows)
    sample_file = _keep_sample(uploads[0].data)
    print(f"Stack {stack.stack_name()!r}, API {outputs.api_base_url}")
    # The demo is a client like any other: its own key on the stack's usage plan.
    demo_key = api_keys.client_key(outputs, DEMO_CLIENT)
    api = ApiClient(outputs.api_base_url, demo_key.value, demo_key.key_id)
    print(f"Sample workbook: {args.rows} order rows, saved as {sample_file}")

    submitted: list[tuple[DemoUpload, SubmittedUpload]] = []
    for upload in uploads:
        sent = submit(upload.data, upload.filename, upload.route, outputs, api)
        submitted.append((upload, sent))
        route = f"via {upload.route}"
        print(f"  {upload.label:<12} {upload.filename:<16} {route:<8} -> task {sent.task_id}")

    print("Waiting for the worker …")
    result = wait_for_tasks(
        [WatchedTask(upload.label, sent.task_id) for upload, sent in submitted],
        api.task,
        args.timeout,
        ProgressDisplay(),
    )
    print(f"Results after {result.elapsed:.1f} s:")
    unexpected = _report(submitted, result, outputs)

    print()
    if unexpected:
        print("The demo did NOT end as expected:")
        for line in unexpected:
            print(f"  {line}")
        print("Look at `sheetflow logs worker` and `sheetflow status`.")
    else:
        print("The flow ended as expected: both good workbooks SUCCEEDED, the broken file FAILED.")
    print(
        "Next: `sheetflow status` (tasks and queues), "
        f"`sheetflow upload {sample_file} --wait`, `sheetflow logs worker`."
    )
    print(f"API key of the demo client: {demo_key.value} (id {demo_key.key_id}). Every route but")
    print("/health needs one, in the x-api-key header; the sheetflow command reads it from")
    print(f"{api_keys.API_KEY_ENV} (else it uses the stack's default key):")
    print(f"  export {api_keys.API_KEY_ENV}={demo_key.value}")
    print(f'  curl -H "x-api-key: ${api_keys.API_KEY_ENV}" {outputs.api_base_url}/tasks')
    print("Stop LocalStack and everything it runs with `make down`.")
    # Last, so the link is what the terminal shows at the end.
    print("Dashboard (open it in a browser; `sheetflow dashboard` prints it again):")
    print(f"  {dashboard_url(outputs, demo_key.value)}")
    return 1 if unexpected else 0


def _report(
    submitted: list[tuple[DemoUpload, SubmittedUpload]], result: WaitResult, outputs: StackOutputs
) -> list[str]:
    """Prints each outcome; returns what differs from the expected ending."""
    unexpected = []
    for upload, sent in submitted:
        task: dict[str, Any] | None = result.tasks.get(sent.task_id)
        print(f"  {task_report.outcome_line(upload.label, task)}")
        if task is not None and task.get("summary"):
            print("\n".join(task_report.sheet_lines(task["summary"], indent="      ")))
        if task is not None:
            # The presigned download URL is long; `status` prints it for whoever wants it.
            for line in task_report.result_lines(
                task, outputs["BucketName"], indent="      ", with_url=False
            ):
                print(line)
            print(f"      details   sheetflow status {sent.task_id}")
        status = task.get("status") if task else "no task"
        if status != upload.expected:
            unexpected.append(f"{upload.label}: {status}, expected {upload.expected}")
    return unexpected


def _keep_sample(data: bytes) -> str:
    """Saves the sample so the user can upload it themselves afterwards."""
    folder = paths.state_dir() / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "orders.xlsx"
    path.write_bytes(data)
    try:
        return str(path.relative_to(paths.project_root()))
    except ValueError:
        return str(path)


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "demo", help="run the whole flow: API upload, S3 put, a broken file; print the results"
    )
    parser.add_argument(
        "--rows", type=int, default=DEMO_ROWS, help=f"rows in the sample workbook ({DEMO_ROWS})"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_SECONDS,
        metavar="S",
        help=f"seconds to wait for the results (default {DEFAULT_TIMEOUT_SECONDS:.0f})",
    )
    parser.set_defaults(handler=cmd_demo)
