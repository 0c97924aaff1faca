"""Every `sheetflow` command against the deployed test stack, run as a user would."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
import requests

from stackctl import api_keys, aws, paths, samples
from stackctl.stack import StackOutputs
from tests.support.aws import AwsClientFactory
from tests.support.bus_tap import tapped
from tests.support.cli import CLI_TEST_STACK, CliResult, CliRunner
from tests.support.large_workbook import padded_workbook
from tests.support.waiting import wait_until

pytestmark = pytest.mark.localstack

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"
EVENTS = sorted(path for path in EVENTS_DIR.glob("*.json") if not path.name.startswith("bus-"))
BUS_EVENTS = sorted(EVENTS_DIR.glob("bus-*.json"))
CLI = paths.venv("dev") / "bin" / "sheetflow"
# Runs argv[1:] with SIGINT at its default disposition.
DEFAULT_SIGINT_THEN_EXEC = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)
TASK_LINE = re.compile(r"^Task ([0-9a-f]{32})$", re.MULTILINE)


def workbook_file(folder: Path, name: str = "orders.xlsx", rows: int = 100) -> Path:
    path = folder / name
    path.write_bytes(samples.orders_workbook(rows))
    return path


@pytest.mark.parametrize("route", ["api", "presign", "s3"])
def test_upload_and_wait_succeeds_by_every_route(
    route: str, run_cli: CliRunner, on_cli_stack: StackOutputs, tmp_path: Path
) -> None:
    # Given a workbook of 100 order rows (101 with the header)
    path = workbook_file(tmp_path, f"orders-{route}.xlsx")
    # When it is uploaded by this route and waited for
    result = run_cli("upload", str(path), "--via", route, "--wait", "--timeout", "60")
    # Then the task succeeded with the workbook's summary and the result's location
    assert result.code == 0, result.out + result.err
    assert f"via {route}" in result.out
    assert "SUCCEEDED · 1 sheet, 101 rows, 0 errors" in result.out
    assert re.search(r"result\s+s3://\S+/results/[0-9a-f]{32}\.json", result.out)


@pytest.mark.parametrize("route", ["presign", "s3"])
def test_a_file_over_the_multipart_threshold_goes_in_parts_with_a_progress_bar(
    route: str, run_cli: CliRunner, on_cli_stack: StackOutputs, tmp_path: Path
) -> None:
    # Given a 9 MB workbook (over the 8 MiB multipart threshold)
    path = tmp_path / f"big-{route}.xlsx"
    padded_workbook(path, 9_000_000)
    # When it is uploaded by this route and waited for
    result = run_cli("upload", str(path), "--via", route, "--wait", "--timeout", "120")
    # Then the progress reached 100 %, the object was assembled from two parts, and it succeeded
    assert result.code == 0, result.out + result.err
    assert f"Uploading {path.name}: 100% (9.0/9.0 MB)" in result.out
    key = re.search(r" as (uploads/\S+)\.$", result.out, re.MULTILINE)
    assert key, result.out
    head = aws.client("s3").head_object(Bucket=on_cli_stack["BucketName"], Key=key.group(1))
    assert head["ETag"].strip('"').endswith("-2")
    assert "SUCCEEDED · 1 sheet, 51 rows, 0 errors" in result.out


def test_a_broken_file_fails_with_its_error_code(
    run_cli: CliRunner, on_cli_stack: StackOutputs, tmp_path: Path
) -> None:
    # Given a CSV saved under an .xlsx name
    path = tmp_path / "export.xlsx"
    path.write_bytes(samples.broken_file("csv"))
    # When it is uploaded and waited for
    result = run_cli("upload", str(path), "--wait", "--timeout", "60")
    # Then the command fails and names the worker's error code
    assert result.code == 1
    assert "FAILED · NOT_XLSX:" in result.out


def test_status_lists_tasks_by_status_and_queue_depths(
    run_cli: CliRunner, on_cli_stack: StackOutputs, tmp_path: Path
) -> None:
    # Given at least one finished task in the stack
    assert run_cli("upload", str(workbook_file(tmp_path)), "--wait").code == 0
    # When the status is asked for
    result = run_cli("status")
    # Then LocalStack, the task counts and both queues' depths are shown
    assert result.code == 0
    assert "LocalStack: running" in result.out
    succeeded = re.search(r"^\s+SUCCEEDED\s+([\d,]+)$", result.out, re.MULTILINE)
    assert succeeded and int(succeeded.group(1).replace(",", "")) >= 1
    assert re.search(r"^\s+queue\s+\d+ waiting, \d+ in flight, \d+ delayed", result.out, re.M)
    assert re.search(r"^\s+DLQ\s+\d+ waiting, \d+ in flight", result.out, re.M)


def test_status_of_one_task_shows_its_details(
    run_cli: CliRunner, on_cli_stack: StackOutputs, tmp_path: Path
) -> None:
    # Given an upload not waited for
    uploaded = run_cli("upload", str(workbook_file(tmp_path, rows=20)))
    assert uploaded.code == 0
    match = TASK_LINE.search(uploaded.out)
    assert match, uploaded.out
    task_id = match.group(1)

    # When its status is asked for until it has finished
    def finished() -> CliResult | None:
        result = run_cli("status", task_id)
        return result if "SUCCEEDED" in result.out else None

    details = wait_until(finished, timeout=60, what=f"task {task_id} to succeed")
    # Then the details show the file, the summary per sheet and where the result is
    assert f"Task {task_id}: SUCCEEDED after 1 attempt" in details.out
    assert "summary   1 sheet, 21 rows, 0 errors" in details.out
    assert f"results/{task_id}.json" in details.out
    assert "download  http" in details.out


def test_status_of_an_unknown_task_is_a_clear_error(
    run_cli: CliRunner, on_cli_stack: StackOutputs
) -> None:
    result = run_cli("status", uuid.uuid4().hex)
    assert result.code == 1
    assert "error: No task" in result.err


@pytest.mark.parametrize("event_file", EVENTS, ids=lambda path: path.name)
def test_every_sample_event_is_answered_by_its_function(
    event_file: Path, run_cli: CliRunner, on_cli_stack: StackOutputs
) -> None:
    # When the sample is sent to its function (task ids and buckets in it may not exist)
    result = run_cli("send", str(event_file))
    # Then the function answers without raising
    assert result.code == 0, result.out + result.err
    assert "answered" in result.out
    assert "raised" not in result.out


def test_task_event_samples_are_put_on_the_stacks_bus(
    run_cli: CliRunner, on_cli_stack: StackOutputs, aws: AwsClientFactory
) -> None:
    with tapped(aws, on_cli_stack["EventBusName"], {"source": ["sheetflow"]}) as tap:
        for event_file in BUS_EVENTS:
            result = run_cli("send", str(event_file))
            assert result.code == 0, result.out + result.err
        seen = tap.wait_for(len(BUS_EVENTS), timeout=30, what="the sample task events")
    sent = [json.loads(path.read_text()) for path in BUS_EVENTS]
    assert sorted(event["detail"]["event_id"] for event in seen) == sorted(
        event["detail"]["event_id"] for event in sent
    )


def test_an_api_sample_sent_to_its_trigger_goes_through_http(
    run_cli: CliRunner, on_cli_stack: StackOutputs
) -> None:
    result = run_cli("send", str(EVENTS_DIR / "api-health.json"), "--to", "trigger")
    assert result.code == 0
    assert f"GET {on_cli_stack.api_base_url}/health -> HTTP 200" in result.out
    assert json.loads(result.out.split("\n", 1)[1])["status"] == "ok"


def test_logs_show_the_workers_lines(
    run_cli: CliRunner, on_cli_stack: StackOutputs, tmp_path: Path
) -> None:
    # Given an upload the worker processed
    uploaded = run_cli("upload", str(workbook_file(tmp_path)), "--wait")
    match = TASK_LINE.search(uploaded.out)
    assert uploaded.code == 0 and match

    # When the worker's logs are read, Then they show its outcome line for that task, with the
    # task id as the line's correlation id and the outcome field (not a message's wording)
    def processing_logged() -> CliResult | None:
        result = run_cli("logs", "worker", "--since", "5m")
        outcome_lines = [
            line
            for line in result.out.splitlines()
            if f"[{match.group(1)}]" in line and " outcome=SUCCEEDED" in line
        ]
        return result if outcome_lines else None

    found = wait_until(processing_logged, timeout=30, what="the worker's log lines")
    assert found.code == 0
    assert re.search(r"^\d\d:\d\d:\d\d\.\d{3}  REPORT RequestId", found.out, re.MULTILINE)


def test_logs_follow_prints_new_lines_until_interrupted(
    run_cli: CliRunner, on_cli_stack: StackOutputs, tmp_path: Path
) -> None:
    # Given `logs worker --follow` running as a user starts it from a terminal: with Ctrl-C's
    # signal at its default, even when this test runs in a background job that ignores it
    # (ignored signals stay ignored across exec, and Python then installs no handler)
    command = [str(CLI), "logs", "worker", "--follow", "--since", "1s"]
    follower = subprocess.Popen(
        [sys.executable, "-c", DEFAULT_SIGINT_THEN_EXEC, *command],
        env={**os.environ, "SHEETFLOW_STACK": CLI_TEST_STACK},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    errors: list[str] = []
    # Both pipes are drained as the command writes: a full stderr pipe would block it.
    readers = [
        threading.Thread(target=lambda: lines.extend(follower.stdout or []), daemon=True),
        threading.Thread(target=lambda: errors.extend(follower.stderr or []), daemon=True),
    ]
    for reader in readers:
        reader.start()
    try:
        wait_until(lambda: any("following" in line for line in lines), 15, what="--follow")
        # When the worker processes an upload afterwards
        uploaded = run_cli("upload", str(workbook_file(tmp_path)), "--wait")
        match = TASK_LINE.search(uploaded.out)
        assert uploaded.code == 0 and match
        # Then its lines appear, and Ctrl-C ends the command cleanly
        wait_until(
            lambda: any(f"Processing task [{match.group(1)}]" in line for line in lines),
            timeout=30,
            what="the new worker lines",
        )
    finally:
        follower.send_signal(signal.SIGINT)
        try:
            code = follower.wait(timeout=15)
        except subprocess.TimeoutExpired:
            follower.kill()
            follower.wait()
            said = "".join(errors)[-2000:]
            raise AssertionError(f"Ctrl-C did not end it; its stderr: {said}") from None
    for reader in readers:
        reader.join(timeout=5)
    assert code == 0
    assert "Traceback" not in "".join(errors)


def test_cleanup_runs_now_and_reports(run_cli: CliRunner, on_cli_stack: StackOutputs) -> None:
    result = run_cli("cleanup")
    assert result.code == 0, result.out + result.err
    assert re.search(r"^Cleanup deleted \d+ task\(s\) and \d+ object\(s\)", result.out, re.M)
    assert "finished: True" in result.out


def test_demo_runs_the_whole_flow(run_cli: CliRunner, on_cli_stack: StackOutputs) -> None:
    # Default size, so the sample it saves under .local/demo/ is the one `make demo` leaves.
    result = run_cli("demo")
    assert result.code == 0, result.out + result.err
    assert "API upload: SUCCEEDED · 1 sheet, 501 rows" in result.out
    assert "S3 put: SUCCEEDED · 1 sheet, 501 rows" in result.out
    assert "broken file: FAILED · NOT_XLSX:" in result.out
    assert "details   sheetflow status " in result.out
    assert "X-Amz-Signature" not in result.out
    assert "make down" in result.out
    # And it ends with the dashboard's address, where the stack serves the page
    last_line = result.out.strip().splitlines()[-1].strip()
    demo_key = api_keys.client_key(on_cli_stack, "demo")
    assert last_line == f"{on_cli_stack.api_base_url}/dashboard#key={demo_key.value}"
    page = requests.get(last_line, timeout=30)
    assert page.status_code == 200
    assert "<title>sheetflow dashboard</title>" in page.text
    # And the key it prints for the demo client opens the API (the fragment never reaches it)
    assert f"export SHEETFLOW_API_KEY={demo_key.value}" in result.out
    listed = requests.get(
        f"{on_cli_stack.api_base_url}/tasks", headers={"x-api-key": demo_key.value}, timeout=30
    )
    assert listed.status_code == 200, listed.text
    # And `sheetflow status <id>`, which the demo suggests, reads a demo task although the
    # command's own key is the stack's default one: it asks as the task's owner
    demo_task = re.search(r"details   sheetflow status ([0-9a-f]{32})", result.out)
    assert demo_task, result.out
    details = run_cli("status", demo_task.group(1))
    assert details.code == 0, details.err
    assert f"Task {demo_task.group(1)}: SUCCEEDED" in details.out


def test_dashboard_prints_its_address_and_opens_nothing_without_a_display(
    run_cli: CliRunner, on_cli_stack: StackOutputs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("SHEETFLOW_API_KEY", raising=False)
    result = run_cli("dashboard")
    assert result.code == 0, result.err
    key = api_keys.default_key(on_cli_stack).value
    assert result.out.strip() == f"{on_cli_stack.api_base_url}/dashboard#key={key}"
    assert "Opened" not in result.err
